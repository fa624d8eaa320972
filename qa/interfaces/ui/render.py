"""Answers and questions as chat Markdown in which document and user text shows exactly as
written: every character that Markdown, HTML or a link detector would act on is an entity."""

import html
from pathlib import Path
from urllib.parse import urlencode

from qa.core.schema import Answer, Citation
from qa.text.blocks import display

# Markdown, HTML, LaTeX and autolink syntax; entities show as the character and trigger nothing
SYNTAX = "&<>\"'\\`*_{}[]()#+-.!|~$:/=@%^"
ESCAPES = str.maketrans({c: f"&#{ord(c)};" for c in SYNTAX})
PENDING = '<span class="qa-pending">answering…</span>'
SNIPPET_CHARS = 160


def verbatim(text: str, line_breaks: bool = False) -> str:
    """`text` as chat Markdown that renders exactly as `text`; no link, tag or emphasis."""
    escaped = text.translate(ESCAPES)
    return escaped.replace("\n", "<br>") if line_breaks else escaped


def render_question(question: str) -> str:
    """The user's question, shown as typed."""
    return verbatim(question, line_breaks=True)


def render_stream(text: str) -> str:
    """A generative answer while its tokens arrive."""
    return f"{verbatim(text, line_breaks=True)} {PENDING}"


def render_answer(
    answer: Answer, corpus_dir: Path, settings_line: str = "", pending: bool = False
) -> str:
    """Short answer, text with [n] markers, each cited passage, what was searched."""
    parts = []
    if answer.refused:
        parts.append(f"**Not in the documents.** {verbatim(answer.text)}")
    else:
        if answer.ungrounded and answer.extractive:
            parts.append(
                f"_Generated, but it cites no passage:_ {verbatim(answer.text)}<br><br>"
                "**Extractive answer:**"
            )
            answer = answer.extractive
        if not answer.sure:
            head = "_Not sure. The closest the documents come:_ "
        elif answer.short_answer:
            head = f"**{verbatim(answer.short_answer)}**\n\n"  # its own line: not a speaker label
        else:
            head = ""
        parts.append(head + verbatim(answer.text) + (f" {PENDING}" if pending else ""))
        parts += [render_citation(c, answer, corpus_dir) for c in answer.citations]
    if answer.passages:
        parts.append(render_passages(answer, settings_line))
    return "\n\n".join(parts)


def render_citation(citation: Citation, answer: Answer, corpus_dir: Path) -> str:
    """A collapsible passage: the summary is the [n], the quote is highlighted, and a link
    opens the whole document at the quote."""
    passage = next(
        (
            p
            for p in answer.passages
            if p.source == citation.source and p.start <= citation.start and citation.end <= p.end
        ),
        None,
    )
    if passage is None:
        body = f"<mark>{verbatim(display(citation.quote))}</mark>"
    else:
        a, b = citation.start - passage.start, citation.end - passage.start
        before, after = passage.text[:a], passage.text[b:]
        body = (
            verbatim(display(before, True) + (" " if before[-1:].isspace() else ""), True)
            + f"<mark>{verbatim(display(passage.text[a:b]))}</mark>"
            + verbatim((" " if after[:1].isspace() else "") + display(after, True), True)
        )
    source = relative_source(citation.source, corpus_dir)
    where = f"{verbatim(source)}, characters {citation.start}-{citation.end}"
    where += verbatim(citation.place())
    if citation.url and citation.url.startswith(("https://", "http://")):
        address = html.escape(citation.url)
        where += f', from <a href="{address}" rel="noreferrer">{verbatim(citation.url)}</a>'
    link = "document?" + urlencode({"source": source, "start": citation.start, "end": citation.end})
    return (
        f'<details class="qa-cite"><summary>[{citation.n}] {verbatim(citation.title)}'
        f" ({where})</summary><blockquote>{body}</blockquote>"
        f'<a class="qa-open" href="{html.escape(link)}" target="_blank">open the document at'
        " this quote</a></details>"
    )


def render_passages(answer: Answer, settings_line: str) -> str:
    """What retrieval found, collapsed: it shows what the Passages setting changes."""
    items = "".join(
        f"<li>{verbatim(p.title or Path(p.source).name)}: {verbatim(snippet(p.text))}</li>"
        for p in answer.passages
    )
    summary = f"Searched {len(answer.passages)} passage(s)"
    summary += f" · {verbatim(settings_line)}" if settings_line else ""
    return f'<details class="qa-passages"><summary>{summary}</summary><ol>{items}</ol></details>'


def snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def relative_source(source: str, corpus_dir: Path) -> str:
    """A citation's file as the index names it (relative to the corpus folder)."""
    try:
        return Path(source).resolve().relative_to(corpus_dir.resolve()).as_posix()
    except ValueError:
        return Path(source).name


def document_page(
    title: str, text: str, start: int, end: int, picture: tuple[str, str] | None = None
) -> str:
    """A whole document as a page, the cited span highlighted and scrolled into view; with
    `picture` (address, description), the cited page as it looks in the original, first."""
    start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
    start, end = min(start, end), max(start, end)
    body = (
        html.escape(text[:start])
        + f'<mark id="cited">{html.escape(text[start:end])}</mark>'
        + html.escape(text[end:])
    )
    figure = ""
    if picture is not None:
        address, description = picture
        figure = (
            f'<figure id="page"><img src="{html.escape(address)}" alt="{html.escape(description)},'
            f' the quote highlighted"><figcaption>{html.escape(description)}, the quote'
            " highlighted; its text as read follows.</figcaption></figure>"
        )
    scroll = "page" if picture is not None else "cited"
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font:16px/1.6 ui-sans-serif,system-ui,sans-serif;max-width:48rem;margin:2rem auto;"
        "padding:0 1rem;color:#1f2328;background:#fff}"
        "#text{white-space:pre-wrap}"
        "figure{margin:0 0 1.5rem}figure img{max-width:100%;border:1px solid #d0d7de}"
        "figcaption{font-size:14px;color:#57606a}"
        "mark{background:#ffe58a;color:#1f2328}"
        "@media (prefers-color-scheme:dark){body{color:#e6edf3;background:#0d1117}"
        "figcaption{color:#8b949e}}"
        f"</style></head><body><h1>{html.escape(title)}</h1>{figure}<div id='text'>{body}</div>"
        f"<script>document.getElementById('{scroll}').scrollIntoView({{block:'center'}})</script>"
        "</body></html>"
    )


def missing_page(reason: str) -> str:
    """What a citation's link shows when its document cannot be shown (deleted, changed)."""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Document not available</title>"
        "<style>body{font:16px/1.6 ui-sans-serif,system-ui,sans-serif;max-width:40rem;"
        "margin:3rem auto;padding:0 1rem;color:#1f2328;background:#fff}"
        "@media (prefers-color-scheme:dark){body{color:#e6edf3;background:#0d1117}}"
        "</style></head><body><h1>This document cannot be"
        f" shown</h1><p>{html.escape(reason)}</p><p>If it was deleted or changed, ask again:"
        " the answer will cite what the corpus holds now.</p></body></html>"
    )
