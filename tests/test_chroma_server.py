"""Server mode: every command against a real `chroma run` on 127.0.0.1."""

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.interfaces.cli import main

from .conftest import free_port, local_server, seed_chunks

pytestmark = pytest.mark.slow


def test_server_mode_ingests_answers_and_reingests_idempotently(
    seed_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    chroma = Path(sys.executable).parent / "chroma"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(chroma),
        "run",
        "--path",
        str(tmp_path / "server"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    runner = CliRunner()
    monkeypatch.setenv("QA_CHROMA_URL", url)
    with local_server(command, f"{url}/api/v2/heartbeat"):
        first = runner.invoke(main, ["ingest"])
        assert first.exit_code == 0, first.output
        assert f"{seed_chunks()} added" in first.stdout
        assert not (tmp_path / "index" / "chroma").exists()  # vectors went to the server
        answer = runner.invoke(main, ["ask", "--json", "when did EU sectoral sanctions start?"])
        assert answer.exit_code == 0 and "25 June" in answer.stdout
        again = runner.invoke(main, ["ingest"])
        unchanged = f"0 added, {seed_chunks()} unchanged, 0 removed"
        assert again.exit_code == 0 and unchanged in again.stdout
    down = runner.invoke(main, ["ask", "when did EU sectoral sanctions start?"])
    assert down.exit_code == 5
    assert down.stderr.count("\n") == 1 and url in down.stderr and "QA_CHROMA_URL" in down.stderr


def test_two_index_folders_cannot_share_one_collection(
    seed_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a shared database (QA_DATABASE_URL), a second qa folder on the same
    collection is refused in one line instead of deleting the first one's vectors."""
    chroma = Path(sys.executable).parent / "chroma"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(chroma), "run", "--path", str(tmp_path / "server"), "--host", "127.0.0.1"]
    runner = CliRunner()
    monkeypatch.setenv("QA_CHROMA_URL", url)
    with local_server([*command, "--port", str(port)], f"{url}/api/v2/heartbeat"):
        assert runner.invoke(main, ["ingest"]).exit_code == 0
        other = tmp_path / "other-corpus"
        other.mkdir()
        (other / "penguins.md").write_text("# Penguins\n\nEmperor penguins breed in winter.\n")
        monkeypatch.setenv("QA_CORPUS_DIR", str(other))
        monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "other-index"))
        refused = runner.invoke(main, ["ingest"])
        assert refused.exit_code == 5 and refused.stderr.count("\n") == 1
        assert "belongs to another qa index folder" in refused.stderr
        assert "QA_COLLECTION" in refused.stderr
        monkeypatch.setenv("QA_COLLECTION", "penguins")
        assert runner.invoke(main, ["ingest"]).exit_code == 0
        monkeypatch.setenv("QA_CORPUS_DIR", str(seed_corpus))
        monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
        monkeypatch.delenv("QA_COLLECTION")
        again = runner.invoke(main, ["ingest"])
        unchanged = f"0 added, {seed_chunks()} unchanged, 0 removed"
        assert again.exit_code == 0 and unchanged in again.stdout
