"""OCR of scanned pages: an image (or a rendered PDF page) in, its text and word boxes out.

A page is read upright whatever way it was scanned: a small skew (up to 15 degrees) is
measured from the rows of ink and undone, then Tesseract's orientation detection (OSD) turns
it by a multiple of 90 degrees; word boxes are mapped back to the image as it was given.

Libraries: Tesseract 5 (Apache-2.0; Debian's `tesseract-ocr`), run as a command (not through
pytesseract, which cannot set the child's environment: see `_tesseract`), reads the text as
TSV and finds the orientation; Pillow (MIT-CMU) opens images and
turns them; NumPy (BSD-3-Clause) measures the skew; pypdfium2 (Apache-2.0 / BSD-3-Clause,
PDFium) renders PDF pages; rapidocr-onnxruntime (Apache-2.0, ships the PP-OCRv4 ONNX
models) is the other engine, kept for comparison (`scripts/ocr-compare`).
"""

import functools
import io
import math
import os
import re
import shutil
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

if TYPE_CHECKING:
    from PIL import Image

Engine = Literal["tesseract", "rapidocr"]

TESSERACT = "tesseract"  # the command, found on PATH
MAX_FRAMES = 1000  # frames read from one image file
MAX_PDF_PIXELS = 100_000_000  # a rendered PDF page, at the dpi asked for
MAX_SKEW = 15.0  # degrees either way that deskewing looks for
SKEW_SIDE = 1000  # skew is measured on a copy this many pixels on its longer side
MIN_SKEW = 0.2  # smaller skews are left alone (turning blurs)
OSD_SIDE = 2000  # orientation is detected on a copy this many pixels on its longer side
OSD_MIN_CONFIDENCE = 2.0  # below this, Tesseract's orientation guess is ignored


class OcrError(ValueError):
    """A page or image that cannot be read by OCR; the message says why, in one line."""


@dataclass(frozen=True)
class OcrWord:
    """A word: its offsets in `OcrPage.text` and its box as fractions (0..1) of the width and
    height of the image as given (before rotation or skew were undone): x0, y0, x1, y1. On
    a skewed page the box is the upright rectangle around the word's turned box."""

    start: int
    end: int
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class OcrPage:
    """A page's text (lines joined by "\\n", blocks and paragraphs separated by a blank
    line), its words, the size of the image read, and the quarter turn undone: the image
    was turned `angle` degrees clockwise from upright, so the top of its text faced right
    at 90, down at 180 and left at 270. (A skew under 15 degrees is undone but not kept.)"""

    text: str
    words: list[OcrWord]
    width: int
    height: int
    angle: int = 0


def read_image(
    image: "Image.Image",
    languages: str = "eng",
    seconds: float = 60,
    engine: Engine = "tesseract",
) -> OcrPage:
    """OCR one page image within `seconds`, upright whatever way it was scanned.

    `languages` are Tesseract's ("eng", "eng+deu"). The "rapidocr" engine reads with
    RapidOCR instead (orientation still comes from Tesseract; it ignores `languages`, and its
    reading cannot be cut short, so the budget is checked only after it).

    >>> from PIL import Image
    >>> read_image(Image.new("L", (200, 100), 255)).text
    ''
    """
    budget = _Budget(time.monotonic() + seconds, seconds)
    gray = _grayscale(image)
    page = OcrPage("", [], image.width, image.height)
    if not _has_ink(gray):
        return page
    _check_languages(languages)
    skew = _skew(gray, budget)
    quarter = _orientation(_turn(gray, skew), budget)
    upright = _turn(gray, skew + quarter)
    if engine == "rapidocr":
        lines = _rapidocr_lines(upright)
        budget.left()
    else:
        lines = _tesseract_lines(upright, languages, _dpi(image), budget)
    back = functools.partial(
        _box_to_original, angle=skew + quarter, size=gray.size, turned=upright.size
    )
    text, words = _assemble(lines, back)
    return OcrPage(text, words, image.width, image.height, quarter)


