"""The chat UI served for real on 127.0.0.1: the /ask API, concurrency, and a real browser
(Debian's Chromium through Playwright) doing what a daily user does."""

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from benchmarks.servers import cpu_seconds

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
BOT = "#chat [data-testid='bot']"
USER = "#chat [data-testid='user']"
EU = "When did EU sectoral sanctions start?"


TEN_QUESTIONS = [  # written for this test from the seed article
    {
        "id": "t01",
        "question": "When did the EU's economic sectoral sanctions take effect?",
        "answers": ["25 June"],
    },
    {
        "id": "t02",
        "question": "How many individuals do the individual sanctions affect?",
        "answers": ["166"],
    },
    {"id": "t03", "question": "Which news agency reported the remarks?", "answers": ["BelTA"]},
    {
        "id": "t04",
        "question": "Who finished second in the election?",
        "answers": ["Svetlana Tikhanovskaya", "Tikhanovskaya"],
    },
    {
        "id": "t05",
        "question": "On what date was the presidential election?",
        "answers": ["August 9", "9 August"],
    },
    {
        "id": "t06",
        "question": "How many Russian regions does Belarus work closely with?",
        "answers": ["70", "more than 70"],
    },
    {
        "id": "t07",
        "question": "Which factories are on the sanctions list?",
        "answers": ["MAZ and BelAZ", "MAZ", "BelAZ"],
    },
    {
        "id": "t08",
        "question": "How many entities are under individual sanctions?",
        "answers": ["15"],
    },
    {
        "id": "t09",
        "question": "What is the capital of Portugal?",
        "answers": [],
        "unanswerable": True,
    },
    {
        "id": "t10",
        "question": "How many goals did the national team score?",
        "answers": [],
        "unanswerable": True,
    },
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
        "QA_FEEDBACK_FILE": str(folder / "feedback.jsonl"),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    env.pop("QA_LLM", None)
    env.pop("QA_ENGINE", None)
    (folder / "eval").mkdir()
    env["QA_EVAL_DIR"] = str(folder / "eval")
    (folder / "eval" / "ten.jsonl").write_text(
        "".join(json.dumps(q) + "\n" for q in TEN_QUESTIONS), encoding="utf-8"
    )
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "qa", "serve", "--port", str(port)]
    with local_server(command, url, env) as server:
        yield {"url": url, "corpus": corpus, "folder": folder, "env": env, "pid": server.pid}


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is missing: apt-get install -y chromium (.ci/run does this)")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(app, browser):
    """A fresh browser profile (its own stored conversations) on the app."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app["url"][:-1])
    page = context.new_page()
    page.goto(app["url"], wait_until="load")
    page.locator("#welcome").get_by_text("indexed").first.wait_for(timeout=30000)
    yield page
    context.close()


def ask_api(url: str, question: str, history: list[str] | None = None) -> dict:
    from gradio_client import Client

    return Client(url, verbose=False).predict(question, history, None, api_name="/ask")


def ask_ui(page, question: str) -> str:
    """Type a question, press Ask, and return the finished reply's text."""
    before = page.locator(BOT).count()
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()
    return last_reply(page, before)


def last_reply(page, before: int) -> str:
    page.wait_for_function(
        "([bot, n]) => document.querySelectorAll(bot).length > n"
        " && !document.querySelector('#chat .qa-pending')",
        arg=[BOT, before],
        timeout=60000,
    )
    return page.locator(BOT).last.inner_text()


def open_settings(page) -> None:
    page.get_by_text("Settings", exact=True).click()
    page.locator("#top-k input[data-testid='number-input']").wait_for()


def test_ask_endpoint_returns_the_cli_json(app) -> None:
    data = ask_api(app["url"], EU)
    assert set(data) == ANSWER_KEYS
    assert not data["refused"] and data["sure"]
    # the reader's "25 June" scores under the span threshold: withheld, as `qa ask` does
    assert (data["short_answer"], data["short_answer_confidence"]) == (None, None)
    citation = data["citations"][0]
    assert "25 June" in citation["quote"]
    assert (
        Path(citation["source"]).read_text(encoding="utf-8")[citation["start"] : citation["end"]]
        == citation["quote"]
    )
    assert "error" in ask_api(app["url"], "   ")


