"""The wall between learning and measuring: `qa train` refuses training articles that share a
title or a paragraph with any evaluation set, so no figure `qa eval` reports is measured on
data the weights were learned from.

    >>> tides = {"title": "Tides", "paragraphs": [{"context": "The moon pulls the sea."}]}
    >>> check_disjoint([tides], {"titles": {"tides"}, "contexts": set(), "evidence": set()})
    Traceback (most recent call last):
    ...
    qa.core.errors.InputError: the training article 'Tides' has the title of an evaluation ...
    >>> check_disjoint([tides], {"titles": set(), "contexts": set(), "evidence": {"the moon"}})
    Traceback (most recent call last):
    ...
    qa.core.errors.InputError: the training article 'Tides' holds a paragraph of an evaluation ...
"""

import json
from pathlib import Path

from qa.core.errors import InputError
from qa.evaluation.datasets import load_questions


def _key(text: str) -> str:
    return " ".join(text.split()).casefold()


def evaluation_texts(paths: list[Path]) -> dict[str, set[str]]:
    """The titles, paragraphs and evidence sentences of these evaluation sets: SQuAD-format
    JSON (`articles` or `data`) and JSON Lines question files (their `evidence`)."""
    found: dict[str, set[str]] = {"titles": set(), "contexts": set(), "evidence": set()}
    for path in paths:
        if path.suffix == ".jsonl":
            found["evidence"] |= {_key(q.evidence) for q in load_questions(path) if q.evidence}
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8-sig"))
            articles = data["articles"] if "articles" in data else data["data"]
            for article in articles:
                found["titles"].add(_key(article["title"]))
                found["contexts"] |= {_key(p["context"]) for p in article["paragraphs"]}
        except (OSError, UnicodeError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{path} is not an evaluation set qa reads ({exc})") from None
    return found


def check_disjoint(articles: list[dict], evaluation: dict[str, set[str]]) -> None:
    """An InputError naming the first training article that shares a title, a paragraph or a
    paragraph holding an evidence sentence with the evaluation sets."""
    for article in articles:
        title = article["title"]
        if _key(title) in evaluation["titles"]:
            raise InputError(
                f"the training article '{title}' has the title of an evaluation set's article;"
                " leave it out of the training file"
            )
        for paragraph in article["paragraphs"]:
            context = _key(paragraph["context"])
            shared = context in evaluation["contexts"] or any(
                sentence in context for sentence in evaluation["evidence"]
            )
            if shared:
                raise InputError(
                    f"the training article '{title}' holds a paragraph of an evaluation set;"
                    " leave it out of the training file"
                )
