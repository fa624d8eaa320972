"""The Documents tab's handlers: the indexed files, upload, replace and delete."""

import html
from datetime import datetime
from pathlib import Path

import gradio as gr

from qa.errors import QAError
from qa.formats import SUPPORTED_SUFFIXES
from qa.service import QAService
from qa.ui.chat import ChatHandlers
from qa.ui.uploads import Uploads

ADDED = {
    "added": "Added {}.",
    "replaced": "Replaced {} (the old version is in {}).",
    "unchanged": "{} is already in the corpus, unchanged.",
}


class DocumentHandlers:
    """Every handler returns the same outputs, so that each view of the corpus stays current:
    status, table, the delete choice, the chat's scope choice, the welcome text, examples."""

    def __init__(self, service: QAService, chat: ChatHandlers, uploads: Uploads) -> None:
        self.service = service
        self.chat = chat
        self.uploads = uploads

    def refresh(self, status: str = "", scope: list[str] | None = None) -> tuple:
        """The views; a scope keeps only the documents still indexed."""
        documents = self.service.documents()
        rows = [
            [
                d["title"],
                d["source"],
                d["chunks"],
                datetime.fromtimestamp(d["indexed_at"]).strftime("%Y-%m-%d %H:%M")
                if d["indexed_at"]
                else "",
            ]
            for d in documents
        ]
        names = [(f"{d['title']} ({d['source']})", d["source"]) for d in documents]
        return (
            status,
            rows,
            gr.Dropdown(choices=names, value=None),
            gr.Dropdown(
                choices=names, value=[s for s in scope or [] if s in {n for _, n in names}]
            ),
            *self.chat.welcome(documents),
        )

    def upload(
        self,
        files: list[str] | None,
        scope: list[str] | None,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ):
        """The corpus views, then the file picker emptied once its files are placed."""
        if not files:
            kinds = ", ".join(SUPPORTED_SUFFIXES)
            return *self.refresh(f"Choose files first: qa reads {kinds}.", scope), gr.skip()
        try:
            received = self.uploads.received(files)
            uploads, rejected, report = self.service.add_files(received)
        except QAError as exc:
            return *self.refresh(f"⚠️ {html.escape(str(exc))}", scope), gr.skip()
        self.uploads.discard(received)  # copied into the corpus, or refused: not needed
        self.chat.reopen()
        trash = self.service.trash_dir
        lines = [ADDED[u.status].format(html.escape(u.path.name), trash) for u in uploads]
        if not any(u.status != "unchanged" for u in uploads):
            lines.append("Nothing new was added.")
        else:
            lines.append(f"Index: {report.summary()}.")
        lines += [
            f"⚠️ {html.escape(Path(s.path).name)}: {html.escape(s.reason)}"
            for s in [*rejected, *report.skipped, *report.notes]
        ]
        return *self.refresh("\n\n".join(lines), scope), None

    def delete(self, source: str | None, scope: list[str] | None):
        if not source:
            return self.refresh("Choose a document to delete first.", scope)
        try:
            report = self.service.delete_document(source)
        except QAError as exc:
            return self.refresh(f"⚠️ {html.escape(str(exc))}", scope)
        self.chat.reopen()
        return self.refresh(
            f"Deleted {html.escape(source)}: it is no longer cited (the file is kept in "
            f"{self.service.trash_dir}). Index: {report.summary()}.",
            scope,
        )
