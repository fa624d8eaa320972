"""The Documents tab's handlers: the indexed files, upload, replace and delete, web pages,
and the watched folder's status."""

import html
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import gradio as gr

from qa.core.errors import QAError
from qa.interfaces.ui.uploads import Uploads
from qa.service import QAService

ADDED = {
    "added": "Added {}.",
    "replaced": "Replaced {} (the old version is in {}).",
    "unchanged": "{} is already in the corpus, unchanged.",
}
FETCHED = {
    "added": "Added the page “{title}” from {url} as {path}.",
    "replaced": "Fetched {url} again: “{title}” replaces its earlier copy in {path}.",
}


class DocumentHandlers:
    """Every handler returns the same outputs, so that each view of the corpus stays current:
    status, table, the delete choice, the chat's scope choice, the welcome text, examples."""

    def __init__(
        self,
        service: QAService,
        uploads: Uploads,
        welcome: Callable[[list[dict]], tuple],
        changed: Callable[[], None],
    ) -> None:
        """`welcome(documents)` gives the chat's welcome text and examples for these
        documents; `changed()` tells the chat that the corpus changed."""
        self.service = service
        self.uploads = uploads
        self.welcome = welcome
        self.changed = changed

    def refresh(
        self, status: str = "", scope: list[str] | None = None, chosen: str | None = None
    ) -> tuple:
        """The views; a scope, and the document `chosen` for deletion, keep only the
        documents still indexed."""
        documents = self.service.library.documents()
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
            gr.Dropdown(choices=names, value=chosen if chosen in {n for _, n in names} else None),
            gr.Dropdown(
                choices=names, value=[s for s in scope or [] if s in {n for _, n in names}]
            ),
            *self.welcome(documents),
        )

    def upload(
        self,
        files: list[str] | None,
        scope: list[str] | None,
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008
    ):
        """The corpus views, then the file picker emptied once its files are placed."""
        if not files:
            kinds = ", ".join(self.service.library.suffixes)
            return *self.refresh(f"Choose files first: qa reads {kinds}.", scope), gr.skip()
        try:
            received = self.uploads.received(files)
            uploads, rejected, report = self.service.library.add_files(received)
        except QAError as exc:
            return *self.refresh(f"⚠️ {html.escape(str(exc))}", scope), gr.skip()
        self.uploads.discard(received)  # copied into the corpus, or refused: not needed
        self.changed()
        trash = self.service.library.trash_dir
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
            report = self.service.library.delete_document(source)
        except QAError as exc:
            return self.refresh(f"⚠️ {html.escape(str(exc))}", scope)
        self.changed()
        return self.refresh(
            f"Deleted {html.escape(source)}: it is no longer cited (the file is kept in "
            f"{self.service.library.trash_dir}). Index: {report.summary()}.",
            scope,
        )

    def add_web(self, text: str | None, scope: list[str] | None):
        """The corpus views, then the address box emptied once every page was added."""
        urls = (text or "").split()
        if not urls:
            hint = "Paste the address of a web page first (https://…)."
            return *self.refresh(hint, scope), gr.skip()
        try:
            saved, failed, report = self.service.library.add_urls(urls)
        except QAError as exc:
            return *self.refresh(f"⚠️ {html.escape(str(exc))}", scope), gr.skip()
        if saved:
            self.changed()
        lines = [
            FETCHED[page.status].format(
                title=html.escape(page.title), url=html.escape(page.url), path=page.path
            )
            for page in saved
        ]
        if saved:
            lines.append(f"Index: {report.summary()}.")
        lines += [f"⚠️ {html.escape(str(exc))}" for exc in failed]
        lines += [
            f"⚠️ {html.escape(Path(s.path).name)}: {html.escape(s.reason)}"
            for s in [*report.skipped, *report.notes]
        ]
        return *self.refresh("\n\n".join(lines), scope), "" if not failed else gr.skip()

    def watch_line(self) -> str:
        """What the watched folder did last, in a line ("" when the corpus is not watched)."""
        watcher = self.service.library.watcher
        if watcher is None:
            return ""
        line = f"Watching {html.escape(str(watcher.folder))}/ for changes"
        if watcher.last is not None:
            when, report = watcher.last
            done = f"{report.added} added, {report.deleted} removed, {report.files} file(s) in all"
            line += f"; last indexed {datetime.fromtimestamp(when).strftime('%H:%M:%S')}: {done}"
        if watcher.error:
            line += f". ⚠️ {html.escape(watcher.error)}"
        return line + "."

    def watch_tick(self, seen: int | None, scope: list[str] | None, chosen: str | None) -> tuple:
        """The watch line, and the corpus views again once the watcher indexed something new
        (the upload status and the choices made are left as they are)."""
        watcher = self.service.library.watcher
        runs = watcher.runs if watcher is not None else 0
        if runs == (seen or 0):
            return self.watch_line(), seen, *[gr.skip()] * 6
        return self.watch_line(), runs, gr.skip(), *self.refresh("", scope, chosen)[1:]