def open_image(path: Path, max_pixels: int = 100_000_000) -> list["Image.Image"]:
    """Every frame of a (multi-page) image file, decoded; sizes are checked before decoding."""
    from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                frames = []
                for n, frame in enumerate(ImageSequence.Iterator(image)):
                    if n >= MAX_FRAMES:
                        raise OcrError(f"{path.name} has over {MAX_FRAMES} frames")
                    _check_pixels(path, frame.width, frame.height, max_pixels)
                    frame.load()
                    frames.append(ImageOps.exif_transpose(frame.copy()))
                return frames
    except OcrError:
        raise
    except Image.DecompressionBombError:  # Pillow's own limit, twice MAX_IMAGE_PIXELS
        limit = min(max_pixels, 2 * (Image.MAX_IMAGE_PIXELS or max_pixels))
        raise OcrError(
            f"{path.name} claims over {limit:,} pixels (a decompression bomb or an oversized scan)"
        ) from None
    except UnidentifiedImageError:
        raise OcrError(f"{path.name} is not an image that can be read") from None
    except (FileNotFoundError, PermissionError, IsADirectoryError) as error:
        raise OcrError(f"{path.name} cannot be opened: {error.strerror}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise OcrError(f"{path.name} is truncated or damaged ({error})") from None


def render_pdf_page(path: Path, index: int, dpi: int = 300) -> "Image.Image":
    """Page `index` (from 0) of a PDF as a grayscale image at `dpi`."""
    import pypdfium2

    try:
        pdf = pypdfium2.PdfDocument(path)
    except pypdfium2.PdfiumError as error:
        raise OcrError(f"{path.name} cannot be opened as a PDF ({error})") from None
    try:
        if not 0 <= index < len(pdf):
            raise OcrError(f"{path.name} has no page {index + 1} (it has {len(pdf)})")
        page = pdf[index]
        width, height = page.get_size()
        scale = dpi / 72
        if width * scale * height * scale > MAX_PDF_PIXELS:
            raise OcrError(f"page {index + 1} of {path.name} is too large to render at {dpi} dpi")
        image = page.render(scale=scale, grayscale=True).to_pil()
        image.info["dpi"] = (dpi, dpi)
        return image
    except pypdfium2.PdfiumError as error:
        raise OcrError(f"page {index + 1} of {path.name} cannot be rendered ({error})") from None
    finally:
        pdf.close()


def _check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise OcrError(
            f"{path.name} is {width}x{height} pixels, more than {max_pixels:,}"
            " (a decompression bomb or an oversized scan)"
        )


@dataclass(frozen=True)
class _Budget:
    """When a page's OCR must be done by (`time.monotonic()`), of how many seconds."""

    deadline: float
    seconds: float

    def left(self) -> float:
        """Seconds left; OcrError when there are none."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.spent()
        return left

    def spent(self) -> OcrError:
        return OcrError(f"OCR of the page took over {self.seconds:g} s (QA_OCR_PAGE_SECONDS)")


def _grayscale(image: "Image.Image") -> "Image.Image":
    """8-bit gray, with transparent parts on white (scans saved with an alpha channel)."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("L")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        return image.point(lambda v: v / 256).convert("L")
    return image.convert("L")


def _ink(gray: "Image.Image") -> Any:
    """A small boolean array, True where a pixel is darker than Otsu's threshold."""
    import numpy as np

    small = gray.copy()
    small.thumbnail((SKEW_SIDE, SKEW_SIDE))
    pixels = np.asarray(small)
    counts = np.bincount(pixels.ravel(), minlength=256).astype(float)
    weights = np.cumsum(counts)
    means = np.cumsum(counts * np.arange(256))
    total, mean = weights[-1], means[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        between = (mean * weights - total * means) ** 2 / (weights * (total - weights))
    threshold = int(np.nanargmax(between))
    return pixels <= threshold


def _has_ink(gray: "Image.Image") -> bool:
    low, high = cast(tuple[int, int], gray.getextrema())  # one band: (min, max)
    return high - low >= 32 and bool(_ink(gray).mean() < 0.5)


def _skew(gray: "Image.Image", budget: _Budget) -> float:
    """The small counter-clockwise turn (degrees) that sets text lines level or upright:
    the angle whose ink profile, along rows or columns, is the most peaked."""
    import numpy as np
    from PIL import Image

    ink = Image.fromarray(_ink(gray).astype(np.uint8) * 255)

    def peakedness(angle: float) -> float:
        budget.left()
        turned = np.asarray(ink.rotate(angle, Image.Resampling.BILINEAR), dtype=float)
        return max(float(np.var(turned.sum(axis=1))), float(np.var(turned.sum(axis=0))))

    coarse = max(np.arange(-MAX_SKEW, MAX_SKEW + 0.5, 1.0), key=peakedness)
    fine = max(np.arange(coarse - 1, coarse + 1.05, 0.1), key=peakedness)
    return round(float(fine), 1) if abs(fine) >= MIN_SKEW else 0.0


def _turn(gray: "Image.Image", angle: float) -> "Image.Image":
    from PIL import Image

    if angle % 360 == 0:
        return gray
    return gray.rotate(angle, Image.Resampling.BICUBIC, expand=True, fillcolor=255)


def _orientation(level: "Image.Image", budget: _Budget) -> int:
    """The counter-clockwise quarter turn (0/90/180/270) that sets a level page upright."""
    from PIL import Image

    # OSD misjudges small print (under about 150 dpi): look at a copy of a fixed size
    scale = min(OSD_SIDE / max(level.size), 3.0)
    sized = level.resize(
        (round(level.width * scale), round(level.height * scale)), Image.Resampling.LANCZOS
    )
    try:
        osd = _tesseract(sized, ["--psm", "0"], budget)
    except _TesseractFailed as error:
        if "osd.traineddata" in str(error):
            raise OcrError(
                "OCR needs orientation data: install Debian's tesseract-ocr-osd"
            ) from None
        return 0  # too few characters to tell: read it as it is
    rotate = re.search(r"^Rotate: (\d+)", osd, re.MULTILINE)
    confidence = re.search(r"^Orientation confidence: ([\d.]+)", osd, re.MULTILINE)
    if not rotate or not confidence or float(confidence[1]) < OSD_MIN_CONFIDENCE:
        return 0
    return (360 - int(rotate[1])) % 360  # Tesseract says how far to turn clockwise


def _tesseract_lines(
    upright: "Image.Image", languages: str, dpi: int | None, budget: _Budget
) -> list[list[tuple[str, tuple[float, float, float, float]]]]:
    """Tesseract's words, as lines of (word, box in `upright`); an empty line between
    blocks and paragraphs."""
    args = ["-l", languages, "--psm", "3", *(["--dpi", str(dpi)] if dpi else []), "tsv"]
    try:
        tsv = _tesseract(upright, args, budget)
    except _TesseractFailed as error:
        raise OcrError(f"Tesseract could not read the page: {error}") from None
    lines: list[list[tuple[str, tuple[float, float, float, float]]]] = []
    last: tuple[str, ...] | None = None
    for row in tsv.splitlines()[1:]:
        level, _page, block, par, line, _word, *box, _conf, word = row.split("\t", 11)
        if level != "5" or not word.strip():
            continue
        if (block, par, line) != last:
            if last is not None and (block, par) != last[:2]:
                lines.append([])
            lines.append([])
            last = (block, par, line)
        left, top, width, height = map(float, box)
        lines[-1].append((word.strip(), (left, top, left + width, top + height)))
    return lines


class _TesseractFailed(Exception):
    """Tesseract ended with an error; the message is its last line on stderr."""


def _tesseract(image: "Image.Image", args: list[str], budget: _Budget) -> str:
    """Run Tesseract on `image` and return what it printed.

    One OpenMP thread: with more, Tesseract waits on its own threads, two to five times
    slower per page on two busy cores."""
    executable = shutil.which(TESSERACT)
    if executable is None:
        raise OcrError("OCR needs Tesseract: install Debian's tesseract-ocr")
    picture = io.BytesIO()
    image.save(picture, format="PPM")  # PGM for gray: no compression to wait for
    try:
        done = subprocess.run(
            [executable, "stdin", "stdout", *args],
            input=picture.getvalue(),
            capture_output=True,
            timeout=budget.left(),
            env={**os.environ, "OMP_THREAD_LIMIT": "1"},
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise budget.spent() from None
    if done.returncode:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise _TesseractFailed(" ".join(message[-3:]) if message else f"exit {done.returncode}")
    return done.stdout.decode("utf-8", "replace")


def _rapidocr_lines(
    upright: "Image.Image",
) -> list[list[tuple[str, tuple[float, float, float, float]]]]:
    """RapidOCR's lines; words get a share of their line's box by their length in
    characters, and a gap taller than a line starts a new block."""
    import numpy as np

    found, _ = _rapidocr()(np.asarray(upright.convert("RGB")))
    lines: list[list[tuple[str, tuple[float, float, float, float]]]] = []
    bottom = None
    for points, line, _score in found or []:
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        x0, y0, x1, y1 = min(xs), min(ys), max(xs), max(ys)
        if bottom is not None and y0 - bottom > y1 - y0:
            lines.append([])
        bottom = y1
        step = (x1 - x0) / max(len(line), 1)
        words = []
        for match in re.finditer(r"\S+", line):
            box = (x0 + match.start() * step, y0, x0 + match.end() * step, y1)
            words.append((match.group(), box))
        lines.append(words)
    return lines


@functools.cache
def _rapidocr() -> Any:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        raise OcrError("the rapidocr engine needs: pip install rapidocr-onnxruntime") from None
    return RapidOCR()


def _assemble(
    lines: list[list[tuple[str, tuple[float, float, float, float]]]],
    to_original: Any,
) -> tuple[str, list[OcrWord]]:
    """Text with lines joined by "\\n" and blocks by "\\n\\n", and each word's offsets."""
    parts: list[str] = []
    words: list[OcrWord] = []
    length = 0
    separator = ""
    for line in lines:
        if not line:
            separator = "\n\n" if parts else ""
            continue
        for n, (word, box) in enumerate(line):
            gap = separator if n == 0 else " "
            parts.append(gap + word)
            length += len(gap)
            words.append(OcrWord(length, length + len(word), to_original(box)))
            length += len(word)
        separator = "\n"
    return "".join(parts), words


def _box_to_original(
    box: tuple[float, float, float, float],
    angle: float,
    size: tuple[int, int],
    turned: tuple[int, int],
) -> tuple[float, float, float, float]:
    """A box in the image turned by `angle` (Pillow's rotate with expand), as fractions of
    the original image: the bounding box of its four corners mapped back."""
    width, height = size
    a = -math.radians(angle)
    cos, sin = round(math.cos(a), 15), round(math.sin(a), 15)
    xs, ys = [], []
    for x, y in ((box[0], box[1]), (box[2], box[1]), (box[0], box[3]), (box[2], box[3])):
        dx, dy = x - turned[0] / 2, y - turned[1] / 2
        xs.append(cos * dx + sin * dy + width / 2)
        ys.append(-sin * dx + cos * dy + height / 2)
    return (
        min(max(min(xs) / width, 0.0), 1.0),
        min(max(min(ys) / height, 0.0), 1.0),
        min(max(max(xs) / width, 0.0), 1.0),
        min(max(max(ys) / height, 0.0), 1.0),
    )


def _dpi(image: "Image.Image") -> int | None:
    dpi = image.info.get("dpi")
    try:
        value = round(float(dpi[0]))  # type: ignore[index]
    except (TypeError, ValueError, IndexError):
        return None
    return value if 70 <= value <= 2400 else None


def _check_languages(languages: str) -> None:
    """Each language of "eng+deu" installed, else the Debian package that brings it."""
    if not re.fullmatch(r"[A-Za-z0-9_]+(\+[A-Za-z0-9_]+)*", languages):
        raise OcrError(f"OCR languages {languages!r} should look like eng or eng+deu")
    executable = shutil.which(TESSERACT)
    if executable is None:
        raise OcrError("OCR needs Tesseract: install Debian's tesseract-ocr")
    listed = subprocess.run(
        [executable, "--list-langs"], capture_output=True, text=True, timeout=60, check=False
    )
    installed = {line.strip() for line in listed.stdout.splitlines()[1:]}
    for language in languages.split("+"):
        if language not in installed:
            package = "tesseract-ocr-" + language.lower().replace("_", "-")
            raise OcrError(f"OCR language {language} is not installed: install Debian's {package}")
