"""Question sets for evaluation: our JSON Lines format, and SQuAD-format files."""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from qa.core.errors import InputError


@dataclass
class EvalQuestion:
    """A question with its gold answers and, when known, where the answer lives."""

    id: str
    question: str
    answers: list[str]
    unanswerable: bool = False
    turns: list[str] = field(default_factory=list)
    evidence: str | None = None
    gold_source: str | None = None  # the file holding the answer (SQuAD: the paragraph)


# JSON Lines end a line at "\n" only; these are line ends to str.splitlines(), and json.dumps
# writes them raw, so a question or answer holding one would split its line in two
UNICODE_LINE_ENDS = {"\u2028": "\\u2028", "\u2029": "\\u2029", "\x85": "\\u0085"}


def json_line(entry: dict) -> str:
    """`entry` as one JSON Lines line (no newline): UTF-8 text, Unicode line ends escaped."""
    line = json.dumps(entry, ensure_ascii=False)
    for raw, escaped in UNICODE_LINE_ENDS.items():
        line = line.replace(raw, escaped)  # they can only stand inside strings
    return line


def json_lines(text: str) -> list[str]:
    """The lines of a JSON Lines text: split at "\n" (and "\r\n") only."""
    return [line.removesuffix("\r") for line in text.split("\n")]


FIELDS = {"id": str, "question": str, "answers": list}
OPTIONAL = {"unanswerable": bool, "turns": list, "evidence": str, "file": str}


def _parse_line(line: str, where: str) -> EvalQuestion | None:
    """The line's question; None for a 👎 vote without a correction (nothing to score)."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg})") from None
    except RecursionError:
        raise InputError(f"{where}: nested too deeply to be a question") from None
    if not isinstance(data, dict):
        raise InputError(f"{where}: expected a JSON object")
    for name, kind in {**FIELDS, **OPTIONAL}.items():
        if name not in data:
            if name in FIELDS:
                raise InputError(f"{where}: missing field '{name}'")
        elif not isinstance(data[name], kind):
            raise InputError(f"{where}: field '{name}' must be a {kind.__name__}")
    if not data["question"].strip():
        raise InputError(f"{where}: the question is empty")
    if not all(isinstance(a, str) for a in data["answers"] + data.get("turns", [])):
        raise InputError(f"{where}: 'answers' and 'turns' must hold strings")
    if not data["answers"] and not data.get("unanswerable"):
        if data.get("feedback") == "down":
            return None
        raise InputError(f"{where}: 'answers' is empty; mark the question \"unanswerable\": true")
    given = {k: v for k, v in data.items() if k in FIELDS or k in OPTIONAL}
    if "file" in given:  # the file name that holds the answer: retrieval is scored by it
        given["gold_source"] = given.pop("file")
    return EvalQuestion(**given)


def load_questions(path: Path) -> list[EvalQuestion]:
    """Questions from a JSON Lines file; a bad line is an InputError naming it."""
    try:
        lines = json_lines(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeError) as exc:
        raise InputError(f"cannot read question file {path}: {exc}") from None
    parsed = [
        _parse_line(line, f"{path}, line {number}")
        for number, line in enumerate(lines, 1)
        if line.strip()
    ]
    questions = [question for question in parsed if question is not None]
    if not questions:
        uncorrected = " (only 👎 votes without a correction)" if parsed else ""
        raise InputError(f"question file {path} holds no questions{uncorrected}")
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        duplicate = next(i for i in ids if ids.count(i) > 1)
        raise InputError(f"{path}: the id '{duplicate}' is used more than once")
    return questions


class SquadProblem(ValueError):
    """What makes a file not a usable SQuAD file."""


class ArticleNames:
    """File-name stems for SQuAD articles, one call per article: the title's letters and
    digits, and where an earlier article took that stem ("A B", then "A-B", or the same title
    twice), a number after it, so that no two articles share a file."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def __call__(self, title: str) -> str:
        stem = base = re.sub(r"[^A-Za-z0-9]+", "_", str(title))[:100]  # a file name's room
        number = 1
        while stem in self.taken:
            number += 1
            stem = f"{base}_{number}"
        self.taken.add(stem)
        return stem


def load_squad(path: Path, corpus_dir: Path) -> list[EvalQuestion]:
    """Write each SQuAD paragraph as one file of `corpus_dir`; return its questions.

    Reads the shared sample's shape (`articles`, answers as strings) and the official one
    (`data`, answers as `{"text", "answer_start"}`, SQuAD 2.0's `is_impossible`).
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
        articles = data["articles"] if "articles" in data else data["data"]
        names = ArticleNames()
        paragraphs = [
            (stem, index, paragraph)
            for article in articles
            for stem in [names(article["title"])]
            for index, paragraph in enumerate(article["paragraphs"])
        ]
        questions = []
        for stem, index, paragraph in paragraphs:
            name = f"{stem}-{index:03d}.txt"
            if not isinstance(paragraph["context"], str) or not paragraph["context"].strip():
                raise SquadProblem(f"paragraph {index} of '{stem}' has no context")
            (corpus_dir / name).write_text(paragraph["context"], encoding="utf-8")
            for qa in paragraph.get("qas", []):
                answers = [a if isinstance(a, str) else a["text"] for a in qa["answers"]]
                if not isinstance(qa["question"], str) or not all(
                    isinstance(a, str) for a in answers
                ):
                    raise SquadProblem(f"question {qa['id']}: questions and answers must be text")
                questions.append(
                    EvalQuestion(
                        id=str(qa["id"]),
                        question=qa["question"],
                        answers=answers,
                        unanswerable=bool(qa.get("is_impossible")) or not answers,
                        gold_source=name,
                    )
                )
    except (OSError, UnicodeError, json.JSONDecodeError, KeyError, TypeError, SquadProblem) as exc:
        problem = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise InputError(f"{path} is not a SQuAD-format file ({problem})") from None
    except RecursionError:
        problem = "nested too deeply"
        raise InputError(f"{path} is not a SQuAD-format file ({problem})") from None
    seen: set[str] = set()
    for question in questions:
        if question.id in seen:
            raise InputError(f"{path}: the question id '{question.id}' is used more than once")
        seen.add(question.id)
    if not questions:
        raise InputError(f"{path} holds no questions")
    return questions
