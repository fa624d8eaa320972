"""Hostile and broken inputs: nothing escapes the corpus, nothing is lost, nothing runs for
long, and every failure is one line."""

import json
import os
import re
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.core.errors import BackendError
from qa.core.settings import Settings
from qa.evaluation.datasets import load_squad
from qa.index.store import embedder_name, indexed_embedder
from qa.ingest.formats import EXTRACTORS
from qa.interfaces.cli import main
from qa.service import QAService

pytestmark = pytest.mark.slow


def skipped(report) -> dict[str, str]:
    return {Path(s.path).name: s.reason for s in report.skipped}


def test_links_out_of_the_corpus_and_undecodable_names_are_skipped(
    service: QAService, seed_corpus: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (seed_corpus / "passwd.txt").symlink_to(secret)
    (seed_corpus / "inside.md").symlink_to(seed_corpus / "lukashenko-western-sanctions-belarus.md")
    odd = os.path.join(os.fsencode(seed_corpus), b"caf\xe9.txt")
    with open(odd, "wb") as handle:
        handle.write(b"Cafe notes.\n")
    report = service.library.ingest(progress=False)
    reasons = skipped(report)
    assert reasons["passwd.txt"] == "it is a symbolic link to a file outside the corpus folder"
    assert [r for r in reasons.values() if "name is not valid UTF-8" in r]
    assert report.files == 2  # the article and the link to it inside the corpus
    answer = service.ask("What is the root shell in passwd?")
    assert answer.refused and answer.citations == []
    assert answer.passages and all("root:x" not in p.text for p in answer.passages)


def test_a_file_unreadable_during_an_ingest_keeps_its_chunks(
    indexed: QAService, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = indexed.store.lexical.count()
    real = EXTRACTORS[".md"]

    def unreadable(path: Path, max_bytes: int | None = None):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setitem(EXTRACTORS, ".md", unreadable)
    report = indexed.library.ingest(progress=False)
    assert report.deleted == 0 and report.unchanged == before
    assert "its earlier chunks, if any, are kept" in next(iter(skipped(report).values()))
    monkeypatch.setitem(EXTRACTORS, ".md", real)
    assert "25 June" in indexed.ask("When did EU sectoral sanctions start?").citations[0].quote


def test_an_interrupted_first_ingest_has_recorded_its_embedder(
    service: QAService, seed_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail(*args, **kwargs):
        raise RuntimeError("database or disk is full")

    monkeypatch.setattr("qa.ingest.pipeline.index", fail)
    with pytest.raises(BackendError, match="database or disk is full.*resumes"):
        service.library.ingest(progress=False)
    assert indexed_embedder(service.settings) == embedder_name(service.embeddings)


def test_parsers_cannot_blow_up_or_stall_an_ingest(
    service: QAService, seed_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docx

    document = docx.Document()
    document.add_paragraph("A" * 1000)
    document.save(seed_corpus / "bomb.docx")
    with zipfile.ZipFile(seed_corpus / "bomb.docx") as package:
        parts = {name: package.read(name) for name in package.namelist()}
    xml = parts["word/document.xml"]
    cut = xml.rfind(b"<w:sectPr")
    paragraph = b"<w:p><w:r><w:t>" + b"A" * 1000 + b"</w:t></w:r></w:p>"
    parts["word/document.xml"] = xml[:cut] + paragraph * 3000 + xml[cut:]  # 3 MB unpacked
    with zipfile.ZipFile(seed_corpus / "bomb.docx", "w", zipfile.ZIP_DEFLATED) as package:
        for name, data in parts.items():
            package.writestr(name, data)
    (seed_corpus / "comment.html").write_text("<html><body><p>Opening hours.</p>" + "<!--" * 5000)
    (seed_corpus / "tags.html").write_text("<html><body>" + "<a b=" * 5000)
    monkeypatch.setenv("QA_MAX_FILE_MB", "1")
    settings = Settings()
    report = QAService(settings).__class__(settings)
    report.embeddings = service.embeddings
    result = report.library.ingest(progress=False)
    reasons = skipped(result)
    assert re.match(r"it unpacks to \d MB, over the 1 MB limit", reasons["bomb.docx"])
    assert "<!--" not in report.store.lexical.documents_of(["comment.html"])[0].page_content
    assert "tags.html" in reasons  # no text at all: "it is empty", not 25 KB of markup
    monkeypatch.setenv("QA_EXTRACT_TIMEOUT", "0.01")  # less than a worker takes to start
    # changed, so read again (an unchanged file's stored extraction is used, not re-read)
    (seed_corpus / "comment.html").write_text("<html><body><p>Closing hours.</p>" + "<!--" * 5000)
    slow = QAService(Settings())
    slow.embeddings = service.embeddings
    result = slow.library.ingest(progress=False)
    assert skipped(result)["comment.html"] == "reading it took over 0.01 s (QA_EXTRACT_TIMEOUT)"


def test_bad_settings_and_questions_are_one_line(
    seed_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    monkeypatch.setenv("QA_MAX_FILE_MB", "inf")
    result = runner.invoke(main, ["ingest"])
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "QA_MAX_FILE_MB" in result.stderr
    monkeypatch.delenv("QA_MAX_FILE_MB")
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    for index in (blocker, blocker / "under"):
        monkeypatch.setenv("QA_INDEX_DIR", str(index))
        result = runner.invoke(main, ["ingest"])
        assert result.exit_code == 5 and result.stderr.count("\n") == 1, result.output
        assert "cannot write the index" in result.stderr and "QA_INDEX_DIR" in result.stderr
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    assert runner.invoke(main, ["ingest"]).exit_code == 0
    result = runner.invoke(main, ["ask", "When did EU sanctions start?\udcff"])
    assert result.exit_code == 2 and "not valid UTF-8" in result.stderr
    assert result.stderr.count("\n") == 1


def test_official_squad_files_are_read(tmp_path: Path) -> None:
    official = {
        "version": "v2.0",
        "data": [
            {
                "title": "Tractors",
                "paragraphs": [
                    {
                        "context": "The plant built 700 tractors in 1998.",
                        "qas": [
                            {
                                "id": "q1",
                                "question": "How many tractors?",
                                "answers": [{"text": "700", "answer_start": 16}],
                            },
                            {
                                "id": "q2",
                                "question": "Who owns it?",
                                "answers": [],
                                "is_impossible": True,
                            },
                        ],
                    },
                    {"context": "A paragraph without questions."},
                ],
            }
        ],
    }
    path = tmp_path / "official.json"
    path.write_text(json.dumps(official))
    corpus = tmp_path / "squad-corpus"
    corpus.mkdir()
    questions = load_squad(path, corpus)
    assert [(q.id, q.answers, q.unanswerable) for q in questions] == [
        ("q1", ["700"], False),
        ("q2", [], True),
    ]
    assert len(list(corpus.iterdir())) == 2


def test_answers_come_from_an_index_on_a_read_only_volume(
    indexed: QAService, tmp_path: Path
) -> None:
    import subprocess

    volume = tmp_path / "read-only"
    volume.mkdir()
    mounted = subprocess.run(
        ["mount", "--bind", "-o", "ro", str(indexed.settings.index_dir), str(volume)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:  # needs root and CAP_SYS_ADMIN, which CI here has
        pytest.skip(f"cannot mount a read-only volume here: {mounted.stderr.strip()}")
    try:
        assert not os.access(volume, os.W_OK)
        settings = indexed.settings.model_copy(update={"index_dir": volume})
        service = QAService(settings)
        service.embeddings = indexed.embeddings
        answer = service.ask("When did EU sectoral sanctions start?")
        assert "25 June" in answer.citations[0].quote
        service.store.lexical.close()
    finally:
        subprocess.run(["umount", str(volume)], check=True)


def test_a_damaged_cached_embedding_model_is_built_again(embeddings, tmp_path: Path) -> None:
    import shutil

    from qa.core.settings import default_cache_dir
    from qa.models.embedder import load_embeddings

    cache = tmp_path / "cache"
    prepared = default_cache_dir() / embeddings.name  # the conftest model's prepared copy
    shutil.copytree(prepared, cache / prepared.name)
    damaged = cache / prepared.name / "model.onnx"
    damaged.write_bytes(damaged.read_bytes()[:1000])  # as a full disk would leave it
    rebuilt = load_embeddings(cache_dir=cache)
    assert damaged.stat().st_size > 1_000_000
    assert rebuilt.embed_query("sanctions") == pytest.approx(
        embeddings.embed_query("sanctions"), abs=1e-5
    )
