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


ABBREVIATION_WINDOW = 30  # characters before a full stop that can hold "Prof." or "U.S."
SOFT_LINE = 0.55  # a line at least this share of the wrap width was wrapped, not ended
MIN_WORDS = 3  # a shorter sentence ("Yes.") is read with the one after it


def wrap_width(text: str) -> int:
    """The width a hard-wrapped text was wrapped at (the 90th percentile of its line
    lengths), or 0 when its lines are too long to be wrapped (one paragraph a line)."""
    lengths = sorted(len(line.rstrip()) for line in text.splitlines() if line.strip())
    if len(lengths) < 3:
        return 0
    width = lengths[int(0.9 * (len(lengths) - 1))]
    return width if width <= 100 else 0


def split_block(text: str, start: int, end: int, wrap: int = 0, code: bool = False) -> list:
    """(start, end) of each sentence of the block text[start:end], in `text`'s offsets.

    A line break ends a sentence only after a line shorter than SOFT_LINE of the wrap
    width (`wrap`, 0 for text that is not hard-wrapped); in code every line is one. A
    sentence of fewer than MIN_WORDS words is joined to the next ("Yes. It is."), the last
    to the one before."""
    block, cuts = text[start:end], []
    for match in SENTENCE_END.finditer(block):
        if code and "\n" not in match.group():
            continue
        # the abbreviation test reads only the word before the full stop: linear on long blocks
        before = block[max(0, match.start() - ABBREVIATION_WINDOW) : match.start() + 1]
        if match.group().startswith(".") and NOT_AN_END.search(before):
            continue
        if match.group()[0] == "\n" and not code and wrap:
            line = block[block.rfind("\n", 0, match.start()) + 1 : match.start()]
            if len(line.rstrip()) >= SOFT_LINE * wrap:
                continue
        cuts.append(match.end())
    spans, begin = [], 0
    for cut in [*cuts, len(block)]:
        piece = block[begin:cut]
        left, right = len(piece) - len(piece.lstrip()), len(piece.rstrip())
        if right > left:
            spans.append([begin + left, begin + right])
        begin = cut
    merged: list[list[int]] = []
    for span in spans:
        if merged and len(block[slice(*merged[-1])].split()) < MIN_WORDS:
            merged[-1][1] = span[1]
        else:
            merged.append(span)
    if len(merged) > 1 and len(block[slice(*merged[-1])].split()) < MIN_WORDS:
        last = merged.pop()  # a short last sentence goes with the one before
        merged[-1][1] = last[1]
    return [(start + a, start + b) for a, b in merged]
