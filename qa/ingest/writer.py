"""Text written block by block into the block model, and HTML read into it (shared by the
HTML, Word, e-book and e-mail readers). BeautifulSoup with lxml's parser: linear time."""

import warnings

from qa.text.blocks import Block

BOILERPLATE_TAGS = [
    "script",
    "style",
    "noscript",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "template",
    "svg",
]
# Elements that start a block of their own; every other element (<code>, <tt>, <b>, <a>...)
# stays inline in the sentence around it.
HTML_BLOCKS = {
    **{f"h{n}": "heading" for n in range(1, 7)},
    **dict.fromkeys(["p", "div", "section", "article", "main", "body", "blockquote"], "paragraph"),
    **dict.fromkeys(
        ["dd", "address", "center", "td", "th", "tbody", "thead", "table"], "paragraph"
    ),
    **dict.fromkeys(["ul", "ol", "dl", "menu", "hr", "br", "figure", "html"], "paragraph"),
    "li": "item",
    "dt": "item",  # read with its <dd>: "term — definition"
    "pre": "code",
    "caption": "caption",
    "figcaption": "caption",
    "tr": "row",
}
TERM_LEVEL = 7  # a <dt> heads its <dd> below the h1-h6 headings
# A table row holding these, or longer than a row of data, is page layout: its cells are
# read as blocks
LAYOUT = ["table", "ul", "ol", "dl", "pre", "h1", "h2", "h3", "h4", "h5", "h6"]
LONGEST_ROW = 400


def _layout(row) -> bool:
    return bool(row.find(LAYOUT)) or len(row.get_text()) > LONGEST_ROW


class BlockText:
    """Text and blocks written block by block (whitespace collapsed, blocks separated by a
    blank line), with the places where slides, sheet rows or chapters start; `walk` reads an
    HTML body into it: one block per block element, inline text joined with single spaces."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.blocks: list[Block] = []
        self.size = 0
        self.run: list[str] = []
        self.term: str | None = None  # a <dt> waiting for its <dd>
        self.locations: list[tuple[int, str]] = []
        self.label: str | None = None  # the location of the next block added
        self.header: list[str] | None = None  # the column names of the table being read

    def mark(self, label: str) -> None:
        """The next block starts `label` ("slide 3", "Sheet1, row 14")."""
        self.label = label

    def text(self) -> str:
        return "".join(self.parts)

    def add(self, kind: str, text: str, level: int = 0) -> None:
        text = text.strip("\n") if kind == "code" else " ".join(text.split())
        if not text:
            return
        if self.term is not None:  # a <dt> is read as the start of its definition
            term, self.term = self.term, None
            if kind not in ("heading", "code"):
                text = f"{term} \N{EM DASH} {text}"
            else:
                self.add("heading", term, TERM_LEVEL)
        if self.parts:
            self.parts.append("\n\n")
            self.size += 2
        if self.label is not None:
            self.locations.append((self.size, self.label))
            self.label = None
        if kind == "heading" and text.endswith("?"):
            kind = "question"
        self.blocks.append(Block(kind, self.size, self.size + len(text), level))
        self.parts.append(text)
        self.size += len(text)

    def flush(self, kind: str, level: int = 0) -> None:
        self.add(kind, "".join(self.run), level)
        self.run = []

    def walk(self, node, kind: str = "paragraph", level: int = 0) -> None:
        from bs4 import NavigableString, Tag
        from bs4.element import Comment, Doctype, ProcessingInstruction

        for child in node.children:
            if isinstance(child, (Comment, Doctype, ProcessingInstruction)):
                continue
            if isinstance(child, NavigableString):
                self.run.append(str(child))
            elif isinstance(child, Tag):
                name = child.name.lower()
                if name not in HTML_BLOCKS:
                    self.walk(child, kind, level)
                    continue
                self.flush(kind, level)
                if name == "tr" and not _layout(child):
                    self.row(child)
                elif name == "dt":
                    self.flush_term()
                    term = " ".join(child.get_text(" ").split())
                    if term.endswith("?"):
                        self.add("question", term)
                    else:
                        self.term = term or None
                elif name == "pre":
                    self.add("code", child.get_text())
                else:
                    inner = HTML_BLOCKS[name]
                    depth = int(name[1]) if inner == "heading" else 0
                    outer, self.header = self.header, None if name == "table" else self.header
                    self.walk(child, inner if inner != "paragraph" else kind, depth or level)
                    self.flush(inner if inner != "paragraph" else kind, depth or level)
                    self.header = outer if name == "table" else self.header

    def flush_term(self) -> None:
        """A <dt> with no definition after it stands as a heading."""
        if self.term is not None:
            term, self.term = self.term, None
            self.add("heading", term, TERM_LEVEL)

    def row(self, row) -> None:
        """A table row; under a header row of as many cells, each cell named by its column
        ("Country: Belarus; Entities: 15")."""
        cells = row.find_all(["td", "th"], recursive=False)
        texts = [" ".join(cell.get_text(" ").split()) for cell in cells]
        if bool(cells) and all(cell.name == "th" for cell in cells):
            self.header = texts if len(texts) > 1 else None
            self.add("table_header", " | ".join(t for t in texts if t))
            return
        named = self.header is not None and len(self.header) == len(texts)
        self.add("row", row_text(self.header if named else None, texts))


def html_soup(raw: bytes):
    """A parsed HTML page. lxml (libxml2) parses in linear time; Python's html.parser is
    quadratic on inputs such as many unclosed "<a b=" or "<!--", and would hold an ingest for
    minutes."""
    from bs4 import BeautifulSoup

    with warnings.catch_warnings():  # XHTML read as HTML is what we want; no warning
        warnings.simplefilter("ignore")
        return BeautifulSoup(raw, "lxml")


def row_text(header: list[str] | None, cells: list[str]) -> str:
    """A table row that keeps its column names ("Country: Belarus; Entities: 15"), or its
    cells set apart by " | " when the table has no header."""
    if not header:
        return " | ".join(c for c in cells if c)
    named = []
    for i, cell in enumerate(cells):
        if cell:
            name = header[i] if i < len(header) else ""
            named.append(f"{name}: {cell}" if name and name != cell else cell)
    return "; ".join(named)
