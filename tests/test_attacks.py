"""A served qa (`qa serve` on 127.0.0.1) attacked as a raw HTTP client would: events called
with server paths, links planted after indexing, oversized uploads, malformed API calls,
many API sessions; and the restarts and Stops a daily user meets (issue 25)."""

import json
import os
import random
import re
import shutil
import sys
import time
from pathlib import Path

import httpx
import pytest

from benchmarks.servers import call_ask, cpu_seconds, rss_mb, ui_event

from .conftest import SEED, free_port, local_server
from .test_ui import ARTIFACTS, BOT, CHROMIUM, CHROMIUM_ARGS, EU, ask_ui

pytestmark = pytest.mark.slow
SEED_NAME = SEED[0].name
LIMIT_MB = 1


def serve_env(folder: Path) -> dict:
    """A qa server's environment over `folder`: its own corpus, index, temporary folders."""
    for name in ("corpus", "eval", "tmp", "gradio"):
        (folder / name).mkdir(exist_ok=True)
    env = {
        **os.environ,
        "QA_CORPUS_DIR": str(folder / "corpus"),
        "QA_INDEX_DIR": str(folder / "index"),
        "QA_EVAL_DIR": str(folder / "eval"),
        "QA_FEEDBACK_FILE": str(folder / "feedback.jsonl"),
        "QA_MAX_FILE_MB": str(LIMIT_MB),
        "QA_UI_SESSIONS": "20",
        "TMPDIR": str(folder / "tmp"),
        "GRADIO_TEMP_DIR": str(folder / "gradio"),
    }
    for name in ("QA_LLM", "QA_ENGINE", "QA_SESSION_SECRET"):
        env.pop(name, None)
    return env


def synthetic_squad(path: Path, paragraphs: int) -> None:
    """A SQuAD-format file of `paragraphs` paragraphs mixed from the seed article's sentences:
    large enough that indexing it takes a while."""
    sentences = re.split(r"(?<=[.!?])\s+", SEED[0].read_text())
    rng = random.Random(5)
    data = [
        {
            "context": " ".join(rng.sample(sentences, 6)),
            "qas": [{"id": f"q{n}", "question": "What happened?", "answers": ["x"]}],
        }
        for n in range(paragraphs)
    ]
    path.write_text(json.dumps({"articles": [{"title": "Mixed", "paragraphs": data}]}))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("attacked")
    env = serve_env(folder)
    shutil.copy(SEED[0], folder / "corpus" / SEED_NAME)
    synthetic_squad(folder / "eval" / "mixed.json", 1500)
    (folder / "secret.txt").write_text("The vault code is 4711.\n")
    (folder / "outside.json").write_text(json.dumps([{"id": "a", "question": "Q?"}]))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "qa", "serve", "--port", str(port)]
    with local_server(command, url + "/", env) as process:
        yield {"url": url, "folder": folder, "pid": process.pid}


def file_data(path: Path | str) -> dict:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}, "orig_name": Path(path).name}


def corpus_of(server: dict) -> set[str]:
    return {p.name for p in (server["folder"] / "corpus").iterdir()}


def test_events_naming_a_server_file_read_nothing_into_the_corpus(server: dict) -> None:
    url, folder = server["url"], server["folder"]
    added = ui_event(url, "add", [[file_data(folder / "secret.txt")], []])
    assert added["success"] is False and "not uploaded" in json.dumps(added["output"])
    assert corpus_of(server) == {SEED_NAME}
    page = httpx.get(f"{url}/document", params={"source": "secret.txt"})
    assert page.status_code == 404 and "4711" not in page.text
    chosen = ui_event(url, "eval-run", [str(folder / "outside.json"), None, ["sentence"], 0])
    said = json.dumps(chosen["output"])  # Gradio checks the choices before qa's handler runs
    assert chosen["success"] is False
    assert f"{folder / 'outside.json'} is not in the list of choices" in said
    uploaded = ui_event(
        url, "eval-run", [None, file_data(folder / "outside.json"), ["sentence"], 0]
    )
    assert uploaded["success"] is False and "not uploaded" in json.dumps(uploaded["output"])
    assert not (folder / "eval" / "results").exists()


def upload(url: str, name: str, content: bytes) -> httpx.Response:
    return httpx.post(f"{url}/gradio_api/upload", files={"files": (name, content)}, timeout=60)


