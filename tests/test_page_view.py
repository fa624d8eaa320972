"""The document view of a scanned PDF, in a real browser: the cited page drawn as it looks,
the quote's boxes highlighted where OCR found its words."""

import io
import os
import sys
from pathlib import Path

import pytest

from benchmarks.documents import write_copies
from qa.ingest.formats import extract

from .conftest import ROOT, SEED, free_port, local_server
from .test_ui import ARTIFACTS, browser  # noqa: F401  (the fixture)

pytestmark = pytest.mark.slow
SCREENSHOTS = ROOT / "eval" / "readers"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    """`qa serve` over a corpus holding one scanned-only copy of the seed article."""
    folder = tmp_path_factory.mktemp("scan")
    write_copies(SEED[0].read_text(encoding="utf-8"), folder / "corpus", ["scanned.pdf"])
    port = free_port()
    env = {
        **os.environ,
        "QA_CORPUS_DIR": str(folder / "corpus"),
        "QA_INDEX_DIR": str(folder / "index"),
        "QA_WATCH": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    env.pop("QA_ENGINE", None)
    url = f"http://127.0.0.1:{port}/"
    with local_server([sys.executable, "-m", "qa", "serve", "--port", str(port)], url, env):
        yield {"url": url, "corpus": folder / "corpus"}


def test_the_cited_page_of_a_scan_is_shown_with_the_quote_highlighted(app, browser) -> None:  # noqa: F811
    import httpx
    from PIL import Image, ImageChops

    asked = httpx.post(
        app["url"] + "api/ask",
        json={"question": "When did EU sectoral sanctions start?"},
        timeout=120,
    ).json()
    citation = asked["citations"][0]
    assert "25 June" in citation["quote"] and citation["page"] == 1
    source, start, end = "scanned.pdf", citation["start"], citation["end"]

    context = browser.new_context(viewport={"width": 1100, "height": 1300})
    page = context.new_page()
    page.goto(f"{app['url']}document?source={source}&start={start}&end={end}", wait_until="load")
    image = page.locator("#page img")
    image.wait_for(timeout=30000)
    page.wait_for_function("document.querySelector('#page img').naturalWidth > 0", timeout=30000)
    assert page.locator("#cited").inner_text() == citation["quote"]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image.scroll_into_view_if_needed()
    for folder in (SCREENSHOTS, ARTIFACTS):
        page.screenshot(path=str(folder / "scanned-page.png"))
    context.close()

    # the highlight: what differs from the page drawn with nothing cited lies on the quote's
    # words, as OCR placed them
    def drawn(a: int, b: int) -> Image.Image:
        response = httpx.get(
            app["url"] + "document/page",
            params={"source": source, "page": 1, "start": a, "end": b},
            timeout=60,
        )
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        return Image.open(io.BytesIO(response.content)).convert("RGB")

    marked, plain = drawn(start, end), drawn(0, 0)
    changed = ImageChops.difference(marked, plain).getbbox()
    assert changed is not None
    words = [
        w
        for scan in extract(Path(app["corpus"]) / source).scans
        for w in scan["words"]
        if w[0] < end and w[1] > start
    ]
    x0, y0 = min(w[2] for w in words) * marked.width, min(w[3] for w in words) * marked.height
    x1, y1 = max(w[4] for w in words) * marked.width, max(w[5] for w in words) * marked.height
    slack = 0.01 * marked.width
    assert x0 - slack <= changed[0] and changed[2] <= x1 + slack, (changed, (x0, x1))
    assert y0 - slack <= changed[1] and changed[3] <= y1 + slack, (changed, (y0, y1))
    assert (changed[3] - changed[1]) < 0.1 * marked.height  # two lines, not the page
