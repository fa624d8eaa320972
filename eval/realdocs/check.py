"""Check the real-document question set: gold answers, unanswerable probes, SOURCES.tsv.

    /work/main/.venv/bin/python eval/realdocs/check.py

Every answerable question's gold strings must occur in its file's visible text (whitespace
collapsed, case-insensitive): HTML without tags, scripts, styles and navigation (as qa reads it),
PDF text from pypdf, .docx text from python-docx. For unanswerable questions the lines where
their key terms meet are printed for review, and strings that would answer them must be absent
from every file. Every file in files/ must have one row in SOURCES.tsv. Exits 1 on a failure.
"""

import json
import logging
import re
import sys
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = HERE / "files"
QUESTIONS = HERE / "realdocs.jsonl"
SOURCES = HERE / "SOURCES.tsv"
FORMATS = {".txt", ".md", ".html", ".pdf", ".docx"}

MINIMUM = {  # questions of each kind the set must hold
    "wrapped": 10,
    "faq": 8,
    "command": 8,
    "list_table": 8,
    "inline_code": 6,
    "yesno": 5,
    "unanswerable": 15,
}
REQUIRED = {  # question: (answers, file, kind or None)
    "What is the shell of user sync?": (["/bin/sync"], "base-passwd-users-and-groups.html", None),
    "Where does the man program write cat pages?": (
        ["/var/cache/man"],
        "base-passwd-users-and-groups.html",
        None,
    ),
    "Is zlib thread-safe?": (["Yes"], "zlib1g-dev-FAQ.txt", "yesno"),
}

# Unanswerable questions: lines (or sentences) holding all `terms`, in the files whose names
# contain one of `in` (default: every file), are printed for review; `absent` strings would
# answer the question and must occur in no file.
PROBES = {
    "u01": {"terms": ["www-data"], "absent": ["uid 33", "www-data:x:33"]},
    "u02": {"terms": ["pager"], "absent": ["MANPAGER", "$PAGER"]},
    "u03": {"terms": ["seed"], "in": ["xsltproc"], "absent": ["default seed", "--seed-rand is"]},
    "u04": {"terms": ["FreeBSD"], "absent": ["~/.cache/pip on FreeBSD"]},
    "u05": {"terms": ["group/GID"], "in": ["systemd"], "absent": ["docker"]},
    "u06": {"terms": ["level"], "in": ["zstd"], "absent": ["--ultra", "level 19", "level 22"]},
    "u07": {"terms": ["host key"], "in": ["openssh"], "absent": ["rotate", "key rollover"]},
    "u08": {"terms": ["most recent version"], "in": ["zlib"], "absent": ["zlib 1.2.13", "zlib 1.3", "latest version of zlib is"]},
    "u09": {"terms": ["SHA3", "version"], "in": ["nettle"], "absent": ["SHA3 was added", "added SHA3"]},
    "u10": {"terms": ["cache"], "in": ["ninja"], "absent": ["remote cache", "ccache", "sccache"]},
    "u11": {"terms": ["libvirt"], "absent": ["libvirt:x:"]},
    "u12": {"terms": ["port"], "in": ["openssh"], "absent": ["port 22", "Port 22"]},
    "u13": {"terms": ["convert"], "in": ["test"], "absent": ["tika-app", "--pdf"]},
    "u14": {"terms": ["interval"], "in": ["fontconfig"], "absent": ["30 seconds"]},
    "u15": {"terms": ["Python 3"], "in": ["pip"], "absent": ["Requires-Python", "python_requires"]},
}


