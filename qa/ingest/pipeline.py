"""Ingestion: corpus folder -> chunks -> hybrid store, through LangChain's indexing API."""

import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.indexing import IndexingResult, RecordManager, index
from tqdm import tqdm

from qa.core.errors import BackendError, Cancelled, CorpusError, IndexBusyError, InputError, QAError
from qa.core.settings import Settings
from qa.index.lexical import LexicalBackend
from qa.index.store import (
    HybridStore,
    check_servers,
    embedder_name,
    open_lexical,
    open_store,
    record_manager,
)
from qa.ingest.chunking import Chunker, chunk_document, make_chunker
from qa.ingest.corpus import (
    SkippedFile,
    StoredTexts,
    corpus_files,
    load_corpus,
)
from qa.ingest.formats import OcrOptions

if TYPE_CHECKING:
    from filelock import BaseFileLock

    from qa.index.postgres import IngestLock

WRITE_BATCH = 256


@dataclass
class IngestReport:
    """What one ingestion did."""

    files: int = 0
    chunks: int = 0
    added: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    notes: list[SkippedFile] = field(default_factory=list)  # indexed, with something to say

    def summary(self) -> str:
        """One line for the terminal."""
        notes = f", {len(self.notes)} with a note" if self.notes else ""
        return (
            f"indexed {self.files} file(s), {self.chunks} chunk(s): {self.added} added,"
            f" {self.unchanged} unchanged, {self.deleted} removed,"
            f" {len(self.skipped)} file(s) skipped{notes}"
        )


@dataclass
class IngestControl:
    """Lets another thread follow an ingest (chunks written of all) and stop it: the ingest
    then raises Cancelled within one batch of embeddings."""

    stop: threading.Event = field(default_factory=threading.Event)
    done: int = 0
    total: int = 0

    def check(self) -> None:
        if self.stop.is_set():
            raise Cancelled("indexing was stopped")


def ingest(
    settings: Settings,
    embeddings: Embeddings,
    progress: bool | None = None,
    allow_empty: bool = False,
    control: IngestControl | None = None,
    locked: bool = False,
) -> IngestReport:
    """Bring the index in step with the corpus folder; only new or changed chunks are embedded.

    >>> from pathlib import Path  # doctest: +SKIP
    >>> from qa.models.embedder import load_embeddings  # doctest: +SKIP
    >>> ingest(Settings(corpus_dir=Path("corpus")), load_embeddings()).summary()  # doctest: +SKIP
    'indexed 1 file(s), 7 chunk(s): 7 added, 0 unchanged, 0 removed, 0 file(s) skipped'

    `allow_empty` lets an emptied corpus empty the index (the UI's delete of the last file);
    `locked` says the caller already holds the ingest lock (`ingest_lock`). A file that
    cannot be read, chunked or embedded is skipped with its reason; the others are indexed.
    """
    check_servers(settings)
    check_folders(settings)
    if not corpus_files(settings.corpus_dir) and not allow_empty:
        raise CorpusError(
            f"corpus folder {settings.corpus_dir} holds no file qa reads (text, Markdown, PDF,"
            " HTML, Office, OpenDocument, e-mail, e-book or image; README: Supported formats)"
        )
    report, unreachable = IngestReport(), set[str]()
    documents = []
    if not settings.database_url:  # where the extractions are kept: said now, in one line
        try:
            settings.index_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise folder_error(settings, exc) from None
    facts = open_lexical(settings)
    texts = StoredTexts(facts)
    ocr = OcrOptions(settings.ocr_languages, settings.ocr_page_seconds)
    for document in load_corpus(
        settings.corpus_dir,
        report.skipped,
        settings.max_file_bytes,
        unreachable,
        settings.extract_timeout,
        texts,
        ocr,
        _page_bar(progress),
    ):
        if control:
            control.check()
        if replaced := document.metadata.pop("replaced", 0):
            where = str(settings.corpus_dir / document.metadata["source"])
            report.notes.append(SkippedFile(where, replaced_note(replaced)))
        documents.append(document)
    facts.close()
    if not documents and not unreachable and not allow_empty:
        raise CorpusError(f"no readable file in {settings.corpus_dir} ({_skipped_text(report)})")
    chunker = make_chunker(settings.chunk_size, settings.chunk_overlap)
    chunks = _chunks(documents, chunker, settings, report)
    report.files = len({chunk.metadata["source"] for chunk in chunks})
    report.chunks = len(chunks)

    lock = None if locked else ingest_lock(settings)
    try:
        result, leftovers, failed = _write(
            settings, embeddings, chunks, unreachable, progress, control
        )
    except QAError:
        raise
    except Exception as exc:  # Chroma and SQLite raise their own classes, e.g. on a full disk
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise BackendError(
            f"writing the index in {_where(settings)} failed ({type(exc).__name__}: {first});"
            " run `qa ingest` again once the cause is fixed: it resumes where it stopped"
        ) from exc
    finally:
        if lock is not None:
            lock.release()
    for source, (reason, count) in sorted(failed.items()):
        report.skipped.append(SkippedFile(str(settings.corpus_dir / source), reason))
        report.files, report.chunks = report.files - 1, report.chunks - count
    report.added = (
        result["num_added"] + result["num_updated"] - sum(count for _, count in failed.values())
    )
    report.unchanged, report.deleted = result["num_skipped"], result["num_deleted"] + leftovers
    return report


