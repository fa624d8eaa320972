"""Files people upload through the UI: only what Gradio's upload route received is accepted,
and each is removed from Gradio's folder once handled.

A request to an event can name any path as a "file"; Gradio checks that such a path lies in
its upload folder only in an app it launched itself, not in one mounted on FastAPI, as qa's
is. So each handler takes its files through `Uploads.received`, which accepts a path only if
this server's upload route wrote it.
"""

import os
from pathlib import Path

import gradio as gr

from qa.core.errors import InputError


class Uploads:
    """The upload route's files of one app."""

    def __init__(self, demo: gr.Blocks) -> None:
        self.demo = demo

    def received(self, paths: list[str]) -> list[Path]:
        """`paths` as files this server received; an InputError for any other path."""
        known = {os.path.realpath(path) for path in self.demo.upload_file_set}
        accepted = []
        for path in paths:
            real = os.path.realpath(str(path))
            if real not in known or not os.path.isfile(real):
                raise InputError(f"{Path(path).name} was not uploaded here; upload it again")
            accepted.append(Path(real))
        return accepted

    def discard(self, paths: list[Path]) -> None:
        """Remove handled uploads (and their folders, once empty) from Gradio's folder."""
        for path in paths:
            real = os.path.realpath(path)
            for entry in [e for e in self.demo.upload_file_set if os.path.realpath(e) == real]:
                self.demo.upload_file_set.discard(entry)
            path.unlink(missing_ok=True)
            try:
                path.parent.rmdir()  # Gradio keeps each upload in a folder of its own
            except OSError:
                pass
