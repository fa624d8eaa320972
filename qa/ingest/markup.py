"""Blocks of the text markup found in documentation folders: reStructuredText (.rst), Org
(.org) and AsciiDoc (.adoc). The file is stored as it is (like .txt and .md), so every
block must be located in the raw text: the lines that are markup (headings, code blocks,
directives, tables) are read here, and the runs of text between them by `plain_blocks`
(paragraphs and list items). No maintained Python parser of Org or AsciiDoc gives source
positions, and docutils' doctree keeps line numbers, not offsets, on some of its nodes only.
"""

import re

from qa.ingest.structure import answers_after_questions, plain_blocks
from qa.text.blocks import Block

RST_ADORNMENT = re.compile(r"([=\-`:'\"~^_*+#<>.])\1{2,}\s*")
RST_DIRECTIVE = re.compile(r"\.\.\s+(\S+?)::")
ORG_HEADING = re.compile(r"(\*+)\s+(\S.*)")
ORG_KEYWORD = re.compile(r"#\+(\w+):\s*(.*)", re.I)
ORG_BEGIN = re.compile(r"#\+begin_(\w+)", re.I)
ADOC_HEADING = re.compile(r"(={1,6})\s+(\S.*)")
ADOC_DELIMITER = re.compile(r"(-{4,}|\.{4,}|`{3}.*|_{4,}|\*{4,}|={4,}|\+{4,})\s*")
ADOC_TABLE = re.compile(r"\|===\s*")
ADOC_FURNITURE = re.compile(r":[\w-]+:.*|\[.*\]|//.*|include::.*|image::.*|toc::.*")


