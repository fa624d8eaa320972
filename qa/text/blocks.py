"""The block model: a document as blocks of a kind (title, heading, paragraph, list item,
table row, code, caption, FAQ question and answer), each located in the stored text; and
its units, the sentences of the blocks that can hold answers and the whole blocks that
are context. Units travel with each chunk in a compact string (Chroma keeps only scalars).
"""

import re
from dataclasses import dataclass

# Blocks whose sentences can be quoted as answers
ANSWER_KINDS = frozenset({"paragraph", "item", "row", "code", "caption", "answer"})
# Blocks that are context for the sentences under them, never answers: a heading names what
# follows, it does not state it (no training data says so: SQuAD has no headings to quote)
CONTEXT_KINDS = frozenset({"title", "heading", "question", "table_header", "furniture"})
CODES = {
    "paragraph": "P",
    "item": "I",
    "row": "R",
    "code": "C",
    "caption": "K",
    "answer": "A",
    "title": "T",
    "heading": "H",
    "question": "Q",
    "table_header": "E",
    "furniture": "F",
}
KINDS = {code: kind for kind, code in CODES.items()}
HEADING_LEVELS = 9  # levels 1-6 from the formats; deeper ones for terms (HTML <dt>)


@dataclass(frozen=True)
class Block:
    """A span of the stored text and what it is; `level` ranks headings (1 is the top)."""

    kind: str
    start: int
    end: int
    level: int = 0


@dataclass(frozen=True)
class Unit:
    """A sentence of an answer block, or a whole context block: the pieces chunks are made of."""

    kind: str
    start: int
    end: int
    level: int = 0
    block: int = 0  # index of its block, so a chunk knows which sentences belong together


def encode(units: list[Unit], offset: int) -> str:
    """Units as "H2:0-20,P:22-120,P+:121-200": kind, heading level, "+" when the unit
    continues the block of the one before, offsets relative to `offset` (the chunk's start)."""
    return ",".join(
        f"{CODES[u.kind]}{u.level or ''}{'+' if i and u.block == units[i - 1].block else ''}"
        f":{u.start - offset}-{u.end - offset}"
        for i, u in enumerate(units)
    )


UNIT = re.compile(r"([A-Z])(\d*)(\+?):(\d+)-(\d+)")


def decode(encoded: str, offset: int) -> list[Unit]:
    """Read back what `encode` wrote, offsets made absolute again, blocks numbered from 0."""
    found: list[Unit] = []
    for piece in encoded.split(","):
        if match := UNIT.fullmatch(piece):
            code, level, same, start, end = match.groups()
            block = found[-1].block + (not same) if found else 0
            found.append(
                Unit(KINDS[code], offset + int(start), offset + int(end), int(level or 0), block)
            )
    return found


def display(text: str, paragraphs: bool = False) -> str:
    """A quote as the UI and CLI show it: a line break after a hyphen joins the two parts,
    every other run of white space becomes one space; with `paragraphs`, blank lines stay."""
    if paragraphs:
        return "\n\n".join(display(part) for part in re.split(r"\n\s*\n", text) if part.strip())
    return " ".join(re.sub(r"(?<=\w-)[ \t]*\n\s*(?=\w)", "", text).split())


def heading_text(text: str) -> str:
    """A heading's words without its Markdown marks, underline or numbering."""
    lines = [line for line in text.splitlines() if not re.fullmatch(r"\s*[=\-~^*#]{3,}\s*", line)]
    joined = " ".join(" ".join(lines).split())
    return re.sub(r"^#+\s*|\s*#+$", "", joined).strip()
