"""Sentences with offsets: where each sentence of a text starts and ends, so that a quote
is a slice of the stored text."""

import re

# A sentence ends at . ! ? or … (plus closing quotes or brackets) before white space and a
# capital, digit or opening quote; regexes rather than nltk/pysbd, which need downloaded data
# or are slow, and offsets must stay exact.
SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*\s+(?=[\"'“‘«(\[]?[A-Z0-9А-ЯЁ])|\n+")
NOT_AN_END = re.compile(
    r"(?:\b[A-Z]|\b(?:Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|vs|etc|No|Inc|Ltd|Co|e\.g|i\.e|U\.S|U\.K))\.$"
)


def split_sentences(text: str) -> list[tuple[int, int]]:
    """(start, end) of each sentence of `text`, white space trimmed off both ends."""
    spans, start = [], 0
    for match in SENTENCE_END.finditer(text):
        if match.group().startswith((".",)) and NOT_AN_END.search(text[: match.start() + 1]):
            continue
        spans.append((start, match.end()))
        start = match.end()
    spans.append((start, len(text)))
    trimmed = []
    for begin, end in spans:
        piece = text[begin:end]
        left = len(piece) - len(piece.lstrip())
        right = len(piece.rstrip())
        if right > left:
            trimmed.append((begin + left, begin + right))
    return trimmed
