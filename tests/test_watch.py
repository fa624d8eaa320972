"""The watched corpus folder: while `qa serve` runs, files dropped in, changed or removed are
indexed within seconds, without a restart."""

import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from qa.ingest.watch import CorpusWatcher

from .conftest import SEED, free_port, local_server

LIGHTHOUSE = (
    "The Lindholm lighthouse keeper, Maren Aalto, lights the lamp at 19:20 every evening "
    "from October to March. The lighthouse was built in 1887 from granite quarried on the "
    "island."
)


def wait_for(check: Callable[[], object], seconds: float, what: str) -> float:
    """Poll `check` until it is true; the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            pytest.fail(f"{what} did not happen within {seconds} s")
        time.sleep(0.2)
    return time.monotonic() - start


def test_the_watcher_leaves_out_hidden_files_and_the_index(tmp_path: Path) -> None:
    index = tmp_path / "corpus" / "index"
    watcher = CorpusWatcher(tmp_path / "corpus", lambda: None, [index])
    assert watcher.watched(None, str(tmp_path / "corpus" / "notes" / "ferry.txt"))
    assert not watcher.watched(None, str(tmp_path / "corpus" / ".ferry.txt.swp"))
    assert not watcher.watched(None, str(tmp_path / "corpus" / ".git" / "HEAD"))
    assert not watcher.watched(None, str(index / "trash" / "old.txt"))


def test_a_busy_index_is_tried_again_until_it_is_free(tmp_path: Path) -> None:
    calls: list[float] = []

    def reindex() -> str | None:  # the first try finds another ingest under way
        calls.append(time.monotonic())
        return None if len(calls) == 1 else "indexed"

    indexed: list[bool] = []
    watcher = CorpusWatcher(tmp_path, reindex, [])
    watcher.on_indexed.append(lambda: indexed.append(True))
    watcher.start()

    def written_and_indexed() -> bool:  # written again until seen: the watch starts meanwhile
        if not calls:
            (tmp_path / "ferry.txt").write_text("The ferry leaves at 22:40.", encoding="utf-8")
        return watcher.runs >= 1

    try:
        wait_for(written_and_indexed, 20, "the retried reindex")
    finally:
        watcher.stop()
    assert len(calls) >= 2 and calls[1] - calls[0] > 1  # tried again a while later
    assert indexed and watcher.last is not None
    assert watcher.last[1] == "indexed" and watcher.error is None


@pytest.fixture
def server(tmp_path: Path):
    """`qa serve` in a subprocess over a copy of the seed corpus, watching it."""
    corpus = tmp_path / "served"
    corpus.mkdir()
    for path in SEED:
        shutil.copy(path, corpus / path.name)
    port = free_port()
    env = {
        **os.environ,
        "QA_CORPUS_DIR": str(corpus),
        "QA_INDEX_DIR": str(tmp_path / "index"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    env.pop("QA_WATCH", None)
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "qa", "serve", "--port", str(port)]
    with local_server(command, url + "/", env):
        yield url, corpus


@pytest.mark.models
def test_files_dropped_into_the_served_corpus_are_indexed_within_seconds(server) -> None:
    url, corpus = server
    question = {"question": "When does the Lindholm lighthouse keeper light the lamp?"}

    def cited() -> bool:
        answer = httpx.post(f"{url}/api/ask", json=question, timeout=60).json()
        return any(c["source"].endswith("lighthouse.txt") for c in answer.get("citations", []))

    assert not cited()
    (corpus / "lighthouse.txt").write_text(LIGHTHOUSE, encoding="utf-8")
    took = wait_for(cited, 20, "answering from the new file")
    print(f"the new file was answered from {took:.1f} s after it was written")
    answer = httpx.post(f"{url}/api/ask", json=question, timeout=60).json()
    assert "19:20" in answer["answer"]

    def listed() -> bool:
        page = httpx.get(f"{url}/document", params={"source": "lighthouse.txt"}, timeout=30)
        return "not an indexed document" not in page.text

    assert listed()
    (corpus / "lighthouse.txt").unlink()
    took = wait_for(lambda: not listed(), 20, "the removed file leaving the documents")
    print(f"the removed file left the documents {took:.1f} s after it was deleted")