def _page_bar(progress: bool | None) -> "Callable[[Path, int, int], None]":
    """A progress bar for each file read by OCR, page by page."""
    show = sys.stderr.isatty() if progress is None else progress
    bars: dict[Path, tqdm] = {}

    def on_page(path: Path, done: int, total: int) -> None:
        if not show:
            return
        if path not in bars:
            for old in bars.values():
                old.close()
            bars.clear()
            bars[path] = tqdm(total=total, desc=f"OCR {path.name}", unit="page")
        bar = bars[path]
        bar.update(done - bar.n)
        if done >= total:
            bar.close()
            del bars[path]

    return on_page


def replaced_note(count: int) -> str:
    return (
        f"indexed, but {count} character(s) that are not valid Unicode were replaced by"
        " \N{REPLACEMENT CHARACTER}"
    )


def _chunks(documents: list, chunker: Chunker, settings: Settings, report: IngestReport) -> list:
    """Every document's chunks; a document that cannot be chunked is skipped, named."""
    chunks = []
    for document in documents:
        try:
            chunks += chunk_document(document, chunker)
        except Exception as exc:  # one file's failure must not stop the others
            source = str(settings.corpus_dir / document.metadata["source"])
            reason = f"it could not be split into chunks ({type(exc).__name__}: {exc})"[:300]
            report.skipped.append(SkippedFile(source, reason))
    return chunks


def check_folders(settings: Settings) -> None:
    """An index folder inside the corpus would index its own files and its trash."""
    corpus, index = settings.corpus_dir.resolve(), settings.index_dir.resolve()
    if index == corpus or corpus in index.parents:
        raise InputError(
            f"the index folder {settings.index_dir} (QA_INDEX_DIR) is inside the corpus folder"
            f" {settings.corpus_dir} (QA_CORPUS_DIR): choose one outside it"
        )


def _where(settings: Settings) -> str:
    if settings.database_url:
        from qa.index.postgres import where

        database = where(settings.database_url.get_secret_value())
        return f"the servers ({settings.chroma_url}, {database})"
    return str(settings.index_dir)


def ingest_lock(settings: Settings, wait: float = 0) -> "IngestLock | BaseFileLock":
    """The index's ingest lock, held (call `.release()`); one clear line if it cannot be had
    within `wait` seconds. With a shared database it is the database's (an advisory lock),
    else a file in the index folder."""
    from filelock import FileLock, Timeout

    if settings.database_url:
        from qa.index.postgres import IngestLock

        url, deadline = settings.database_url.get_secret_value(), time.monotonic() + wait
        while not (lock := IngestLock(url, settings.collection)).held:
            if time.monotonic() >= deadline:
                raise IndexBusyError(
                    f"another `qa ingest` is writing to the shared index '{settings.collection}';"
                    " try again when it ends"
                )
            time.sleep(0.2)
        return lock
    try:
        settings.index_dir.mkdir(parents=True, exist_ok=True)
        held = FileLock(settings.index_dir / "ingest.lock", timeout=wait)
        held.acquire()
    except Timeout:
        raise IndexBusyError(
            f"another `qa ingest` is writing to {settings.index_dir}; try again when it ends"
        ) from None
    except OSError as exc:  # a file in the way, a read-only folder
        raise folder_error(settings, exc) from None
    return held


def folder_error(settings: Settings, exc: OSError) -> BackendError:
    """Why the index folder cannot be written, in one line."""
    folder, problem = settings.index_dir, (exc.strerror or str(exc)).lower()
    if folder.is_symlink() and not folder.exists():
        problem = "it is a link to a folder that does not exist"
    elif folder.exists() and not folder.is_dir():
        problem = "it is a file, not a folder"
    return BackendError(f"cannot write the index in {folder} (QA_INDEX_DIR): {problem}")