def test_uploads_over_the_limit_are_refused_and_handled_ones_are_removed(server: dict) -> None:
    url, folder = server["url"], server["folder"]
    too_big = upload(url, "big.txt", b"word " * (LIMIT_MB * 2**20 // 5 + 10))
    assert too_big.status_code == 413
    response = upload(url, "penguins.md", b"# Penguins\n\nEmperor penguins breed in winter.\n")
    [path] = response.json()
    assert Path(path).is_relative_to(folder / "gradio")
    added = ui_event(url, "add", [[file_data(path)], []])
    assert added["success"] is True and "Added penguins.md" in json.dumps(added["output"])
    assert "penguins.md" in corpus_of(server)
    assert not Path(path).exists()  # copied into the corpus: Gradio's copy is gone
    again = ui_event(url, "add", [[file_data(path)], []])  # the same path, replayed
    assert "was not uploaded here" in json.dumps(again["output"])


def test_concurrent_raw_uploads_of_one_name_keep_every_version(server: dict) -> None:
    """Six clients upload `zebra.txt` at once, as the probe did: each upload lands whole, none
    is turned away after changing the corpus, and the trash keeps every earlier version."""
    from concurrent.futures import ThreadPoolExecutor

    url, folder = server["url"], server["folder"]
    texts = [f"Zebra number {n} has {n + 3} stripes.\n" for n in range(6)]
    paths = [upload(url, "zebra.txt", text.encode()).json()[0] for text in texts]
    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(lambda path: ui_event(url, "add", [[file_data(path)], []]), paths))
    said = [json.dumps(result["output"]) for result in results]
    assert all(result["success"] for result in results), said
    assert not any("try again" in text for text in said)
    trash = folder / "index" / "trash"
    kept = sorted(p.read_text() for p in trash.glob("*-zebra.txt"))
    final = (folder / "corpus" / "zebra.txt").read_text()
    assert sorted([*kept, final]) == sorted(texts)
    page = httpx.get(f"{url}/document", params={"source": "zebra.txt"})
    assert final.strip() in page.text  # the index holds the version the corpus holds


def test_a_question_set_outside_the_eval_folder_is_refused_by_qa_too(tmp_path: Path) -> None:
    """qa's own check behind Gradio's: a set named by path must be one the eval folder lists."""
    from types import SimpleNamespace

    from qa.core.errors import InputError
    from qa.core.settings import Settings
    from qa.interfaces.ui.evaluation import EvaluationHandlers

    (tmp_path / "eval").mkdir()
    listed = tmp_path / "eval" / "listed.jsonl"
    listed.write_text(json.dumps({"id": "a", "question": "Q?", "answers": []}) + "\n")
    (tmp_path / "outside.json").write_text(json.dumps([{"id": "a", "question": "Q?"}]))
    service = SimpleNamespace(settings=Settings(eval_dir=tmp_path / "eval"))
    handlers = EvaluationHandlers(service, uploads=None)
    assert handlers.question_set(str(listed), None) == listed
    assert handlers.question_set(None, None) is None
    for named in (tmp_path / "outside.json", tmp_path / "eval" / ".." / "outside.json"):
        with pytest.raises(InputError, match="^choose a question set from the list$"):
            handlers.question_set(str(named), None)


def test_the_document_view_never_follows_a_link_planted_after_indexing(server: dict) -> None:
    url, folder = server["url"], server["folder"]
    indexed = folder / "corpus" / SEED_NAME
    original = indexed.read_bytes()
    try:
        indexed.unlink()
        indexed.symlink_to(folder / "secret.txt")
        page = httpx.get(f"{url}/document", params={"source": SEED_NAME})
        assert page.status_code == 404 and "4711" not in page.text
        assert "leads outside the corpus folder" in page.text
        indexed.unlink()
        indexed.write_bytes(original + b"x" * (LIMIT_MB * 2**20))  # grown past the limit
        page = httpx.get(f"{url}/document", params={"source": SEED_NAME})
        assert page.status_code == 404 and f"over the {LIMIT_MB} MB limit" in page.text
    finally:
        indexed.unlink(missing_ok=True)
        indexed.write_bytes(original)
    assert httpx.get(f"{url}/document", params={"source": SEED_NAME}).status_code == 200


def test_api_calls_with_missing_values_or_bad_bodies_get_one_line(server: dict) -> None:
    url = server["url"]
    _, text = call_ask(url, [EU])  # the question alone: history and sources are optional
    assert "event: complete" in text and "25 June" in text
    _, text = call_ask(url, [])
    assert "the question is empty" in text and "Wanted inputs" not in text
    answer = httpx.post(f"{url}/api/ask", json={"question": EU, "history": []}, timeout=60)
    assert answer.status_code == 200 and "25 June" in answer.json()["citations"][0]["quote"]
    bad = httpx.post(f"{url}/api/ask", content=b"[" * 100_000, timeout=60)
    assert bad.status_code == 400 and bad.json()["error"].startswith("the body must be")
    empty = httpx.post(f"{url}/api/ask", json={"question": ""}, timeout=60)
    assert empty.status_code == 400 and empty.json() == {
        "question": "",
        "error": "the question is empty",
    }


def test_memory_stays_flat_over_many_api_sessions(server: dict) -> None:
    """Each raw /ask call is a Gradio session of its own; the server keeps at most
    QA_UI_SESSIONS (20 here) of them, so memory stops growing (unbounded: ~150 kB a call)."""
    url, pid = server["url"], server["pid"]
    for _ in range(40):
        call_ask(url, [EU, None, None])
    before = rss_mb(pid)
    for _ in range(160):
        call_ask(url, [EU, None, None])
    assert rss_mb(pid) - before < 8  # 160 sessions kept would add about 24 MB


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def idle_after(pid: int, seconds: float = 60) -> float:
    """Seconds until the process uses under a tenth of a core for a whole second."""
    from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay

    def busy() -> bool:
        before = cpu_seconds(pid)
        time.sleep(1)
        return cpu_seconds(pid) - before >= 0.1

    started = time.monotonic()
    try:
        Retrying(retry=retry_if_result(bool), stop=stop_after_delay(seconds))(busy)
    except RetryError:
        raise AssertionError(f"still busy {seconds} s after Stop") from None
    return time.monotonic() - started


def test_stop_ends_a_squad_evaluation_while_it_is_still_indexing(server: dict, browser) -> None:
    folder = server["folder"]
    page = browser.new_page()
    page.goto(server["url"] + "/", wait_until="load")
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#eval-set input").click()
    page.get_by_role("option", name="mixed.json").click()
    page.locator("#eval-run").click()
    page.locator("#eval-status").get_by_text("Indexing the paragraphs of mixed.json").wait_for(
        timeout=60000
    )
    page.wait_for_timeout(2000)
    page.screenshot(path=ARTIFACTS / "ui-evaluate-indexing.png")
    assert list((folder / "tmp").glob("qa-eval-*"))  # the temporary index, being written
    page.locator("#eval-stop").click()
    stopped = time.monotonic()
    page.locator("#eval-status").get_by_text("Stopped before any question was answered").wait_for(
        timeout=60000
    )
    idle = idle_after(server["pid"])
    assert time.monotonic() - stopped < 30, "indexing went on after Stop"
    assert idle < 30
    assert list((folder / "tmp").glob("qa-eval-*")) == []  # removed
    assert not list((folder / "eval" / "results").glob("mixed-*.json"))  # no run pretended
    assert "mixed" not in page.locator("#eval-opened input").input_value()
    page.screenshot(path=ARTIFACTS / "ui-evaluate-stopped-indexing.png")
    page.close()


def test_conversations_survive_a_restart_of_the_server(tmp_path: Path, browser) -> None:
    env = serve_env(tmp_path)
    shutil.copy(SEED[0], tmp_path / "corpus" / SEED_NAME)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "qa", "serve", "--port", str(port)]
    context = browser.new_context()
    page = context.new_page()
    with local_server(command, url, env):
        page.goto(url, wait_until="load")
        assert "25 June" in ask_ui(page, EU)
    secret = tmp_path / "index" / "session-secret.txt"
    assert secret.is_file() and secret.stat().st_mode & 0o077 == 0  # the owner's alone
    with local_server(command, url, env):  # a new process, as after a restart or on a replica
        page.goto(url, wait_until="load")
        page.locator(BOT).first.wait_for(timeout=30000)
        assert "25 June" in page.locator(BOT).first.inner_text()
        assert EU in page.locator("#conversation input").input_value()
    context.close()