class _Lines:
    """The lines of a text with their offsets; markup blocks found, and the plain runs left."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines: list[tuple[int, int]] = []
        at = 0
        for line in text.split("\n"):
            self.lines.append((at, at + len(line)))
            at += len(line) + 1
        self.blocks: list[Block] = []
        self.plain_from: int | None = None  # the first line of the current plain run

    def line(self, i: int) -> str:
        return self.text[slice(*self.lines[i])]

    def plain(self, i: int) -> None:
        if self.plain_from is None:
            self.plain_from = i

    def add(self, kind: str, first: int, last: int, level: int = 0) -> None:
        """A markup block over lines first..last (inclusive), trimmed; the plain run before
        it is read first."""
        self.flush(first)
        start, end = self.lines[first][0], self.lines[last][1]
        piece = self.text[start:end]
        start += len(piece) - len(piece.lstrip())
        end = start + len(piece.strip())
        if end > start:
            self.blocks.append(Block(kind, start, end, level))

    def span(self, kind: str, start: int, end: int, level: int = 0) -> None:
        if end > start:
            self.blocks.append(Block(kind, start, end, level))

    def flush(self, upto: int) -> None:
        if self.plain_from is None:
            return
        start, end = self.lines[self.plain_from][0], self.lines[upto - 1][1]
        self.plain_from = None
        piece = self.text[start:end]
        for block in plain_blocks(piece, 0):
            self.blocks.append(
                Block(block.kind, start + block.start, start + block.end, block.level)
            )

    def done(self) -> list[Block]:
        self.flush(len(self.lines))
        return answers_after_questions(self.blocks)


def _indented_end(lines: _Lines, i: int) -> int:
    """The last line of the indented body starting after line i (blank lines inside kept)."""
    last = i
    for j in range(i + 1, len(lines.lines)):
        line = lines.line(j)
        if not line.strip():
            continue
        if line[:1] in (" ", "\t"):
            last = j
        else:
            break
    return last


def rst_blocks(text: str) -> list[Block]:
    """reStructuredText: adorned section titles (levels in order of first use), literal
    blocks after "::" and code directives as code, other directives and comments as furniture."""
    lines, styles = _Lines(text), list[tuple[str, bool]]()
    i, count = 0, len(lines.lines)
    while i < count:
        line = lines.line(i)
        nxt = lines.line(i + 1) if i + 1 < count else ""
        over = RST_ADORNMENT.fullmatch(line)
        if over and i + 2 < count and RST_ADORNMENT.fullmatch(lines.line(i + 2)) and nxt.strip():
            style = (over.group(1), True)
            styles += [style] if style not in styles else []
            lines.add("heading", i + 1, i + 1, min(styles.index(style) + 1, 6))
            i += 3
            continue
        under = RST_ADORNMENT.fullmatch(nxt)
        if line.strip() and line[:1] != " " and under and len(nxt.rstrip()) >= len(line.rstrip()):
            style = (under.group(1), False)
            styles += [style] if style not in styles else []
            lines.add("heading", i, i, min(styles.index(style) + 1, 6))
            i += 2
            continue
        if directive := RST_DIRECTIVE.match(line):
            last = _indented_end(lines, i)
            if directive.group(1) in ("code-block", "code", "sourcecode") and last > i:
                lines.add("furniture", i, i)
                lines.add("code", i + 1, last)
            else:
                lines.add("furniture", i, last)
            i = last + 1
            continue
        if line.startswith(".. "):  # a comment or a link target
            last = _indented_end(lines, i)
            lines.add("furniture", i, last)
            i = last + 1
            continue
        if line.rstrip().endswith("::") and not line.startswith(" "):
            lines.plain(i)
            last = _indented_end(lines, i)
            if last > i:
                lines.flush(i + 1)
                lines.add("code", i + 1, last)
                i = last + 1
                continue
        if RST_ADORNMENT.fullmatch(line):  # a transition
            lines.add("furniture", i, i)
            i += 1
            continue
        lines.plain(i)
        i += 1
    return lines.done()


def org_blocks(text: str) -> list[Block]:
    """Org: "*" headings (level by stars), #+TITLE as title, #+BEGIN_SRC/EXAMPLE blocks as
    code, other keywords and property drawers as furniture."""
    lines = _Lines(text)
    i, count = 0, len(lines.lines)
    while i < count:
        line = lines.line(i)
        if heading := ORG_HEADING.fullmatch(line.rstrip()):
            lines.flush(i)
            start = lines.lines[i][0] + heading.start(2)
            lines.span(
                "heading", start, start + len(heading.group(2)), min(len(heading.group(1)), 6)
            )
        elif begin := ORG_BEGIN.match(line.strip()):
            kind = begin.group(1).lower()
            end = next(
                (j for j in range(i + 1, count) if lines.line(j).strip().lower()
                 == f"#+end_{kind}"),
                count - 1,
            )  # fmt: skip
            lines.add("furniture", i, i)
            if end > i + 1:
                inner = "code" if kind in ("src", "example") else "paragraph"
                lines.add(inner, i + 1, end - 1)
            lines.add("furniture", end, end)
            i = end
        elif keyword := ORG_KEYWORD.match(line.strip()):
            if keyword.group(1).lower() == "title" and keyword.group(2).strip():
                lines.flush(i)
                start = lines.lines[i][0] + line.index(keyword.group(2))
                lines.span("title", start, start + len(keyword.group(2).rstrip()), 1)
            else:
                lines.add("furniture", i, i)
        elif line.strip().upper() == ":PROPERTIES:":
            end = next((j for j in range(i, count) if lines.line(j).strip().upper() == ":END:"), i)
            lines.add("furniture", i, end)
            i = end
        else:
            lines.plain(i)
        i += 1
    return lines.done()


def adoc_blocks(text: str) -> list[Block]:
    """AsciiDoc: "=" titles and sections, delimited listing and literal blocks as code,
    |=== tables as rows (a first line followed by a blank line is the header), ".Title" lines
    as captions, attributes, block attributes and comments as furniture."""
    lines = _Lines(text)
    i, count = 0, len(lines.lines)
    while i < count:
        line = lines.line(i).rstrip()
        if heading := ADOC_HEADING.fullmatch(line):
            level = len(heading.group(1))
            lines.flush(i)
            start = lines.lines[i][0] + line.index(heading.group(2))
            kind = "title" if level == 1 else "heading"
            lines.span(kind, start, start + len(heading.group(2)), max(level - 1, 1))
        elif ADOC_TABLE.fullmatch(line):
            end = next(
                (j for j in range(i + 1, count) if ADOC_TABLE.fullmatch(lines.line(j))), count
            )
            lines.add("furniture", i, i)
            header = i + 2 < end and not lines.line(i + 2).strip() and lines.line(i + 1).strip()
            for j in range(i + 1, end):
                if lines.line(j).strip():
                    lines.add("table_header" if header and j == i + 1 else "row", j, j)
            if end < count:
                lines.add("furniture", end, end)
            i = end
        elif delimiter := ADOC_DELIMITER.fullmatch(line):
            mark = delimiter.group(1)
            fence = mark[:3] if mark.startswith("`") else mark
            closing = [
                j
                for j in range(i + 1, count)
                if lines.line(j).rstrip().startswith(fence)
                and (fence.startswith("`") or lines.line(j).rstrip() == mark)
            ]
            end = closing[0] if closing else count - 1
            lines.add("furniture", i, i)
            code = mark[0] in "-.`+"
            if end > i + 1:
                if code:
                    lines.add("code", i + 1, end - 1)
                else:  # example, sidebar, quote: prose inside
                    for block in plain_blocks(
                        text[lines.lines[i + 1][0] : lines.lines[end - 1][1]], 0
                    ):
                        base = lines.lines[i + 1][0]
                        lines.span(block.kind, base + block.start, base + block.end, block.level)
            lines.add("furniture", end, end)
            i = end
        elif ADOC_FURNITURE.fullmatch(line):
            lines.add("furniture", i, i)
        elif line.startswith(".") and len(line) > 1 and line[1].isalnum():
            lines.flush(i)
            start = lines.lines[i][0] + 1
            lines.span("caption", start, start + len(line) - 1)
        else:
            lines.plain(i)
        i += 1
    return lines.done()
