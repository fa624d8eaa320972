"""Blocks of the formats that carry their structure in their text: plain text (paragraphs
from blank lines; headings from underlines, numbering and layout; FAQ questions), Markdown
(markdown-it-py's parser, which gives every block its source lines) and the lines pypdf
reads from a PDF (running headers and footers recognised); and titles from structure.

markdown-it-py (MIT) is the CommonMark parser rich already brings in; it keeps each block's
source lines (`token.map`), so blocks keep their offsets in the stored text.
"""

import re
from collections import Counter

from qa.text.blocks import ANSWER_KINDS, Block, heading_text

UNDERLINE = re.compile(r"[ \t]*([=\-~^*])\1{2,}[ \t]*")
BULLET = re.compile(r"[ \t]*(?:[*+•-]|o(?= )|\d{1,3}[.)]|[a-z][.)]|\(\w{1,3}\))[ \t]+(?=\S)")
NUMBERED = re.compile(r"[ \t]*(\d{1,2}(?:\.\d{1,2})*)\.?[ \t]+\S")
COPYRIGHT = re.compile(r"copyright|\(c\)|©|licen[cs]e|all rights reserved|permission", re.I)
HEADING_CHARS = 70  # a longer line is a sentence, not a heading
QUESTION_CHARS = 300


def lines_of(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each non-blank line of text[start:end]."""
    found, at = [], start
    for line in text[start:end].split("\n"):
        if line.strip():
            found.append((at, at + len(line.rstrip())))
        at += len(line) + 1
    return found


def groups(text: str, start: int = 0, end: int | None = None) -> list[list[tuple[int, int]]]:
    """The lines of each run of non-blank lines (paragraphs are separated by blank lines)."""
    end = len(text) if end is None else end
    found: list[list[tuple[int, int]]] = [[]]
    at = start
    for line in text[start:end].split("\n"):
        if line.strip():
            found[-1].append((at, at + len(line.rstrip())))
        elif found[-1]:
            found.append([])
        at += len(line) + 1
    return [group for group in found if group]


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    piece = text[start:end]
    return start + len(piece) - len(piece.lstrip()), start + len(piece.rstrip())


def _heading_level(line: str) -> int:
    """The level of a line that reads as a heading (short, one phrase, no closing
    punctuation), else 0."""
    stripped = line.strip()
    numbered = NUMBERED.match(line)
    words = line[numbered.end(1) :].lstrip(". \t") if numbered else stripped
    if (
        len(stripped) > HEADING_CHARS
        or not stripped[:1].isalnum()
        or stripped[-1] in ".,;:!)"
        or re.search(r"[.!?;]\s", words)
        or re.match(r"[ \t]*[*+•-][ \t]", line)
    ):
        return 0
    if numbered:
        return numbered.group(1).count(".") + 1
    if stripped.isupper() or stripped[0].isupper():
        return 1 if stripped.isupper() else 2
    return 0


def _group_blocks(
    text: str, group: list[tuple[int, int]], wrap: int, last: bool = False
) -> list[Block]:
    """The blocks of one run of lines: underlined headings, questions, headings, list items,
    paragraphs. A line alone is a heading only if something follows it (`last` is False) and
    no colon introduces it ("add this option:" and the option on a line of its own)."""
    blocks: list[Block] = []
    current: list[tuple[int, int]] = []
    kind = "paragraph"

    def close() -> None:
        if current:
            blocks.append(Block(kind, *_trimmed(text, current[0][0], current[-1][1])))
            current.clear()

    if table := _table_blocks(text, group):
        return table
    for i, (start, end) in enumerate(group):
        line = text[start:end]
        following = text[slice(*group[i + 1])] if i + 1 < len(group) else ""
        if UNDERLINE.fullmatch(line):
            continue  # a rule, or the underline of the heading before it
        if UNDERLINE.fullmatch(following) and len(line.strip()) <= QUESTION_CHARS:
            close()
            level = 1 if "=" in following else 2
            kind_ = "question" if line.rstrip().endswith("?") else "heading"
            blocks.append(Block(kind_, *_trimmed(text, start, group[i + 1][1]), level))
            kind = "paragraph"
            continue
        alone = len(group) == 1 or (not current and wrap and len(line) < 0.55 * wrap)
        introduced = text[max(0, start - 200) : start].rstrip().endswith(":")
        level = (
            _heading_level(line) if alone and not introduced and not following[:1].isspace() else 0
        )
        if level and not last and (len(group) == 1 or NUMBERED.match(line)):
            close()
            blocks.append(Block("heading", *_trimmed(text, start, end), level))
            continue
        if BULLET.match(line):
            close()
            kind = "item"
        current.append((start, end))
    close()
    return blocks


RULE = re.compile(r"[\s|+=:-]*")


def _table_blocks(text: str, group: list[tuple[int, int]]) -> list[Block]:
    """A plain-text table: lines whose cells are set apart by "|", after an optional
    "Caption:" line; a line over a rule (----+----) is the header. [] for other text."""
    lines = [text[start:end] for start, end in group]
    first = 1 if lines[0].rstrip().endswith(":") and "|" not in lines[0] else 0
    if len(lines) - first < 2 or not all(
        "|" in line or RULE.fullmatch(line) for line in lines[first:]
    ):
        return []
    blocks = [Block("table_header", *_trimmed(text, *group[0]))] if first else []
    for i in range(first, len(lines)):
        if RULE.fullmatch(lines[i]):
            continue
        over_rule = i + 1 < len(lines) and RULE.fullmatch(lines[i + 1])
        blocks.append(Block("table_header" if over_rule else "row", *_trimmed(text, *group[i])))
    return blocks


def plain_blocks(text: str, wrap: int) -> list[Block]:
    """Blocks of plain text; a run of lines that ends with "?" is an FAQ question, and the
    paragraphs after it, up to the next heading or question, are its answer."""
    blocks, runs = [], groups(text)
    for n, group in enumerate(runs):
        found = _group_blocks(text, group, wrap, n == len(runs) - 1)
        if len(found) == 1 and found[0].kind in ("paragraph", "heading", "item"):
            only = found[0]
            asks = text[only.start : only.end].endswith("?")
            if asks and only.end - only.start <= QUESTION_CHARS:
                found = [Block("question", only.start, only.end, only.level)]
        blocks += found
    return answers_after_questions(_numbered_entries(text, blocks))


def _numbered_entries(text: str, blocks: list[Block]) -> list[Block]:
    """In an FAQ whose numbered one-line entries are mostly questions, the few phrased as
    statements ("10. I need a Delphi interface to zlib.") are entries too."""
    entries = [
        i
        for i, b in enumerate(blocks)
        if b.kind in ("question", "heading", "item")
        and "\n" not in text[b.start : b.end]
        and NUMBERED.match(text, b.start)
        and text[b.start - 1 : b.start] in ("", "\n")  # at the margin, not a point inside an answer
    ]
    asked = sum(blocks[i].kind == "question" for i in entries)
    if asked < 3 or asked * 2 < len(entries):
        return blocks
    found = list(blocks)
    for i in entries:
        found[i] = Block("question", blocks[i].start, blocks[i].end, max(blocks[i].level, 1))
    return found


def answers_after_questions(blocks: list[Block]) -> list[Block]:
    """Paragraphs after a question, up to the next heading or question, become answers."""
    found, asked = [], False
    for block in blocks:
        if block.kind in ("heading", "title", "question"):
            asked = block.kind == "question"
        elif asked and block.kind == "paragraph":
            block = Block("answer", block.start, block.end, block.level)
        found.append(block)
    return found


def markdown_blocks(text: str) -> list[Block]:
    """Blocks of Markdown from markdown-it's token stream, located by their source lines."""
    from markdown_it import MarkdownIt

    starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def span(lines: list[int]) -> tuple[int, int]:
        end = starts[lines[1]] if lines[1] < len(starts) else len(text)
        return _trimmed(text, starts[lines[0]], end)

    blocks, items, header = [], 0, False
    for token in MarkdownIt("commonmark").enable("table").parse(text):
        if token.type in ("list_item_open", "list_item_close"):
            items += 1 if token.type == "list_item_open" else -1
        elif token.type in ("thead_open", "thead_close"):
            header = token.type == "thead_open"
        if token.map is None:
            continue
        start, end = span(token.map)
        if token.type == "heading_open":
            kind = "question" if text[start:end].rstrip("#= -\n").endswith("?") else "heading"
            blocks.append(Block(kind, start, end, int(token.tag[1])))
        elif token.type == "paragraph_open" and not items:
            blocks.append(Block("paragraph", start, end))
        elif token.type == "paragraph_open":  # the first paragraph of a list item
            marker = BULLET.match(text, start)
            blocks.append(Block("item", marker.end() if marker else start, end))
        elif token.type in ("fence", "code_block"):
            blocks.append(Block("code", start, end))
        elif token.type == "tr_open":
            blocks.append(Block("table_header" if header else "row", start, end))
    return answers_after_questions(blocks)


def furniture(pages: list[str]) -> set[str]:
    """Lines that run along the top or bottom of most pages (digits ignored): headers,
    footers, page numbers."""
    if len(pages) < 3:
        return set()
    seen: Counter[str] = Counter()
    for page in pages:
        lines = [line.strip() for line in page.splitlines() if line.strip()]
        seen.update({_furniture_key(line) for line in lines[:2] + lines[-2:]})
    return {key for key, count in seen.items() if count >= max(3, len(pages) // 2)}


def _furniture_key(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split()).lower())


def pdf_blocks(text: str, page_starts: list[int], wrap: int) -> list[Block]:
    """Blocks of a PDF's text, page by page; running headers and footers are `furniture`."""
    ends = [*page_starts[1:], len(text) + 2]
    pages = [text[start : end - 2] for start, end in zip(page_starts, ends, strict=True)]
    running = furniture(pages)
    blocks = []
    for start, end in zip(page_starts, ends, strict=True):
        body = []
        for line in lines_of(text, start, min(end, len(text))):
            if _furniture_key(text[slice(*line)]) in running:
                blocks.append(Block("furniture", *line))
            else:
                body.append(line)
        runs = _runs(text, body)
        for n, group in enumerate(runs):
            blocks += _group_blocks(text, group, wrap, n == len(runs) - 1 and end >= len(text))
    blocks.sort(key=lambda b: b.start)
    return answers_after_questions(blocks)


def _runs(text: str, lines: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Lines split where a blank line or a left-out line (furniture) stood between them."""
    found: list[list[tuple[int, int]]] = []
    for line in lines:
        if found and text.count("\n", found[-1][-1][1], line[0]) == 1:
            found[-1].append(line)
        else:
            found.append([line])
    return found


def structural_title(text: str, blocks: list[Block]) -> str | None:
    """The first top heading (level 1 or 2) before any real paragraph of prose, passing over
    copyright and licence lines and short lines such as a Markdown label."""
    for block in blocks:
        words = heading_text(text[block.start : block.end])
        if block.kind == "furniture" or COPYRIGHT.search(words):
            continue
        if block.kind in ("heading", "title") and block.level <= 2:
            return words or None
        if block.kind in ANSWER_KINDS and (len(words) > HEADING_CHARS or words[-1:] in ".!?"):
            return None  # prose first: the document has no title heading
    return None


def usable_title(title: str | None) -> str | None:
    """A format's own title, unless it is empty or a copyright or licence line."""
    title = " ".join((title or "").split())
    return title if title and not COPYRIGHT.search(title) else None


def mark_title(text: str, blocks: list[Block], title: str | None) -> list[Block]:
    """The block that states the title becomes kind `title`: context, never an answer."""
    if not title:
        return blocks
    for i, block in enumerate(blocks[:3]):
        if block.kind not in ANSWER_KINDS:
            if heading_text(text[block.start : block.end]) == title:
                return [*blocks[:i], Block("title", block.start, block.end, 1), *blocks[i + 1 :]]
    return blocks
