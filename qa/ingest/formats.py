"""One text extractor per file type, behind `extract(path)`; offsets index the extracted text.

Libraries: pypdf (pure Python, reads text per page and knows encryption), BeautifulSoup with
lxml's parser (drops scripts, styles and navigation; linear time, and lxml is already
installed for python-docx), python-docx (paragraphs with their styles, so headings stay headings).
"""

import logging
import re
import stat
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from qa.ingest import mail, office, scans
from qa.ingest.extracted import (
    DEFAULT_MAX_BYTES,
    OCR,
    PAGE_DONE,
    Extracted,
    OcrOptions,
    UnreadableFile,
    refuse_encrypted,
)
from qa.ingest.markup import adoc_blocks, org_blocks, rst_blocks
from qa.ingest.structure import (
    answers_after_questions,
    mark_title,
    markdown_blocks,
    pdf_blocks,
    plain_blocks,
    structural_title,
    usable_title,
)
from qa.ingest.writer import BOILERPLATE_TAGS, BlockText, html_soup, row_text
from qa.text.blocks import Block
from qa.text.sentences import wrap_width

__all__ = ["DEFAULT_MAX_BYTES", "OCR", "PAGE_DONE", "Extracted", "OcrOptions", "UnreadableFile"]


def extract_text(path: Path, max_bytes: int | None = None) -> Extracted:
    """Plain text and Markdown, exactly as `open(path, encoding='utf-8').read()` reads them."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise UnreadableFile("it is not valid UTF-8 text") from None
    if "\x00" in text:
        raise UnreadableFile("it looks like a binary file")
    suffix = path.suffix.lower()
    if suffix in MARKUP:
        return Extracted(text, blocks=MARKUP[suffix](text))
    return Extracted(text, blocks=plain_blocks(text, wrap_width(text)))


MARKUP: dict[str, Callable[[str], list[Block]]] = {
    ".md": markdown_blocks,
    ".rst": rst_blocks,
    ".org": org_blocks,
    ".adoc": adoc_blocks,
    ".asciidoc": adoc_blocks,
}


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
    if any(not page.strip() for page in pages):  # scanned pages: read by OCR
        pages, scanned = scans.ocr_pdf_pages(path, pages)
        numbers = list(range(1, len(pages) + 1))
        return replace(scans.joined(scanned, numbers, pages), title=str(title) if title else None)
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


def extract_html(path: Path, max_bytes: int | None = None) -> Extracted:
    """The main text of a web page, without scripts, styles and navigation: one block per
    block element; <title>, else the first <h1>, as title. A page saved by `qa add` names
    its address and fetch time (<meta name="qa-url">, "qa-fetched")."""
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise UnreadableFile("it looks like a binary file")
    soup = html_soup(raw)
    meta = {}
    for name in ("url", "fetched"):
        found = soup.find("meta", attrs={"name": f"qa-{name}"})
        if found is not None and found.get("content"):
            meta[name] = str(found["content"])[:2000]
    if not meta.get("url", "https://").startswith(("https://", "http://")):
        meta.pop("url")  # only a web address is shown as one
    title = soup.title.get_text(" ", strip=True) if soup.title else None
    if not usable_title(title) and (first := soup.find("h1")):
        title = first.get_text(" ", strip=True)
    for tag in soup(BOILERPLATE_TAGS):
        tag.decompose()
    body = soup.find("main") or soup.find("article") or soup.body or soup
    walker = BlockText()
    walker.walk(body)
    walker.flush("paragraph")
    walker.flush_term()
    blocks = answers_after_questions(walker.blocks)
    return Extracted(walker.text(), title or None, blocks=blocks, meta=meta)


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
    refuse_encrypted(path)
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
    out, title = BlockText(), document.core_properties.title or None
    fallback = default.name if default is not None else ""
    for item in document.iter_inner_content():
        if isinstance(item, docx.table.Table):
            names: list[str] | None = None  # the first row of two or more columns heads the rest
            for n, row in enumerate(item.rows):
                cells = [" ".join(cell.text.split()) for cell in row.cells]
                merged = [c for i, c in enumerate(cells) if i == 0 or c != cells[i - 1]]
                unique = [c for c in merged if c]
                if n == 0 and len(item.rows) > 1 and len(unique) > 1:
                    names = merged
                    out.add("table_header", " | ".join(unique))
                else:
                    named = names is not None and len(names) == len(merged)
                    out.add("row", row_text(names if named else None, merged))
            continue
        style = styles.get(item._p.style, fallback) or ""
        kind, level = docx_kind(style, item._p.pPr is not None and item._p.pPr.numPr is not None)
        if kind == "title":
            title = title or " ".join(item.text.split())
        out.add(kind, item.text, level)
        boxes = [
            "".join(t.text or "" for t in box.iter(f"{W}t"))
            for box in lxml_xpath(item._p, TEXT_BOXES)
        ]
        for box in dict.fromkeys(boxes):  # text boxes anchored in the paragraph, once
            out.add("paragraph", box)
        for picture in item._p.xpath(".//a:blip/@r:embed"):  # pictures: their text by OCR
            part = document.part.related_parts.get(picture)
            if part is not None and part.content_type.startswith("image/"):
                scans.write_picture(out, part.blob)
    return Extracted("".join(out.parts), title, blocks=answers_after_questions(out.blocks))


W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
# the paragraphs of text boxes, once: a box is drawn twice, as DrawingML and as a VML fallback
TEXT_BOXES = ".//w:txbxContent//w:p[not(ancestor::mc:Fallback)]"
WORD_NAMESPACES = {
    "w": W[1:-1],
    "mc": "http://schemas.openxmlformats.org/markup-compatibility/2006",
}


def lxml_xpath(element, path: str) -> list:
    from lxml import etree

    return etree.ElementBase.xpath(element, path, namespaces=WORD_NAMESPACES)


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
    ".rst": extract_text,
    ".org": extract_text,
    ".adoc": extract_text,
    ".asciidoc": extract_text,
    ".pdf": extract_pdf,
    ".html": extract_html,
    ".htm": extract_html,
    ".xhtml": extract_html,
    ".docx": extract_docx,
    ".pptx": office.extract_pptx,
    ".xlsx": office.extract_xlsx,
    ".xlsm": office.extract_xlsx,
    ".csv": office.extract_csv,
    ".tsv": office.extract_csv,
    ".odt": office.extract_odf,
    ".odp": office.extract_odf,
    ".ods": office.extract_odf,
    ".epub": office.extract_epub,
    ".eml": mail.extract_eml,
    ".msg": mail.extract_msg,
    ".png": scans.extract_image,
    ".jpg": scans.extract_image,
    ".jpeg": scans.extract_image,
    ".tif": scans.extract_image,
    ".tiff": scans.extract_image,
    ".doc": office.extract_legacy,
    ".ppt": office.extract_legacy,
    ".xls": office.extract_legacy,
}
SUPPORTED_SUFFIXES = tuple(EXTRACTORS)
PLAIN_SUFFIXES = (".txt", ".md", ".rst", ".org", ".adoc", ".asciidoc")  # stored as they are


def extract(path: Path, max_bytes: int | None = None, ocr: OcrOptions | None = None) -> Extracted:
    """The extracted text of a supported file; UnreadableFile or OSError explain a failure."""
    if ocr is not None:
        token = OCR.set(ocr)
        try:
            return extract(path, max_bytes)
        finally:
            OCR.reset(token)
    status = path.stat()
    if not stat.S_ISREG(status.st_mode):  # a pipe or a device would block or never end
        raise UnreadableFile("it is not a regular file (a pipe, socket or device)")
    size = status.st_size
    if size == 0:
        raise UnreadableFile("it is empty")
    if max_bytes is not None and size > max_bytes:
        raise UnreadableFile(
            f"it is too large ({size / 2**20:.0f} MB; the limit is {max_bytes / 2**20:.0f} MB,"
            " set by QA_MAX_FILE_MB)"
        )
    with warnings.catch_warnings():  # a parser's warnings (Pillow's "Corrupt EXIF") are not
        warnings.simplefilter("ignore")  # the user's business: the reason line says it all
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
