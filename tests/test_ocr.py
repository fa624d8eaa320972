"""OCR (issue 28): real Tesseract on pages of known text drawn at 300 dpi and on Apache
Tika's scans; word boxes land where the words were drawn, even on a turned page; broken,
huge and blank images and a spent time budget give one clear line. Tests that run OCR are
marked slow; those that only open files run in the unit tier."""

import re
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from qa.ingest import ocr
from qa.ingest.ocr import OcrError, OcrPage, open_image, read_image, render_pdf_page

from .conftest import ROOT

DOCUMENTS = ROOT.parent / "shared" / "data" / "documents"
TRUTH = ROOT / "eval" / "ocr"
FONT = Path("/usr/share/fonts/truetype/liberation/LiberationSerif-Regular.ttf")
PAGE, MARGIN, DPI = (2550, 3300), 300, 300
MARKED = "Smolensk"  # a word drawn once, whose box the tests know

slow = pytest.mark.slow


def cer(got: str, want: str) -> float:
    """Character error rate: Levenshtein distance over the reference's length, whitespace
    runs collapsed to one space."""
    a, b = (re.sub(r"\s+", " ", text).strip() for text in (got, want))
    offsets = np.arange(len(b) + 1)
    row = offsets.copy()
    target = np.array([ord(c) for c in b])
    for i, char in enumerate(a, 1):
        step = np.empty_like(row)
        step[0] = i
        step[1:] = np.minimum(row[1:] + 1, row[:-1] + (target != ord(char)))
        row = np.minimum.accumulate(step - offsets) + offsets
    return int(row[-1]) / len(b)


def draw_page(paragraphs: list[str]) -> tuple[Image.Image, str, tuple[float, ...]]:
    """A US Letter page at 300 dpi in Liberation Serif 12 pt: the image, the text drawn, and
    the box of MARKED as fractions of the page."""
    face = ImageFont.truetype(str(FONT), 50)
    image = Image.new("L", PAGE, 255)
    draw = ImageDraw.Draw(image)
    lines: list[str] = []
    for paragraph in paragraphs:
        line = ""
        for word in paragraph.split():
            if line and face.getlength(f"{line} {word}") > PAGE[0] - 2 * MARGIN:
                lines.append(line)
                line = word
            else:
                line = f"{line} {word}".strip()
        lines += [line, ""]
    marked: tuple[float, ...] = ()
    for n, line in enumerate(lines[:40]):
        y = MARGIN + n * 68
        draw.text((MARGIN, y), line, font=face, fill=0)
        if f" {MARKED} " in f" {line} ":
            x = MARGIN + face.getlength(line[: f" {line} ".index(f" {MARKED} ")])
            x0, y0, x1, y1 = draw.textbbox((x, y), MARKED, font=face)
            marked = (x0 / PAGE[0], y0 / PAGE[1], x1 / PAGE[0], y1 / PAGE[1])
    image.info["dpi"] = (DPI, DPI)
    return image, "\n".join(lines[:40]), marked


@pytest.fixture(scope="module")
def drawn() -> tuple[Image.Image, str, tuple[float, ...]]:
    article = (ROOT / "corpus" / "lukashenko-western-sanctions-belarus.md").read_text("utf-8")
    paragraphs = [line.lstrip("# ") for line in article.splitlines() if line.strip()]
    image, text, marked = draw_page(paragraphs)
    assert marked, f"{MARKED} was not drawn on the first page"
    return image, text, marked


@pytest.fixture(scope="module")
def drawn_read(drawn: tuple[Image.Image, str, tuple[float, ...]]) -> OcrPage:
    return read_image(drawn[0])


def box_of(page: OcrPage, word: str) -> tuple[float, float, float, float]:
    found = [w.box for w in page.words if page.text[w.start : w.end].strip(".,;:") == word]
    assert len(found) == 1, f"{word!r} read {len(found)} times"
    return found[0]


def assert_near(got: tuple[float, ...], want: tuple[float, ...], tolerance: float) -> None:
    assert max(abs(g - w) for g, w in zip(got, want, strict=True)) < tolerance, (got, want)


@slow
def test_a_drawn_page_is_read_with_under_one_percent_of_characters_wrong(
    drawn: tuple[Image.Image, str, tuple[float, ...]], drawn_read: OcrPage
) -> None:
    assert cer(drawn_read.text, drawn[1]) < 0.01
    assert drawn_read.angle == 0
    assert (drawn_read.width, drawn_read.height) == PAGE
    assert drawn_read.text.startswith("Lukashenko: Minsk and Moscow use Western sanctions")
    assert len(drawn_read.text.split("\n\n")) >= 5  # paragraphs stay apart
    for word in drawn_read.words[:50]:
        assert not drawn_read.text[word.start : word.end].isspace()


@slow
def test_a_word_box_lies_where_the_word_was_drawn(
    drawn: tuple[Image.Image, str, tuple[float, ...]], drawn_read: OcrPage
) -> None:
    assert_near(box_of(drawn_read, MARKED), drawn[2], tolerance=0.005)


