"""Readers for slides, spreadsheets, OpenDocument files and e-books, into the block model.

Libraries: python-pptx (MIT) for .pptx, openpyxl (MIT) for .xlsx/.xlsm, the standard
library's csv for .csv/.tsv; OpenDocument (.odt, .odp, .ods) and EPUB are zip files of XML
read with lxml (BSD) and BeautifulSoup (MIT): their content is a handful of elements, and
the maintained readers of them (odfpy, EbookLib) are GPL or AGPL. Every zip-based file has
its unpacked size checked before it is parsed.
"""

import csv
import datetime
import io
import posixpath
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from qa.ingest.extracted import DEFAULT_MAX_BYTES, Extracted, UnreadableFile, refuse_encrypted
from qa.ingest.scans import write_picture
from qa.ingest.structure import answers_after_questions
from qa.ingest.writer import BlockText, html_soup, row_text


def open_zip(path: Path, max_bytes: int | None, damaged: str) -> zipfile.ZipFile:
    """The zip file, once its unpacked size is known to be under the limit (a small file can
    hold gigabytes of XML)."""
    limit = max_bytes or DEFAULT_MAX_BYTES
    refuse_encrypted(path)
    try:
        package = zipfile.ZipFile(path)
        unpacked = sum(member.file_size for member in package.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise UnreadableFile(damaged) from None
    if unpacked > limit:
        package.close()
        raise UnreadableFile(
            f"it unpacks to {unpacked / 2**20:.0f} MB, over the {limit / 2**20:.0f} MB limit"
            " (QA_MAX_FILE_MB)"
        )
    return package


def cell_text(value: object) -> str:
    """A cell's value as a person reads it: 15 for 15.0, dates without midnight."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime.datetime):
        return value.date().isoformat() if value.time() == datetime.time() else value.isoformat(" ")
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    return " ".join(str(value).split())


def is_header(cells: Sequence[object]) -> bool:
    """A first row that names columns: two or more cells, all text (not numbers or dates)."""
    filled = [c for c in cells if c not in (None, "")]
    return len(filled) >= 2 and all(isinstance(c, str) and not _number(c) for c in filled)


def _number(text: str) -> bool:
    try:
        float(text.replace(",", ""))
    except ValueError:
        return False
    return True


def write_table(
    out: BlockText, rows: Sequence[tuple[int, Sequence[object]]], label: str = ""
) -> None:
    """Table rows as blocks: single-cell rows above the table as captions, the first row
    that names two or more columns as `table_header`, and each row below it as a `row` that
    names its columns ("Country: Belarus; Entities: 15"), located as "`label`row N"."""
    rows = [(n, cells) for n, cells in rows if any(cell_text(c) for c in cells)]
    header: list[str] | None = None
    for i, (n, cells) in enumerate(rows):
        values = [cell_text(c) for c in cells]
        out.mark(f"{label}row {n}")
        if header is None and i + 1 < len(rows) and is_header(cells):
            header = values
            out.add("table_header", " | ".join(v for v in values if v))
        elif header is None and sum(1 for v in values if v) == 1 and i + 1 < len(rows):
            out.add("caption", next(v for v in values if v))
        else:
            out.add("row", row_text(header, values))


def extract_csv(path: Path, max_bytes: int | None = None) -> Extracted:
    """Every row of a .csv or .tsv file (UTF-8, else Windows-1252 as Excel exports it; the
    delimiter sniffed for .csv)."""
    data = path.read_bytes()
    try:
        raw = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raw = data.decode("cp1252", errors="replace")
    if "\x00" in raw:
        raise UnreadableFile("it looks like a binary file")
    delimiter = "\t"
    if path.suffix.lower() == ".csv":
        try:
            delimiter = csv.Sniffer().sniff(raw[:8192], delimiters=",;\t|").delimiter
        except csv.Error:
            delimiter = ","
    csv.field_size_limit(max(len(raw), 2**17))  # one long cell is a long cell, not an error
    try:
        rows = list(enumerate(csv.reader(io.StringIO(raw), delimiter=delimiter), start=1))
    except csv.Error as exc:
        raise UnreadableFile(f"it is not a readable table ({exc})") from None
    out = BlockText()
    write_table(out, rows)
    return Extracted(out.text(), blocks=out.blocks, locations=out.locations)


def extract_xlsx(path: Path, max_bytes: int | None = None) -> Extracted:
    """Every sheet of an Excel workbook (.xlsx, .xlsm), with the values its formulas last
    computed; each sheet under its name, each row citable as "Sheet1, row 14"."""
    import openpyxl

    damaged = "it is not a readable Excel workbook (damaged or not an .xlsx)"
    open_zip(path, max_bytes, damaged).close()
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except UnreadableFile:
        raise
    except Exception:  # openpyxl raises many kinds on a damaged package
        raise UnreadableFile(damaged) from None
    out = BlockText()
    try:
        for sheet in book.worksheets:
            out.mark(f"{sheet.title}, row 1")
            out.add("heading", sheet.title, 2)
            rows = [(n, row) for n, row in enumerate(sheet.iter_rows(values_only=True), start=1)]
            write_table(out, rows, f"{sheet.title}, ")
        title = book.properties.title
    finally:
        book.close()
    return Extracted(out.text(), title, blocks=out.blocks, locations=out.locations)


def extract_pptx(path: Path, max_bytes: int | None = None) -> Extracted:
    """Each slide's title, text, tables and speaker notes, cited as "slide N"; pictures that
    carry text are read by OCR."""
    import pptx
    from pptx.exc import PackageNotFoundError

    damaged = "it is not a readable PowerPoint file (damaged or not a .pptx)"
    open_zip(path, max_bytes, damaged).close()
    try:
        deck = pptx.Presentation(str(path))
    except (PackageNotFoundError, KeyError, ValueError, zipfile.BadZipFile):
        raise UnreadableFile(damaged) from None
    out, title = BlockText(), deck.core_properties.title or None
    for number, slide in enumerate(deck.slides, start=1):
        out.mark(f"slide {number}")
        heading = slide.shapes.title
        heading_text = " ".join(heading.text_frame.text.split()) if heading is not None else ""
        out.add("heading", heading_text or f"Slide {number}", 2)
        title = title or heading_text or None
        for shape in _shapes(slide.shapes):
            if heading is not None and shape.shape_id == heading.shape_id:
                continue
            _write_shape(out, shape)
        if slide.has_notes_slide and (notes := slide.notes_slide.notes_text_frame) is not None:
            paragraphs = [p.text for p in notes.paragraphs if p.text.strip()]
            if paragraphs:
                out.add("heading", "Speaker notes", 3)
                for text in paragraphs:
                    out.add("paragraph", text)
        if out.label is not None:  # an empty slide: nothing was written to mark
            out.label = None
    return Extracted(out.text(), title, blocks=out.blocks, locations=out.locations)


def _shapes(shapes) -> Iterator:
    """Shapes in reading order (top to bottom, then left to right), groups opened."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    def place(shape) -> tuple[int, int]:
        return (shape.top or 0, shape.left or 0)

    for shape in sorted(shapes, key=place):
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _shapes(shape.shapes)
        else:
            yield shape


def _write_shape(out: BlockText, shape) -> None:
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    if shape.has_text_frame:
        placeholder = shape.is_placeholder
        for paragraph in shape.text_frame.paragraphs:
            kind = "item" if placeholder or paragraph.level > 0 else "paragraph"
            out.add(kind, paragraph.text)
    elif getattr(shape, "has_table", False) and shape.has_table:
        rows = [(n, [c.text for c in row.cells]) for n, row in enumerate(shape.table.rows, 1)]
        write_table(out, rows)
    elif shape.shape_type == MSO_SHAPE_TYPE.PICTURE:
        write_picture(out, shape.image.blob)


ODF = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
    "presentation": "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
    "manifest": "urn:oasis:names:tc:opendocument:xmlns:manifest:1.0",
}
MOST_REPEATS = 10_000  # a repeated empty row or column stands for the rest of the sheet


