"""The chat UI served for real on 127.0.0.1: the /ask API, concurrency, and a real browser."""

import os
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from .conftest import ANSWER_KEYS, ROOT, SEED, free_port, local_server

pytestmark = pytest.mark.slow
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    """`qa serve` in a subprocess over a copy of the corpus; stopped by PID at the end."""
    folder = tmp_path_factory.mktemp("ui")
    corpus = folder / "corpus"
    corpus.mkdir()
    for path in SEED:
        shutil.copy(path, corpus / path.name)
    port = free_port()
    env = {
        **os.environ,
        "QA_CORPUS_DIR": str(corpus),
        "QA_INDEX_DIR": str(folder / "index"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    env.pop("QA_LLM", None)
    url = f"http://127.0.0.1:{port}/"
    with local_server([sys.executable, "-m", "qa", "serve", "--port", str(port)], url, env):
        yield url, corpus


def ask(url: str, question: str) -> dict:
    from gradio_client import Client

    return Client(url, verbose=False).predict(question, None, api_name="/ask")


def test_ask_endpoint_returns_the_cli_json(app) -> None:
    url, corpus = app
    data = ask(url, "When did EU sectoral sanctions start?")
    assert set(data) == ANSWER_KEYS
    assert data["short_answer"] in (None, "25 June") and not data["refused"]
    citation = data["citations"][0]
    assert "25 June" in citation["quote"]
    assert (
        Path(citation["source"]).read_text(encoding="utf-8")[citation["start"] : citation["end"]]
        == citation["quote"]
    )
    assert "error" in ask(url, "   ")


def test_ten_simultaneous_users_get_their_own_answers(app) -> None:
    url, _ = app
    questions = {
        "When did EU sectoral sanctions start?": "25 June",
        "How many entities are affected by the EU's individual sanctions?": "15 entities",
        "Who came second in the election?": "Tikhanovskaya",
        "Which agency quotes Lukashenko?": "BelTA",
        "Which factories are among the sanctioned entities?": "MAZ",
        "What has the West relied on in relations with Belarus?": "force",
        "When were the presidential elections held?": "August 9",
        "With how many Russian regions does Belarus keep close contacts?": "70 regions",
        "Who is the president of France?": None,
        "What do Lukashenko's opponents stall?": "initiatives",
    }
    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = dict(zip(questions, pool.map(lambda q: ask(url, q), questions), strict=True))
    for question, expected in questions.items():
        data = answers[question]
        assert data["question"] == question
        if expected is None:
            assert data["refused"]
        else:
            assert expected in data["citations"][0]["quote"], (question, data["answer"])


def test_browser_chat_citation_and_upload(app) -> None:
    from playwright.sync_api import expect, sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: apt-get install -y chromium (.ci/run does this)")
    url, corpus = app
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(url, wait_until="load")
        page.locator("#question textarea").fill("When did EU sectoral sanctions start?")
        page.locator("#ask").click()
        expect(page.locator("#chat").get_by_text("25 June").first).to_be_visible(timeout=60000)
        page.locator("#chat summary").first.click()
        expect(page.locator("#chat mark").first).to_contain_text("came into force on 25 June")
        page.screenshot(path=ARTIFACTS / "ui-answer.png", full_page=True)

        page.locator("#question textarea").fill("   ")
        page.locator("#ask").click()
        expect(page.locator("#chat").get_by_text("the question is empty")).to_be_visible()

        page.get_by_role("tab", name="Documents").click()
        upload = ARTIFACTS / "penguins.md"
        upload.write_text("# Penguin notes\n\nEmperor penguins breed in the Antarctic winter.\n")
        bad = ARTIFACTS / "scan.pdf"
        bad.write_bytes(b"%PDF-1.4 not really")
        unsupported = ARTIFACTS / "slides.pptx"
        unsupported.write_bytes(b"PK not a deck")
        page.locator("#upload input[type=file]").set_input_files(
            [str(upload), str(bad), str(unsupported)]
        )
        page.wait_for_timeout(1000)
        page.locator("#add").click()
        status = page.locator("#upload-status")
        expect(status).to_contain_text("Added penguins.md", timeout=60000)
        expect(status).to_contain_text("scan.pdf: it is not a readable PDF")
        expect(status).to_contain_text("slides.pptx: unsupported file type")
        expect(page.get_by_text("Penguin notes")).to_be_visible()
        page.screenshot(path=ARTIFACTS / "ui-documents.png", full_page=True)
        assert (corpus / "penguins.md").is_file() and not (corpus / "scan.pdf").exists()

        page.get_by_role("tab", name="Chat").click()
        page.locator("#question textarea").fill("When do emperor penguins breed?")
        page.locator("#ask").click()
        expect(page.locator("#chat").get_by_text("Antarctic winter").first).to_be_visible(
            timeout=60000
        )
        page.screenshot(path=ARTIFACTS / "ui-upload-answer.png", full_page=True)
        browser.close()


def test_a_taken_port_is_one_clear_line(seed_corpus: Path) -> None:
    import socket
    import subprocess

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "qa", "serve", "--port", str(port)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 5 and "Traceback" not in done.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in done.stderr and "QA_PORT" in done.stderr
