"""Answer and retrieval metrics; exact match and F1 use the official SQuAD v1.1 normalisation."""

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence

import numpy as np

PUNCTUATION = set(string.punctuation)
MARKER = re.compile(r"\s*\[\d+\]")


def normalize_answer(text: str) -> str:
    """Lower-case, drop punctuation and the articles a/an/the, collapse white space (SQuAD)."""
    text = "".join(ch for ch in text.lower() if ch not in PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def strip_markers(text: str) -> str:
    """The answer text without its `[n]` citation markers."""
    return MARKER.sub("", text).strip()


def exact_match(prediction: str, golds: Sequence[str]) -> float:
    """1.0 if the normalised prediction equals a normalised gold answer."""
    return max(
        (float(normalize_answer(prediction) == normalize_answer(g)) for g in golds), default=0.0
    )


def _f1(prediction: str, gold: str) -> float:
    predicted, expected = normalize_answer(prediction).split(), normalize_answer(gold).split()
    same = sum((Counter(predicted) & Counter(expected)).values())
    if not same:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


def f1_score(prediction: str, golds: Sequence[str]) -> float:
    """Token F1 of the prediction against the best-matching gold answer."""
    return max((_f1(prediction, g) for g in golds), default=0.0)


def _normalize_unicode(text: str) -> str:
    # The official normalisation only strips ASCII punctuation; curly quotes and dashes would
    # otherwise glue to words ("Sakhalin”") and hide an answer the text does contain.
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return normalize_answer(text)


def contains_answer(text: str, golds: Sequence[str]) -> float:
    """1.0 if some normalised gold answer occurs, as whole words, in the normalised text."""
    normalised = f" {_normalize_unicode(text)} "
    return max(
        (float(f" {_normalize_unicode(g)} " in normalised) for g in golds if _normalize_unicode(g)),
        default=0.0,
    )


def short_answer_right(short: str, golds: Sequence[str]) -> bool:
    """A short answer is right when it holds a normalised gold answer, or its F1 is >= 0.5."""
    return bool(contains_answer(short, golds)) or f1_score(short, golds) >= 0.5


def reciprocal_rank(hits: Sequence[bool | None]) -> float:
    """1/rank of the first hit, 0 if none."""
    return next((1.0 / (i + 1) for i, hit in enumerate(hits) if hit), 0.0)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (linear interpolation), None for no values."""
    return float(np.percentile(values, q)) if len(values) else None


def spans_overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    """True if the half-open spans share at least one character."""
    return a[0] < b[1] and b[0] < a[1]
