"""Short answers: the span reader's span of the cited sentence, shown only when likely right.

The span is the reader's (`qa.answering.reading`), so it is a verbatim slice of the cited
sentence by construction. Whether it is shown is decided by a learned, calibrated scorer
(`qa train`) over the features below; only a span above the learned threshold is shown.
"""

import re

import numpy as np

from qa.answering.sentences import ANSWER_TYPES, MONTHS, question_type, stem
from qa.models.reader import Reading
from qa.text.terms import terms

EDGE_PUNCTUATION = " \t\n.,;:!?\"'“”‘’()[]«»–—-"
NUMBER_SPAN = re.compile(
    r"(?:(?:about|around|over|under|nearly|almost|more than|less than|some|up to)\s+)?"
    r"[$€£]?\d[\d,.]*(?:\s*(?:%|percent|per cent|million|billion|thousand|hundred))?"
    r"|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozens?|"
    r"hundreds?|thousands?|millions?)\b",
    re.I,
)
DATE_SPAN = re.compile(
    rf"\b\d{{1,2}}\s+(?:{MONTHS})(?:\s+\d{{4}})?\b|\b(?:{MONTHS})\s+\d{{1,2}}(?:,\s*\d{{4}})?\b"
    rf"|\b(?:{MONTHS})\s+\d{{4}}\b|\b(?:early|mid|late)?[- ]?\d{{4}}s?\b|\b\d{{1,2}}(?:st|nd|rd|th)"
    rf"\s+century\b|\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
)
NAME_SPAN = ANSWER_TYPES["name"]
SPAN_FEATURES = [
    "read_margin",
    "read_score",
    "read_gap",
    "read_logprob",
    "cited_probability",
    "kind_match",
    "kind_mismatch",
    "in_question",
    "log_words",
    "sentence_share",
    "cited_margin",
    "cited_logprob",
]


def span_kinds(text: str) -> set[str]:
    """What the span is: a number, a date, a name (by the same patterns as question types)."""
    return {
        kind
        for kind, pattern in (("number", NUMBER_SPAN), ("date", DATE_SPAN), ("name", NAME_SPAN))
        if pattern.search(text)
    }


def _inside_word(char: str) -> bool:
    """A character that continues a word, path or identifier (not a hyphen or full stop)."""
    return char.isalnum() or char in "/\\_$~@%"


def trim(sentence: str, start: int, end: int) -> tuple[int, int]:
    """The span widened to whole words (a path, not part of one: "/bin/sync", not
    "bin/sync"), without the punctuation and spaces at its edges."""
    while start > 0 and _inside_word(sentence[start - 1]) and not sentence[start].isspace():
        start -= 1
    while end < len(sentence) and _inside_word(sentence[end]) and not sentence[end - 1].isspace():
        end += 1
    while start < end and sentence[start] in EDGE_PUNCTUATION:
        start += 1
    while end > start and sentence[end - 1] in EDGE_PUNCTUATION:
        end -= 1
    return start, end


def span_features(
    question: str,
    sentence: str,
    reading: Reading,
    features: dict[str, float],
    cited_probability: float,
) -> tuple[str, dict[str, float]] | None:
    """The reader's span of the cited sentence and its features (see SPAN_FEATURES)."""
    start, end = trim(sentence, reading.start, reading.end)
    text = sentence[start:end]
    if not text or text == sentence.strip(EDGE_PUNCTUATION):
        return None
    kind = question_type(question)
    kinds = span_kinds(text)
    question_stems = {stem(word) for word in terms(question)}
    words = text.split()
    inside = [stem(w.strip(EDGE_PUNCTUATION).lower()) for w in words]
    return text, {
        "read_margin": features["read_margin"],
        "read_score": features["read_score"],
        "read_gap": features["read_gap"],
        "read_logprob": features["read_logprob"],
        "cited_probability": cited_probability,
        "kind_match": float(bool(kind) and kind in kinds),
        "kind_mismatch": float(bool(kind) and kind not in kinds),
        "in_question": sum(w in question_stems for w in inside) / len(inside),
        "log_words": float(np.log(len(words))),
        "sentence_share": len(words) / max(len(sentence.split()), 1),
        # a linear model cannot multiply: the product that carries joint confidence
        "cited_margin": cited_probability * max(min(features["read_margin"], 10.0), -10.0),
        "cited_logprob": cited_probability * features["read_logprob"],
    }
