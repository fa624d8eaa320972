"""Corpus files -> LangChain Documents, one per file, text exactly as `open(path).read()`."""

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from langchain_core.documents import Document

from qa.errors import CorpusError

SUPPORTED_SUFFIXES = (".txt", ".md")
MAX_TITLE_CHARS = 200


@dataclass(frozen=True)
class SkippedFile:
    """A corpus file that could not be read, and why."""

    path: str
    reason: str


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Every supported file under `corpus_dir`, sorted, hidden files left out."""
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist")
    return sorted(
        path
        for path in corpus_dir.rglob("*")
        if (path.is_file() or path.is_symlink())  # a dangling link is reported, not hidden
        and path.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(corpus_dir).parts)
    )


def read_text(path: Path) -> str:
    """The file's text as `open(path, encoding='utf-8').read()` gives it, so offsets match."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if "\x00" in text:
        raise UnicodeError("it looks like a binary file")
    return text


def title_of(text: str, path: Path) -> str:
    """A Markdown `# heading`, else a short first line, else the file name."""
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            return line.lstrip("#").strip()
        if len(line) <= MAX_TITLE_CHARS and path.suffix.lower() == ".txt":
            return line
        break
    return path.stem.replace("_", " ").replace("-", " ").strip() or path.name


def load_file(path: Path, corpus_dir: Path) -> Document:
    """One file as a Document whose metadata names its source (relative) and title."""
    text = read_text(path)
    if not text.strip():
        raise ValueError("it is empty")
    return Document(
        page_content=text,
        metadata={"source": path.relative_to(corpus_dir).as_posix(), "title": title_of(text, path)},
    )


def load_corpus(corpus_dir: Path, skipped: list[SkippedFile]) -> Iterator[Document]:
    """Yield a Document per readable file; unreadable ones are appended to `skipped`."""
    for path in corpus_files(corpus_dir):
        try:
            yield load_file(path, corpus_dir)
        except UnicodeError as exc:
            reason = str(exc) if "binary" in str(exc) else "it is not valid UTF-8 text"
            skipped.append(SkippedFile(str(path), reason))
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            skipped.append(SkippedFile(str(path), reason.lower()))


def add_to_corpus(paths: list[Path], corpus_dir: Path) -> tuple[list[Path], list[SkippedFile]]:
    """Copy supported files into the corpus; a name already taken gets a numbered suffix."""
    import shutil

    corpus_dir.mkdir(parents=True, exist_ok=True)
    added, rejected = [], []
    for path in paths:
        if path.suffix.lower() not in SUPPORTED_SUFFIXES:
            kinds = ", ".join(SUPPORTED_SUFFIXES)
            rejected.append(SkippedFile(path.name, f"unsupported file type (qa reads {kinds})"))
            continue
        target, n = corpus_dir / path.name, 1
        while target.exists() and target.read_bytes() != path.read_bytes():
            target, n = corpus_dir / f"{path.stem}-{n}{path.suffix}", n + 1
        shutil.copyfile(path, target)
        added.append(target)
    return added, rejected
