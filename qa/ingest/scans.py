"""Text from pictures: image files (.png, .jpg, .tif with every frame) and PDF pages without
a text layer, read by OCR page by page (`qa.ingest.ocr`), keeping each word's box so that
the document view can show a quote where it stands on the page."""

import io
from collections.abc import Sequence
from pathlib import Path

from qa.ingest.extracted import OCR, Extracted, UnreadableFile, report_page
from qa.ingest.ocr import OcrError, OcrPage, open_image, read_image, render_pdf_page
from qa.ingest.structure import pdf_blocks, plain_blocks
from qa.ingest.writer import BlockText
from qa.text.sentences import wrap_width

MAX_PIXELS = 100_000_000  # a 10,000 x 10,000 picture; larger ones are refused unread


def scan_record(page: OcrPage, number: int, start: int) -> dict:
    """A page read by OCR as stored with the text: its size and its words' boxes, the
    words' offsets counted in the whole document's text."""
    return {
        "page": number,
        "width": page.width,
        "height": page.height,
        "words": [
            [start + w.start, start + w.end, *(round(v, 5) for v in w.box)] for w in page.words
        ],
    }


def read_pages(images: list, what: str) -> list[OcrPage]:
    """OCR of each image, in order, within the page budget; progress reported per page."""
    options = OCR.get()
    pages = []
    for n, image in enumerate(images, start=1):
        try:
            pages.append(read_image(image, options.languages, options.page_seconds))
        except OcrError as exc:
            raise UnreadableFile(f"{what} {n}: {exc}") from None
        report_page(n, len(images))
    return pages


def extract_image(path: Path, max_bytes: int | None = None) -> Extracted:
    """An image file read by OCR, every frame of a multi-page TIFF as a page."""
    try:
        images = open_image(path, MAX_PIXELS)
    except OcrError as exc:
        raise UnreadableFile(str(exc)) from None
    pages = read_pages(images, "page")
    return joined(pages, list(range(1, len(pages) + 1)), [p.text for p in pages])


def joined(pages: Sequence[OcrPage | None], numbers: list[int], texts: list[str]) -> Extracted:
    """Pages' texts joined by a blank line, with page starts, blocks and the OCR'd pages'
    word boxes."""
    starts, scans, offset = [], [], 0
    for page, number, text in zip(pages, numbers, texts, strict=True):
        starts.append(offset)
        if page is not None:
            scans.append(scan_record(page, number, offset))
        offset += len(text) + 2
    text = "\n\n".join(texts)
    blocks = (
        pdf_blocks(text, starts, wrap_width(text)) if len(starts) > 1
        else plain_blocks(text, wrap_width(text))
    )  # fmt: skip
    return Extracted(text, page_starts=starts, blocks=blocks, scans=scans)


def ocr_pdf_pages(path: Path, texts: list[str]) -> tuple[list[str], list[OcrPage | None]]:
    """The pages of a PDF with no text layer, read by OCR; the others as given."""
    blank = [i for i, text in enumerate(texts) if not text.strip()]
    pages: list[OcrPage | None] = [None] * len(texts)
    options = OCR.get()
    for done, index in enumerate(blank, start=1):
        try:
            image = render_pdf_page(path, index)
            pages[index] = read_image(image, options.languages, options.page_seconds)
        except OcrError as exc:
            raise UnreadableFile(f"page {index + 1}: {exc}") from None
        report_page(done, len(blank))
    return [p.text if p is not None else t for p, t in zip(pages, texts, strict=True)], pages


def image_text(blob: bytes) -> str:
    """The text of a picture inside a document (a .docx or .pptx), read by OCR."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(io.BytesIO(blob))
        if image.width * image.height > MAX_PIXELS:
            raise OcrError("the picture is too large to read")
        image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise OcrError("the picture cannot be read") from None
    options = OCR.get()
    return read_image(image, options.languages, options.page_seconds).text


def write_picture(out: BlockText, blob: bytes) -> None:
    """The text of a picture inside a document, read by OCR (nothing when it holds none)."""
    try:
        text = image_text(blob)
    except OcrError:
        return  # a picture that cannot be read is a picture; the document's text stands
    for paragraph in text.split("\n\n"):
        out.add("paragraph", paragraph)
