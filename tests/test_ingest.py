"""Incremental, idempotent ingestion into a real Chroma store with the real model."""

from pathlib import Path

import pytest

from qa.service import QAService

pytestmark = pytest.mark.slow


def index_state(service: QAService) -> tuple[set[str], set[str], dict[str, int]]:
    """Chunk ids in Chroma, in the lexical index, and chunks per source."""
    got = service.store.dense.get(include=["metadatas"])
    per_source: dict[str, int] = {}
    for meta in got["metadatas"]:
        per_source[meta["source"]] = per_source.get(meta["source"], 0) + 1
    return set(got["ids"]), service.store.lexical.ids(), per_source


def test_reingest_is_idempotent(indexed: QAService) -> None:
    dense_ids, lexical_ids, per_source = index_state(indexed)
    assert dense_ids == lexical_ids and len(dense_ids) > 1
    report = indexed.library.ingest(progress=False)
    assert (report.added, report.deleted, report.unchanged) == (0, 0, len(dense_ids))
    assert index_state(indexed) == (dense_ids, lexical_ids, per_source)


def test_changed_file_replaces_its_chunks_and_deleted_file_loses_them(
    indexed: QAService, seed_corpus: Path
) -> None:
    extra = seed_corpus / "notes.txt"
    extra.write_text("Zebras graze on the Serengeti plains in large herds.\n", encoding="utf-8")
    assert indexed.library.ingest(progress=False).added == 1
    before, _, _ = index_state(indexed)

    extra.write_text("Penguins nest on the Antarctic ice in winter.\n", encoding="utf-8")
    report = indexed.library.ingest(progress=False)
    assert (report.added, report.deleted) == (1, 1)
    after, lexical_after, per_source = index_state(indexed)
    assert after == lexical_after and per_source["notes.txt"] == 1
    assert len(after - before) == 1 and len(before - after) == 1
    assert "Penguins" in indexed.ask("Where do penguins nest?").citations[0].quote

    extra.unlink()
    report = indexed.library.ingest(progress=False)
    assert report.deleted == 1 and report.added == 0
    final, lexical_final, per_source = index_state(indexed)
    assert final == lexical_final and "notes.txt" not in per_source


def test_bad_files_are_skipped_and_named_while_others_are_indexed(
    service: QAService, seed_corpus: Path
) -> None:
    (seed_corpus / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (seed_corpus / "binary.md").write_bytes(b"\x00\x01\x02PNG\x00")
    (seed_corpus / "gone.txt").symlink_to(seed_corpus / "missing-target.txt")
    report = service.library.ingest(progress=False)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons == {
        "latin1.txt": "it is not valid UTF-8 text",
        "binary.md": "it looks like a binary file",
        "gone.txt": "it is a symbolic link to a file that does not exist",
    }
    assert report.files == 1 and report.added > 0
