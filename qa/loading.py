"""Corpus files -> LangChain Documents, one per file, with the text their extractor gives."""

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from langchain_core.documents import Document

from qa.errors import CorpusError, SourceUnavailable
from qa.formats import (
    DEFAULT_MAX_BYTES,
    SUPPORTED_SUFFIXES,
    Extracted,
    Extraction,
    UnreadableFile,
    extract,
)

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
    root, passed_over = corpus_dir.resolve(), []
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
    old version, which is kept in `trash_dir`. Nothing unreadable or hidden enters the corpus,
    nothing is written through a symbolic link, and each file appears whole or not at all.
    The caller holds the index's ingest lock, so that no ingest sees half a change."""
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
        else:
            replaced = target.exists()
            try:
                if replaced:
                    keep_in_trash(target, trash_dir)
                _place(path, target)
            except OSError as exc:  # a full disk, a name too long for the trash
                rejected.append(SkippedFile(path.name, f"it could not be placed ({_reason(exc)})"))
                continue
            uploads.append(Upload(target, "replaced" if replaced else "added"))
    return uploads, rejected


def _place(path: Path, target: Path) -> None:
    """Copy `path` to `target` through a hidden temporary file in the same folder, renamed
    into place: readers see the old file or the new one, never half of it."""
    import os
    import shutil
    import uuid

    partial = target.with_name(f".qa-upload-{uuid.uuid4().hex[:12]}.partial")
    try:
        shutil.copyfile(path, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def trash_name(name: str) -> str:
    """A name in the trash that no other version takes: the time it left, a random tag, and
    the file's name (its stem shortened if the whole would pass 255 bytes)."""
    import uuid

    prefix = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}-"
    stem, suffix = Path(name).stem, Path(name).suffix
    room = 255 - len(prefix) - len(suffix.encode())
    stem = stem.encode()[:room].decode(errors="ignore")
    return f"{prefix}{stem}{suffix}"


def keep_in_trash(path: Path, trash_dir: Path) -> Path:
    """Copy a corpus file into the trash under a name of its own (before it is replaced)."""
    import shutil

    trash_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy2(path, trash_dir / trash_name(path.name)))


def move_to_trash(path: Path, trash_dir: Path) -> Path:
    """Move a corpus file out of the corpus, under a name of its own; nothing is deleted."""
    import shutil

    trash_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.move(path, trash_dir / trash_name(path.name)))


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
