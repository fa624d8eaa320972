"""Documents -> chunks that follow their structure: whole sentences and table rows packed
up to the chunk size, a new chunk at each heading, each chunk with its heading path and its
units (`qa.text.blocks`); offsets reproduce every chunk from the source text."""

import bisect
import hashlib
import json
from dataclasses import dataclass

from langchain_core.documents import Document

from qa.ingest.structure import plain_blocks
from qa.text.blocks import CONTEXT_KINDS, Block, Unit, encode, heading_text
from qa.text.sentences import split_block, wrap_width

INTRODUCED = 80  # the longest line read with the sentence that introduces it with a colon
SECTION_LEVEL = 3  # a chunk starts at each title, FAQ question and heading this high


@dataclass(frozen=True)
class Chunker:
    """How large chunks are (characters) and how much neighbours share."""

    chunk_size: int
    chunk_overlap: int


def make_chunker(chunk_size: int, chunk_overlap: int) -> Chunker:
    """The chunker every ingestion uses; overlap is capped below the chunk size."""
    return Chunker(chunk_size, min(chunk_overlap, chunk_size // 2))


def units_of(text: str, blocks: list[Block], largest: int) -> list[Unit]:
    """The sentences of each answer block and each whole context block, in order; a unit
    longer than `largest` (a sentence longer than a chunk) is cut at white space."""
    wrap, found = wrap_width(text), []
    for index, block in enumerate(blocks):
        if block.kind in CONTEXT_KINDS or block.kind == "row":  # a table row reads as one
            spans = [(block.start, block.end)]
        else:
            spans = split_block(text, block.start, block.end, wrap, block.kind == "code")
        for start, end in spans:
            for a, b in _cut(text, start, end, largest):
                found.append(Unit(block.kind, a, b, block.level, index))
    return _introductions(text, found, largest)


def _introductions(text: str, units: list[Unit], largest: int) -> list[Unit]:
    """A sentence that ends with a colon is read with the short block it introduces ("add
    this option:" and the option on the next line)."""
    found: list[Unit] = []
    for unit in units:
        before = found[-1] if found else None
        if (
            before is not None
            and before.kind not in CONTEXT_KINDS
            and unit.kind not in CONTEXT_KINDS
            and before.block != unit.block
            and text[before.start : before.end].endswith(":")
            and unit.end - unit.start <= INTRODUCED
            and unit.end - before.start <= largest
        ):
            found[-1] = Unit(before.kind, before.start, unit.end, before.level, before.block)
        else:
            found.append(unit)
    return found


def _cut(text: str, start: int, end: int, largest: int) -> list[tuple[int, int]]:
    pieces = []
    while end - start > largest:
        space = text.rfind(" ", start + 1, start + largest)
        cut = space if space > start else start + largest
        pieces.append((start, cut))
        start = cut + len(text[cut : cut + 1]) - len(text[cut : cut + 1].lstrip())
    return [*pieces, (start, end)] if end > start else pieces


def _packs(units: list[Unit], chunker: Chunker) -> list[list[int]]:
    """Unit indexes of each chunk: packed up to the size, a new chunk at each heading, the
    last sentences of a chunk repeated at the start of the next (up to the overlap)."""
    packs: list[list[int]] = []
    current: list[int] = []
    for i, unit in enumerate(units):
        section = unit.kind in ("title", "question") or (
            unit.kind == "heading" and unit.level <= SECTION_LEVEL
        )
        if current and (section or unit.end - units[current[0]].start > chunker.chunk_size):
            packs.append(current)
            carry: list[int] = []
            for j in reversed(current if not section else []):
                if units[j].kind in CONTEXT_KINDS or unit.end - units[j].start > chunker.chunk_size:
                    break
                if units[current[-1]].end - units[j].start > chunker.chunk_overlap:
                    break
                carry.insert(0, j)
            current = carry
        current.append(i)
    return [*packs, current] if current else packs


def _paths(text: str, units: list[Unit]) -> list[str]:
    """The headings above each unit ("Installation > Building from source")."""
    stack: list[tuple[int, str]] = []
    paths = []
    for unit in units:
        while unit.kind == "heading" and stack and stack[-1][0] >= unit.level:
            stack.pop()
        paths.append(" > ".join(words for _, words in stack))
        if unit.kind == "heading":
            stack.append((unit.level, heading_text(text[unit.start : unit.end])))
    return paths


def chunk_document(document: Document, chunker: Chunker) -> list[Document]:
    """Split one document; each chunk's `start`/`end` index the original text exactly."""
    text = document.page_content
    metadata = {k: v for k, v in document.metadata.items() if k not in NOT_PER_CHUNK}
    page_starts = document.metadata.get("page_starts") or []
    locations = document.metadata.get("locations") or []
    blocks = document.metadata.get("blocks")
    if blocks is None:
        blocks = plain_blocks(text, wrap_width(text))
    units = units_of(text, blocks, chunker.chunk_size)
    paths = _paths(text, units)
    chunks: list[Document] = []
    for pack in _packs(units, chunker):
        start, end = units[pack[0]].start, units[pack[-1]].end
        content = text[start:end]
        meta = {
            **metadata,
            "chunk": len(chunks),
            "start": start,
            "end": end,
            "hash": hashlib.sha256(content.encode()).hexdigest()[:16],
            "headings": paths[pack[0]],
            "units": encode([units[i] for i in pack], start),
        }
        if page_starts:
            meta.update(page_map(page_starts, start, end))
        if locations:
            meta["locations"] = location_map(locations, start, end)
        chunks.append(Document(page_content=content, metadata=meta))
    return chunks


NOT_PER_CHUNK = ("blocks", "page_starts", "locations")  # the whole document's; chunks get theirs


def location_map(locations: list[tuple[int, str]], start: int, end: int) -> str:
    """The slide, sheet row or chapter a chunk starts in, and each that starts inside it, as
    JSON [[offset in the chunk, label], ...] (Chroma keeps only scalars)."""
    first = bisect.bisect_right([at for at, _ in locations], start) - 1
    inside = [[at - start, label] for at, label in locations if start < at < end]
    return json.dumps(([[0, locations[first][1]]] if first >= 0 else []) + inside)


def location_at(metadata: dict, offset: int) -> str | None:
    """Where a character of the source stands ("slide 3", "Sheet1, row 14"), from the
    metadata of the chunk holding it; None for files without such places."""
    if not metadata.get("locations"):
        return None
    local, found = offset - metadata["start"], None
    for at, label in json.loads(metadata["locations"]):
        if at <= local:
            found = label
    return found


def page_map(page_starts: list[int], start: int, end: int) -> dict:
    """The page a chunk starts on, and "offset:page" for each page break inside it."""
    first = bisect.bisect_right(page_starts, start)
    breaks = [f"{s - start}:{i + 1}" for i, s in enumerate(page_starts) if start < s < end]
    return {"page": first, "page_breaks": ",".join(["0:" + str(first), *breaks])}


def page_at(metadata: dict, offset: int) -> int | None:
    """The page of a character of the source, from the metadata of the chunk holding it."""
    if "page_breaks" not in metadata:
        return None
    local = offset - metadata["start"]
    page = metadata["page"]
    for entry in metadata["page_breaks"].split(","):
        at, number = entry.split(":")
        if int(at) <= local:
            page = int(number)
    return page
