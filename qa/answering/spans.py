"""Short-answer candidates: verbatim spans of the cited sentence, scored by a learned model.

Candidates are the reader's proposal, the numbers, dates and names of the sentence, and the
runs of words the question does not already use (the part of a sentence that answers is
usually the part the question does not repeat). Each gets features; a calibrated scorer
(`qa train`) gives the probability that it is the answer, and only a span above the learned
threshold is shown.
"""

import re
from dataclasses import dataclass, field

import numpy as np

from qa.answering.reader import EDGE_PUNCTUATION, Proposal
from qa.answering.sentences import ANSWER_TYPES, MONTHS, question_type, stem
from qa.lexical import STOPWORDS, terms

MAX_SPAN_WORDS = 10
WORD = re.compile(r"[\w'’.,%$€£-]*\w[%]?|\$[\d.,]+")
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
ASKED_NOUN = re.compile(r"\bhow (?:many|much) (?:of (?:the )?)?([\w-]+)", re.I)
SPAN_FEATURES = [
    "from_reader",
    "reader_overlap",
    "reader_logprob",
    "reader_first_prob",
    "reader_start",
    "reader_start_gap",
    "kind_match",
    "kind_mismatch",
    "in_question",
    "log_words",
    "distance",
    "next_to_question_word",
    "before_asked_noun",
    "sentence_probability",
    "sentence_share",
    "starts_sentence",
    "reader_agreement",
    "reader_confidence",
]


@dataclass
class Span:
    """A verbatim span of the sentence, at `start` in it."""

    text: str
    start: int
    kinds: set[str]
    features: dict[str, float] = field(default_factory=dict)
    probability: float = 0.0


def _trim(sentence: str, start: int, end: int) -> tuple[int, int]:
    while start < end and sentence[start] in EDGE_PUNCTUATION:
        start += 1
    while end > start and sentence[end - 1] in EDGE_PUNCTUATION:
        end -= 1
    return start, end


def _word_runs(sentence: str, question_stems: set[str]) -> list[tuple[int, int]]:
    """Maximal runs of words the question does not use, cut at punctuation, short enough."""
    runs, current = [], []
    for match in re.finditer(r"[^\s,;:()\"“”]+|[,;:()\"“”]", sentence):
        word = match.group().strip(EDGE_PUNCTUATION).lower()
        boundary = not word or stem(word) in question_stems
        if boundary:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(match.span())
    if current:
        runs.append(current)
    spans = []
    for run in runs:
        while run and run[0] and sentence[slice(*run[0])].lower() in STOPWORDS:
            run = run[1:]
        while run and sentence[slice(*run[-1])].strip(EDGE_PUNCTUATION).lower() in STOPWORDS:
            run = run[:-1]
        if run and len(run) <= MAX_SPAN_WORDS:
            spans.append((run[0][0], run[-1][1]))
        piece = []  # and its pieces between function words ("force", "25 June")
        for word in [*run, None]:
            if word is None or sentence[slice(*word)].strip(EDGE_PUNCTUATION).lower() in STOPWORDS:
                if piece and len(piece) < len(run):
                    spans.append((piece[0][0], piece[-1][1]))
                piece = []
            else:
                piece.append(word)
    return spans


def span_candidates(question: str, sentence: str, proposal: Proposal | None) -> list[Span]:
    """Every candidate span of `sentence`, once, each with the kinds of thing it is."""
    question_stems = {stem(word) for word in terms(question)}
    found: dict[tuple[int, int], set[str]] = {}

    def add(start: int, end: int, kind: str) -> None:
        start, end = _trim(sentence, start, end)
        if end > start and len(sentence[start:end].split()) <= MAX_SPAN_WORDS:
            found.setdefault((start, end), set()).add(kind)

    for kind, pattern in (("number", NUMBER_SPAN), ("date", DATE_SPAN), ("name", NAME_SPAN)):
        for match in pattern.finditer(sentence):
            add(*match.span(), kind)
    for start, end in _word_runs(sentence, question_stems):
        add(start, end, "run")
    if proposal and proposal.span:
        at = re.search(rf"(?<!\w){re.escape(proposal.span)}(?!\w)", sentence)
        if at:
            add(*at.span(), "reader")
    return [Span(sentence[s:e], s, kinds) for (s, e), kinds in sorted(found.items())]


def _token_f1(a: str, b: str) -> float:
    left, right = a.lower().split(), b.lower().split()
    same = len(set(left) & set(right))
    if not same:
        return 0.0
    precision, recall = same / len(left), same / len(right)
    return 2 * precision * recall / (precision + recall)


def add_span_features(
    question: str,
    sentence: str,
    spans: list[Span],
    proposal: Proposal | None,
    sentence_probability: float,
) -> None:
    """Fill each span's features (see SPAN_FEATURES)."""
    kind = question_type(question)
    question_stems = {stem(word) for word in terms(question)}
    words = [(m.start(), m.end(), m.group()) for m in WORD.finditer(sentence)]
    anchors = [s for s, _, w in words if stem(w.lower()) in question_stems]
    total_words = max(len(words), 1)
    asked = ASKED_NOUN.search(question)  # "how many entities": the count stands before "entities"
    asked_noun = stem(asked.group(1).lower()) if asked else None
    reader = proposal.span if proposal and proposal.span else ""
    starts = [proposal.first_token_logprob(s.text) if proposal else -20.0 for s in spans]
    best_start = max(starts, default=-20.0)
    for span, start in zip(spans, starts, strict=True):
        end = span.start + len(span.text)
        span_words = span.text.split()
        inside = [stem(w.strip(EDGE_PUNCTUATION).lower()) for w in span_words]
        before = [w for s, e, w in words if e <= span.start][-1:]
        after = [w for s, e, w in words if s >= end][:1]
        nearest = min((abs(a - span.start) for a in anchors), default=len(sentence))
        span.features = {
            "from_reader": float("reader" in span.kinds),
            "reader_overlap": _token_f1(span.text, reader) if reader else 0.0,
            "reader_logprob": proposal.mean_logprob if proposal else -20.0,
            "reader_first_prob": proposal.first_prob if proposal else 0.0,
            "reader_start": max(start, -20.0),
            "reader_start_gap": max(start, -20.0) - max(best_start, -20.0),
            "kind_match": float(bool(kind) and kind in span.kinds),
            "kind_mismatch": float(bool(kind) and kind not in span.kinds),
            "in_question": sum(w in question_stems for w in inside) / len(inside),
            "log_words": float(np.log(len(span_words))),
            "distance": min(nearest / max(len(sentence), 1), 1.0),
            "next_to_question_word": float(
                any(stem(w.lower()) in question_stems for w in before + after)
            ),
            "before_asked_noun": float(
                bool(asked_noun) and any(stem(w.lower()) == asked_noun for w in after)
            ),
            "sentence_probability": sentence_probability,
            "sentence_share": len(span_words) / total_words,
            "starts_sentence": float(span.start == 0),
        }
        # a linear model cannot multiply: the two products that carry confidence
        span.features["reader_agreement"] = span.features["reader_overlap"] * sentence_probability
        span.features["reader_confidence"] = span.features["from_reader"] * max(
            span.features["reader_logprob"], -5.0
        )