def collapse(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


# --- visible text, one function per format -------------------------------------------------

BOILERPLATE = ["script", "style", "noscript", "nav", "header", "footer", "aside", "form",
               "template", "svg"]  # the tags qa's HTML reader drops


class _TextParser(HTMLParser):
    """Fallback without bs4: text outside the boilerplate tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in BOILERPLATE:
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in BOILERPLATE and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        import warnings

        from bs4 import BeautifulSoup

        warnings.filterwarnings("ignore", message=".*XML document")
        soup = BeautifulSoup(raw, "lxml")
        for tag in soup(BOILERPLATE):
            tag.decompose()
        body = soup.find("main") or soup.find("article") or soup.body or soup
        return body.get_text("\n")
    except ImportError:
        parser = _TextParser()
        parser.feed(raw.decode("utf-8", errors="replace"))
        return "\n".join(parser.parts)


def pdf_text(path: Path) -> str:
    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    reader = PdfReader(path)
    text = "\n\n".join(page.extract_text() or "" for page in reader.pages)
    return re.sub("[\ud800-\udfff]", "\ufffd", text)


def docx_texts(path: Path) -> tuple[str, str]:
    """(body paragraphs only; every paragraph, tables and text boxes included)."""
    import docx
    from docx.oxml.ns import qn

    document = docx.Document(str(path))
    body = "\n\n".join(p.text for p in document.paragraphs if p.text.strip())
    every = [
        "".join(t.text or "" for t in p.iter(qn("w:t")))
        for p in document.element.body.iter(qn("w:p"))
    ]
    return body, "\n".join(t for t in every if t.strip())


def visible(path: Path) -> tuple[str, str]:
    """(the text a reader of body paragraphs sees, the whole visible text) of a file."""
    suffix = path.suffix.lower()
    if suffix in {".txt", ".md"}:
        text = path.read_text(encoding="utf-8")
    elif suffix == ".html":
        text = html_text(path)
    elif suffix == ".pdf":
        text = pdf_text(path)
    elif suffix == ".docx":
        return docx_texts(path)
    else:
        raise ValueError(f"not a format qa reads: {suffix}")
    return text, text


# --- checks ----------------------------------------------------------------------------------

problems: list[str] = []
notes: list[str] = []


def fail(message: str) -> None:
    problems.append(message)


def wrapped_sentence(raw: str, gold: str) -> bool | None:
    """Whether the sentence holding `gold` in `raw` runs over a line break (None: not found)."""
    pattern = r"\s+".join(re.escape(word) for word in gold.split())
    match = re.search(pattern, raw, re.IGNORECASE)
    if not match:
        return None
    ends = re.compile(r"[.!?:]\s|\n\s*\n")
    start = max((m.end() for m in ends.finditer(raw, 0, match.start())), default=0)
    after = ends.search(raw, match.end())
    end = after.start() + 1 if after else len(raw)
    return "\n" in raw[start:end].strip()


def main() -> int:
    files = sorted(p for p in FILES.iterdir() if p.is_file())
    texts: dict[str, tuple[str, str]] = {}
    for path in files:
        if path.suffix.lower() not in FORMATS:
            fail(f"{path.name}: not a format qa reads")
            continue
        try:
            texts[path.name] = visible(path)
        except ImportError as exc:
            fail(f"{path.name}: cannot read it ({exc}); run with /work/main/.venv/bin/python")
        except Exception as exc:  # a file qa could not read either does not belong here
            fail(f"{path.name}: unreadable ({type(exc).__name__}: {exc})")
    folded = {name: (collapse(qa).lower(), collapse(full).lower()) for name, (qa, full) in texts.items()}

    # SOURCES.tsv
    rows = [line.split("\t") for line in SOURCES.read_text(encoding="utf-8").splitlines() if line]
    if rows[0] != ["file", "origin", "package", "licence"]:
        fail(f"SOURCES.tsv: header is {rows[0]}")
    listed = Counter(row[0] for row in rows[1:])
    for row in rows[1:]:
        if len(row) != 4 or not all(cell.strip() for cell in row):
            fail(f"SOURCES.tsv: bad row {row}")
    for path in files:
        if listed[path.name] != 1:
            fail(f"SOURCES.tsv lists {path.name} {listed[path.name]} times")
    for name in listed:
        if not (FILES / name).is_file():
            fail(f"SOURCES.tsv lists {name}, which is not in files/")

    # questions
    questions = [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines() if line.strip()]
    ids = Counter(q["id"] for q in questions)
    for qid, count in ids.items():
        if count > 1:
            fail(f"id {qid} is used {count} times")
    kinds = Counter(q.get("kind") for q in questions)
    for kind, least in MINIMUM.items():
        if kinds[kind] < least:
            fail(f"{kinds[kind]} questions of kind {kind}, fewer than {least}")
    by_text = {q["question"]: q for q in questions}
    for text, (answers, file, kind) in REQUIRED.items():
        q = by_text.get(text)
        if q is None or q["answers"] != answers or q.get("file") != file or (kind and q["kind"] != kind):
            fail(f"required question missing or changed: {text!r}")

    used_files = set()
    for q in questions:
        qid = q["id"]
        if not isinstance(q.get("question"), str) or not isinstance(q.get("answers"), list):
            fail(f"{qid}: needs a question string and an answers list")
            continue
        if q.get("unanswerable"):
            if q["answers"] or q.get("kind") != "unanswerable" or "file" in q:
                fail(f"{qid}: an unanswerable question has no answers and no file")
            continue
        name = q.get("file")
        if name not in folded:
            fail(f"{qid}: file {name!r} is not a readable file in files/")
            continue
        used_files.add(name)
        if not 1 <= len(q["answers"]) <= 3:
            fail(f"{qid}: {len(q['answers'])} gold answers (want 1-3)")
        seen_by_qa, seen = folded[name]
        for gold in q["answers"]:
            key = collapse(gold).lower()
            if key not in seen:
                fail(f"{qid}: gold {gold!r} is not in the visible text of {name}")
            elif key not in seen_by_qa:
                notes.append(f"{qid}: {gold!r} is in {name} only in a table or text box, not in "
                             "the body paragraphs (a reader of paragraphs alone misses it)")
            if len(key) >= 4 and key not in {"yes", "no"} and seen.count(key) > 1:
                notes.append(f"{qid}: {gold!r} occurs {seen.count(key)} times in {name} (review)")
            others = [n for n, (_, full) in folded.items() if n != name and key in full]
            if others and len(key) >= 4 and key not in {"yes", "no"}:
                notes.append(f"{qid}: {gold!r} also occurs in {', '.join(others)} (review)")
        if q.get("kind") == "wrapped":
            raw = texts[name][1]
            if Path(name).suffix not in {".txt", ".md", ".pdf"}:
                fail(f"{qid}: a wrapped question must be about a .txt, .md or .pdf file")
            elif not any(wrapped_sentence(raw, gold) for gold in q["answers"]):
                fail(f"{qid}: no gold answer sits in a sentence wrapped over lines")
    if len(used_files) < 20:
        fail(f"answerable questions use {len(used_files)} files, fewer than 20")

    # unanswerable probes
    review: list[str] = []
    for q in questions:
        if not q.get("unanswerable"):
            continue
        probe = PROBES.get(q["id"])
        if probe is None:
            fail(f"{q['id']}: no probe terms in check.py")
            continue
        for name, (_, full) in texts.items():
            flat = collapse(full).lower()
            for bad in probe["absent"]:
                if collapse(bad).lower() in flat:
                    fail(f"{q['id']}: {bad!r} occurs in {name}; the question may be answerable")
            if not any(part in name for part in probe.get("in", [""])):
                continue
            for line in re.split(r"(?<=[.!?])\s+|\n", full):
                if all(re.search(r"(?<!\w)" + re.escape(term), line, re.IGNORECASE)
                       for term in probe["terms"]):
                    review.append(f"{q['id']} [{name}] {collapse(line)[:150]}")

    formats = Counter(Path(p).suffix for p in texts)
    answerable = [q for q in questions if not q.get("unanswerable")]
    print(f"files: {len(files)} ({', '.join(f'{n} {s}' for s, n in sorted(formats.items()))})")
    print(f"questions: {len(questions)} ({len(answerable)} answerable, "
          f"{len(questions) - len(answerable)} unanswerable) over {len(used_files)} files")
    print("kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))
    if review:
        print(f"\nunanswerable probes, lines to review ({len(review)}):")
        for line in review:
            print("  " + line)
    if notes:
        print(f"\nnotes ({len(notes)}):")
        for note in notes:
            print("  " + note)
    if problems:
        print(f"\nFAILED ({len(problems)}):")
        for problem in problems:
            print("  " + problem)
        return 1
    print("\nOK: every gold answer is in its file's visible text; SOURCES.tsv lists every file")
    return 0


if __name__ == "__main__":
    sys.exit(main())
