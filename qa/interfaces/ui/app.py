"""The Gradio app: the Chat and Documents tabs over one service, the `/ask` API, and a
`/document` page that opens a cited file at its quote.

>>> from qa.core.settings import Settings  # doctest: +SKIP
>>> from qa.service import build_service  # doctest: +SKIP
>>> serve(build_service(Settings()), "127.0.0.1", 7860)  # doctest: +SKIP
"""

import logging
import socket
from typing import Any
from urllib.parse import urlencode

import gradio as gr

from qa.core.errors import BackendError, InputError, QAError
from qa.ingest.ocr import OcrError
from qa.interfaces.ui.chat import ChatHandlers, engine_choices
from qa.interfaces.ui.documents import DocumentHandlers
from qa.interfaces.ui.evaluation import evaluate_tab
from qa.interfaces.ui.pages import page_of, page_picture, shows_pages
from qa.interfaces.ui.render import document_page, missing_page
from qa.interfaces.ui.uploads import Uploads
from qa.service import QAService

CSS = """
.qa-cite summary, .qa-passages summary { cursor: pointer; font-weight: 600; }
.qa-passages summary { font-weight: 400; opacity: 0.8; }
mark { background: #ffe58a; color: #1f2328; }
.qa-pending { opacity: 0.7; font-style: italic; }
#question-status, #counter { min-height: 0; }
"""
COPY_JS = """() => {
  const replies = document.querySelectorAll("#chat [data-testid='bot']");
  const text = replies.length ? replies[replies.length - 1].innerText.trim() : "";
  if (text) navigator.clipboard.writeText(text);
}"""


class Blocks(gr.Blocks):
    """Gradio's Blocks, with one clear line for a request that sends too few values (Gradio's
    own message lists its internals and echoes every value), and `/ask`'s optional values
    taken as optional: a raw call with the question alone gets their defaults."""

    def validate_inputs(self, block_fn, inputs: list) -> None:  # noqa: ANN001 (Gradio's)
        wanted, given = len(block_fn.inputs), len(inputs)
        if given >= wanted:
            return
        if block_fn.api_name == "ask":
            inputs.extend([None] * (wanted - given))  # the values Gradio goes on to use
            return
        raise gr.Error(f"this request sends {given} value(s); the event takes {wanted}")


