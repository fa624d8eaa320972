"""Documents -> sentence-aware chunks whose offsets reproduce them from the source text."""

import bisect
import hashlib

from langchain_core.documents import Document
from langchain_text_splitters import RecursiveCharacterTextSplitter

# Paragraphs first, then lines, then sentence ends, then clause ends, then words.
SEPARATORS = ["\n\n", "\n", r"(?<=[.!?…])\s+", r"(?<=[;:,])\s+", " ", ""]


def make_splitter(chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    """The splitter every ingestion uses; overlap is capped below the chunk size."""
    return RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=min(chunk_overlap, chunk_size // 2),
        separators=SEPARATORS,
        is_separator_regex=True,
        keep_separator="end",
        add_start_index=True,
    )


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


def chunk_document(document: Document, splitter: RecursiveCharacterTextSplitter) -> list[Document]:
    """Split one document; each chunk's `start`/`end` index the original text exactly."""
    text = document.page_content
    page_starts = document.metadata.get("page_starts") or []
    chunks: list[Document] = []
    for piece in splitter.split_documents([document]):
        piece.metadata.pop("page_starts", None)
        content = piece.page_content
        start = piece.metadata.pop("start_index", -1)
        if start < 0 or text[start : start + len(content)] != content:
            start = text.find(content)
        if start < 0:  # cannot happen for a splitter that only cuts and strips
            continue
        if page_starts:
            piece.metadata.update(page_map(page_starts, start, start + len(content)))
        piece.metadata.update(
            chunk=len(chunks),
            start=start,
            end=start + len(content),
            hash=hashlib.sha256(content.encode()).hexdigest()[:16],
        )
        chunks.append(piece)
    return chunks
