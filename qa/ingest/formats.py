"""One text extractor per file type, behind `extract(path)`; offsets index the extracted text.

Libraries: pypdf (pure Python, reads text per page and knows encryption), BeautifulSoup with
lxml's parser (drops scripts, styles and navigation; linear time, and lxml is already
installed for python-docx), python-docx (paragraphs with their styles, so headings stay headings).
"""

import logging
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from qa.ingest.structure import (
    answers_after_questions,
    mark_title,
    markdown_blocks,
    pdf_blocks,
    plain_blocks,
    structural_title,
    usable_title,
)
from qa.text.blocks import Block
from qa.text.sentences import wrap_width


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


def extract_text(path: Path, max_bytes: int | None = None) -> Extracted:
    """Plain text and Markdown, exactly as `open(path, encoding='utf-8').read()` reads them."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise UnreadableFile("it is not valid UTF-8 text") from None
    if "\x00" in text:
        raise UnreadableFile("it looks like a binary file")
    if path.suffix.lower() == ".md":
        return Extracted(text, blocks=markdown_blocks(text))
    return Extracted(text, blocks=plain_blocks(text, wrap_width(text)))


def extract_pdf(path: Path, max_bytes: int | None = None) -> Extracted:
    """The text of each page, pages separated by a blank line; the title from the metadata,
    else the largest text of the first page."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings are not the user's business
    try:
        reader = PdfReader(path)
        if reader.is_encrypted:
            raise UnreadableFile("it is an encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = reader.metadata.get("/Title") if reader.metadata else None
        if not usable_title(str(title) if title else None) and reader.pages:
            title = largest_text(reader.pages[0])
    except UnreadableFile:
        raise
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError):
        raise UnreadableFile("it is not a readable PDF (damaged or not a PDF)") from None
    starts, offset = [], 0
    for page in pages:
        starts.append(offset)
        offset += len(page) + 2
    text = "\n\n".join(pages)
    blocks = pdf_blocks(text, starts, wrap_width(text))
    return Extracted(text, str(title) if title else None, starts, blocks=blocks)


