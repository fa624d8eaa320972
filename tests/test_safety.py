"""What a careless or hostile user found (issue 25): nothing of the server read from outside
the corpus, no version lost, one bad file never stops the others, one line for every
mistake. The attacks through a served app are in test_attacks.py, the shared servers' in
test_shared_index.py."""

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner
from langchain_core.documents import Document

from qa.core.errors import IndexBusyError, InputError, SourceUnavailable, StaleIndexError
from qa.core.settings import Settings, default_cache_dir
from qa.evaluation.datasets import load_questions, load_squad
from qa.evaluation.feedback import record_vote, retract_vote
from qa.index.sqlite import LexicalIndex
from qa.ingest.pipeline import ingest_lock
from qa.interfaces.cli import main
from qa.service import QAService

from .conftest import ROOT

DOCUMENTS = ROOT.parent / "shared" / "data" / "documents"
QUESTION = "When did EU sectoral sanctions start?"
SEED_NAME = "lukashenko-western-sanctions-belarus.md"

pytestmark = pytest.mark.slow


def test_a_pdf_with_broken_characters_is_indexed_and_stops_no_other_file(
    service: QAService, seed_corpus: Path
) -> None:
    # a Word export with Gothic text: pypdf reads it as lone surrogates, which no encoder takes
    for name in ("testPDFVarious.pdf", "testPDF.pdf", "testWORD.docx", "testOCR.pdf"):
        shutil.copy(DOCUMENTS / name, seed_corpus / name)
    report = service.library.ingest(progress=False)
    assert report.files == 5  # the seed, the two PDFs with text, the Word file, the scan
    assert report.skipped == []  # the scan without a text layer is read by OCR
    [note] = report.notes
    assert Path(note.path).name == "testPDFVarious.pdf" and "replaced by \ufffd" in note.reason
    assert "1 with a note" in report.summary()
    titles = {d["source"] for d in service.library.documents()}
    assert "testPDFVarious.pdf" in titles
    answer = service.ask(QUESTION)
    assert "25 June" in answer.citations[0].quote
    _, text = service.library.document_text("testPDFVarious.pdf")
    assert "\ufffd" in text and text.encode("utf-8")  # stored and shown as valid text


