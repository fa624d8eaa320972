"""Corpus files -> LangChain Documents, one per file, with the text their extractor gives."""

import functools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from langchain_core.documents import Document

from qa.errors import CorpusError
from qa.formats import SUPPORTED_SUFFIXES, UnreadableFile, extract

MAX_TITLE_CHARS = 200


@dataclass(frozen=True)
class SkippedFile:
    """A corpus file that could not be read, and why."""

    path: str
    reason: str


def corpus_files(corpus_dir: Path) -> list[Path]:
    """Every supported file under `corpus_dir`, sorted, hidden files left out."""
    if not corpus_dir.is_dir():
        problem = "is a file, not a folder" if corpus_dir.exists() else "does not exist"
        raise CorpusError(f"corpus folder {corpus_dir} {problem}")
    return sorted(
        path
        for path in corpus_dir.rglob("*")
        if (path.is_file() or path.is_symlink())  # a dangling link is reported, not hidden
        and path.suffix.lower() in SUPPORTED_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(corpus_dir).parts)
    )


def title_of(text: str, path: Path, title: str | None = None) -> str:
    """The format's own title, else a Markdown `# heading`, else a short first line of a
    .txt file, else the file name."""
    if title and title.strip():
        return title.strip()
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


def load_file(path: Path, corpus_dir: Path, max_bytes: int | None = None) -> Document:
    """One file as a Document whose metadata names its source (relative) and title."""
    extracted = extract(path, max_bytes)
    if not extracted.text.strip():
        raise UnreadableFile(
            "it holds no text (a scanned PDF?)" if extracted.page_starts else "it is empty"
        )
    metadata = {
        "source": path.relative_to(corpus_dir).as_posix(),
        "title": title_of(extracted.text, path, extracted.title),
    }
    if extracted.page_starts:
        metadata["page_starts"] = extracted.page_starts
    return Document(page_content=extracted.text, metadata=metadata)


def load_corpus(
    corpus_dir: Path, skipped: list[SkippedFile], max_bytes: int | None = None
) -> Iterator[Document]:
    """Yield a Document per readable file; unreadable ones are appended to `skipped`."""
    for path in corpus_files(corpus_dir):
        try:
            yield load_file(path, corpus_dir, max_bytes)
        except UnreadableFile as exc:
            skipped.append(SkippedFile(str(path), str(exc)))
        except OSError as exc:
            skipped.append(SkippedFile(str(path), (exc.strerror or str(exc)).lower()))
        except Exception as exc:  # a parser's own failure must not stop the other files
            skipped.append(SkippedFile(str(path), f"it could not be read ({type(exc).__name__})"))


def source_text(path: Path) -> str:
    """A corpus file's extracted text, re-read only when the file changes; "" if unreadable."""
    try:
        stat = path.stat()
    except OSError:
        return ""
    return _extract_cached(path, stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=64)
def _extract_cached(path: Path, mtime_ns: int, size: int) -> str:
    try:
        return extract(path).text
    except (OSError, UnreadableFile):
        return ""


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
