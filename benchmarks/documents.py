"""Copies of one known text in the formats qa reads: a scanned-only PDF (pages rendered at
300 dpi, no text layer), slides, an e-mail, an e-book, an OpenDocument text and a
spreadsheet with a sentence per row. The flagship tests ask them the same question, and
`qa bench` times their reading; written with the same libraries qa reads them with, or by
hand where the format is a zip of XML."""

import email.message
import html
import re
import zipfile
from pathlib import Path

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"  # Debian's fonts-dejavu-core
DPI = 300


def paragraphs(text: str) -> tuple[str, list[str]]:
    """A Markdown article's title (its first "# " line) and its paragraphs."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    title = lines[0].lstrip("# ").strip() if lines and lines[0].startswith("#") else "Article"
    return title, [line for line in lines if not line.startswith("#")]


def sentences(paragraph: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z“\"])", paragraph) if s.strip()]


def write_scanned_pdf(title: str, body: list[str], path: Path) -> Path:
    """Pages of text drawn at 300 dpi and saved as pictures only: no text layer."""
    from PIL import Image, ImageDraw, ImageFont

    width, height, margin = int(8.27 * DPI), int(11.69 * DPI), int(0.9 * DPI)
    font = ImageFont.truetype(FONT, size=int(11 / 72 * DPI))
    heading = ImageFont.truetype(FONT, size=int(16 / 72 * DPI))
    line_height = int(font.size * 1.35)
    pages: list[Image.Image] = []
    page = draw = None
    y = height

    def new_page() -> None:
        nonlocal page, draw, y
        page = Image.new("L", (width, height), 255)
        draw = ImageDraw.Draw(page)
        pages.append(page)
        y = margin

    def write(text: str, face) -> None:
        nonlocal y
        words, line = text.split(), ""
        for word in [*words, None]:
            trial = f"{line} {word}".strip() if word else line
            if word is not None and draw_width(trial, face) <= width - 2 * margin:
                line = trial
                continue
            if y + line_height > height - margin:
                new_page()
            assert draw is not None
            draw.text((margin, y), line, font=face, fill=0)
            y += int(face.size * 1.35)
            line = word or ""
        y += line_height // 2

    def draw_width(text: str, face) -> float:
        return face.getlength(text)

    new_page()
    write(title, heading)
    for paragraph in body:
        write(paragraph, font)
    pages[0].save(path, save_all=True, append_images=pages[1:], resolution=DPI)
    return path


def write_pptx(title: str, body: list[str], path: Path) -> Path:
    """A title slide, then a slide per paragraph, titled "Part N"."""
    import pptx

    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[0])
    slide.shapes.title.text = title
    for n, paragraph in enumerate(body, start=1):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"Part {n}"
        frame = slide.placeholders[1].text_frame
        frame.text = paragraph
    deck.core_properties.title = title
    deck.save(str(path))
    return path


def write_eml(title: str, body: list[str], path: Path) -> Path:
    message = email.message.EmailMessage()
    message["Subject"] = title
    message["From"] = "Newsroom <news@example.org>"
    message["To"] = "Reader <reader@example.org>"
    message["Date"] = "Thu, 01 Jul 2021 10:00:00 +0000"
    message.set_content("\n\n".join(body))
    path.write_bytes(bytes(message))
    return path


def _zip(path: Path, mimetype: str, members: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as package:
        package.writestr(zipfile.ZipInfo("mimetype"), mimetype)  # stored, first
        for name, content in members.items():
            package.writestr(name, content)
    return path


def write_epub(title: str, body: list[str], path: Path) -> Path:
    """Two chapters, the paragraphs split between them."""
    half = len(body) // 2
    chapters = [body[:half], body[half:]]
    members = {
        "META-INF/container.xml": (
            '<?xml version="1.0"?><container version="1.0" '
            'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles>'
            '<rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/>'
            "</rootfiles></container>"
        ),
        "OEBPS/content.opf": (
            '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0">'
            '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"<dc:title>{html.escape(title)}</dc:title></metadata><manifest>"
            + "".join(
                f'<item id="c{n}" href="c{n}.xhtml" media-type="application/xhtml+xml"/>'
                for n in range(1, 3)
            )
            + "</manifest><spine>"
            + "".join(f'<itemref idref="c{n}"/>' for n in range(1, 3))
            + "</spine></package>"
        ),
    }
    for n, chapter in enumerate(chapters, start=1):
        members[f"OEBPS/c{n}.xhtml"] = (
            '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body>'
            f"<h1>Chapter {n}</h1>"
            + "".join(f"<p>{html.escape(p)}</p>" for p in chapter)
            + "</body></html>"
        )
    return _zip(path, "application/epub+zip", members)


def write_odt(title: str, body: list[str], path: Path) -> Path:
    office = "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
    text = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
    content = (
        f'<?xml version="1.0"?><office:document-content xmlns:office="{office}" '
        f'xmlns:text="{text}" office:version="1.3"><office:body><office:text>'
        f'<text:h text:outline-level="1">{html.escape(title)}</text:h>'
        + "".join(f"<text:p>{html.escape(p)}</text:p>" for p in body)
        + "</office:text></office:body></office:document-content>"
    )
    meta = (
        f'<?xml version="1.0"?><office:document-meta xmlns:office="{office}" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><office:meta>'
        f"<dc:title>{html.escape(title)}</dc:title></office:meta></office:document-meta>"
    )
    manifest = (
        '<?xml version="1.0"?><manifest:manifest '
        'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>"
    )
    return _zip(
        path,
        "application/vnd.oasis.opendocument.text",
        {"content.xml": content, "meta.xml": meta, "META-INF/manifest.xml": manifest},
    )


def write_xlsx(title: str, body: list[str], path: Path) -> Path:
    """One sheet, "Sentences": a header row, then a row per sentence with its paragraph."""
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Sentences"
    sheet.append(["Paragraph", "Sentence", "Text"])
    for n, paragraph in enumerate(body, start=1):
        for m, sentence in enumerate(sentences(paragraph), start=1):
            sheet.append([n, m, sentence])
    book.properties.title = title
    book.save(path)
    return path


WRITERS = {
    "scanned.pdf": write_scanned_pdf,
    "slides.pptx": write_pptx,
    "message.eml": write_eml,
    "book.epub": write_epub,
    "article.odt": write_odt,
    "sheet.xlsx": write_xlsx,
}


def write_copies(text: str, folder: Path, names: list[str] | None = None) -> list[Path]:
    """The article `text` (Markdown) written into `folder` in each format (or those named)."""
    title, body = paragraphs(text)
    folder.mkdir(parents=True, exist_ok=True)
    return [WRITERS[name](title, body, folder / name) for name in names or list(WRITERS)]
