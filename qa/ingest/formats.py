"""One text extractor per file type, behind `extract(path)`; offsets index the extracted text.

Libraries: pypdf (pure Python, reads text per page and knows encryption), BeautifulSoup with
lxml's parser (drops scripts, styles and navigation; linear time, and lxml is already
installed for python-docx), python-docx (paragraphs with their styles, so headings stay headings).
"""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path


class UnreadableFile(ValueError):
    """A file whose text cannot be extracted; the message says why, for the user."""


@dataclass(frozen=True)
class Extracted:
    """A file's text, its title if the format has one, and where each page starts."""

    text: str
    title: str | None = None
    page_starts: list[int] = field(default_factory=list)  # PDFs: offset of each page
    replaced: int = 0  # characters that were not valid Unicode, replaced by U+FFFD


def extract_text(path: Path, max_bytes: int | None = None) -> Extracted:
    """Plain text and Markdown, exactly as `open(path, encoding='utf-8').read()` reads them."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise UnreadableFile("it is not valid UTF-8 text") from None
    if "\x00" in text:
        raise UnreadableFile("it looks like a binary file")
    return Extracted(text)


def extract_pdf(path: Path, max_bytes: int | None = None) -> Extracted:
    """The text of each page, pages separated by a blank line."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings are not the user's business
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise UnreadableFile("it is an encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = reader.metadata.get("/Title") if reader.metadata else None
    except UnreadableFile:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError):
        raise UnreadableFile("it is not a readable PDF (damaged or not a PDF)") from None
    starts, offset = [], 0
    for page in pages:
        starts.append(offset)
        offset += len(page) + 2
    return Extracted("\n\n".join(pages), str(title) if title else None, starts)


BOILERPLATE_TAGS = [
    "script",
    "style",
    "noscript",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "template",
    "svg",
]


def extract_html(path: Path, max_bytes: int | None = None) -> Extracted:
    """The main text of a web page, without scripts, styles and navigation; <title> as title."""
    from bs4 import BeautifulSoup

    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise UnreadableFile("it looks like a binary file")
    # lxml (libxml2) parses in linear time; Python's html.parser is quadratic on inputs such
    # as many unclosed "<a b=" or "<!--", and would hold an ingest for minutes
    soup = BeautifulSoup(raw, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    for tag in soup(BOILERPLATE_TAGS):
        tag.decompose()
    body = soup.find("main") or soup.find("article") or soup.body or soup
    lines = (
        re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in body.get_text("\n").splitlines()
    )
    return Extracted("\n".join(line for line in lines if line), title or None)


def extract_docx(path: Path, max_bytes: int | None = None) -> Extracted:
    """Paragraph text; headings become Markdown headings so they stay structure.

    The unpacked size is checked against `max_bytes` before parsing (a small .docx can hold
    gigabytes of XML). Styles are looked up by id in one table: python-docx's
    `paragraph.style` resolves the style part anew for every paragraph, minutes on a long file.
    """
    import zipfile

    import docx
    from docx.enum.style import WD_STYLE_TYPE
    from docx.opc.exceptions import PackageNotFoundError
    from lxml.etree import LxmlError

    limit = max_bytes or DEFAULT_MAX_BYTES
    damaged = "it is not a readable Word file (damaged or not a .docx)"
    try:
        with zipfile.ZipFile(path) as package:
            unpacked = sum(member.file_size for member in package.infolist())
        if unpacked > limit:
            raise UnreadableFile(
                f"it unpacks to {unpacked / 2**20:.0f} MB, over the {limit / 2**20:.0f} MB "
                "limit (QA_MAX_FILE_MB)"
            )
        document = docx.Document(str(path))
        styles = {style.style_id: style.name for style in document.styles}
        default = document.styles.default(WD_STYLE_TYPE.PARAGRAPH)
    except UnreadableFile:
        raise
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, LxmlError):
        raise UnreadableFile(damaged) from None
    lines, title = [], document.core_properties.title or None
    fallback = default.name if default is not None else ""
    for paragraph in document.paragraphs:
        text = paragraph.text.strip()
        if not text:
            continue
        style = styles.get(paragraph._p.style, fallback) or ""
        level = re.fullmatch(r"Heading (\d)", style)
        if style == "Title" or level:
            title = title or text
            text = "#" * (int(level.group(1)) if level else 1) + " " + text
        lines.append(text)
    return Extracted("\n\n".join(lines), title)


EXTRACTORS: dict[str, Callable[[Path, int | None], Extracted]] = {  # (file, size limit)
    ".txt": extract_text,
    ".md": extract_text,
    ".pdf": extract_pdf,
    ".html": extract_html,
    ".htm": extract_html,
    ".docx": extract_docx,
}
SUPPORTED_SUFFIXES = tuple(EXTRACTORS)


DEFAULT_MAX_BYTES = 50 * 2**20  # QA_MAX_FILE_MB's default, for reads outside an ingest


def extract(path: Path, max_bytes: int | None = None) -> Extracted:
    """The extracted text of a supported file; UnreadableFile or OSError explain a failure."""
    size = path.stat().st_size
    if size == 0:
        raise UnreadableFile("it is empty")
    if max_bytes is not None and size > max_bytes:
        raise UnreadableFile(
            f"it is too large ({size / 2**20:.0f} MB; the limit is {max_bytes / 2**20:.0f} MB,"
            " set by QA_MAX_FILE_MB)"
        )
    return valid_unicode(EXTRACTORS[path.suffix.lower()](path, max_bytes))


# Lone surrogates (a parser's reading of broken font maps) cannot be encoded, stored or shown
SURROGATE = re.compile("[\ud800-\udfff]")


def valid_unicode(extracted: Extracted) -> Extracted:
    """The text with each lone surrogate replaced by U+FFFD, one character for one, so that
    every offset still holds; `replaced` counts them."""
    text, count = SURROGATE.subn("\ufffd", extracted.text)
    if not count:
        return extracted
    title = SURROGATE.sub("\ufffd", extracted.title) if extracted.title else extracted.title
    return replace(extracted, text=text, title=title, replaced=count)