@slow
def test_a_page_turned_a_quarter_is_read_upright_with_boxes_on_the_turned_image(
    drawn: tuple[Image.Image, str, tuple[float, ...]],
) -> None:
    image, text, (x0, y0, x1, y1) = drawn
    turned = image.rotate(90, expand=True)  # counter-clockwise: the top of the text faces left
    page = read_image(turned)
    assert page.angle == 270
    assert (page.width, page.height) == (PAGE[1], PAGE[0])
    assert cer(page.text, text) < 0.01
    # (x, y) on the page is (y, 1 - x) on the turned image, as fractions
    assert_near(box_of(page, MARKED), (y0, 1 - x1, y1, 1 - x0), tolerance=0.005)


@slow
def test_a_scan_turned_ten_degrees_is_read_and_mapped_back() -> None:
    page = read_image(open_image(DOCUMENTS / "testRotated+10.png")[0])
    assert cer(page.text, (TRUTH / "testRotated+10.txt").read_text("utf-8")) < 0.03
    assert page.angle == 0
    # "Its", the first word, sits at about x 246-269, y 92-105 of the 988x1184 scan
    assert_near(box_of(page, "Its"), (246 / 988, 92 / 1184, 269 / 988, 105 / 1184), 0.01)


@slow
@pytest.mark.parametrize("name", ["testOCR.png", "testOCR_spacing.png"])
def test_tika_scans_are_read_exactly(name: str) -> None:
    page = read_image(open_image(DOCUMENTS / name)[0])
    assert page.text == (TRUTH / f"{Path(name).stem}.txt").read_text("utf-8").strip()


@slow
def test_a_multipage_tiff_gives_one_page_per_frame() -> None:
    pages = [read_image(frame) for frame in open_image(DOCUMENTS / "testTIFF_multipage.tif")]
    assert [page.text for page in pages] == [
        (TRUTH / f"testTIFF_multipage.{n}.txt").read_text("utf-8").strip() for n in (1, 2)
    ]


@slow
def test_a_pdf_without_text_is_rendered_and_read() -> None:
    image = render_pdf_page(DOCUMENTS / "testOCR.pdf", 0)
    assert abs(image.width - 3300) <= 1 and image.height == 2550  # landscape Letter, 300 dpi
    assert read_image(image).text == "Happy New Year 2003!"


@slow
@pytest.mark.parametrize("seconds", [0.5, 2.0])  # spent before Tesseract runs, or within it
def test_a_spent_budget_stops_the_page_with_one_line(
    drawn: tuple[Image.Image, str, tuple[float, ...]], seconds: float
) -> None:
    started = time.monotonic()
    with pytest.raises(OcrError, match=rf"took over {seconds:g} s \(QA_OCR_PAGE_SECONDS\)$"):
        read_image(drawn[0], seconds=seconds)
    assert time.monotonic() - started < seconds + 1.5  # a whole page takes about 4 s here


@slow
def test_a_missing_language_names_its_debian_package(
    drawn: tuple[Image.Image, str, tuple[float, ...]],
) -> None:
    with pytest.raises(OcrError, match="install Debian's tesseract-ocr-chi-sim$"):
        read_image(drawn[0], languages="eng+chi_sim")


def test_without_tesseract_the_error_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ocr, "TESSERACT", "no-such-tesseract")
    page = Image.new("L", (400, 200), 255)
    ImageDraw.Draw(page).text((20, 80), "Some words", fill=0)
    with pytest.raises(OcrError, match="install Debian's tesseract-ocr$"):
        read_image(page)


def test_a_blank_page_reads_as_empty() -> None:
    page = read_image(Image.new("RGB", (2550, 3300), "white"))
    assert (page.text, page.words, page.width, page.height) == ("", [], 2550, 3300)


def png_claiming(width: int, height: int) -> bytes:
    """A PNG header for a width x height picture, followed by no real pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 100)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("size", [(50_000, 50_000), (12_000, 10_000)])
def test_a_decompression_bomb_is_refused_before_decoding(
    tmp_path: Path, size: tuple[int, int]
) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_claiming(*size))
    started = time.monotonic()
    with pytest.raises(OcrError, match=r"^bomb\.png .*100,000,000.*decompression bomb"):
        open_image(bomb)
    assert time.monotonic() - started < 1  # decoding 120 million pixels would take longer


def test_damaged_and_foreign_files_give_one_line(tmp_path: Path) -> None:
    whole = tmp_path / "scan.png"
    Image.effect_noise((600, 600), 60).save(whole)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(OcrError, match=r"^cut\.png is truncated or damaged"):
        open_image(cut)
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    with pytest.raises(OcrError, match=r"^notes\.png is not an image"):
        open_image(text)


def test_every_frame_of_a_tiff_is_opened() -> None:
    frames = open_image(DOCUMENTS / "testTIFF_multipage.tif")
    assert [frame.size for frame in frames] == [(800, 600), (800, 600)]
    assert frames[0].tobytes() != frames[1].tobytes()
