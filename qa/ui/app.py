"""The Gradio chat UI. It builds the interface and calls the service; nothing else.

>>> build_ui(build_service(Settings())).launch()  # doctest: +SKIP
"""

import html
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import gradio as gr

from qa.errors import BackendError, QAError
from qa.schema import Answer, Citation
from qa.service import ENGINES, QAService

EXAMPLES = [
    "When did EU sectoral sanctions start?",
    "How many individuals are on the EU list?",
    "Who came second in the election?",
    "Who is the president of France?",
]
CSS = ".qa-cite summary { cursor: pointer; font-weight: 600; } mark { background: #ffe58a; }"


def render_answer(answer: Answer) -> str:
    """Markdown for the chat: short answer, text with [n] markers, then each cited passage."""
    if answer.refused:
        return f"**Not in the documents.** {answer.text}"
    parts = []
    if answer.ungrounded and answer.extractive:
        parts.append(
            f"_Generated, but it cites no passage:_ {html.escape(answer.text)}\n\n"
            "**Extractive answer:**"
        )
        answer = answer.extractive
    head = f"**{html.escape(answer.short_answer)}**: " if answer.short_answer else ""
    if not answer.sure:
        head = "_Not sure: the closest the documents come is_ "
    parts.append(head + html.escape(answer.text))
    parts += [render_citation(c, answer) for c in answer.citations]
    return "\n\n".join(parts)


def render_citation(citation: Citation, answer: Answer) -> str:
    """A collapsible passage whose summary is the clickable [n], the quote highlighted."""
    passage = next(
        (
            p
            for p in answer.passages
            if p.source == citation.source and p.start <= citation.start and citation.end <= p.end
        ),
        None,
    )
    if passage is None:
        body = f"<mark>{html.escape(citation.quote)}</mark>"
    else:
        a, b = citation.start - passage.start, citation.end - passage.start
        body = (
            html.escape(passage.text[:a])
            + f"<mark>{html.escape(passage.text[a:b])}</mark>"
            + html.escape(passage.text[b:])
        )
    where = f"{html.escape(Path(citation.source).name)}, characters {citation.start}-{citation.end}"
    where += f", page {citation.page}" if citation.page else ""
    return (
        f'<details class="qa-cite"><summary>[{citation.n}] {html.escape(citation.title)}'
        f" ({where})</summary><blockquote>{body}</blockquote></details>"
    )


def user_turns(history: list[dict]) -> list[str]:
    """The earlier questions of the conversation."""
    return [str(m["content"]) for m in history if m.get("role") == "user"]


def documents_table(service: QAService) -> list[list]:
    """Rows for the documents panel."""
    return [
        [
            d["title"],
            d["source"],
            d["chunks"],
            datetime.fromtimestamp(d["indexed_at"]).strftime("%Y-%m-%d %H:%M")
            if d["indexed_at"]
            else "",
        ]
        for d in service.documents()
    ]


class ChatUI:
    """Event handlers over one service; engine and passage count apply to the next question."""

    def __init__(self, service: QAService) -> None:
        self.service = service
        self.variants: dict[tuple[str, int], QAService] = {}

    def service_for(self, engine: str, top_k: int) -> QAService:
        key = (engine, int(top_k))
        if key not in self.variants:
            self.variants[key] = self.service.variant(engine=engine, top_k=int(top_k))
        return self.variants[key]

    def respond(self, message: str, history: list[dict], engine: str, top_k: int) -> Iterator:
        history = [*history, {"role": "user", "content": message}]
        yield history, ""
        streamed = ""
        try:
            service = self.service_for(engine, top_k)
            for event in service.stream(message, user_turns(history[:-1])):
                streamed = streamed + event if isinstance(event, str) else render_answer(event)
                yield [*history, {"role": "assistant", "content": streamed}], ""
        except QAError as exc:
            yield [*history, {"role": "assistant", "content": f"⚠️ {exc}"}], ""
        except Exception as exc:  # a failing backend must not take the conversation down
            message = f"⚠️ the answer failed: {type(exc).__name__}: {exc}"
            yield [*history, {"role": "assistant", "content": message}], ""

    def upload(self, files: list[str] | None, progress: gr.Progress = gr.Progress(track_tqdm=True)):  # noqa: B008
        if not files:
            return "Choose .txt or .md files first.", documents_table(self.service)
        try:
            added, rejected, report = self.service.add_files([Path(f) for f in files])
        except QAError as exc:
            return f"⚠️ {exc}", documents_table(self.service)
        self.variants.clear()  # they reopen the index on the next question
        lines = [f"Added {', '.join(p.name for p in added) or 'nothing'}. {report.summary()}"]
        lines += [f"⚠️ {Path(s.path).name}: {s.reason}" for s in [*rejected, *report.skipped]]
        return "\n\n".join(lines), documents_table(self.service)

    def api_ask(self, question: str, history: list[str] | None = None) -> dict:
        """The same JSON object as `qa ask --json`."""
        try:
            return self.service.ask(question, history or []).to_dict()
        except QAError as exc:
            return {"question": question, "error": str(exc)}


def build_ui(service: QAService) -> gr.Blocks:
    """The chat, documents and settings panels, and the `/ask` API endpoint."""
    handlers = ChatUI(service)
    with gr.Blocks(title="qa") as demo:
        gr.Markdown("# qa\nAsk the documents in the corpus. Every answer cites its passages.")
        with gr.Tab("Chat"):
            chatbot = gr.Chatbot(height=520, label="Conversation", elem_id="chat")
            question = gr.Textbox(
                placeholder="Ask a question…", label="Question", elem_id="question"
            )
            with gr.Row():
                send = gr.Button("Ask", variant="primary", elem_id="ask")
                gr.ClearButton([chatbot, question], value="New conversation")
            gr.Examples(EXAMPLES, inputs=question)
            with gr.Accordion("Settings", open=False):
                engine = gr.Dropdown(list(ENGINES), value=service.settings.engine, label="Engine")
                top_k = gr.Slider(1, 20, value=service.settings.top_k, step=1, label="Passages")
        with gr.Tab("Documents"):
            table = gr.Dataframe(
                documents_table(service),
                label="Indexed documents",
                headers=["title", "file", "chunks", "indexed"],
                interactive=False,
            )
            files = gr.File(
                file_count="multiple",
                label="Add documents (.txt, .md, .pdf, .html, .docx)",
                elem_id="upload",
            )
            add = gr.Button("Add to corpus and index", elem_id="add")
            status = gr.Markdown(elem_id="upload-status")
        inputs = [question, chatbot, engine, top_k]
        send.click(handlers.respond, inputs, [chatbot, question], api_visibility="private")
        question.submit(handlers.respond, inputs, [chatbot, question], api_visibility="private")
        add.click(handlers.upload, [files], [status, table], api_visibility="private")
        gr.api(handlers.api_ask, api_name="ask")
    return demo


def serve(service: QAService, host: str, port: int) -> None:
    """Launch the app; blocks until interrupted."""
    demo = build_ui(service)
    demo.queue(default_concurrency_limit=4, max_size=64)
    try:
        demo.launch(
            server_name=host,
            server_port=port,
            ssr_mode=False,
            css=CSS,
            theme=gr.themes.Default(font=["ui-sans-serif", "system-ui", "sans-serif"]),
            footer_links=[],
        )
    except OSError as exc:  # the port is taken, or the address is not this machine's
        raise BackendError(
            f"cannot serve on {host}:{port}: the port is taken or the address is not this "
            "machine's (set --port/QA_PORT or --host/QA_HOST)"
        ) from exc