def _odf(tag: str) -> str:
    prefix, name = tag.split(":")
    return f"{{{ODF[prefix]}}}{name}"


def extract_odf(path: Path, max_bytes: int | None = None) -> Extracted:
    """An OpenDocument text (.odt), presentation (.odp) or spreadsheet (.ods): headings,
    paragraphs, lists and tables in order; slides cited as "slide N", rows as "Sheet1, row 14"."""
    from lxml import etree

    damaged = "it is not a readable OpenDocument file (damaged or not a zip package)"
    with open_zip(path, max_bytes, damaged) as package:
        names = set(package.namelist())
        if "META-INF/manifest.xml" in names:
            manifest = package.read("META-INF/manifest.xml")
            if b"encryption-data" in manifest:
                raise UnreadableFile("it is password-protected (an encrypted OpenDocument file)")
        if "content.xml" not in names:
            raise UnreadableFile(damaged)
        try:
            parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
            content = etree.fromstring(package.read("content.xml"), parser)
            meta = (
                etree.fromstring(package.read("meta.xml"), parser) if "meta.xml" in names else None
            )
        except etree.XMLSyntaxError:
            raise UnreadableFile(damaged) from None
    title = None
    if meta is not None and (found := meta.find(f".//{_odf('dc:title')}")) is not None:
        title = found.text
    out = OdfText()
    body = content.find(_odf("office:body"))
    if body is not None:
        out.walk(body)
    blocks = answers_after_questions(out.blocks)
    return Extracted(out.text(), title, blocks=blocks, locations=out.locations)


