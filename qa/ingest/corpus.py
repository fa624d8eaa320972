"""The corpus folder: its files listed safely (unreadable folders, links), each read into a
LangChain Document, and the stored text of any source that citations' offsets index."""

import functools
import hashlib
import json
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from langchain_core.documents import Document

from qa.core.errors import CorpusError, SourceUnavailable
from qa.ingest.formats import (
    DEFAULT_MAX_BYTES,
    PLAIN_SUFFIXES,
    SUPPORTED_SUFFIXES,
    Extracted,
    OcrOptions,
    UnreadableFile,
    extract,
)
from qa.ingest.mail import MOST_ATTACHMENTS
from qa.ingest.sandbox import Extraction
from qa.text.blocks import Block


class Facts(Protocol):
    """Where the index keeps facts (`qa.index.lexical.LexicalBackend`)."""

    def fact(self, key: str) -> str | None: ...

    def set_fact(self, key: str, value: str) -> None: ...


class StoredTexts:
    """The text extracted from each non-plain file (parsed or read by OCR), kept with the
    index under the hash of the file's content: extracted once at ingest, never again to
    answer, and what the document view shows."""

    KEPT = 16  # parsed extractions kept in memory: every quote checks one

    def __init__(self, facts: Facts) -> None:
        self.facts = facts
        self._parsed: dict[str, Extracted] = {}  # by content hash, so never stale

    def get(self, digest: str) -> Extracted | None:
        if (found := self._parsed.pop(digest, None)) is None:
            raw = self.facts.fact(f"extracted/{digest}")
            if not raw:
                return None
            found = self._parse(json.loads(raw))
        self._parsed[digest] = found  # the most recently used last
        while len(self._parsed) > self.KEPT:
            del self._parsed[next(iter(self._parsed))]
        return found

    @staticmethod
    def _parse(data: dict) -> Extracted:
        return Extracted(
            data["text"],
            data.get("title"),
            data.get("page_starts", []),
            data.get("replaced", 0),
            [Block(*b) for b in data.get("blocks", [])],
            [(at, label) for at, label in data.get("locations", [])],
            data.get("meta", {}),
            [(name, digest) for name, digest in data.get("attachments", [])],
            data.get("scans", []),
        )

    def fail(self, digest: str, reason: str) -> None:
        """Why the content with this hash could not be read (an attachment, which the next
        ingest takes from the stored message rather than reading again)."""
        self.facts.set_fact(f"unreadable/{digest}", reason)

    def failure(self, digest: str) -> str | None:
        return self.facts.fact(f"unreadable/{digest}")

    def put(self, digest: str, extracted: Extracted) -> None:
        data = {
            "text": extracted.text,
            "title": extracted.title,
            "page_starts": extracted.page_starts,
            "replaced": extracted.replaced,
            "blocks": [[b.kind, b.start, b.end, b.level] for b in extracted.blocks],
            "locations": extracted.locations,
            "meta": extracted.meta,
            "attachments": [
                [name, data if isinstance(data, str) else content_hash(data)]
                for name, data in extracted.attachments
            ],
            "scans": extracted.scans,
        }
        self.facts.set_fact(f"extracted/{digest}", json.dumps(data, ensure_ascii=False))


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@functools.lru_cache(maxsize=256)
def _file_hash(path: Path, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for piece in iter(lambda: handle.read(2**20), b""):
            digest.update(piece)
    return digest.hexdigest()


def file_hash(path: Path) -> str:
    """The SHA-256 of a file's content (remembered while the file is unchanged)."""
    stat = path.stat()
    return _file_hash(path, stat.st_mtime_ns, stat.st_size)


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
    texts: StoredTexts | None = None,
) -> Document:
    """One file as a Document whose metadata names its source (relative) and title. A
    non-plain file's extraction is kept in `texts` under its content hash, and taken from
    there when the file has not changed (a scan is read by OCR once)."""
    plain = path.suffix.lower() in PLAIN_SUFFIXES
    if path.exists() and not path.is_file():  # a pipe would block the hash below
        raise UnreadableFile("it is not a regular file (a pipe, socket or device)")
    digest = file_hash(path) if not plain else None
    extracted = texts.get(digest) if texts is not None and digest else None
    if extracted is None:
        extracted = read(path, max_bytes)
        if texts is not None and digest and extracted.text.strip():
            texts.put(digest, extracted)
    return as_document(extracted, path.relative_to(corpus_dir).as_posix(), path, digest)


