"""A cited page of a PDF or a scanned image, drawn as it looks in the original with the
quote's boxes highlighted: OCR word boxes kept at ingest for scans, the text layer's
character boxes (pypdfium2, Apache-2.0/BSD-3) for PDFs with text."""

import bisect
import io
from pathlib import Path

from qa.ingest.formats import Extracted
from qa.ingest.ocr import OcrError, open_image, render_pdf_page

Box = tuple[float, float, float, float]  # x0, y0, x1, y1 as fractions of the page
PAGED = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff")
VIEW_DPI = 110  # sharp enough to read on a screen, light enough to send
MAX_WIDTH = 1400
HIGHLIGHT = (255, 213, 0, 110)
OUTLINE = (214, 140, 0, 255)


def page_of(extracted: Extracted, offset: int) -> int:
    """The page (from 1) holding a character of the text."""
    return max(1, bisect.bisect_right(extracted.page_starts, offset))


def shows_pages(path: Path, extracted: Extracted) -> bool:
    return path.suffix.lower() in PAGED and bool(extracted.page_starts or extracted.scans)


def page_picture(path: Path, extracted: Extracted, page: int, start: int, end: int) -> bytes:
    """Page `page` of the file as a PNG, the characters start..end of its text highlighted.

    Raises OcrError (one line) when the page cannot be drawn."""
    from PIL import Image, ImageDraw

    boxes: list[Box] = []
    scan = next((s for s in extracted.scans if s["page"] == page), None)
    if path.suffix.lower() == ".pdf":
        image = render_pdf_page(path, page - 1, VIEW_DPI)
        if scan is None:
            boxes = _text_layer_boxes(path, page - 1, _quoted(extracted, page, start, end))
    else:
        frames = open_image(path)
        if not 1 <= page <= len(frames):
            raise OcrError(f"{path.name} has no page {page}")
        image = frames[page - 1]
    if scan is not None:
        boxes = [
            (x0, y0, x1, y1) for s, e, x0, y0, x1, y1 in scan["words"] if s < end and e > start
        ]
    boxes = merged_lines(boxes)
    image = image.convert("RGB")
    if image.width > MAX_WIDTH:
        image = image.resize((MAX_WIDTH, round(image.height * MAX_WIDTH / image.width)))
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for x0, y0, x1, y1 in boxes:
        pad = 0.003
        box = (
            (x0 - pad) * image.width,
            (y0 - pad) * image.height,
            (x1 + pad) * image.width,
            (y1 + pad) * image.height,
        )
        draw.rectangle(box, fill=HIGHLIGHT, outline=OUTLINE, width=2)
    picture = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    out = io.BytesIO()
    picture.save(out, "PNG", optimize=True)
    return out.getvalue()


def merged_lines(boxes: list[Box]) -> list[Box]:
    """Boxes of words or characters in reading order, joined into one box per line."""
    lines: list[Box] = []
    for x0, y0, x1, y1 in boxes:
        if lines:
            a0, b0, a1, b1 = lines[-1]
            middle = (y0 + y1) / 2
            if b0 <= middle <= b1 and x0 >= a0 - 0.01:
                lines[-1] = (min(a0, x0), min(b0, y0), max(a1, x1), max(b1, y1))
                continue
        lines.append((x0, y0, x1, y1))
    return lines


def _quoted(extracted: Extracted, page: int, start: int, end: int) -> str:
    """The part of the quote on this page."""
    first = extracted.page_starts[page - 1] if extracted.page_starts else 0
    last = extracted.page_starts[page] if page < len(extracted.page_starts) else len(extracted.text)
    return extracted.text[max(start, first) : min(end, last)]


def _text_layer_boxes(
    path: Path, index: int, quote: str
) -> list[tuple[float, float, float, float]]:
    """Boxes of the quote's words on a PDF page with a text layer, as fractions of the page,
    found line by line (the text layer breaks lines where pypdf did, or elsewhere)."""
    import pypdfium2

    boxes: list[Box] = []
    pdf = pypdfium2.PdfDocument(path)
    try:
        page = pdf[index]
        width, height = page.get_size()
        text = page.get_textpage()
        for line in (" ".join(part.split()) for part in quote.splitlines()):
            if len(line) < 2:
                continue
            search = text.search(line, match_case=True)
            found = search.get_next()
            if found is None:
                continue
            at, count = found
            for n in range(text.count_rects(at, count)):
                left, bottom, right, top = text.get_rect(n)
                boxes.append((left / width, 1 - top / height, right / width, 1 - bottom / height))
    finally:
        pdf.close()
    return boxes