def test_bad_api_input_is_one_line_and_never_echoed_whole(app) -> None:
    from gradio_client import Client

    client = Client(app["url"], verbose=False)
    for question, history in ((42, None), (["a", "b"], None), (EU, "not a list")):
        data = client.predict(question, history, None, api_name="/ask")
        assert data["error"] and "\n" not in data["error"], (question, data)
    huge = "why " * 250_000
    data = client.predict(huge, None, None, api_name="/ask")
    assert "characters long" in data["error"] and len(json.dumps(data)) < 1000
    import httpx  # a lone surrogate, as raw JSON (the client cannot encode it)

    body = '{"data": ["When did\\udcff sanctions start?", null, null]}'
    call = f"{app['url']}gradio_api/call/ask"
    event = httpx.post(call, content=body, headers={"Content-Type": "application/json"})
    stream = httpx.get(f"{call}/{event.json()['event_id']}", timeout=60).text
    data = json.loads(stream.split("data:", 1)[1].strip())[0]
    assert "not valid UTF-8" in (data["error"] or ""), stream


def test_ten_simultaneous_users_get_their_own_answers(app) -> None:
    questions = {
        EU: "25 June",
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
        answers = dict(
            zip(questions, pool.map(lambda q: ask_api(app["url"], q), questions), strict=True)
        )
    for question, expected in questions.items():
        data = answers[question]
        assert data["question"] == question
        if expected is None:
            assert data["refused"]
        else:
            assert expected in data["citations"][0]["quote"], (question, data["answer"])


def test_a_follow_up_is_answered_in_the_ui_as_through_the_api(app, page) -> None:
    first = ask_ui(page, EU)
    assert "25 June" in first
    follow_up = "How many people are on that list?"
    reply = ask_ui(page, follow_up)
    expected = ask_api(app["url"], follow_up, [EU])
    assert not expected["refused"] and expected["citations"][0]["quote"] in reply
    assert "Not in the documents" not in reply
    page.locator(BOT).last.locator("summary").first.click()
    page.screenshot(path=ARTIFACTS / "ui-follow-up.png", full_page=True)


def test_rejected_questions_never_enter_the_conversation(page) -> None:
    box, ask = page.locator("#question textarea"), page.locator("#ask")
    assert not ask.is_enabled()  # nothing typed yet
    box.fill("   ")
    page.wait_for_timeout(300)
    assert not ask.is_enabled()
    box.press("Enter")  # the server refuses it too, in one line, and posts nothing
    page.locator("#question-status").get_by_text("the question is empty").wait_for()
    assert page.locator(USER).count() == 0 and box.input_value() == "   "
    too_long = (EU + " ") * 60  # 2,280 characters: kept whole in the box, never cut
    box.fill(too_long)
    page.locator("#counter").get_by_text("too long").wait_for()
    assert not ask.is_enabled() and box.input_value() == too_long
    box.press("Enter")
    page.locator("#question-status").get_by_text("characters long").wait_for()
    assert page.locator(USER).count() == 0 and box.input_value() == too_long
    reply = ask_ui(page, too_long[:1990])  # accepted, so it becomes history...
    assert "⚠️" not in reply and "characters long" not in reply  # answered, not an error
    assert "Not in the documents" in reply or "[1]" in reply
    reply = ask_ui(page, "Who came second in the election?")  # ...and the next one still works
    assert "Tikhanovskaya" in reply and "characters long" not in reply
    assert page.locator(USER).count() == 2


def test_questions_and_quotes_show_exactly_as_written(app, page) -> None:
    requests = []
    page.on("request", lambda request: requests.append(request.url))
    question = "What is <img src=x onerror=alert(1)> *Form-7* [x](http://evil.example/q)?"
    ask_ui(page, question)
    assert page.locator(USER).last.inner_text().strip() == question
    assert page.locator("#chat img").count() == 0
    assert not [url for url in requests if url.endswith("/x") or "evil.example" in url]

    page.get_by_role("tab", name="Documents").click()
    upload = ARTIFACTS / "registry.md"
    upload.write_text(
        "# Registry rules\n\nApplicants file *Form-7* with [the registry](http://evil.example/x) "
        "before 1 March.\n"
    )
    page.locator("#upload input[type=file]").set_input_files([str(upload)])
    page.wait_for_timeout(1000)
    page.locator("#add").click()
    page.locator("#upload-status").get_by_text("Added registry.md").wait_for(timeout=60000)
    page.get_by_role("tab", name="Chat").click()
    reply = ask_ui(page, "Which form do applicants file with the registry?")
    assert "*Form-7* with [the registry](http://evil.example/x)" in reply
    assert page.locator("#chat a[href*='evil']").count() == 0
    with page.expect_popup() as opened:
        page.locator(BOT).last.locator("summary").first.click()
        page.locator(BOT).last.get_by_text("open the document at this quote").click()
    document = opened.value
    document.wait_for_load_state()
    assert "*Form-7*" in document.locator("#cited").inner_text()
    assert document.locator("a").count() == 0


def test_uploads_say_what_happened_and_every_session_sees_the_corpus(app, page, browser) -> None:
    page.get_by_role("tab", name="Documents").click()
    status = page.locator("#upload-status")
    page.locator("#add").click()
    status.get_by_text("Choose files first").wait_for()
    assert all(kind in status.inner_text() for kind in (".txt", ".md", ".pdf", ".html", ".docx"))
    penguins = ARTIFACTS / "penguins.md"
    penguins.write_text("# Penguin notes\n\nEmperor penguins breed in the Antarctic winter.\n")
    hidden = ARTIFACTS / ".hidden.md"
    hidden.write_text("# Hidden\n\nNot indexed.\n")
    bad = ARTIFACTS / "scan.pdf"
    bad.write_bytes(b"%PDF-1.4 not really")
    unsupported = ARTIFACTS / "slides.key"
    unsupported.write_bytes(b"PK not a deck")
    files = [str(p) for p in (penguins, hidden, bad, unsupported)]
    page.locator("#upload input[type=file]").set_input_files(files)
    page.wait_for_timeout(1000)
    page.locator("#add").click()
    status.get_by_text("Added penguins.md").wait_for(timeout=60000)
    for text in ("scan.pdf: it is not a readable PDF", "slides.key: unsupported file type"):
        assert text in status.inner_text()
    assert ".hidden.md: its name starts with '.'" in status.inner_text()
    assert (app["corpus"] / "penguins.md").is_file() and not (app["corpus"] / "scan.pdf").exists()
    assert not (app["corpus"] / ".hidden.md").exists()
    page.locator("#upload input[type=file]").set_input_files([str(penguins)])
    page.wait_for_timeout(1000)
    page.locator("#add").click()
    status.get_by_text("penguins.md is already in the corpus, unchanged").wait_for(timeout=60000)
    assert "Added" not in status.inner_text()

    other = browser.new_page()  # another session, opened after the upload
    other.goto(app["url"], wait_until="load")
    other.get_by_role("tab", name="Documents").click()
    other.locator("#documents").get_by_text("Penguin notes").wait_for(timeout=30000)
    other.get_by_role("tab", name="Chat").click()
    other.locator("#welcome").get_by_text("document(s)").wait_for()
    count = len([p for p in app["corpus"].iterdir() if not p.name.startswith(".")])
    assert f"{count} document(s)" in other.locator("#welcome").inner_text()
    other.close()


def test_a_scoped_question_cites_only_the_chosen_document_and_delete_removes_one(app, page) -> None:
    penguins = ARTIFACTS / "penguins2.md"
    penguins.write_text("# Penguin diet\n\nEmperor penguins eat fish and krill.\n")
    page.get_by_role("tab", name="Documents").click()
    page.locator("#upload input[type=file]").set_input_files([str(penguins)])
    page.wait_for_timeout(1000)
    page.locator("#add").click()
    page.locator("#upload-status").get_by_text("Added penguins2.md").wait_for(timeout=60000)
    page.get_by_role("tab", name="Chat").click()
    open_settings(page)
    page.locator("#scope input").click()
    page.get_by_role("option", name="Penguin diet (penguins2.md)").click()
    page.keyboard.press("Escape")
    reply = ask_ui(page, EU)
    assert "belarus" not in reply.lower() and "in 1 document(s)" in reply

    diet = "What do emperor penguins eat?"
    before = ask_api(app["url"], diet)["citations"]  # unscoped: the document answers it
    assert Path(before[0]["source"]).name == "penguins2.md" and "krill" in before[0]["quote"]
    page.get_by_role("tab", name="Documents").click()
    page.locator("#doomed input").click()
    page.get_by_role("option", name="Penguin diet (penguins2.md)").click()
    page.locator("#delete").click()
    page.locator("#upload-status").get_by_text("Deleted penguins2.md").wait_for(timeout=60000)
    assert not (app["corpus"] / "penguins2.md").exists()
    data = ask_api(app["url"], diet)  # a refusal, or penguins.md if an earlier test added it
    assert not [c for c in data["citations"] if "penguins2" in c["source"] or "krill" in c["quote"]]
    page.get_by_role("tab", name="Chat").click()  # the deleted document left the scope too
    reply = ask_ui(page, EU)
    assert "25 June" in reply and "in 1 document(s)" not in reply


def test_settings_show_in_the_answer_and_memory_stays_flat(app, page) -> None:
    def rss_mb() -> float:
        status = Path(f"/proc/{app['pid']}/status").read_text()
        return (
            int(next(ln for ln in status.splitlines() if ln.startswith("VmRSS")).split()[1]) / 1024
        )

    ask_ui(page, EU)
    open_settings(page)
    number = page.locator("#top-k input[data-testid='number-input']")
    engine = page.locator("#engine input")
    start = rss_mb()
    for change in range(10):
        top_k = [1, 5, 10][change % 3]
        number.fill(str(top_k))
        number.press("Enter")
        engine.click()
        name = "sentence" if change % 2 else "extractive"
        page.get_by_role("option", name=f"{name}:").click()
        page.wait_for_timeout(300)
        reply = ask_ui(page, EU)
        assert f"{name} engine · top {top_k} passages" in reply, reply
        searched = int(re.search(r"Searched (\d+) passage", reply).group(1))
        assert searched == top_k if top_k <= 5 else searched <= top_k
    assert rss_mb() - start < 100, (start, rss_mb())


def test_conversations_survive_a_reload_and_can_be_managed(page) -> None:
    ask_ui(page, EU)
    page.reload(wait_until="load")
    page.locator(USER).first.wait_for(timeout=30000)
    assert page.locator(USER).first.inner_text().strip() == EU
    page.locator("#new").click()
    page.wait_for_function(f'() => document.querySelectorAll("{USER}").length === 0')
    ask_ui(page, "Who came second in the election?")
    page.locator("#conversation input").click()
    options = page.get_by_role("option")
    assert options.count() == 2
    page.get_by_role("option", name=EU).click()  # its label adds the time it began
    page.wait_for_function(
        "([user, q]) => [...document.querySelectorAll(user)].some(m => m.innerText.trim() === q)",
        arg=[USER, EU],
    )
    page.get_by_text("Rename or delete this conversation").click()
    page.locator("#rename-box textarea").fill("Sanctions")
    page.locator("#rename").click()
    page.locator("#conversation input").wait_for()
    page.wait_for_function(
        "() => document.querySelector('#conversation input').value.startsWith('Sanctions · ')"
    )
    page.locator("#forget").click()
    page.wait_for_function(
        "([user, q]) => [...document.querySelectorAll(user)].every(m => m.innerText.trim() !== q)",
        arg=[USER, EU],
    )
    page.reload(wait_until="load")
    page.locator(USER).first.wait_for(timeout=30000)
    assert page.locator(USER).first.inner_text().strip() == "Who came second in the election?"


def test_a_thumbs_down_with_a_correction_becomes_a_scored_question(app, page) -> None:
    def votes() -> list[dict]:
        lines = (app["folder"] / "feedback.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    ask_ui(page, EU)
    page.get_by_role("button", name="Like", exact=True).click()
    page.locator("#question-status").get_by_text("👍 saved").wait_for()
    assert [v["feedback"] for v in votes() if v["question"] == EU] == ["up"]
    page.get_by_role("button", name="Liked", exact=True).click()  # clicked again: taken back
    page.locator("#question-status").get_by_text("Vote taken back").wait_for()
    assert not [v for v in votes() if v["question"] == EU]
    question = "How many packages of individual sanctions has the EU introduced?"
    ask_ui(page, question)
    page.get_by_role("button", name="Dislike", exact=True).last.click()
    page.locator("#correction textarea").fill("four")
    page.locator("#save-correction").click()
    page.locator("#question-status").get_by_text("Correction saved").wait_for(timeout=30000)
    vote = next(v for v in votes() if v["question"] == question)
    assert vote["answers"] == ["four"] and vote["feedback"] == "down"
    assert vote["answer_given"]["citations"], vote
    page.reload(wait_until="load")  # the vote still shows on its answer
    page.get_by_role("button", name="Disliked", exact=True).wait_for(timeout=30000)
    results = app["folder"] / "results"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "qa",
            "eval",
            str(app["folder"] / "feedback.jsonl"),
            "--engine",
            "sentence",
            "--results-dir",
            str(results),
        ],
        env=app["env"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    scored = json.loads(next(results.glob("feedback-sentence-*.json")).read_text())
    assert scored["metrics"]["questions"] >= 1


def test_undo_and_retry_act_on_the_last_turn(page) -> None:
    ask_ui(page, "Who came second in the election?")
    page.get_by_role("button", name="Undo").click()
    page.wait_for_function(f'() => document.querySelectorAll("{USER}").length === 0')
    assert page.locator("#question textarea").input_value() == "Who came second in the election?"
    ask_ui(page, EU)
    page.get_by_role("button", name="Retry").click()
    page.wait_for_function(  # the same turn answered again, not a new one
        "bot => { const m = document.querySelectorAll(bot); return m.length === 1"
        " && m[0].innerText.includes('25 June') && !document.querySelector('#chat .qa-pending'); }",
        arg=BOT,
        timeout=60000,
    )
    assert page.locator(USER).count() == 1


def test_stop_ends_the_answer_on_the_server(app, browser, instruct_model) -> None:
    """A streamed generative answer (the instruct model, asked for a long text) is stopped:
    the chat says so and the server's CPU goes idle, instead of generating to the end."""
    port = free_port()
    env = {**app["env"], "QA_LLM": "llamacpp", "QA_LLM_MODEL": str(instruct_model)}
    env["QA_LLM_MAX_TOKENS"] = "1000"
    url = f"http://127.0.0.1:{port}/"
    command = [sys.executable, "-m", "qa", "serve", "--port", str(port)]
    with local_server(command, url, env) as server:
        page = browser.new_page()
        page.goto(url, wait_until="load")
        page.locator("#question textarea").fill(
            "Write a long essay on the sanctions against Belarus."
        )
        page.locator("#ask").click()
        page.wait_for_function(
            "bot => { const m = document.querySelectorAll(bot);"
            " return m.length && m[m.length - 1].innerText.length > 20; }",
            arg=BOT,
            timeout=120000,
        )
        page.locator("#stop").click()
        page.locator(BOT).last.get_by_text("Stopped.").wait_for(timeout=30000)
        before = cpu_seconds(server.pid)
        page.wait_for_timeout(3000)
        assert cpu_seconds(server.pid) - before < 1.0  # generating would take a whole core
        page.close()


def test_examples_come_from_the_documents_and_ask_at_once(page) -> None:
    examples = page.locator("#examples")
    examples.get_by_text("Lukashenko").first.wait_for()
    examples.get_by_text("Lukashenko").first.click()
    reply = last_reply(page, 0)
    assert "[1]" in reply and "Not in the documents" not in reply
    asked = page.locator(USER).first.inner_text()
    assert "…" not in asked and "strengthen economic cooperation" in asked  # the whole title


def test_copy_gives_the_text_people_see(page) -> None:
    ask_ui(page, EU)
    page.get_by_role("button", name="Copy last answer").click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert "came into force on 25 June" in copied
    assert "<" not in copied and "**" not in copied and "&#" not in copied


def test_the_evaluate_tab_runs_a_set_opens_a_failure_and_compares_runs(page) -> None:
    page.get_by_role("tab", name="Evaluate").click()

    def run(engine: str) -> None:
        page.locator("#eval-set input").click()
        page.get_by_role("option", name="ten.jsonl").click()
        for box in page.locator("#eval-engines label").all():
            checked = box.locator("input").is_checked()
            if checked != (box.inner_text().strip() == engine):
                box.click()
        page.locator("#eval-run").click()
        page.locator("#eval-status").get_by_text(f"ten · {engine} · ").wait_for(timeout=120000)

    run("extractive")
    page.locator("#eval-status").get_by_text("10 shown").wait_for()
    page.locator("#eval-metrics").get_by_text("containment", exact=True).wait_for()
    table = page.locator("#eval-questions")
    for number in ("t01", "t10"):  # every question of the set is listed
        table.get_by_text(number, exact=True).filter(visible=True).first.wait_for()
    table.get_by_text("t09", exact=True).filter(visible=True).first.click()  # open one
    detail = page.locator("#eval-detail")
    detail.get_by_text("Verdict:").wait_for()
    for part in ("What is the capital of Portugal?", "Gold answers", "Retrieved passages"):
        assert part in detail.inner_text()
    page.locator("#eval-filter input").click()
    page.get_by_role("option", name="failures", exact=True).click()
    page.locator("#eval-status").get_by_text("10 shown").wait_for(state="detached")
    shown = int(re.search(r"(\d+) shown", page.locator("#eval-status").inner_text()).group(1))
    verdicts = page.locator("#eval-questions tbody tr td:nth-child(3)").filter(visible=True)
    verdicts = verdicts.all_inner_texts()
    assert "right" not in [v.strip() for v in verdicts[:shown]]
    run("sentence")
    page.get_by_text("Compare two runs").click()
    for name, position in (("#eval-before", 1), ("#eval-after", 0)):
        page.locator(f"{name} input").click()
        page.get_by_role("option").nth(position).click()
    page.locator("#eval-compare").click()
    comparison = page.locator("#eval-comparison")
    comparison.get_by_text("Is it more than chance?").wait_for(timeout=30000)
    assert "McNemar" in comparison.inner_text() and "engine: extractive → sentence" in (
        comparison.inner_text()
    )
    page.screenshot(path=ARTIFACTS / "ui-evaluate.png", full_page=True)


def test_a_stopped_evaluation_keeps_a_partial_run(app, page) -> None:
    questions = [dict(q, id=f"{q['id']}-{n}") for n in range(4) for q in TEN_QUESTIONS]
    (app["folder"] / "eval" / "forty.jsonl").write_text(
        "".join(json.dumps(q) + "\n" for q in questions), encoding="utf-8"
    )
    page.get_by_role("tab", name="Evaluate").click()
    page.reload(wait_until="load")  # the set list is read when the page loads
    page.get_by_role("tab", name="Evaluate").click()
    page.locator("#eval-set input").click()
    page.get_by_role("option", name="forty.jsonl").click()
    page.locator("#eval-run").click()
    page.locator("#eval-status").get_by_text("answered").wait_for(timeout=60000)
    page.locator("#eval-stop").click()
    page.locator("#eval-status").get_by_text("Stopped").wait_for(timeout=60000)
    page.wait_for_function(
        "() => document.querySelector('#eval-opened input').value.includes('partial')",
        timeout=30000,
    )
    [kept] = (app["folder"] / "eval" / "results").glob("forty-*.json")
    run = json.loads(kept.read_text())
    assert run["metrics"]["partial"] is True and 0 < len(run["questions"]) < 40


def test_dark_mode_and_a_phone_screen_stay_readable(app, browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
    page = context.new_page()
    page.goto(app["url"] + "?__theme=dark", wait_until="load")
    reply = ask_ui(page, EU)
    assert "25 June" in reply
    page.locator(BOT).last.locator("summary").first.click()
    ratio = page.locator("#chat mark").first.evaluate(CONTRAST_JS)
    assert ratio >= 4.5, ratio
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=ARTIFACTS / "ui-dark-phone.png", full_page=True)
    context.close()


CONTRAST_JS = """m => {
  const rgb = c => c.match(/[0-9.]+/g).slice(0, 3).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const s = getComputedStyle(m);
  const [a, b] = [lum(rgb(s.color)), lum(rgb(s.backgroundColor))].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


def test_a_taken_port_is_one_clear_line(seed_corpus: Path) -> None:
    import socket

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