PER_DOCUMENT = ("url", "fetched", "message", "attachments_left")  # reader's meta kept


def as_document(extracted: Extracted, source: str, path: Path, digest: str | None) -> Document:
    if not extracted.text.strip():
        scanned = extracted.page_starts or extracted.scans
        raise UnreadableFile("it holds no text (a blank scan?)" if scanned else "it is empty")
    metadata: dict[str, object] = {
        "source": source,
        "title": title_of(path, extracted.title),
        "blocks": extracted.blocks,  # for chunking; not stored
        **{k: v for k, v in extracted.meta.items() if k in PER_DOCUMENT},
    }
    if digest:
        metadata["file_hash"] = digest
    if extracted.page_starts:
        metadata["page_starts"] = extracted.page_starts
    if extracted.locations:
        metadata["locations"] = extracted.locations
    if extracted.replaced:
        metadata["replaced"] = extracted.replaced  # for the ingest's report; not stored
    if extracted.attachments:
        metadata["attachments"] = extracted.attachments  # read by load_corpus; not stored
    return Document(page_content=extracted.text, metadata=metadata)


ATTACHED = "#"  # "message.eml#report.pdf": an attachment's source
NESTED = 3  # messages forwarded inside messages are read this deep


def load_attachments(
    message: Document,
    attachments: list[tuple[str, "bytes | str"]],
    read: Callable[[Path, int | None], Extracted],
    max_bytes: int | None,
    texts: StoredTexts | None,
    skipped: list[SkippedFile],
    depth: int = 1,
) -> Iterator[Document]:
    """The readable attachments of a message, each a Document of its own that names the
    message it came from (and a forwarded message's own, up to NESTED deep); its text is kept
    under its own content hash, and why one could not be read is kept too, so that every
    ingest says so."""
    source = str(message.metadata["source"])
    top = str(message.metadata.get("attached_to", source))
    top_hash = message.metadata.get("container_hash") or message.metadata.get("file_hash", "")
    names: set[str] = set()
    for name, data in attachments:
        if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES or name.startswith("."):
            continue
        name = _unique(name, names)
        where = f"{source}{ATTACHED}{name}"
        # bytes from the message, or the hash of the attachment's stored text
        digest = data if isinstance(data, str) else content_hash(data)
        try:
            extracted = texts.get(digest) if texts is not None else None
            if extracted is None and isinstance(data, str):
                failed = texts.failure(digest) if texts is not None else None
                raise UnreadableFile(failed or "its text is no longer stored: run `qa ingest`")
            if extracted is None and isinstance(data, bytes):
                extracted = _read_bytes(name, data, read, max_bytes)
                if texts is not None:
                    texts.put(digest, extracted)
            if extracted is None:
                continue
            document = as_document(extracted, where, Path(name), digest)
        except UnreadableFile as exc:
            if texts is not None and isinstance(data, bytes):
                texts.fail(digest, str(exc))
            skipped.append(SkippedFile(where, str(exc)))
            continue
        except Exception as exc:  # one attachment's failure must not stop the others
            skipped.append(SkippedFile(where, f"it could not be read ({type(exc).__name__})"))
            continue
        inner = extras(document, skipped)
        document.metadata["attached_to"] = top
        document.metadata["container_hash"] = top_hash
        document.metadata["title"] = f"{name} (attached to {message.metadata['title']})"
        yield document
        if inner and depth >= NESTED:
            reason = f"its {len(inner)} attachment(s) are not read (messages inside messages"
            skipped.append(SkippedFile(where, f"{reason} are read {NESTED} deep)"))
        elif inner:
            yield from load_attachments(document, inner, read, max_bytes, texts, skipped, depth + 1)


def extras(document: Document, skipped: list[SkippedFile]) -> list[tuple[str, "bytes | str"]]:
    """A message's attachments, taken out of its metadata (they are not stored with its
    chunks); those over the limit are named in `skipped`."""
    if left := document.metadata.pop("attachments_left", None):
        source, limit = document.metadata["source"], MOST_ATTACHMENTS
        skipped.append(SkippedFile(str(source), f"its last {left} attachment(s) are not read"
                                   f" (at most {limit} per message)"))  # fmt: skip
    return document.metadata.pop("attachments", [])


