"""Extraction in a worker process with a time limit per file: a parser that hangs on one
file skips that file, never the ingest. A file read by OCR gets the budget again for each
page it finishes, so a long scan goes on while each page keeps to its time."""

import multiprocessing
import multiprocessing.pool
import queue
import time
from collections.abc import Callable
from pathlib import Path

from qa.ingest.formats import (
    PAGE_DONE,
    PLAIN_SUFFIXES,
    Extracted,
    OcrOptions,
    UnreadableFile,
    extract,
)

_pages: "multiprocessing.Queue[tuple[int, int]] | None" = None  # in the worker: page reports


def _start_worker(pages: "multiprocessing.Queue[tuple[int, int]]") -> None:
    global _pages
    _pages = pages


def _extract_reporting(path: Path, max_bytes: int | None, ocr: OcrOptions | None) -> Extracted:
    """`extract` in the worker, each page read by OCR reported to the parent."""

    def report(done: int, total: int) -> None:
        if _pages is not None:
            _pages.put((done, total))

    token = PAGE_DONE.set(report)
    try:
        return extract(path, max_bytes, ocr)
    finally:
        PAGE_DONE.reset(token)


class Extraction:
    """Reads files, running the parsers (PDF, HTML, Office, OCR) in a worker process with a
    time budget per file, renewed at each page read by OCR: a file that takes longer is
    skipped with the reason, and the worker is replaced, so that no single file can hold an
    ingest (and its lock) for hours. `on_page(done, total)` follows a scan's pages.

    >>> with Extraction(60) as read:  # doctest: +SKIP
    ...     text = read(Path("corpus/report.pdf"), max_bytes=50 * 2**20).text
    """

    def __init__(
        self,
        seconds: float,
        ocr: OcrOptions | None = None,
        on_page: Callable[[Path, int, int], None] | None = None,
    ) -> None:
        self.seconds = seconds
        self.ocr = ocr
        self.on_page = on_page
        self._pool: multiprocessing.pool.Pool | None = None
        self._pages: multiprocessing.Queue[tuple[int, int]] | None = None

    def __call__(self, path: Path, max_bytes: int | None = None) -> Extracted:
        if path.suffix.lower() in PLAIN_SUFFIXES:
            return extract(path, max_bytes, self.ocr)
        context = multiprocessing.get_context("spawn")  # not forked: the parent holds threads
        if self._pool is None or self._pages is None:
            self._pages = context.Queue()
            self._pool = context.Pool(1, initializer=_start_worker, initargs=(self._pages,))
        pending = self._pool.apply_async(_extract_reporting, (path, max_bytes, self.ocr))
        deadline = time.monotonic() + self.seconds
        while True:
            try:
                extracted = pending.get(min(0.2, max(0.0, deadline - time.monotonic())))
            except multiprocessing.TimeoutError:
                pass
            else:
                self._follow(path)
                return extracted
            if self._follow(path):  # each page done renews the budget
                deadline = time.monotonic() + self.seconds
            if time.monotonic() >= deadline:
                self.close()
                raise UnreadableFile(
                    f"reading it took over {self.seconds:g} s (QA_EXTRACT_TIMEOUT)"
                ) from None

    def _follow(self, path: Path) -> bool:
        """Pass on the pages reported since the last look; whether there were any."""
        followed = False
        while self._pages is not None:
            try:
                done, total = (
                    self._pages.get(timeout=0.05) if not followed else self._pages.get_nowait()
                )
            except queue.Empty:
                break
            followed = True
            if self.on_page is not None:
                self.on_page(path, done, total)
        return followed

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
        self._pages = None

    def __enter__(self) -> "Extraction":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
