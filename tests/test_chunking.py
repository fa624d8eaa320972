from pathlib import Path

from langchain_core.documents import Document

from qa.ingest.chunking import chunk_document, make_chunker
from qa.ingest.corpus import load_file
from qa.text.sentences import split_sentences

from .conftest import SEED

TRICKY = (
    "Dr. Smith met J. Doe in the U.S. on 5 May.  Then — unexpectedly — he left!\n\n"
    "«Привет», сказал он. Was it 3.5 km? Yes… “Quite so.” (It was.)\r\nEnd"
)


def test_chunks_reproduce_the_source_text_exactly() -> None:
    path = SEED[0]
    document = load_file(path, path.parent)
    text = open(path, encoding="utf-8").read()
    for size, overlap in [(800, 120), (200, 50), (60, 0)]:
        chunks = chunk_document(document, make_chunker(size, overlap))
        assert len(chunks) > 1
        for i, chunk in enumerate(chunks):
            meta = chunk.metadata
            assert text[meta["start"] : meta["end"]] == chunk.page_content
            assert meta["chunk"] == i and len(meta["hash"]) == 16
            assert meta["source"] == path.name and meta["title"].startswith("Lukashenko")
            assert len(chunk.page_content) <= size


def test_chunks_of_tricky_text_keep_offsets() -> None:
    document = Document(page_content=TRICKY, metadata={"source": "t.txt", "title": "t"})
    for chunk in chunk_document(document, make_chunker(50, 10)):
        assert TRICKY[chunk.metadata["start"] : chunk.metadata["end"]] == chunk.page_content


def test_sentences_are_trimmed_spans_and_respect_abbreviations() -> None:
    spans = split_sentences(TRICKY)
    sentences = [TRICKY[a:b] for a, b in spans]
    assert sentences[0] == "Dr. Smith met J. Doe in the U.S. on 5 May."
    assert "Then — unexpectedly — he left!" in sentences
    assert all(s == s.strip() and s for s in sentences)
    assert sentences[-1] == "End"


def test_title_comes_from_markdown_heading(tmp_path: Path) -> None:
    path = tmp_path / "a-b_c.md"
    path.write_text("intro line\n", encoding="utf-8")
    assert load_file(path, tmp_path).metadata["title"] == "a b c"
    path.write_text("\n# The Title\n\nbody\n", encoding="utf-8")
    assert load_file(path, tmp_path).metadata["title"] == "The Title"