def _write(
    settings: Settings,
    embeddings: Embeddings,
    chunks: list,
    unreachable: set[str],
    progress: bool | None,
    control: IngestControl | None,
) -> tuple[IndexingResult, int, dict[str, tuple[str, int]]]:
    """Index `chunks` through LangChain's indexing API: the result, leftovers removed, and
    the files whose chunks could not be written (source -> reason, chunks)."""
    store, records = open_store(settings, embeddings, claim=True), record_manager(settings)
    lexical = store.lexical
    if lexical.fact("ingest") != "clean":  # a run stopped half-way (or an older index)
        repair(store, records)
    lexical.set_fact("ingest", "running")
    reembed = lexical.fact("embedder") != embedder_name(embeddings)
    if reembed:  # vectors from another model: embed every chunk again
        records.delete_keys(records.list_keys())
    # recorded before embedding, so an interrupted run resumes rather than starts over
    lexical.set_fact("embedder", embedder_name(embeddings))
    if not reembed:  # a file (or folder) briefly unreadable keeps its chunks, unchanged
        chunks = chunks + lexical.documents_of(kept_sources(lexical, unreachable))
    show = sys.stderr.isatty() if progress is None else progress
    writer = FileByFile(store)
    try:
        with tqdm(total=len(chunks), desc="indexing", unit="chunk", disable=not show) as bar:
            result = index(
                _counted(chunks, bar, control),
                records,
                writer,
                cleanup="full",
                source_id_key="source",
                batch_size=WRITE_BATCH,
                key_encoder="sha256",
            )
        if writer.failed_ids:  # recorded by index() as written: forget them, to retry
            records.delete_keys(writer.failed_ids)
        # after a full re-embed, chunks of files that left the corpus have no record
        leftovers = repair(store, records) if reembed else 0
        lexical.set_fact("ingest", "clean")
    finally:
        store.close()
    return result, leftovers, writer.failed


class FileByFile(HybridStore):
    """The store, writing a batch file by file when the batch fails: a file whose chunks
    cannot be embedded or written is left out, with its reason; when every file of a batch
    fails, the store itself is at fault, and the error stands."""

    def __init__(self, store: HybridStore) -> None:
        super().__init__(store.dense, store.lexical)
        self.failed: dict[str, tuple[str, int]] = {}
        self.failed_ids: list[str] = []

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        try:
            return super().add_documents(documents, **kwargs)
        except Cancelled:
            raise
        except Exception as exc:
            ids = kwargs.pop("ids", None) or [None] * len(documents)
            groups: dict[str, list[tuple[str | None, Document]]] = {}
            for id_, document in zip(ids, documents, strict=True):
                groups.setdefault(document.metadata.get("source", ""), []).append((id_, document))
            if len(groups) == 1:
                self._fail(*next(iter(groups.items())), exc)
                return []
            written, failures = [], 0
            for source, group in groups.items():
                try:
                    written += super().add_documents(
                        [d for _, d in group], ids=[i for i, _ in group], **kwargs
                    )
                except Cancelled:
                    raise
                except Exception as problem:
                    self._fail(source, group, problem)
                    failures += 1
            if failures == len(groups):
                raise exc
            return written

    def _fail(self, source: str, group: list, exc: Exception) -> None:
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        reason = f"it could not be embedded or written ({type(exc).__name__}: {first})"
        self.failed[source] = (reason, len(group))
        self.failed_ids += [id_ for id_, _ in group if id_ is not None]


def kept_sources(lexical: LexicalBackend, unreachable: set[str]) -> list[str]:
    """The indexed sources that `unreachable` names: files, and every file below a folder
    (a name ending in "/")."""
    folders = tuple(name for name in unreachable if name.endswith("/"))
    files = {name for name in unreachable if not name.endswith("/")}
    if folders:
        files |= {d["source"] for d in lexical.sources() if d["source"].startswith(folders)}
    return sorted(files)


def repair(store: HybridStore, records: RecordManager) -> int:
    """Undo what an interrupted run left half-done, so the next `index()` sees the truth.

    It reads every id of the three stores, so it runs only after a run that did not end
    ("ingest" is not "clean"), and memory does not grow with the corpus on other runs.

    Vectors are written before lexical rows and records, and deleted before them; a run
    killed in between leaves chunks without a record (deleted here, so they cannot linger)
    or records without both copies of their chunk (dropped, so the chunk is written again).
    """
    recorded = set(records.list_keys())
    dense = set(store.dense.get(include=[])["ids"])
    lexical = store.lexical.ids()
    orphans = (dense | lexical) - recorded
    if orphans:
        store.delete(sorted(orphans))
    missing = recorded - (dense & lexical)
    if missing:
        records.delete_keys(sorted(missing))
    return len(orphans) + len(missing)


def _counted(chunks: list, bar: tqdm, control: IngestControl | None) -> Iterator:
    # Advance the bar by hand: Gradio's tqdm tracking breaks on a tqdm iterated by islice.
    if control:
        control.total = len(chunks)
    for chunk in chunks:
        if control:
            control.check()
            control.done += 1
        bar.update(1)
        yield chunk


def _skipped_text(report: IngestReport) -> str:
    return "; ".join(f"{s.path}: {s.reason}" for s in report.skipped)
