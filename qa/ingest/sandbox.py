"""Extraction in a worker process with a time limit per file: a parser that hangs on one
file skips that file, never the ingest."""

import multiprocessing
import multiprocessing.pool
from pathlib import Path

from qa.ingest.formats import Extracted, UnreadableFile, extract

PLAIN_SUFFIXES = (".txt", ".md")


class Extraction:
    """Reads files, running the parsers (PDF, HTML, Word) in a worker process with a time
    budget per file: a file that takes longer is skipped with the reason, and the worker is
    replaced, so that no single file can hold an ingest (and its lock) for hours.

    >>> with Extraction(60) as read:  # doctest: +SKIP
    ...     text = read(Path("corpus/report.pdf"), max_bytes=50 * 2**20).text
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._pool: multiprocessing.pool.Pool | None = None

    def __call__(self, path: Path, max_bytes: int | None = None) -> Extracted:
        if path.suffix.lower() in PLAIN_SUFFIXES:
            return extract(path, max_bytes)
        if self._pool is None:  # spawned, not forked: the parent holds model threads
            self._pool = multiprocessing.get_context("spawn").Pool(1)
        try:
            return self._pool.apply_async(extract, (path, max_bytes)).get(self.seconds)
        except multiprocessing.TimeoutError:
            self.close()
            raise UnreadableFile(
                f"reading it took over {self.seconds:g} s (QA_EXTRACT_TIMEOUT)"
            ) from None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None

    def __enter__(self) -> "Extraction":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