class OdfText(BlockText):
    """OpenDocument content read into blocks."""

    slides = 0

    def walk(self, node, kind: str = "paragraph") -> None:  # type: ignore[override]
        for child in node:
            tag = child.tag if isinstance(child.tag, str) else ""
            if tag == _odf("text:h"):
                level = int(child.get(_odf("text:outline-level")) or 1)
                self.add("heading", _odf_text(child), min(level, 6))
            elif tag == _odf("text:p"):
                self.add(kind, _odf_text(child))
            elif tag == _odf("text:list-item"):
                self.walk(child, "item")
            elif tag == _odf("table:table"):
                self.table(child)
            elif tag == _odf("draw:page"):
                self.slides += 1
                self.mark(f"slide {self.slides}")
                name = child.get(_odf("draw:name")) or ""
                self.walk(child, kind)
                if self.label is not None and name:  # an empty slide
                    self.label = None
            elif tag == _odf("presentation:notes"):
                if "".join(child.itertext()).strip():
                    self.add("heading", "Speaker notes", 3)
                    self.walk(child, kind)
            elif tag in (_odf("office:annotation"), _odf("text:tracked-changes")):
                continue
            else:
                self.walk(child, kind)

    def table(self, node) -> None:
        name = node.get(_odf("table:name")) or ""
        sheet = self.slides == 0 and node.getparent().tag == _odf("office:spreadsheet")
        if sheet:
            self.mark(f"{name}, row 1")
            self.add("heading", name, 2)
        rows: list[tuple[int, list[str]]] = []
        number = 0
        for row in node.iter(_odf("table:table-row")):
            cells: list[str] = []
            for cell in row:
                if cell.tag not in (_odf("table:table-cell"), _odf("table:covered-table-cell")):
                    continue
                text = " ".join(" ".join(_odf_text(p) for p in cell.iter(_odf("text:p"))).split())
                repeat = int(cell.get(_odf("table:number-columns-repeated")) or 1)
                cells.extend([text] * min(repeat, MOST_REPEATS if text else 1))
            while cells and not cells[-1]:
                cells.pop()
            repeat = int(row.get(_odf("table:number-rows-repeated")) or 1)
            for _ in range(min(repeat, MOST_REPEATS) if cells else 1):
                number += 1
                if cells:
                    rows.append((number, cells))
            if not cells:
                number += repeat - 1
        write_table(self, rows, f"{name}, " if sheet else "")


def _odf_text(node) -> str:
    """The text of an ODF paragraph: spaces (text:s), tabs and line breaks kept, notes and
    annotations left out."""
    parts = [node.text or ""]
    for child in node:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag == _odf("text:s"):
            parts.append(" " * int(child.get(_odf("text:c")) or 1))
        elif tag == _odf("text:tab"):
            parts.append("\t")
        elif tag == _odf("text:line-break"):
            parts.append("\n")
        elif tag not in (_odf("office:annotation"), _odf("text:note")):
            parts.append(_odf_text(child))
        parts.append(child.tail or "")
    return "".join(parts)


def extract_epub(path: Path, max_bytes: int | None = None) -> Extracted:
    """An e-book's chapters in reading order (its spine), each cited as "chapter N"."""
    from lxml import etree

    damaged = "it is not a readable EPUB (damaged or not an e-book)"
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    with open_zip(path, max_bytes, damaged) as package:
        names = set(package.namelist())
        if "META-INF/encryption.xml" in names:
            raise UnreadableFile("it is an encrypted (DRM-protected) e-book")
        try:
            container = etree.fromstring(package.read("META-INF/container.xml"), parser)
            opf_path = container.find(".//{*}rootfile").get("full-path")
            opf = etree.fromstring(package.read(opf_path), parser)
        except (KeyError, AttributeError, etree.XMLSyntaxError):
            raise UnreadableFile(damaged) from None
        found = opf.find(".//{http://purl.org/dc/elements/1.1/}title")
        title = found.text if found is not None else None
        manifest = {
            item.get("id"): item.get("href") for item in opf.iterfind(".//{*}manifest/{*}item")
        }
        base = posixpath.dirname(opf_path)
        out = BlockText()
        chapter = 0
        for ref in opf.iterfind(".//{*}spine/{*}itemref"):
            href = manifest.get(ref.get("idref"))
            member = posixpath.normpath(posixpath.join(base, href)) if href else None
            if member not in names:
                continue
            soup = html_soup(package.read(member))
            out.mark(f"chapter {chapter + 1}")
            before = len(out.blocks)
            out.walk(soup.body or soup)
            out.flush("paragraph")
            out.flush_term()
            chapter += len(out.blocks) > before  # a cover image is not a chapter
            out.label = None
    blocks = answers_after_questions(out.blocks)
    return Extracted(out.text(), title, blocks=blocks, locations=out.locations)


LEGACY = {
    ".doc": ".docx (Word: File > Save As > Word Document)",
    ".ppt": ".pptx (PowerPoint: File > Save As > PowerPoint Presentation)",
    ".xls": ".xlsx (Excel: File > Save As > Excel Workbook)",
}


def extract_legacy(path: Path, max_bytes: int | None = None) -> Extracted:
    """Old binary Office files are not read: the reason names the format to save them as."""
    raise UnreadableFile(
        f"it is a legacy binary Office file; save it as {LEGACY[path.suffix.lower()]}"
    )