def largest_text(page) -> str | None:
    """The text set in the page's largest font, when it stands out (1.2 times the usual)."""
    pieces: list[tuple[float, str]] = []

    def visit(text, cm, tm, font, size) -> None:
        scale = (abs(tm[3]) or 1.0) * (abs(cm[3]) or 1.0)
        if text.strip():
            pieces.append((round(size * scale, 1), text))

    try:
        page.extract_text(visitor_text=visit)
    except Exception:  # a title is a nicety; a page pypdf cannot walk keeps the file name
        return None
    if not pieces:
        return None
    sizes = sorted(size for size, _ in pieces)
    largest = sizes[-1]
    if largest < 1.2 * sizes[len(sizes) // 2]:
        return None
    words = " ".join(" ".join(text for size, text in pieces if size == largest).split())
    return words[:200] or None


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
# Elements that start a block of their own; every other element (<code>, <tt>, <b>, <a>...)
# stays inline in the sentence around it.
HTML_BLOCKS = {
    **{f"h{n}": "heading" for n in range(1, 7)},
    **dict.fromkeys(["p", "div", "section", "article", "main", "body", "blockquote"], "paragraph"),
    **dict.fromkeys(
        ["dd", "address", "center", "td", "th", "tbody", "thead", "table"], "paragraph"
    ),
    **dict.fromkeys(["ul", "ol", "dl", "menu", "hr", "br", "figure", "html"], "paragraph"),
    "li": "item",
    "dt": "item",  # read with its <dd>: "term — definition"
    "pre": "code",
    "caption": "caption",
    "figcaption": "caption",
    "tr": "row",
}
TERM_LEVEL = 7  # a <dt> heads its <dd> below the h1-h6 headings
# A table row holding these, or longer than a row of data, is page layout: its cells are
# read as blocks
LAYOUT = ["table", "ul", "ol", "dl", "pre", "h1", "h2", "h3", "h4", "h5", "h6"]
LONGEST_ROW = 400


def _layout(row) -> bool:
    return bool(row.find(LAYOUT)) or len(row.get_text()) > LONGEST_ROW


class HtmlBlocks:
    """Text and blocks of an HTML body: one block per block element, inline text joined with
    single spaces, blocks separated by a blank line."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.blocks: list[Block] = []
        self.size = 0
        self.run: list[str] = []
        self.term: str | None = None  # a <dt> waiting for its <dd>

    def add(self, kind: str, text: str, level: int = 0) -> None:
        text = text.strip("\n") if kind == "code" else " ".join(text.split())
        if not text:
            return
        if self.term is not None:  # a <dt> is read as the start of its definition
            term, self.term = self.term, None
            if kind not in ("heading", "code"):
                text = f"{term} \N{EM DASH} {text}"
            else:
                self.add("heading", term, TERM_LEVEL)
        if self.parts:
            self.parts.append("\n\n")
            self.size += 2
        if kind == "heading" and text.endswith("?"):
            kind = "question"
        self.blocks.append(Block(kind, self.size, self.size + len(text), level))
        self.parts.append(text)
        self.size += len(text)

    def flush(self, kind: str, level: int = 0) -> None:
        self.add(kind, "".join(self.run), level)
        self.run = []

    def walk(self, node, kind: str = "paragraph", level: int = 0) -> None:
        from bs4 import NavigableString, Tag
        from bs4.element import Comment, Doctype, ProcessingInstruction

        for child in node.children:
            if isinstance(child, (Comment, Doctype, ProcessingInstruction)):
                continue
            if isinstance(child, NavigableString):
                self.run.append(str(child))
            elif isinstance(child, Tag):
                name = child.name.lower()
                if name not in HTML_BLOCKS:
                    self.walk(child, kind, level)
                    continue
                self.flush(kind, level)
                if name == "tr" and not _layout(child):
                    self.row(child)
                elif name == "dt":
                    self.flush_term()
                    term = " ".join(child.get_text(" ").split())
                    if term.endswith("?"):
                        self.add("question", term)
                    else:
                        self.term = term or None
                elif name == "pre":
                    self.add("code", child.get_text())
                else:
                    inner = HTML_BLOCKS[name]
                    depth = int(name[1]) if inner == "heading" else 0
                    self.walk(child, inner if inner != "paragraph" else kind, depth or level)
                    self.flush(inner if inner != "paragraph" else kind, depth or level)

    def flush_term(self) -> None:
        """A <dt> with no definition after it stands as a heading."""
        if self.term is not None:
            term, self.term = self.term, None
            self.add("heading", term, TERM_LEVEL)

    def row(self, row) -> None:
        cells = row.find_all(["td", "th"], recursive=False)
        texts = [" ".join(cell.get_text(" ").split()) for cell in cells]
        header = bool(cells) and all(cell.name == "th" for cell in cells)
        self.add("table_header" if header else "row", " | ".join(t for t in texts if t))


def extract_html(path: Path, max_bytes: int | None = None) -> Extracted:
    """The main text of a web page, without scripts, styles and navigation: one block per
    block element; <title>, else the first <h1>, as title."""
    from bs4 import BeautifulSoup

    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise UnreadableFile("it looks like a binary file")
    # lxml (libxml2) parses in linear time; Python's html.parser is quadratic on inputs such
    # as many unclosed "<a b=" or "<!--", and would hold an ingest for minutes
    with warnings.catch_warnings():  # XHTML read as HTML is what we want; no warning
        warnings.simplefilter("ignore")
        soup = BeautifulSoup(raw, "lxml")
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    if not usable_title(title) and (first := soup.find("h1")):
        title = first.get_text(" ", strip=True)
    for tag in soup(BOILERPLATE_TAGS):
        tag.decompose()
    body = soup.find("main") or soup.find("article") or soup.body or soup
    walker = HtmlBlocks()
    walker.walk(body)
    walker.flush("paragraph")
    walker.flush_term()
    blocks = answers_after_questions(walker.blocks)
    return Extracted("".join(walker.parts), title or None, blocks=blocks)


def extract_docx(path: Path, max_bytes: int | None = None) -> Extracted:
    """Paragraphs and tables in document order; Word's paragraph styles give the kinds
    (Title, Heading N, List, Caption), a table's first row heads the others.

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
    out, title = HtmlBlocks(), document.core_properties.title or None
    fallback = default.name if default is not None else ""
    for item in document.iter_inner_content():
        if isinstance(item, docx.table.Table):
            for n, row in enumerate(item.rows):
                cells = [" ".join(cell.text.split()) for cell in row.cells]
                unique = [c for i, c in enumerate(cells) if c and (i == 0 or c != cells[i - 1])]
                header = n == 0 and len(item.rows) > 1 and len(unique) > 1
                kind = "table_header" if header else "row"
                out.add(kind, " | ".join(unique))
            continue
        style = styles.get(item._p.style, fallback) or ""
        kind, level = docx_kind(style, item._p.pPr is not None and item._p.pPr.numPr is not None)
        if kind == "title":
            title = title or " ".join(item.text.split())
        out.add(kind, item.text, level)
    return Extracted("".join(out.parts), title, blocks=answers_after_questions(out.blocks))


def docx_kind(style: str, numbered: bool) -> tuple[str, int]:
    """The block kind and heading level of a Word paragraph style."""
    if style == "Title":
        return "title", 1
    if level := re.fullmatch(r"Heading (\d)", style):
        return "heading", int(level.group(1))
    if style.startswith("List") or numbered:
        return "item", 0
    if style == "Caption":
        return "caption", 0
    return "paragraph", 0


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
    extracted = valid_unicode(EXTRACTORS[path.suffix.lower()](path, max_bytes))
    title = usable_title(extracted.title) or structural_title(extracted.text, extracted.blocks)
    blocks = mark_title(extracted.text, extracted.blocks, title)
    return replace(extracted, title=title, blocks=blocks)


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