def test_a_file_that_cannot_be_chunked_or_embedded_is_skipped_and_retried_later(
    service: QAService, seed_corpus: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (seed_corpus / "poison.md").write_text("# Poison\n\nThe poisoned well is east of town.\n")
    (seed_corpus / "knot.md").write_text("# Knot\n\nA knot that no splitter can cut.\n")
    real = service.embeddings.embed_documents
    import qa.ingest.pipeline

    chunk_document = qa.ingest.pipeline.chunk_document

    def embed(texts: list[str]) -> list[list[float]]:
        if any("poisoned" in text for text in texts):
            raise RuntimeError("the model refused this text")
        return real(texts)

    def chunk(document: Document, splitter) -> list[Document]:
        if document.metadata["source"] == "knot.md":
            raise ValueError("cannot split")
        return chunk_document(document, splitter)

    monkeypatch.setattr(service.embeddings, "embed_documents", embed)
    monkeypatch.setattr(qa.ingest.pipeline, "chunk_document", chunk)
    report = service.library.ingest(progress=False)
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons["poison.md"].startswith("it could not be embedded or written (RuntimeError")
    assert reasons["knot.md"].startswith("it could not be split into chunks (ValueError")
    assert report.files == 1 and "25 June" in service.ask(QUESTION).citations[0].quote
    assert {d["source"] for d in service.library.documents()} == {SEED_NAME}
    monkeypatch.setattr(service.embeddings, "embed_documents", real)
    monkeypatch.setattr(qa.ingest.pipeline, "chunk_document", chunk_document)
    again = service.library.ingest(progress=False)  # the cause fixed, both files come in
    assert not again.skipped and again.files == 3
    assert "east of town" in service.ask("Where is the poisoned well?").citations[0].quote


def versions(service: QAService, name: str) -> list[str]:
    """Every version of `name` kept: in the trash, then the corpus's."""
    kept = sorted(p.read_text() for p in service.library.trash_dir.glob(f"*-{name}"))
    return [*kept, (service.settings.corpus_dir / name).read_text()]


def test_no_version_is_lost_when_the_same_name_is_replaced_within_a_second(
    indexed: QAService, tmp_path: Path
) -> None:
    corpus = indexed.settings.corpus_dir
    (corpus / "gnu.txt").write_text("The gnu, version 0.\n")
    uploads = []
    for n in (1, 2):
        folder = tmp_path / f"up{n}"
        folder.mkdir()
        (folder / "gnu.txt").write_text(f"The gnu, version {n}.\n")
        uploads.append(folder / "gnu.txt")
    placed, rejected, _ = indexed.library.add_files(uploads)  # one upload, two files of one name
    assert [u.status for u in placed] == ["replaced", "replaced"] and not rejected
    assert sorted(versions(indexed, "gnu.txt")) == [f"The gnu, version {n}.\n" for n in (0, 1, 2)]
    assert (corpus / "gnu.txt").read_text() == "The gnu, version 2.\n"


def test_concurrent_uploads_of_one_name_all_land_and_every_version_is_kept(
    indexed: QAService, tmp_path: Path
) -> None:
    texts = [f"Zebra number {n} has {n + 3} stripes.\n" for n in range(6)]
    errors: list[Exception] = []

    def upload(n: int) -> None:
        folder = tmp_path / f"zebra{n}"
        folder.mkdir()
        (folder / "zebra.txt").write_text(texts[n])
        try:
            indexed.library.add_files([folder / "zebra.txt"])
        except Exception as exc:  # noqa: BLE001 (collected and asserted)
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors  # each waited for the one before, none was turned away half-done
    assert sorted(versions(indexed, "zebra.txt")) == sorted(texts)
    final = (indexed.settings.corpus_dir / "zebra.txt").read_text()
    indexed_text = indexed.library.document_text("zebra.txt")[1]
    assert indexed_text == final  # the index holds the version the corpus holds


def test_an_upload_while_another_ingest_writes_changes_nothing(
    indexed: QAService, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("qa.library.UPLOAD_WAIT", 0.5)
    corpus = indexed.settings.corpus_dir
    before = {p.name: p.read_bytes() for p in corpus.iterdir()}
    upload = tmp_path / "up" / SEED_NAME
    upload.parent.mkdir()
    upload.write_text("# Replaced\n\nA different article.\n")
    other = ingest_lock(indexed.settings)  # as another `qa ingest` holds it
    try:
        with pytest.raises(IndexBusyError, match="another `qa ingest` is writing"):
            indexed.library.add_files([upload])
        with pytest.raises(IndexBusyError):
            indexed.library.delete_document(SEED_NAME)
    finally:
        other.release()
    assert {p.name: p.read_bytes() for p in corpus.iterdir()} == before
    assert not indexed.library.trash_dir.exists() or not any(indexed.library.trash_dir.iterdir())


def test_votes_with_unicode_line_separators_keep_the_question_set_readable(
    tmp_path: Path,
) -> None:
    votes = tmp_path / "feedback.jsonl"
    answer = {"answer": "Yes.\u2028No.", "refused": False, "citations": []}
    first = record_vote(votes, "Line\u2028para\u2029next\x85line?", [], answer, liked=True)
    record_vote(votes, "Plain?", ["earlier\u2028turn"], answer, liked=False, correction="x\u2029y")
    assert len(votes.read_text(encoding="utf-8").split("\n")) == 3  # two lines and the end
    questions = load_questions(votes)
    assert [q.question for q in questions] == ["Line\u2028para\u2029next\x85line?", "Plain?"]
    assert questions[0].answers == ["Yes.\u2028No."] and questions[1].turns == ["earlier\u2028turn"]
    retract_vote(votes, first)
    assert [q.question for q in load_questions(votes)] == ["Plain?"]
    # a set written by another tool with the separators raw is read as JSON Lines says
    raw = tmp_path / "raw.jsonl"
    line = {"id": "a", "question": "Why\u2028now?", "answers": ["because\x85so"]}
    raw.write_text(json.dumps(line, ensure_ascii=False) + "\n", encoding="utf-8")
    assert load_questions(raw)[0].answers == ["because\x85so"]


def test_a_link_planted_after_indexing_is_never_read(indexed: QAService, tmp_path: Path) -> None:
    corpus = indexed.settings.corpus_dir
    secret = tmp_path / "secret.txt"
    secret.write_text("The vault code is 4711.\n")
    (corpus / SEED_NAME).unlink()
    (corpus / SEED_NAME).symlink_to(secret)
    with pytest.raises(SourceUnavailable, match="leads outside the corpus folder"):
        indexed.library.document_text(SEED_NAME)
    with pytest.raises(SourceUnavailable, match="leads outside the corpus folder"):
        indexed.ask(QUESTION)
    (corpus / SEED_NAME).unlink()
    (corpus / SEED_NAME).write_bytes(b"x" * (indexed.settings.max_file_bytes + 1))
    with pytest.raises(SourceUnavailable, match="over the 50 MB limit"):
        indexed.library.document_text(SEED_NAME)


def test_a_folder_replaced_by_a_link_after_indexing_is_never_read(
    service: QAService, data_dirs: Path, tmp_path: Path
) -> None:
    (data_dirs / "notes").mkdir()
    (data_dirs / "notes" / "a.md").write_text("# Notes\n\nThe meeting is on Tuesday.\n")
    service.library.ingest(progress=False)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.md").write_text("# Notes\n\nThe password is swordfish.\n")
    shutil.rmtree(data_dirs / "notes")
    (data_dirs / "notes").symlink_to(outside)
    with pytest.raises(SourceUnavailable, match="leads outside the corpus folder"):
        service.library.document_text("notes/a.md")


def test_an_unreadable_cited_file_says_it_cannot_be_read(
    indexed: QAService, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qa.ingest.corpus

    path = indexed.settings.corpus_dir / SEED_NAME

    def denied(*args: object) -> str:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(qa.ingest.corpus, "_extract_cached", denied)
    with pytest.raises(StaleIndexError) as caught:
        indexed.ask(QUESTION)
    assert str(caught.value) == f"{path} cannot be read (permission denied)"
    assert "changed since" not in str(caught.value)


def test_an_index_folder_inside_the_corpus_is_refused(seed_corpus: Path) -> None:
    result = CliRunner().invoke(main, ["ingest", "--index-dir", str(seed_corpus / "idx")])
    assert result.exit_code == 2
    assert result.stderr.startswith("qa: error: the index folder") and "inside the corpus" in (
        result.stderr
    )
    assert not (seed_corpus / "idx").exists()
    result = CliRunner().invoke(main, ["ingest", "--index-dir", str(seed_corpus)])
    assert result.exit_code == 2 and "inside the corpus" in result.stderr


def test_squad_articles_whose_titles_share_a_file_name_keep_their_own_paragraphs(
    tmp_path: Path,
) -> None:
    squad = tmp_path / "clash.json"
    articles = [
        ("A B", "Alpha beta is the first pair."),
        ("A-B", "The second pair is gamma delta."),
        ("A B", "A third article with the first title."),
    ]
    squad.write_text(
        json.dumps(
            {
                "articles": [
                    {
                        "title": title,
                        "paragraphs": [
                            {"context": text, "qas": [{"id": t, "question": "?", "answers": [t]}]}
                        ],
                    }
                    for t, (title, text) in zip("xyz", articles, strict=True)
                ]
            }
        )
    )
    corpus = tmp_path / "squad-corpus"
    corpus.mkdir()
    questions = load_squad(squad, corpus)
    sources = [q.gold_source for q in questions]
    assert len(set(sources)) == 3
    for question, (_, text) in zip(questions, articles, strict=True):
        assert (corpus / question.gold_source).read_text() == text


def test_question_files_nested_too_deeply_are_one_line(tmp_path: Path) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    (tmp_path / "deep.jsonl").write_text(deep + "\n")
    (tmp_path / "deep.json").write_text(deep)
    for args in (
        ["eval", str(tmp_path / "deep.jsonl")],
        ["eval", "--squad", str(tmp_path / "deep.json")],
    ):
        result = CliRunner().invoke(main, [*args, "--results-dir", str(tmp_path / "r")])
        assert result.exit_code == 2, result.output
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("qa: error:") and "nested too deeply" in line
    with pytest.raises(InputError, match="nested too deeply"):
        load_questions(tmp_path / "deep.jsonl")


def test_reads_never_see_a_lexical_index_half_written(tmp_path: Path) -> None:
    """Another process rewrites chunks (as `qa ingest` does beside `qa serve`) while this one
    searches: every read sees a whole state."""
    path = tmp_path / "index" / "lexical.sqlite3"
    writer = LexicalIndex(path)
    words = "sanctions potash minsk trade energy bank steel oil".split()
    docs = [
        Document(
            page_content=" ".join(words[(i + j) % 8] for j in range(60)),
            metadata={"source": f"{i}.txt"},
        )
        for i in range(300)
    ]
    writer.upsert([str(i) for i in range(300)], docs)
    writer.close()
    script = (
        "import random, sys, time\n"
        "from langchain_core.documents import Document\n"
        "from qa.index.sqlite import LexicalIndex\n"
        "end = time.monotonic() + float(sys.argv[2])\n"
        "while time.monotonic() < end:\n"
        "    index = LexicalIndex(__import__('pathlib').Path(sys.argv[1]))\n"
        "    ids = [str(i) for i in random.sample(range(300), 60)]\n"
        "    index.delete(ids)\n"
        "    index.upsert(ids, [Document(page_content='oil bank ' * random.randint(1, 40),"
        " metadata={'source': i + '.txt'}) for i in ids])\n"
        "    index.close()\n"
    )
    process = subprocess.Popen([sys.executable, "-c", script, str(path), "8"])
    reader, reads, failures = LexicalIndex(path), 0, []
    try:
        while process.poll() is None:
            try:
                reader.search("sanctions oil bank", 20)
                reader.idf(["oil", "potash"])
                reader.sources()
                reads += 1
            except (sqlite3.DatabaseError, Exception) as exc:  # noqa: BLE001 (counted)
                failures.append(repr(exc))
    finally:
        process.wait()
    assert process.returncode == 0 and reads > 50
    assert failures == []


# Root writes anywhere; these run qa as root without the capabilities that bypass file modes,
# so that read-only files and folders hold for it as they do for any ordinary user.
ORDINARY = ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


def read_only(folder: Path) -> None:
    """chmod -R a-w"""
    for inside, _, files in os.walk(folder):
        os.chmod(inside, 0o555)
        for name in files:
            os.chmod(os.path.join(inside, name), 0o444)


def as_ordinary_user(args: list[str], env: dict) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "qa", *args]
    if os.geteuid() == 0:
        command = [*ORDINARY, *command]
    return subprocess.run(command, env=env, capture_output=True, text=True)


@pytest.fixture
def ordinary(indexed: QAService, tmp_path: Path):
    """The environment of a `qa` command over the indexed seed, with its own temporary folder
    and a copy of the prepared models."""
    cache = tmp_path / "models"
    for onnx in default_cache_dir().glob("*/model.onnx"):
        shutil.copytree(onnx.parent, cache / onnx.parent.name)
    (tmp_path / "tmp").mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(tmp_path / "tmp"),
        "QA_CORPUS_DIR": str(indexed.settings.corpus_dir),
        "QA_INDEX_DIR": str(indexed.settings.index_dir),
        "QA_MODEL_CACHE_DIR": str(cache),
    }
    yield tmp_path, env
    for inside, _, _ in os.walk(tmp_path):
        os.chmod(inside, 0o755)  # so that pytest can remove it


def test_a_read_only_index_answers_an_ordinary_user_and_leaves_no_copy(ordinary) -> None:
    folder, env = ordinary
    read_only(Path(env["QA_INDEX_DIR"]))
    for _ in range(2):
        done = as_ordinary_user(["ask", QUESTION, "--json"], env)
        assert done.returncode == 0, done.stderr
        assert "25 June" in json.loads(done.stdout)["citations"][0]["quote"]
        assert "answering from a copy" in done.stderr
        assert list((folder / "tmp").glob("qa-*")) == []  # each call removed its copy


def test_a_damaged_model_in_a_read_only_cache_is_one_line(ordinary) -> None:
    _, env = ordinary
    cache = Path(env["QA_MODEL_CACHE_DIR"])
    for damaged in cache.glob("*/model.onnx"):
        damaged.write_bytes(damaged.read_bytes()[:1000])
    read_only(cache)
    done = as_ordinary_user(["ask", QUESTION], env)
    assert done.returncode == 5
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("qa: error: the copy of") and "is damaged and cannot be replaced" in line
    assert "make QA_MODEL_CACHE_DIR writable" in line


def test_settings_for_a_scratch_index_never_name_the_served_one(tmp_path: Path) -> None:
    served = Settings(
        chroma_url="http://127.0.0.1:8000",
        database_url="postgresql://qa@127.0.0.1:5432/postgres",
        collection="corpus",
    )
    scratch = served.scratch(tmp_path)
    assert scratch.chroma_url == "" and not scratch.database_url.get_secret_value()
    assert scratch.index_dir == tmp_path / "index" and scratch.corpus_dir == tmp_path / "corpus"
    assert (
        scratch.collection.startswith("scratch-")
        and scratch.collection != served.scratch(tmp_path).collection
    )
    on_servers = served.scratch(tmp_path, chroma_url="http://127.0.0.1:9")
    assert on_servers.chroma_url == "http://127.0.0.1:9" and on_servers.collection != "corpus"


def test_an_unreadable_folder_keeps_its_chunks_and_is_named(ordinary) -> None:
    _, env = ordinary
    corpus = Path(env["QA_CORPUS_DIR"])
    (corpus / "locked").mkdir()
    (corpus / "locked" / "penguins.md").write_text(
        "# Penguins\n\nEmperor penguins breed in winter.\n"
    )
    (corpus / "elsewhere.md").symlink_to(corpus.parent, target_is_directory=True)
    (corpus / "notes").symlink_to(corpus.parent, target_is_directory=True)
    first = as_ordinary_user(["ingest"], env)
    assert "2 file(s)" in first.stdout, first.stderr
    os.chmod(corpus / "locked", 0)
    try:
        again = as_ordinary_user(["ingest"], env)
    finally:
        os.chmod(corpus / "locked", 0o755)
    assert again.returncode == 6, again.stderr
    lines = dict(
        line.removeprefix("qa: skipped ").split(": ", 1) for line in again.stderr.splitlines()
    )
    assert lines[f"{corpus / 'locked'}/"].startswith("this folder cannot be read; the earlier")
    assert (
        lines[f"{corpus / 'notes'}/"] == "it is a link to a folder; qa does not follow folder links"
    )
    assert "0 removed" in again.stdout
    answer = as_ordinary_user(["ask", "--json", "When do emperor penguins breed?"], env)
    assert "winter" in json.loads(answer.stdout)["citations"][0]["quote"]


def squad_file(path: Path, paragraphs: list[dict], title: str = "T") -> Path:
    path.write_text(json.dumps({"data": [{"title": title, "paragraphs": paragraphs}]}))
    return path


def test_malformed_squad_files_and_runs_are_one_line(tmp_path: Path) -> None:
    corpus = tmp_path / "squad-corpus"
    corpus.mkdir()
    qa = {"id": "a", "question": "When?", "answers": [{"text": 5}]}
    cases = {
        "answer.json": ([{"context": "Built in 1889.", "qas": [qa]}], "must be text"),
        "empty.json": ([{"context": " ", "qas": []}], "has no context"),
        "twice.json": (
            [{"context": "One.", "qas": [dict(qa, answers=["x"])] * 2}],
            "the question id 'a' is used more than once",
        ),
    }
    for name, (paragraphs, said) in cases.items():
        with pytest.raises(InputError, match=said):
            load_squad(squad_file(tmp_path / name, paragraphs), corpus)
    one = [{"context": "One.", "qas": [dict(qa, answers=["x"])]}]
    [question] = load_squad(squad_file(tmp_path / "long.json", one, "x" * 400), corpus)
    assert (corpus / question.gold_source).read_text() == "One."

    run = {"dataset": "d", "engine": "e", "date": "x", "metrics": {}, "questions": [None]}
    (tmp_path / "null.json").write_text(json.dumps(run))
    good = dict(run, questions=[{"id": "q", "f1": 0.5, "refused": False}])
    (tmp_path / "good.json").write_text(json.dumps(good))
    (tmp_path / "text.json").write_text(json.dumps(dict(good, questions=[{"id": "q", "f1": "x"}])))
    for other in ("null.json", "text.json"):
        result = CliRunner().invoke(
            main,
            ["eval", "--compare", str(tmp_path / "good.json"), str(tmp_path / other),
             "--results-dir", str(tmp_path / "r")],
        )  # fmt: skip
        assert result.exit_code == 2, result.output
        [line] = result.stderr.strip().splitlines()
        assert line.startswith("qa: error:") and "qa eval" in line


def test_long_names_are_placed_and_kept_in_the_trash(indexed: QAService, tmp_path: Path) -> None:
    name = "a" * 245 + ".md"
    for version in (1, 2):
        folder = tmp_path / f"up{version}"
        folder.mkdir()
        (folder / name).write_text(f"# Long\n\nThe long file, version {version}.\n")
        placed, rejected, _ = indexed.library.add_files([folder / name])
        assert not rejected and placed[0].status == ("added", "replaced")[version - 1]
    [kept] = indexed.library.trash_dir.iterdir()
    assert "version 1" in kept.read_text() and kept.name.endswith(".md")
    indexed.library.delete_document(name)
    assert len(list(indexed.library.trash_dir.iterdir())) == 2


def test_an_index_folder_that_is_a_file_says_so(seed_corpus: Path, tmp_path: Path) -> None:
    (tmp_path / "afile").write_text("x")
    result = CliRunner().invoke(main, ["ingest", "--index-dir", str(tmp_path / "afile")])
    assert result.exit_code == 5
    assert result.stderr.strip().endswith("(QA_INDEX_DIR): it is a file, not a folder")


def test_a_question_set_saved_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = tmp_path / "windows.jsonl"
    line = json.dumps({"id": "a", "question": "Why?", "answers": ["because"]})
    path.write_bytes(b"\xef\xbb\xbf" + line.encode() + b"\r\n")
    assert load_questions(path)[0].answers == ["because"]


def test_a_question_too_long_to_ask_stops_a_run_at_once_named(tmp_path: Path) -> None:
    path = tmp_path / "huge.jsonl"
    short = {"id": "ok", "question": "Why?", "answers": ["because"]}
    huge = {"id": "huge", "question": "Why " * 1_000_000, "answers": ["because"]}
    path.write_text(json.dumps(short) + "\n" + json.dumps(huge) + "\n")
    result = CliRunner().invoke(main, ["eval", str(path), "--results-dir", str(tmp_path / "r")])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line == (
        f"qa: error: {path}: question 'huge' holds a question of 4000000 characters; the limit"
        " is 2000 (QA_MAX_QUESTION_CHARS)"
    )