def build_ui(service: QAService) -> gr.Blocks:
    """The chat, documents and settings panels, and the `/ask` API endpoint."""
    chat = ChatHandlers(service)
    limit = service.settings.max_question_chars
    # uploads that were never added are removed after an hour (checked every ten minutes)
    with Blocks(title="qa", delete_cache=(600, 3600)) as demo:
        uploads = Uploads(demo)
        docs = DocumentHandlers(service, uploads, chat.welcome, chat.reopen)
        # a secret kept with the index: conversations outlive restarts and any replica reads them
        state = gr.BrowserState(
            None, storage_key="qa-conversations", secret=service.library.session_secret()
        )
        voted = gr.State(None)
        gr.Markdown("# qa\nAsk the documents in the corpus. Every answer cites its passages.")
        with gr.Tab("Chat"):
            welcome = gr.Markdown(elem_id="welcome")
            with gr.Row():
                conversation = gr.Dropdown(
                    label="Conversation", choices=[], scale=3, elem_id="conversation"
                )
                new = gr.Button("New conversation", scale=1, elem_id="new")
            copy = gr.Button("Copy last answer", size="sm", render=False)
            chatbot = gr.Chatbot(
                height=520, label="Chat", show_label=False, elem_id="chat", buttons=[copy]
            )
            with gr.Row(visible=False, elem_id="correction-row") as correction_row:
                correction = gr.Textbox(
                    label="The right answer", scale=4, elem_id="correction", max_length=500
                )
                save = gr.Button("Save correction", scale=1, elem_id="save-correction")
            question = gr.Textbox(
                placeholder="Ask a question…",
                label="Question",
                elem_id="question",
                lines=1,
                max_lines=6,
            )
            with gr.Row():
                counter = gr.Markdown(f"0 / {limit}", elem_id="counter")
                status = gr.Markdown(elem_id="question-status")
            with gr.Row():
                send = gr.Button(
                    "Ask", variant="primary", elem_id="ask", interactive=False, scale=4
                )
                stop = gr.Button("Stop", elem_id="stop", scale=1, interactive=False)
            examples = gr.Dataset(
                components=[gr.Textbox(visible=False)],
                samples=[],
                label="Try",
                elem_id="examples",
                visible=False,
            )
            with gr.Accordion("Settings", open=False):
                engine = gr.Dropdown(
                    engine_choices(service),
                    value=service.settings.engine,
                    label="Engine",
                    elem_id="engine",
                )
                top_k = gr.Slider(
                    1, 20, value=service.settings.top_k, step=1, label="Passages", elem_id="top-k"
                )
                scope = gr.Dropdown(
                    [],
                    multiselect=True,
                    label="Search only in (empty: every document)",
                    elem_id="scope",
                )
            with gr.Accordion("Rename or delete this conversation", open=False):
                with gr.Row():
                    title = gr.Textbox(label="New name", scale=3, elem_id="rename-box")
                    rename = gr.Button("Rename", scale=1, elem_id="rename")
                forget = gr.Button("Delete this conversation", variant="stop", elem_id="forget")
        with gr.Tab("Documents"):
            table = gr.Dataframe(
                label="Indexed documents",
                headers=["title", "file", "chunks", "indexed"],
                interactive=False,
                elem_id="documents",
                wrap=True,
                column_widths=["40%", "36%", "9%", "15%"],
            )
            files = gr.File(
                file_count="multiple",
                label="Add or replace documents (.txt, .md, .pdf, .html, .docx)",
                elem_id="upload",
            )
            add = gr.Button("Add to corpus and index", elem_id="add")
            with gr.Row():
                web_url = gr.Textbox(
                    label="Add a web page",
                    placeholder="https://… (its main text is kept in the corpus and indexed)",
                    scale=4,
                    elem_id="web-url",
                )
                add_web = gr.Button("Fetch and index", scale=1, elem_id="add-web")
            with gr.Row():
                doomed = gr.Dropdown([], label="Document", scale=3, elem_id="doomed")
                delete = gr.Button("Delete from corpus", variant="stop", elem_id="delete")
            doc_status = gr.Markdown(elem_id="upload-status")
            watcher = service.library.watcher
            watch_status = gr.Markdown(docs.watch_line(), elem_id="watch-status")
            watch_seen = gr.State(None)
            watch_timer = gr.Timer(3, active=watcher is not None)
            if watcher is not None:  # files dropped in the folder: the chat reads the new index
                watcher.on_indexed.append(chat.reopen)

        evaluate_tab(service, demo, uploads)

        corpus_views = [doc_status, table, doomed, scope, welcome, examples]
        answer_out = [chatbot, question, status, state, stop]
        answer_in = [state, engine, top_k, scope]
        private: dict[str, Any] = {"api_visibility": "private"}
        asked = [
            send.click(chat.respond, [question, *answer_in], answer_out, **private),
            question.submit(chat.respond, [question, *answer_in], answer_out, **private),
            examples.click(chat.ask_example, [examples, *answer_in], answer_out, **private),
            chatbot.retry(chat.retry, answer_in, answer_out, **private),
        ]
        for event in asked:
            event.then(lambda s: chat.show(s)[1], [state], [conversation], **private)
        # cancelling closes the answer's generator (Gradio types `cancels` narrower than it takes)
        stopping = stop.click(None, cancels=asked, **private)  # type: ignore[arg-type]
        stopping.then(chat.stop, [state], [chatbot, state], **private).then(
            lambda: gr.Button(interactive=False), None, stop, queue=False, **private
        )
        chatbot.clear(chat.clear, [state], [chatbot, state], **private)
        chatbot.undo(chat.undo, [state], [chatbot, question, state], **private)
        question.change(
            chat.count, [question], [counter, send], queue=False, show_progress="hidden", **private
        )
        chatbot.like(
            chat.vote, [state], [correction_row, correction, voted, status, state], **private
        )
        save.click(
            chat.correct,
            [correction, voted, state],
            [correction_row, correction, status, state],
            **private,
        )
        shown = [chatbot, conversation, state]
        conversation.select(chat.switch, [conversation, state], shown, **private)
        new.click(chat.new, [state], shown, **private)
        forget.click(chat.delete, [state], shown, **private)
        rename.click(chat.rename, [title, state], [*shown, title], **private)
        copy.click(None, js=COPY_JS, **private)
        add.click(docs.upload, [files, scope], [*corpus_views, files], **private)
        delete.click(docs.delete, [doomed, scope], corpus_views, **private)
        web_added = [*corpus_views, web_url]
        add_web.click(docs.add_web, [web_url, scope], web_added, **private)
        web_url.submit(docs.add_web, [web_url, scope], web_added, **private)
        watch_timer.tick(
            docs.watch_tick,
            [watch_seen, scope, doomed],
            [watch_status, watch_seen, *corpus_views],
            show_progress="hidden",
            **private,
        )
        demo.load(chat.show, [state], shown, **private)
        demo.load(docs.refresh, None, corpus_views, **private)
        gr.api(api_ask(service), api_name="ask")
    return demo