def _unique(name: str, taken: set[str]) -> str:
    """`name`, or "name (2).ext" when another attachment of the message has it."""
    path, n, unique = Path(name), 1, name
    while unique in taken:
        n += 1
        unique = f"{path.stem} ({n}){path.suffix}"
    taken.add(unique)
    return unique


def _read_bytes(
    name: str, data: bytes, read: Callable[[Path, int | None], Extracted], limit: int | None
) -> Extracted:
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / name
        copy.write_bytes(data)
        return read(copy, limit)


def load_corpus(
    corpus_dir: Path,
    skipped: list[SkippedFile],
    max_bytes: int | None = None,
    unreachable: set[str] | None = None,
    seconds_per_file: float = 60,
    texts: StoredTexts | None = None,
    ocr: OcrOptions | None = None,
    on_page: Callable[[Path, int, int], None] | None = None,
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
    with Extraction(seconds_per_file, ocr, on_page) as read:
        for path in files:
            if problem := _path_problem(path, root):
                skipped.append(SkippedFile(str(path), problem))
                continue
            try:
                document = load_file(path, corpus_dir, max_bytes, read, texts)
                attachments = extras(document, skipped)
                yield document
                yield from load_attachments(document, attachments, read, max_bytes, texts, skipped)
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


def source_text(
    corpus_dir: Path,
    source: str,
    max_bytes: int | None = None,
    texts: StoredTexts | None = None,
    metadata: dict | None = None,
) -> str:
    """An indexed file's text, as its citations' offsets count it (`source_extracted`)."""
    return source_extracted(corpus_dir, source, max_bytes, texts, metadata).text


def source_extracted(
    corpus_dir: Path,
    source: str,
    max_bytes: int | None = None,
    texts: StoredTexts | None = None,
    metadata: dict | None = None,
) -> Extracted:
    """An indexed file's text, read by the ingest's rules: inside the corpus folder once
    links are resolved, not hidden, not over `max_bytes`. A plain file's text is the file; a
    parsed or scanned file's is the extraction stored at ingest (`texts`, by the content hash
    in its chunks' `metadata`), never extracted again; a file whose content changed is said
    to have changed. Without `texts` (an index with no stored extractions) the file is
    extracted again, once per change.

    Raises SourceUnavailable saying why the file cannot be read now.
    """
    meta = metadata or {}
    container = meta.get("attached_to")
    path = corpus_dir / (container or source)
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
    plain = not container and resolved.suffix.lower() in PLAIN_SUFFIXES
    try:
        if texts is not None and not plain:
            return _stored(resolved, path, meta, texts)
        if container:
            raise SourceUnavailable(f"{source} is an attachment: its text is read at ingest")
        return _extract_cached(resolved, stat.st_mtime_ns, stat.st_size, limit)
    except UnreadableFile as exc:
        raise SourceUnavailable(f"{path} cannot be read now: {exc}") from None
    except OSError as exc:
        raise SourceUnavailable(f"{path} cannot be read ({_reason(exc)})") from None
    except SourceUnavailable:
        raise
    except Exception as exc:  # a parser's own failure on a file that changed (e.g. broken XML)
        raise SourceUnavailable(f"{path} cannot be read now ({type(exc).__name__})") from None


def _stored(resolved: Path, path: Path, meta: dict, texts: StoredTexts) -> Extracted:
    """The extraction stored at ingest for a file whose content is still what was indexed."""
    now = file_hash(resolved)
    indexed = meta.get("container_hash" if meta.get("attached_to") else "file_hash")
    if indexed and now != indexed:
        raise SourceUnavailable(f"{path} changed since it was indexed: run `qa ingest`")
    stored = texts.get(meta.get("file_hash") or now)
    if stored is None:
        raise SourceUnavailable(f"{path} has no stored text in the index: run `qa ingest`")
    return stored


def _reason(exc: OSError) -> str:
    return (exc.strerror or str(exc)).lower()


@functools.lru_cache(maxsize=16)
def _extract_cached(path: Path, mtime_ns: int, size: int, max_bytes: int) -> Extracted:
    return extract(path, max_bytes)
