"""The corpus folder: its files listed safely (unreadable folders, links), each read into a
LangChain Document, and the stored text of any source that citations' offsets index."""

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from langchain_core.documents import Document

from qa.core.errors import CorpusError, SourceUnavailable
from qa.ingest.formats import (
    DEFAULT_MAX_BYTES,
    SUPPORTED_SUFFIXES,
    Extracted,
    UnreadableFile,
    extract,
)
from qa.ingest.sandbox import Extraction

MAX_TITLE_CHARS = 200


@dataclass(frozen=True)
class SkippedFile:
    """A corpus file that could not be read, and why."""

    path: str
    reason: str


def corpus_files(corpus_dir: Path, passed_over: list[SkippedFile] | None = None) -> list[Path]:
    """Every supported file under `corpus_dir`, sorted, hidden files left out; the folders
    that could not be read, and links to folders (never followed), go in `passed_over`."""
    import os

    if not corpus_dir.is_dir():
        problem = "is a file, not a folder" if corpus_dir.exists() else "does not exist"
        raise CorpusError(f"corpus folder {corpus_dir} {problem}")
    passed = passed_over if passed_over is not None else []

    def unreadable(error: OSError) -> None:
        if Path(error.filename) == corpus_dir:
            raise CorpusError(f"cannot read the corpus folder {corpus_dir}: {_reason(error)}")
        passed.append(SkippedFile(f"{error.filename}/", f"{UNREADABLE_FOLDER} ({_reason(error)})"))

    found = []
    for folder, folders, files in os.walk(corpus_dir, onerror=unreadable):
        base = Path(folder)
        folders[:] = [name for name in folders if not name.startswith(".")]
        links = [name for name in folders if (base / name).is_symlink()]
        for name in links:
            if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                passed.append(SkippedFile(f"{base / name}/", "it is a link to a folder; qa does"
                                          " not follow folder links"))  # fmt: skip
        for name in [*files, *links]:  # a dangling link is a file here: reported, not hidden
            if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_SUFFIXES:
                found.append(base / name)
    return sorted(found)


UNREADABLE_FOLDER = "this folder cannot be read; the earlier chunks of its files are kept"


def title_of(path: Path, title: str | None = None) -> str:
    """The title the reader found in the file's structure, else the file name."""
    if title and title.strip():
        return " ".join(title.split())[:MAX_TITLE_CHARS]
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
    metadata: dict[str, object] = {
        "source": path.relative_to(corpus_dir).as_posix(),
        "title": title_of(path, extracted.title),
        "blocks": extracted.blocks,  # for chunking; not stored
    }
    if extracted.page_starts:
        metadata["page_starts"] = extracted.page_starts
    if extracted.replaced:
        metadata["replaced"] = extracted.replaced  # for the ingest's report; not stored
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
    its source name, to `unreachable`, so that the index keeps its earlier chunks; a folder
    that cannot be read is added as its name and "/", for every file below it.
    """
    root, passed_over = corpus_dir.resolve(), list[SkippedFile]()
    files = corpus_files(corpus_dir, passed_over)
    for folder in passed_over:
        skipped.append(folder)
        if unreachable is not None and folder.reason.startswith(UNREADABLE_FOLDER):
            # a folder prefix: the index keeps the chunks of every file it held below it
            unreachable.add(Path(folder.path).relative_to(corpus_dir).as_posix() + "/")
    with Extraction(seconds_per_file) as read:
        for path in files:
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
                    reason += "; its earlier chunks, if any, are kept"
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


def source_text(corpus_dir: Path, source: str, max_bytes: int | None = None) -> str:
    """An indexed file's extracted text, read by the ingest's rules: inside the corpus folder
    once links are resolved, not hidden, not over `max_bytes`; re-read only when it changes.

    Raises SourceUnavailable saying why the file cannot be read now.
    """
    path = corpus_dir / source
    root = corpus_dir.resolve()
    try:
        resolved = path.resolve(strict=True)
        inside = resolved.relative_to(root)
        stat = resolved.stat()
    except FileNotFoundError:
        raise SourceUnavailable(f"{path} no longer exists: run `qa ingest`") from None
    except ValueError:
        raise SourceUnavailable(f"{path} leads outside the corpus folder; it is not read") from None
    except OSError as exc:
        raise SourceUnavailable(f"{path} cannot be read ({_reason(exc)})") from None
    if any(part.startswith(".") for part in inside.parts) or not resolved.is_file():
        raise SourceUnavailable(f"{path} is not a corpus document")
    limit = max_bytes or DEFAULT_MAX_BYTES
    if stat.st_size > limit:
        raise SourceUnavailable(
            f"{path} is now {stat.st_size / 2**20:.0f} MB, over the {limit / 2**20:.0f} MB limit"
            " (QA_MAX_FILE_MB): run `qa ingest`"
        )
    try:
        return _extract_cached(resolved, stat.st_mtime_ns, stat.st_size, limit)
    except UnreadableFile as exc:
        raise SourceUnavailable(f"{path} cannot be read now: {exc}") from None
    except OSError as exc:
        raise SourceUnavailable(f"{path} cannot be read ({_reason(exc)})") from None
    except Exception as exc:  # a parser's own failure on a file that changed (e.g. broken XML)
        raise SourceUnavailable(f"{path} cannot be read now ({type(exc).__name__})") from None


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


@functools.lru_cache(maxsize=16)
def _extract_cached(path: Path, mtime_ns: int, size: int, max_bytes: int) -> str:
    return extract(path, max_bytes).text