def api_ask(service: QAService):
    """The `/ask` endpoint over `service`."""

    def ask(
        question: str, history: list[str] | None = None, sources: list[str] | None = None
    ) -> dict:
        """The same JSON object as `qa ask --json`; `sources` limits the search to those files."""
        return answer_json(service, question, history, sources)

    return ask


def answer_json(service: QAService, question: object, history: object, sources: object) -> dict:
    """The JSON object of `qa ask --json` for one API request, or {"question", "error"}."""
    echo = question[:200] if isinstance(question, str) else None  # never 1 MB back
    try:
        for name, value in (("history", history), ("sources", sources)):
            if value is not None and not (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            ):
                raise InputError(f"'{name}' must be a list of strings")
        return service.ask(question, history or [], sources or None).to_dict()  # type: ignore[arg-type]
    except QAError as exc:
        return {"question": echo, "error": str(exc)}
    except Exception as exc:  # a fault of qa's, not the caller's: logged here, one line there
        logging.getLogger("qa").exception("answering %r failed", echo)
        error = f"qa could not answer ({type(exc).__name__}); its log says why"
        return {"question": echo, "error": error}


def rest_ask_route(service: QAService):
    """POST /api/ask with {"question", "history"?, "sources"?}: one request, one JSON answer.

    Stateless, unlike Gradio's queued `/ask` (a call and then a stream, which must reach the
    same process), so replicas behind a load balancer need no session affinity for it."""
    from fastapi import Request
    from fastapi.concurrency import run_in_threadpool
    from fastapi.responses import JSONResponse

    async def ask(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            error = 'the body must be a JSON object: {"question": "…"}'
            return JSONResponse({"question": None, "error": error}, status_code=400)
        answer = await run_in_threadpool(
            answer_json, service, body.get("question"), body.get("history"), body.get("sources")
        )
        return JSONResponse(answer, status_code=400 if "error" in answer else 200)

    return ask


def document_route(service: QAService):
    """GET /document?source=&start=&end=: an indexed file with the cited span highlighted,
    and for a PDF or a scan, the cited page as it looks, the quote's boxes marked."""
    from fastapi.responses import HTMLResponse

    def document(source: str, start: int = 0, end: int = 0) -> HTMLResponse:
        try:
            title, extracted = service.library.document(source)
        except QAError as exc:
            return HTMLResponse(missing_page(str(exc)), status_code=404)
        picture = None
        if shows_pages(service.settings.corpus_dir / source, extracted):
            page = page_of(extracted, start)
            query = urlencode({"source": source, "page": page, "start": start, "end": end})
            picture = (f"document/page?{query}", f"Page {page} of the original")
        return HTMLResponse(document_page(title, extracted.text, start, end, picture))

    return document


def page_route(service: QAService):
    """GET /document/page?source=&page=&start=&end=: the page as a PNG, the quote marked."""
    from fastapi.responses import Response

    def page(source: str, page: int = 1, start: int = 0, end: int = 0) -> Response:
        try:
            _, extracted = service.library.document(source)
            path = service.settings.corpus_dir / source
            if not shows_pages(path, extracted):
                raise InputError(f"{source} has no pages to show")
            png = page_picture(path, extracted, page, start, end)
        except (QAError, OcrError) as exc:
            return Response(str(exc), status_code=404, media_type="text/plain")
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    return page


def serve(service: QAService, host: str, port: int) -> None:
    """Serve the app on host:port until interrupted."""
    import uvicorn
    from fastapi import FastAPI

    try:  # bind first, so a taken port is one clear line rather than a server's log
        sock = socket.create_server((host, port), reuse_port=False)
    except OSError as exc:
        raise BackendError(
            f"cannot serve on {host}:{port}: the port is taken or the address is not this "
            "machine's (set --port/QA_PORT or --host/QA_HOST)"
        ) from exc
    app = FastAPI()
    app.get("/document", include_in_schema=False)(document_route(service))
    app.get("/document/page", include_in_schema=False)(page_route(service))
    app.post("/api/ask", include_in_schema=False)(rest_ask_route(service))
    demo = build_ui(service)
    demo.queue(default_concurrency_limit=4, max_size=64)
    # Gradio keeps each session's copy of the UI's state, and every API call is a session of
    # its own: bounded here, or memory grows with every call (10,000 sessions by default)
    demo.state_session_capacity = service.settings.ui_sessions
    app = gr.mount_gradio_app(
        app,
        demo,
        path="",
        css=CSS,
        theme=gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"]),
        footer_links=[],
        ssr_mode=False,
        max_file_size=service.settings.max_file_bytes,
    )
    # Gradio checks that files named in an event's request were uploaded only once it has
    # "launched", which a mounted app never does; qa's handlers check too (ui/uploads.py)
    demo.has_launched = True
    # Gradio holds event streams open; a stop must not wait for every browser to leave
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=3)
    uvicorn.Server(config).run(sockets=[sock])
