"""The `qa` command as users meet it: JSON output, one-line errors, exit codes."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.interfaces.cli import SKIPPED_FILES_EXIT, main

from .conftest import ANSWER_KEYS


def run(*args: str) -> "object":
    return CliRunner().invoke(main, list(args))


def one_error_line(result, code: int, fragment: str) -> None:
    assert result.exit_code == code, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qa: error:"), result.stderr
    assert fragment in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("question", "fragment"),
    [
        ("", "question is empty"),
        ("   \n\t ", "question is empty"),
        ("x" * 2001, "2001 characters long"),
    ],
)
def test_bad_questions_get_one_line(question: str, fragment: str) -> None:
    one_error_line(run("ask", question), 2, fragment)


def test_asking_before_indexing() -> None:
    one_error_line(run("ask", "When did sanctions start?"), 3, "run `qa ingest` first")


def test_empty_corpus(data_dirs: Path) -> None:
    one_error_line(run("ingest"), 4, "holds no file qa reads (text, Markdown, PDF")
    (data_dirs / "blank.txt").write_text("  \n", encoding="utf-8")
    one_error_line(run("ingest"), 4, "blank.txt: it is empty")


def test_missing_corpus_folder(tmp_path: Path) -> None:
    one_error_line(run("ingest", "--corpus-dir", str(tmp_path / "nope")), 4, "does not exist")


def test_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QA_TOP_K", "many")
    one_error_line(run("ask", "hello?"), 2, "QA_TOP_K")


@pytest.mark.slow
def test_ingest_names_a_bad_file_and_exits_nonzero(seed_corpus: Path) -> None:
    (seed_corpus / "bad.txt").write_bytes(b"\xff\xfe\xfa not utf-8")
    result = run("ingest")
    assert result.exit_code == SKIPPED_FILES_EXIT
    assert "qa: skipped" in result.stderr and "bad.txt: it is not valid UTF-8 text" in result.stderr
    assert "indexed 1 file(s)" in result.stdout


@pytest.mark.slow
def test_ask_json_prints_one_object_whose_quotes_match_the_files(seed_corpus: Path) -> None:
    assert run("ingest").exit_code == 0
    result = run("ask", "--json", "How many individuals are on the EU list?")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == ANSWER_KEYS
    assert {"retrieve", "answer"} <= set(data["timings_ms"])
    assert data["citations"] and not data["refused"]
    for citation in data["citations"]:
        assert set(citation) == {"n", "source", "title", "start", "end", "quote"}
        assert (
            open(citation["source"]).read()[citation["start"] : citation["end"]]
            == citation["quote"]
        )


@pytest.mark.slow
def test_console_script_answers_and_fails_cleanly(seed_corpus: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    qa = [sys.executable, "-m", "qa"]
    done = subprocess.run(
        [*qa, "ask", "When did sanctions start?"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 3 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert subprocess.run([*qa, "ingest"], env=env, capture_output=True, text=True).returncode == 0
    done = subprocess.run(
        [*qa, "chat"],
        input="Who came second in the election?\nDid she accept the results?\n\n",
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert (
        "Tikhanovskaya" in done.stdout and "did not recognize the election results" in done.stdout
    )
