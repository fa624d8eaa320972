"""Citations: a ranked sentence quoted verbatim from its source file, with offsets that
reproduce it from the stored text (used by the extractive and the generative engines)."""

from pathlib import Path

from qa.answering.sentences import (
    Candidate,
)
from qa.core.errors import StaleIndexError
from qa.core.schema import Citation
from qa.ingest.chunking import location_at, page_at
from qa.ingest.corpus import StoredTexts, source_text


def quote(
    sentence: Candidate,
    n: int,
    corpus_dir: Path,
    max_bytes: int | None = None,
    texts: StoredTexts | None = None,
) -> Citation:
    """Citation number `n` of a candidate sentence, checked against its source's text: the
    file itself, or the extraction stored at ingest (`texts`)."""
    meta = sentence.document.metadata
    source = corpus_dir / meta["source"]
    text = source_text(corpus_dir, meta["source"], max_bytes, texts, meta)
    if text[sentence.start : sentence.end] != sentence.text:
        raise StaleIndexError(f"{source} changed since it was indexed: run `qa ingest`")
    return Citation(
        n=n,
        source=str(source),
        title=meta.get("title", ""),
        start=sentence.start,
        end=sentence.end,
        quote=sentence.text,
        page=page_at(meta, sentence.start),
        where=location_at(meta, sentence.start),
        url=meta.get("url"),
    )
