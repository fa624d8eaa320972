"""Ingestion: corpus folder -> chunks -> hybrid store, through LangChain's indexing API."""

import sys
from collections.abc import Iterator
from dataclasses import dataclass, field

from langchain_core.embeddings import Embeddings
from langchain_core.indexing import RecordManager, index
from tqdm import tqdm

from qa.chunking import chunk_document, make_splitter
from qa.errors import BackendError, CorpusError, IndexBusyError, QAError
from qa.loading import SUPPORTED_SUFFIXES, SkippedFile, corpus_files, load_corpus
from qa.settings import Settings
from qa.store import HybridStore, check_servers, embedder_name, open_store, record_manager

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

    def summary(self) -> str:
        """One line for the terminal."""
        return (
            f"indexed {self.files} file(s), {self.chunks} chunk(s): {self.added} added,"
            f" {self.unchanged} unchanged, {self.deleted} removed,"
            f" {len(self.skipped)} file(s) skipped"
        )


def ingest(
    settings: Settings,
    embeddings: Embeddings,
    progress: bool | None = None,
    allow_empty: bool = False,
) -> IngestReport:
    """Bring the index in step with the corpus folder; only new or changed chunks are embedded.

    >>> ingest(Settings(corpus_dir=Path("corpus")), load_embeddings()).summary()  # doctest: +SKIP
    'indexed 1 file(s), 6 chunk(s): 6 added, 0 unchanged, 0 removed, 0 file(s) skipped'

    `allow_empty` lets an emptied corpus empty the index (the UI's delete of the last file).
    """
    check_servers(settings)
    if not corpus_files(settings.corpus_dir) and not allow_empty:
        kinds = ", ".join(SUPPORTED_SUFFIXES)
        raise CorpusError(f"corpus folder {settings.corpus_dir} holds no {kinds} files")
    report, unreachable = IngestReport(), set()
    documents = list(
        load_corpus(
            settings.corpus_dir,
            report.skipped,
            settings.max_file_bytes,
            unreachable,
            settings.extract_timeout,
        )
    )
    if not documents and not unreachable and not allow_empty:
        raise CorpusError(f"no readable file in {settings.corpus_dir} ({_skipped_text(report)})")
    splitter = make_splitter(settings.chunk_size, settings.chunk_overlap)
    chunks = [chunk for document in documents for chunk in chunk_document(document, splitter)]
    report.files, report.chunks = len(documents), len(chunks)

    lock = _lock(settings)
    try:
        result, leftovers = _write(settings, embeddings, chunks, unreachable, progress)
    except QAError:
        raise
    except Exception as exc:  # Chroma and SQLite raise their own classes, e.g. on a full disk
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ""
        raise BackendError(
            f"writing the index in {_where(settings)} failed ({type(exc).__name__}: {first});"
            " run `qa ingest` again once the cause is fixed: it resumes where it stopped"
        ) from exc
    finally:
        lock.release()
    report.added = result["num_added"] + result["num_updated"]
    report.unchanged, report.deleted = result["num_skipped"], result["num_deleted"] + leftovers
    return report


def _where(settings: Settings) -> str:
    if settings.database_url:
        from qa.postgres import where

        database = where(settings.database_url.get_secret_value())
        return f"the servers ({settings.chroma_url}, {database})"
    return str(settings.index_dir)


def _lock(settings: Settings):
    """The index's ingest lock, held; one clear line if it cannot be had. With a shared
    database it is the database's (an advisory lock), else a file in the index folder."""
    from filelock import FileLock, Timeout

    if settings.database_url:
        from qa.postgres import IngestLock

        lock = IngestLock(settings.database_url.get_secret_value(), settings.collection)
        if not lock.held:
            raise IndexBusyError(
                f"another `qa ingest` is writing to the shared index '{settings.collection}';"
                " try again when it ends"
            )
        return lock
    try:
        settings.index_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(settings.index_dir / "ingest.lock", timeout=0)
        lock.acquire()
    except Timeout:
        raise IndexBusyError(
            f"another `qa ingest` is writing to {settings.index_dir}; try again when it ends"
        ) from None
    except OSError as exc:  # a file in the way, a read-only folder
        raise BackendError(
            f"cannot write the index in {settings.index_dir} (QA_INDEX_DIR): "
            f"{(exc.strerror or str(exc)).lower()}"
        ) from None
    return lock


def _write(
    settings: Settings,
    embeddings: Embeddings,
    chunks: list,
    unreachable: set[str],
    progress: bool | None,
) -> tuple[dict, int]:
    """Index `chunks` through LangChain's indexing API; the result and leftovers removed."""
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
    if not reembed:  # a file that is briefly unreadable keeps its chunks, unchanged
        chunks = chunks + store.lexical.documents_of(sorted(unreachable))
    show = sys.stderr.isatty() if progress is None else progress
    with tqdm(total=len(chunks), desc="indexing", unit="chunk", disable=not show) as bar:
        result = index(
            _counted(chunks, bar),
            records,
            store,
            cleanup="full",
            source_id_key="source",
            batch_size=WRITE_BATCH,
            key_encoder="sha256",
        )
    # after a full re-embed, chunks of files that left the corpus have no record
    leftovers = repair(store, records) if reembed else 0
    lexical.set_fact("ingest", "clean")
    lexical.close()
    return result, leftovers


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


def _counted(chunks: list, bar: tqdm) -> Iterator:
    # Advance the bar by hand: Gradio's tqdm tracking breaks on a tqdm iterated by islice.
    for chunk in chunks:
        bar.update(1)
        yield chunk


def _skipped_text(report: IngestReport) -> str:
    return "; ".join(f"{s.path}: {s.reason}" for s in report.skipped)
