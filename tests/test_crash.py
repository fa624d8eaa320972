"""Ingestion killed with SIGKILL, run twice at once, and read while it writes."""

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from qa.core.settings import Settings
from qa.index.store import record_manager
from qa.service import build_service

pytestmark = pytest.mark.slow
WORDS = (
    "harbour crane river orchard lighthouse tonnes winter island keeper pruned harvest "
    "engine bridge tower market ledger copper grain vessel signal"
).split()


def write_corpus(folder: Path, files: int = 60, sentences: int = 60) -> None:
    rng = random.Random(7)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        lines = [
            f"Report {i} line {j}: the " + " ".join(rng.choices(WORDS, k=12)) + "."
            for j in range(sentences)
        ]
        (folder / f"report-{i:03d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def qa_env(root: Path) -> dict:
    return {
        **os.environ,
        "QA_CORPUS_DIR": str(root / "corpus"),
        "QA_INDEX_DIR": str(root / "index"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "QA_ENGINE": "sentence",
    }


def start_ingest(root: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "qa", "ingest", "--progress"],
        env=qa_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_progress(process: subprocess.Popen, percent: int) -> None:
    """Read the progress bar until it shows `percent` or more."""
    seen = b""
    while process.poll() is None:
        seen += os.read(process.stderr.fileno(), 256)
        shown = [int(p) for p in __import__("re").findall(rb"(\d+)%", seen)]
        if shown and shown[-1] >= percent:
            return
    pytest.fail(f"ingest ended before {percent}%: {seen[-300:]!r}")


def index_state(root: Path) -> tuple[set, set, set]:
    settings = Settings(corpus_dir=root / "corpus", index_dir=root / "index")
    service = build_service(settings)
    store = service.store
    state = (
        set(store.dense.get(include=[])["ids"]),
        store.lexical.ids(),
        set(record_manager(settings).list_keys()),
    )
    store.lexical.close()
    return state


@pytest.fixture(scope="module")
def clean_state(tmp_path_factory) -> tuple[set, set, set]:
    root = tmp_path_factory.mktemp("clean")
    write_corpus(root / "corpus")
    done = subprocess.run(
        [sys.executable, "-m", "qa", "ingest"], env=qa_env(root), capture_output=True
    )
    assert done.returncode == 0, done.stderr
    state = index_state(root)
    assert state[0] == state[1] == state[2] and len(state[0]) > 300
    return state


@pytest.mark.parametrize("kill_at", ["start", 30, 100])
def test_killed_ingest_then_rerun_equals_a_clean_run(tmp_path: Path, clean_state, kill_at) -> None:
    write_corpus(tmp_path / "corpus")
    process = start_ingest(tmp_path)
    if kill_at == "start":
        time.sleep(0.5)  # still loading: nothing written yet
    else:
        wait_for_progress(process, kill_at)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done = subprocess.run(
        [sys.executable, "-m", "qa", "ingest"], env=qa_env(tmp_path), capture_output=True
    )
    assert done.returncode == 0, done.stderr
    assert index_state(tmp_path) == clean_state


def test_a_second_ingest_waits_its_turn_and_asks_keep_answering(tmp_path: Path) -> None:
    write_corpus(tmp_path / "corpus", files=20)
    (tmp_path / "corpus" / "seed.txt").write_text(
        "Economic sectoral sanctions came into force on 25 June.\n", encoding="utf-8"
    )
    first = subprocess.run(
        [sys.executable, "-m", "qa", "ingest"], env=qa_env(tmp_path), capture_output=True
    )
    assert first.returncode == 0
    write_corpus(tmp_path / "corpus", files=60)  # more to write: a second, longer run
    writer = start_ingest(tmp_path)
    wait_for_progress(writer, 1)
    second = subprocess.run(
        [sys.executable, "-m", "qa", "ingest"], env=qa_env(tmp_path), capture_output=True, text=True
    )
    assert second.returncode == 7 and "another `qa ingest` is writing" in second.stderr
    asked = 0
    while writer.poll() is None or asked == 0:
        done = subprocess.run(
            [sys.executable, "-m", "qa", "ask", "When did sanctions come into force?"],
            env=qa_env(tmp_path),
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, done.stderr
        assert "25 June" in done.stdout
        asked += 1
    assert writer.wait() == 0
