"""A watched corpus folder: a background thread that notices files added, changed or removed
(watchfiles) and, once they settle, asks for the index to be brought in step."""

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from qa.core.errors import QAError

QUIET_MS = 500  # changes are indexed once the folder has been quiet this long,
SETTLE_MS = 3000  # or this long after the first of them, whichever comes first
RETRY_MS = 2000  # how soon to try again while another ingest holds the lock

Result = TypeVar("Result")


class CorpusWatcher(Generic[Result]):
    """Calls `reindex()` in a background thread a moment after files under `folder` change;
    `reindex` returns None when it cannot run now (another ingest is under way), and is then
    tried again every RETRY_MS. Hidden files and folders, and the `ignored` folders (an index
    folder inside the corpus), are not watched. `on_indexed` callbacks run after each
    reindex."""

    def __init__(
        self, folder: Path, reindex: Callable[[], Result | None], ignored: list[Path]
    ) -> None:
        self.folder = folder
        self.reindex = reindex
        self.ignored = [path.resolve() for path in ignored]
        self.on_indexed: list[Callable[[], None]] = []
        self.last: tuple[float, Result] | None = None  # when, and what the last reindex did
        self.error: str | None = None  # why the last reindex, or the watching, failed
        self.runs = 0  # reindexes finished, for views that refresh when it changes
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="qa-watch", daemon=True)

    def start(self) -> "CorpusWatcher[Result]":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def watched(self, change: object, path: str) -> bool:
        """Whether a change to `path` concerns the corpus."""
        where = Path(path)
        try:
            parts = where.relative_to(self.folder).parts
        except ValueError:
            parts = where.parts
        if any(part.startswith(".") for part in parts):
            return False
        resolved = where.resolve()
        return not any(resolved.is_relative_to(folder) for folder in self.ignored)

    def _watch(self) -> None:
        from watchfiles import watch

        pending = False
        try:
            for changes in watch(
                self.folder,
                watch_filter=self.watched,
                debounce=SETTLE_MS,
                step=QUIET_MS,
                rust_timeout=RETRY_MS,
                yield_on_timeout=True,
                stop_event=self._stop,
                raise_interrupt=False,
            ):
                pending = (pending or bool(changes)) and not self._run()
        except Exception as exc:  # the folder vanished, too many watches: said, not raised
            self.error = f"stopped watching {self.folder} ({exc})"
            logging.getLogger("qa").warning("%s", self.error)

    def _run(self) -> bool:
        """One reindex; False if it could not run yet."""
        try:
            result = self.reindex()
        except QAError as exc:
            self.error = str(exc)
            return True  # tried again at the next change, not in a loop
        except Exception as exc:  # a fault of qa's: logged, and the watching goes on
            logging.getLogger("qa").exception("indexing %s after a change failed", self.folder)
            self.error = f"indexing failed ({type(exc).__name__}); the log says why"
            return True
        if result is None:
            return False
        self.last, self.error, self.runs = (time.time(), result), None, self.runs + 1
        for callback in self.on_indexed:
            callback()
        return True
