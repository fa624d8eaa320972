"""What a reader gives: a file's text, its blocks and where its pages, slides or rows start;
the error that says why a file cannot be read; and the options and progress of OCR."""

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qa.text.blocks import Block


class UnreadableFile(ValueError):
    """A file whose text cannot be extracted; the message says why, for the user."""


@dataclass(frozen=True)
class Extracted:
    """A file's text, its title if the format has one, where each page starts, and its
    blocks (in order, located in `text`)."""

    text: str
    title: str | None = None
    page_starts: list[int] = field(default_factory=list)  # PDFs: offset of each page
    replaced: int = 0  # characters that were not valid Unicode, replaced by U+FFFD
    blocks: list[Block] = field(default_factory=list)
    # where each slide, sheet row or chapter starts: (offset, "slide 3"), in order
    locations: list[tuple[int, str]] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)  # e.g. a web page's url, an e-mail's
    # (file name, content), or (file name, hash of its stored extraction) when read back
    attachments: list[tuple[str, bytes | str]] = field(default_factory=list)
    # pages read by OCR: {"page": n, "width": px, "height": px, "words": [[start, end, x0, y0,
    # x1, y1], ...]} with offsets in `text` and boxes as fractions of the page
    scans: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class OcrOptions:
    """How pictures are read: Tesseract's languages ("eng+deu") and the seconds one page may
    take (QA_OCR_LANGUAGES, QA_OCR_PAGE_SECONDS)."""

    languages: str = "eng"
    page_seconds: float = 60.0


OCR: contextvars.ContextVar[OcrOptions] = contextvars.ContextVar(
    "ocr",
    default=OcrOptions(),  # noqa: B039 - frozen, never mutated
)
# Called after each page read by OCR with (done, of); the extraction sandbox follows it to
# extend a long scan's time budget page by page and to show progress
PAGE_DONE: contextvars.ContextVar[Callable[[int, int], None] | None] = contextvars.ContextVar(
    "page_done", default=None
)


def report_page(done: int, total: int) -> None:
    if (callback := PAGE_DONE.get()) is not None:
        callback(done, total)


DEFAULT_MAX_BYTES = 50 * 2**20  # QA_MAX_FILE_MB's default, for reads outside an ingest


OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def refuse_encrypted(path: Path) -> None:
    """An Office file saved with a password is an OLE container holding an encrypted package,
    not a zip: say so, rather than "damaged"."""
    with open(path, "rb") as handle:
        head = handle.read(8)
    if head == OLE_MAGIC:
        import olefile

        try:
            with olefile.OleFileIO(str(path)) as ole:
                encrypted = ole.exists("EncryptedPackage")
        except OSError:
            encrypted = False
        if encrypted:
            raise UnreadableFile("it is password-protected (an encrypted Office file)")
