"""The corpus as the UI changes it: uploads replace, never duplicate or escape; deletes and
scoped questions go through the same index as `qa ingest`; votes become a question set."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.core.settings import Settings
from qa.engines import offered_engines
from qa.evaluation.datasets import load_questions
from qa.evaluation.feedback import record_vote
from qa.interfaces.cli import main
from qa.service import SCOPED_REFUSAL, QAService

pytestmark = pytest.mark.slow


def write(folder: Path, name: str, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_a_changed_upload_replaces_the_old_version_and_keeps_it_in_the_trash(
    indexed: QAService, tmp_path: Path
) -> None:
    corpus = indexed.settings.corpus_dir
    first = write(tmp_path / "up1", "tractors.md", "# Tractors\n\nThe plant built 900 tractors.\n")
    uploads, rejected, _ = indexed.library.add_files([first])
    assert [(u.path.name, u.status) for u in uploads] == [("tractors.md", "added")] and not rejected
    second = write(tmp_path / "up2", "tractors.md", "# Tractors\n\nThe plant built 700 tractors.\n")
    uploads, _, report = indexed.library.add_files([second])
    assert uploads[0].status == "replaced" and report.deleted >= 1
    assert sorted(p.name for p in corpus.iterdir()) == [
        "lukashenko-western-sanctions-belarus.md",
        "tractors.md",
    ]
    answer = indexed.ask("How many tractors did the plant build?")
    assert "700 tractors" in answer.citations[0].quote
    trashed = list(indexed.library.trash_dir.iterdir())
    assert len(trashed) == 1 and "900 tractors" in trashed[0].read_text()
    uploads, _, report = indexed.library.add_files([second])
    assert uploads[0].status == "unchanged" and report.added == 0


def test_uploads_that_cannot_enter_the_corpus_are_rejected_and_change_nothing(
    indexed: QAService, tmp_path: Path
) -> None:
    corpus = indexed.settings.corpus_dir
    outside = tmp_path / "outside" / "target.md"
    (corpus / "evil.md").symlink_to(outside)  # dangling: writing would create `outside`
    latin = "Caf\xe9 cr\xe8me costs two euros.\n".encode("latin-1")
    write(corpus, "latin.txt", latin)  # already in the corpus; qa cannot read it
    before = {p.name: p.read_bytes() for p in corpus.iterdir() if not p.is_symlink()}
    uploads, rejected, _ = indexed.library.add_files(
        [
            write(tmp_path / "up", ".notes.md", "# Notes\n\nHidden.\n"),
            write(tmp_path / "up", "evil.md", "# Evil\n\nWritten through a link.\n"),
            write(tmp_path / "up", "latin.txt", latin),
            write(tmp_path / "up", "slides.key", b"PK"),
        ]
    )
    assert uploads == []
    reasons = {r.path: r.reason for r in rejected}
    assert "hidden files are not indexed" in reasons[".notes.md"]
    assert "symbolic link" in reasons["evil.md"]
    assert "latin.txt" in reasons and "unsupported file type .key" in reasons["slides.key"]
    assert not outside.exists()
    assert {p.name: p.read_bytes() for p in corpus.iterdir() if not p.is_symlink()} == before


def test_delete_removes_a_documents_answers_and_keeps_the_file(
    indexed: QAService, tmp_path: Path
) -> None:
    penguins = write(
        tmp_path / "up", "penguins.md", "# Penguins\n\nEmperor penguins breed in winter.\n"
    )
    indexed.library.add_files([penguins])
    assert "breed in winter" in indexed.ask("When do emperor penguins breed?").citations[0].quote
    report = indexed.library.delete_document("penguins.md")
    assert report.deleted == 1 and not (indexed.settings.corpus_dir / "penguins.md").exists()
    answer = indexed.ask("When do emperor penguins breed?")
    assert answer.refused and answer.citations == []  # only the article is left to search
    assert answer.passages and all("penguins" not in p.source for p in answer.passages)
    assert [p.name.endswith("penguins.md") for p in indexed.library.trash_dir.iterdir()] == [True]
    with pytest.raises(Exception, match="not an indexed document"):
        indexed.library.delete_document("../outside.md")
    indexed.library.delete_document("lukashenko-western-sanctions-belarus.md")  # the last one
    assert indexed.library.documents() == []


def test_a_scoped_question_cites_only_the_chosen_documents(
    indexed: QAService, tmp_path: Path
) -> None:
    indexed.library.add_files(
        [write(tmp_path / "up", "penguins.md", "# Penguins\n\nEmperor penguins breed in winter.\n")]
    )
    question = "When did EU sectoral sanctions start?"
    everywhere = indexed.ask(question)
    assert everywhere.citations[0].source.endswith("belarus.md")
    scoped = indexed.ask(question, sources=["penguins.md"])
    assert [Path(p.source).name for p in scoped.passages] == ["penguins.md"]
    assert scoped.refused and scoped.citations == [] and scoped.text == SCOPED_REFUSAL
    with pytest.raises(Exception, match="not an indexed document: nope.md"):
        indexed.ask(question, sources=["nope.md"])


def test_votes_become_a_question_set_that_qa_eval_scores(
    indexed: QAService, tmp_path: Path
) -> None:
    votes = tmp_path / "feedback.jsonl"
    right = indexed.ask("When did EU sectoral sanctions start?").to_dict()
    wrong = indexed.ask("How many entities are on the EU sanctions list?").to_dict()
    record_vote(votes, right["question"], [], right, liked=True)
    vote = record_vote(votes, wrong["question"], [], wrong, liked=False)
    record_vote(votes, "Who won?", [], wrong, liked=False)  # no correction: kept, not scored
    assert len(votes.read_text().splitlines()) == 3
    record_vote(votes, wrong["question"], [], wrong, liked=False, correction="15", vote_id=vote)
    lines = [json.loads(line) for line in votes.read_text().splitlines()]
    assert len(lines) == 3 and lines[-1]["answers"] == ["15"] and lines[-1]["feedback"] == "down"
    assert lines[0]["answer_given"]["citations"][0]["quote"] == right["citations"][0]["quote"]
    questions = load_questions(votes)
    assert [q.answers for q in questions][1] == ["15"] and len(questions) == 2
    result = CliRunner().invoke(
        main, ["eval", str(votes), "--engine", "sentence", "--results-dir", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(next(tmp_path.glob("feedback-sentence-*.json")).read_text())
    assert report["metrics"]["questions"] == 2 and report["metrics"]["answerable"] == 2


def test_only_engines_that_can_answer_are_offered() -> None:
    names = lambda **s: [name for name, _ in offered_engines(Settings(**s))]  # noqa: E731
    assert names() == ["extractive", "sentence"]
    assert names(engine="ollama") == ["extractive", "sentence"]  # no model: it cannot answer
    assert names(engine="ollama", llm_model="llama3.2") == ["extractive", "sentence", "ollama"]
    assert names(engine="llamacpp") == ["extractive", "sentence"]  # not the bundled base model
    assert names(engine="llamacpp", llm_model="m.gguf") == ["extractive", "sentence", "llamacpp"]
