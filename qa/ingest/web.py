"""Web pages in the corpus: a fetched page's main text (trafilatura) saved as
corpus/web/<host>/<slug>.html, with the address and fetch time in its <head>, so that it is
indexed like any HTML file and found again to be refreshed."""

import hashlib
import html
import os
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from qa.core.errors import BackendError, InputError
from qa.ingest.fetch import Fetched, web_address
from qa.ingest.uploads import keep_in_trash

WEB_FOLDER = "web"
SLUG_CHARS = 80
PAGE = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title>'
    '<meta name="qa-url" content="{url}"><meta name="qa-fetched" content="{fetched}">'
    "</head><body>{body}</body></html>"
)
META = re.compile(r'<meta name="qa-(url|fetched)" content="([^"]*)">')


@dataclass(frozen=True)
class WebPage:
    """A page's main text as HTML, with where and when it was fetched."""

    url: str
    title: str
    body: str
    fetched: str  # ISO 8601, UTC

    def html(self) -> str:
        """The file kept in the corpus."""
        return PAGE.format(
            title=html.escape(self.title),
            url=html.escape(self.url),
            fetched=html.escape(self.fetched),
            body=self.body,
        )


@dataclass(frozen=True)
class SavedPage:
    """A page placed in the corpus: "added", "replaced" (the same address again) or
    "unchanged" (a refresh that found the same text)."""

    url: str
    path: Path
    title: str
    status: str


def now() -> str:
    """The current time as ISO 8601 in UTC, to the second."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def extract_page(fetched: Fetched, fetched_at: str | None = None) -> WebPage:
    """The main text of a fetched page (headings, lists and tables kept; navigation, footers
    and other boilerplate left out), or an InputError if it has none."""
    import trafilatura
    from lxml import html as lxml_html
    from trafilatura.metadata import extract_metadata

    try:
        main = trafilatura.extract(
            fetched.content,
            url=fetched.final_url,
            output_format="html",
            include_tables=True,
            include_formatting=False,
            include_comments=False,
        )
    except Exception as exc:  # the parser's own failure on a malformed page
        problem = f"the page could not be read ({type(exc).__name__})"
        raise InputError(f"{fetched.url}: {problem}") from None
    if not main:
        raise InputError(f"{fetched.url}: the page has no main text that qa could find")
    body_element = lxml_html.fromstring(main).find(".//body")
    if body_element is None:
        body = main
    else:
        inner = [html.escape(body_element.text or "")]
        inner += [lxml_html.tostring(c, encoding="unicode") for c in body_element]
        body = "".join(inner).strip()
    tree = trafilatura.load_html(fetched.content)
    metadata = extract_metadata(tree, default_url=fetched.final_url) if tree is not None else None
    title = metadata.title if metadata is not None and metadata.title else None
    if not title:
        heading = body_element.find(".//h1") if body_element is not None else None
        title = heading.text_content().strip() if heading is not None else ""
    url = web_address(fetched.url)
    return WebPage(fetched.url, title or f"{url.host}{url.path}", body, fetched_at or now())


def page_meta(path: Path) -> dict[str, str]:
    """The qa-url and qa-fetched of a saved page ({} for any other file)."""
    try:
        with path.open("rb") as file:
            head = file.read(65536).decode("utf-8", errors="replace")
    except OSError:
        return {}
    head = head.split("</head>", 1)[0]
    return {name: html.unescape(value) for name, value in META.findall(head)}


def saved_pages(corpus_dir: Path) -> list[tuple[Path, str]]:
    """Every saved page under corpus/web/ with its address, in file-name order."""
    folder = corpus_dir / WEB_FOLDER
    if not folder.is_dir() or folder.is_symlink():
        return []
    pages = []
    for path in sorted(folder.glob("*/*.html")):
        if path.name.startswith(".") or path.is_symlink():
            continue
        if url := page_meta(path).get("url"):
            pages.append((path, url))
    return pages


def page_path(corpus_dir: Path, url: str) -> Path:
    """Where the page at `url` is kept: the file already holding this address, else
    web/<host>/<slug>.html, with a short hash of the address if that name is taken."""
    parsed = web_address(url)
    host = re.sub(r"[^a-z0-9.-]", "_", parsed.host.lower()).strip(".") or "host"
    if parsed.port is not None:
        host += f"_{parsed.port}"
    folder = corpus_dir / WEB_FOLDER / host
    for path, saved in saved_pages(corpus_dir):
        if path.parent == folder and saved == url:
            return path
    path_part = re.sub(r"\.(html?|php|aspx?)$", "", parsed.path.lower().strip("/"))
    slug = re.sub(r"[^a-z0-9]+", "-", path_part).strip("-") or "index"
    digest = hashlib.sha256(url.encode()).hexdigest()[:8]
    if parsed.query or len(slug) > SLUG_CHARS:
        slug = f"{slug[:SLUG_CHARS].rstrip('-')}-{digest}"
    target = folder / f"{slug}.html"
    if target.exists() and page_meta(target).get("url") != url:
        target = folder / f"{slug}-{digest}.html"
    return target


def save_page(page: WebPage, corpus_dir: Path, trash_dir: Path, refresh: bool = False) -> SavedPage:
    """Write the page into the corpus, whole or not at all; a page saved before from the same
    address is replaced (its old text kept in `trash_dir` if it changed). With `refresh`, a
    page whose text is the same is left as it was. The caller holds the ingest lock."""
    target = page_path(corpus_dir, page.url)
    relative = target.relative_to(corpus_dir)
    for folder in (corpus_dir / WEB_FOLDER, target.parent):
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            raise InputError(f"{page.url}: {folder} is not a folder qa writes into")
    if target.is_symlink() or (target.exists() and not target.is_file()):
        raise InputError(f"{page.url}: {target} is a link or a folder; qa does not write there")
    status, old = "added", None
    if target.exists():
        status = "replaced"
        old = target.read_text(encoding="utf-8", errors="replace")
        before = page_meta(target).get("fetched", "")
        same = WebPage(page.url, page.title, page.body, before).html() == old
        if same and refresh:
            return SavedPage(page.url, relative, page.title, "unchanged")
        try:
            if not same:
                keep_in_trash(target, trash_dir)
        except OSError as exc:
            raise BackendError(f"{page.url}: the old copy could not be kept ({exc})") from None
    _write(target, page.html())
    return SavedPage(page.url, relative, page.title, status)


def _write(target: Path, text: str) -> None:
    """Write through a hidden temporary file renamed into place (readers see either file)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".qa-web-{uuid.uuid4().hex[:12]}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, target)
    except OSError as exc:
        raise BackendError(f"{target} could not be written ({exc.strerror or exc})") from None
    finally:
        partial.unlink(missing_ok=True)
