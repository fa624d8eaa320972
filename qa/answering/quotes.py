"""The default answer engine: the retrieved sentence most likely to hold the answer, quoted.

No text is generated: the answer is a sentence quoted from a retrieved passage, so every
word the user sees traces to a span of a corpus file. Stage by stage, each a learned,
calibrated scorer (`params.json`, made by `qa train`):
1. `sentence` ranks every sentence of the retrieved passages from cheap features;
2. the span reader reads the best `READ_TOP` of them, and `cited` ranks those again with
   what it found: the best becomes the cited sentence;
3. `answerable` decides whether the corpus answers the question at all;
4. `span` decides whether the reader's span of the cited sentence is shown as the short
   answer. Each decision carries its probability.
"""

from pathlib import Path

from qa.answering.sentences import (
    Candidate,
)
from qa.core.errors import StaleIndexError
from qa.core.schema import Citation
from qa.ingest.chunking import page_at
from qa.ingest.corpus import source_text


def quote(sentence: Candidate, n: int, corpus_dir: Path, max_bytes: int | None = None) -> Citation:
    """Citation number `n` of a candidate sentence, checked against its source file."""
    meta = sentence.document.metadata
    source = corpus_dir / meta["source"]
    text = source_text(corpus_dir, meta["source"], max_bytes)
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
    )
