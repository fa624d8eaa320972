"""Corpus files -> LangChain Documents, one per file, with the text their extractor gives."""

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from langchain_core.documents import Document

from qa.errors import CorpusError
from qa.formats import SUPPORTED_SUFFIXES, Extracted, Extraction, UnreadableFile, extract

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


def load_file(
    path: Path,
    corpus_dir: Path,
    max_bytes: int | None = None,
    read: Callable[[Path, int | None], Extracted] = extract,
) -> Document:
    """One file as a Document whose metadata names its source (relative) and title."""
    extracted = read(path, max_bytes)
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
    corpus_dir: Path,
    skipped: list[SkippedFile],
    max_bytes: int | None = None,
    unreachable: set[str] | None = None,
    seconds_per_file: float = 60,
) -> Iterator[Document]:
    """Yield a Document per readable file; the others are appended to `skipped`.

    A file that exists but cannot be opened right now (permissions, I/O) is also added, by
    its source name, to `unreachable`, so that the index keeps its earlier chunks.
    """
    root = corpus_dir.resolve()
    with Extraction(seconds_per_file) as read:
        for path in corpus_files(corpus_dir):
            if problem := _path_problem(path, root):
                skipped.append(SkippedFile(str(path), problem))
                continue
            try:
                yield load_file(path, corpus_dir, max_bytes, read)
            except UnreadableFile as exc:
                skipped.append(SkippedFile(str(path), str(exc)))
            except OSError as exc:
                reason = (exc.strerror or str(exc)).lower()
                if unreachable is not None and path.exists():
                    unreachable.add(path.relative_to(corpus_dir).as_posix())
                    reason += "; its earlier chunks are kept"
                skipped.append(SkippedFile(str(path), reason))
            except Exception as exc:  # a parser's own failure must not stop the other files
                reason = f"it could not be read ({type(exc).__name__})"
                skipped.append(SkippedFile(str(path), reason))


def _path_problem(path: Path, root: Path) -> str | None:
    """Why a corpus path must not be indexed: a link leading out of the corpus folder, or a
    name that is not valid UTF-8 (it could not be stored or cited)."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return "its name is not valid UTF-8; rename the file"
    if path.is_symlink():
        try:
            path.resolve(strict=True).relative_to(root)
        except FileNotFoundError:
            return "it is a symbolic link to a file that does not exist"
        except (ValueError, OSError):
            return "it is a symbolic link to a file outside the corpus folder"
    return None


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
    except Exception:  # unreadable now (e.g. a .docx whose XML broke): its quotes are stale
        return ""


@dataclass(frozen=True)
class Upload:
    """A file placed in the corpus: "added", "replaced" (the old one kept in the trash) or
    "unchanged" (the corpus already held these bytes)."""

    path: Path
    status: str


def add_to_corpus(
    paths: list[Path],
    corpus_dir: Path,
    trash_dir: Path,
    max_bytes: int | None = None,
    seconds_per_file: float = 60,
) -> tuple[list[Upload], list[SkippedFile]]:
    """Place readable files in the corpus under their own names; a changed file replaces the
    old version, which moves to `trash_dir`. Nothing unreadable or hidden enters the corpus,
    and nothing is written through a symbolic link."""
    import shutil

    corpus_dir.mkdir(parents=True, exist_ok=True)
    uploads, rejected = [], []
    with Extraction(seconds_per_file) as read:
        problems = [
            _upload_problem(path, corpus_dir / path.name, max_bytes, read) for path in paths
        ]
    for path, problem in zip(paths, problems, strict=True):
        target = corpus_dir / path.name
        if problem:
            rejected.append(SkippedFile(path.name, problem))
        elif target.is_file() and target.read_bytes() == path.read_bytes():
            uploads.append(Upload(target, "unchanged"))
        elif target.exists():
            move_to_trash(target, trash_dir)
            shutil.copyfile(path, target)
            uploads.append(Upload(target, "replaced"))
        else:
            shutil.copyfile(path, target)
            uploads.append(Upload(target, "added"))
    return uploads, rejected


def move_to_trash(path: Path, trash_dir: Path) -> Path:
    """Move a corpus file out of the corpus, named by the time it left; nothing is deleted."""
    import shutil

    trash_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.move(path, trash_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{path.name}"))


def _upload_problem(
    path: Path, target: Path, max_bytes: int | None, read: Extraction
) -> str | None:
    """Why an uploaded file cannot go into the corpus as `target`; None if it can."""
    if path.suffix.lower() not in SUPPORTED_SUFFIXES:
        return f"unsupported file type (qa reads {', '.join(SUPPORTED_SUFFIXES)})"
    if path.name.startswith("."):
        return "its name starts with '.', and hidden files are not indexed; rename it"
    if target.is_symlink():
        return f"{target} is a symbolic link; qa does not write through links"
    if target.exists() and not target.is_file():
        return f"{target} is a folder"
    try:
        load_file(path, path.parent, max_bytes, read)
    except UnreadableFile as exc:
        return str(exc)
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()
    except Exception as exc:  # a parser's own failure
        return f"it could not be read ({type(exc).__name__})"
    return None
