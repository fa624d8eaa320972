"""The library: the corpus folder and its index, administered. It lists, reads, adds,
deletes and re-indexes documents, and keeps what is replaced in the trash; `QAService`
asks questions of the index it opens."""

import re
import secrets
from functools import cached_property
from pathlib import Path

from langchain_core.embeddings import Embeddings

from qa.core.errors import BackendError, IndexBusyError, InputError, NotIndexedError, QAError
from qa.core.settings import Settings
from qa.index.store import HybridStore, open_existing_store, open_lexical
from qa.ingest.corpus import SkippedFile, StoredTexts, source_extracted
from qa.ingest.formats import SUPPORTED_SUFFIXES, Extracted, OcrOptions
from qa.ingest.pipeline import IngestControl, IngestReport, ingest, ingest_lock
from qa.ingest.uploads import Upload, add_to_corpus, move_to_trash
from qa.ingest.watch import CorpusWatcher
from qa.ingest.web import SavedPage, WebPage, saved_pages
from qa.text.blocks import decode, heading_text

UPLOAD_WAIT = 60  # seconds an upload or delete waits for another ingest to end


class Library:
    """The corpus and its index for `settings`; the embedder and the index open on first use."""

    suffixes = SUPPORTED_SUFFIXES  # the file types qa reads
    watcher: CorpusWatcher[IngestReport] | None = None  # while `qa serve` watches the corpus

    def __init__(self, settings: Settings, embeddings: Embeddings | None = None) -> None:
        self.settings = settings
        self._examples: dict[tuple, str] = {}  # (source, indexed_at, title) -> its example
        if embeddings is not None:
            self.embeddings = embeddings  # share one loaded model between libraries

    @cached_property
    def embeddings(self) -> Embeddings:
        from qa.models.embedder import load_embeddings

        settings = self.settings
        return load_embeddings(
            settings.embedding_model, settings.embedding_threads, settings.model_cache_dir
        )

    @cached_property
    def store(self) -> HybridStore:
        """The index, opened on first use and again after each ingest."""
        return open_existing_store(self.settings, self.embeddings)

    @property
    def trash_dir(self) -> Path:
        """Where replaced and deleted documents are kept (nothing a user adds is lost)."""
        return self.settings.index_dir / "trash"

    def documents(self) -> list[dict]:
        """The indexed files, with title, chunk count and time of indexing."""
        try:
            return self.store.lexical.sources()
        except NotIndexedError:
            return []

    def example_questions(self, documents: list[dict]) -> list[str]:
        """A question from each document's content: its first FAQ question as written, else
        one about its first section heading; a document with neither gets one about its
        title."""
        found = []
        for document in documents:  # read once per version of each document
            key = (document["source"], document.get("indexed_at"), document["title"])
            if key not in self._examples:
                self._examples[key] = self._example_question(document)
            found.append(self._examples[key])
        return found

    def _example_question(self, document: dict) -> str:
        heading = None
        try:
            chunks = self.store.lexical.documents_of([document["source"]])
        except QAError:
            chunks = []
        for chunk in chunks:
            base = chunk.metadata["start"]
            for unit in decode(chunk.metadata.get("units", ""), base):
                words = heading_text(chunk.page_content[unit.start - base : unit.end - base])
                if unit.kind == "question" and words:
                    return re.sub(r"^\d+(\.\d+)*\.?\s+", "", words)  # without its number
                if unit.kind == "heading" and unit.level <= 2 and words and heading is None:
                    heading = words
        if heading:
            return f"What does the section “{heading}” say?"
        return f"What does “{document['title']}” say?"

    def session_secret(self) -> str:
        """QA_SESSION_SECRET, else a random secret kept with the index, the same for every
        process that shares the index (a read-only one without it: this process's own)."""
        if self.settings.session_secret.get_secret_value():
            return self.settings.session_secret.get_secret_value()
        made = secrets.token_urlsafe(32)
        try:
            lexical = open_lexical(self.settings)
        except QAError:
            return made
        try:
            return lexical.first_fact("session-secret", made)
        except OSError:  # a read-only index folder
            return made
        finally:
            lexical.close()

    def add_files(self, paths: list[Path]) -> tuple[list[Upload], list[SkippedFile], IngestReport]:
        """Place files in the corpus and index them; files qa cannot read never enter it.

        The ingest lock is taken first (waiting up to UPLOAD_WAIT seconds for another ingest),
        so an upload either changes the corpus and the index, or nothing."""
        settings = self.settings
        lock = ingest_lock(settings, UPLOAD_WAIT)
        try:
            facts = open_lexical(settings)
            try:
                uploads, rejected = add_to_corpus(
                    paths,
                    settings.corpus_dir,
                    self.trash_dir,
                    settings.max_file_bytes,
                    settings.extract_timeout,
                    StoredTexts(facts),
                    OcrOptions(settings.ocr_languages, settings.ocr_page_seconds),
                )
            finally:
                facts.close()
            changed = any(upload.status != "unchanged" for upload in uploads)
            report = self.ingest(progress=True, locked=True) if changed else IngestReport()
        finally:
            lock.release()
        return uploads, rejected, report

    def add_urls(
        self, urls: list[str], progress: bool | None = True
    ) -> tuple[list[SavedPage], list[QAError], IngestReport]:
        """Fetch web pages, keep their main text in corpus/web/ and index them; a page that
        cannot be fetched or has no main text is refused (its error says why) and nothing
        of it is written. The same address again replaces its file.

        >>> saved, failed, _ = library.add_urls(["https://example.org/ferry"])  # doctest: +SKIP
        >>> saved[0].path, saved[0].status  # doctest: +SKIP
        (PosixPath('web/example.org/ferry.html'), 'added')
        """
        pages, failed = self._fetch_pages(urls)
        saved, more_failed, report = self._save_pages(pages, progress, refresh=False)
        return saved, [exc for _, exc in [*failed, *more_failed]], report

    def refresh_web(self) -> tuple[list[SavedPage], list[tuple[Path, QAError]]]:
        """Fetch every saved web page again and save those whose text changed; a page that
        cannot be fetched keeps its old file. Indexing is left to the caller (`qa ingest`)."""
        found = saved_pages(self.settings.corpus_dir)
        pages, failed = self._fetch_pages([url for _, url in found])
        where = {url: path for path, url in found}
        saved, more_failed, _ = self._save_pages(pages, progress=False, refresh=True, index=False)
        failures = [(where.get(url, Path(url)), exc) for url, exc in [*failed, *more_failed]]
        return saved, failures

    def _fetch_pages(self, urls: list[str]) -> tuple[list[WebPage], list[tuple[str, QAError]]]:
        """Each address fetched and its main text extracted (no lock held meanwhile)."""
        from qa.ingest.fetch import fetch
        from qa.ingest.web import extract_page

        settings, pages, failed = self.settings, [], []
        for url in dict.fromkeys(urls):
            try:
                fetched = fetch(
                    url, settings.web_timeout, settings.max_file_bytes, settings.allow_private_urls
                )
                pages.append(extract_page(fetched))
            except QAError as exc:
                failed.append((url, exc))
        return pages, failed

    def _save_pages(
        self, pages: list[WebPage], progress: bool | None, refresh: bool, index: bool = True
    ) -> tuple[list[SavedPage], list[tuple[str, QAError]], IngestReport]:
        """Pages written into the corpus under the ingest lock, then indexed (`index`)."""
        from qa.ingest.web import save_page

        if not pages:
            return [], [], IngestReport()
        settings, saved, failed, report = self.settings, [], [], IngestReport()
        lock = ingest_lock(settings, UPLOAD_WAIT)
        try:
            for page in pages:
                try:
                    saved.append(save_page(page, settings.corpus_dir, self.trash_dir, refresh))
                except QAError as exc:
                    failed.append((page.url, exc))
            if index and any(page.status != "unchanged" for page in saved):
                report = self.ingest(progress=progress, locked=True)
        finally:
            lock.release()
        return saved, failed, report

    def watch(self) -> CorpusWatcher[IngestReport]:
        """Index the corpus again within seconds whenever files in it are added, changed or
        removed (`qa serve`), in a background thread; never alongside another ingest."""
        settings = self.settings
        watcher = CorpusWatcher(settings.corpus_dir, self._reindex_if_free, [settings.index_dir])
        self.watcher = watcher
        return watcher.start()

    def _reindex_if_free(self) -> IngestReport | None:
        """An ingest if no other is under way (None: try again later)."""
        try:
            lock = ingest_lock(self.settings, 0)
        except IndexBusyError:
            return None
        try:
            return self.ingest(progress=False, allow_empty=True, locked=True)
        finally:
            lock.release()

    def delete_document(self, source: str) -> IngestReport:
        """Move an indexed file to the trash and remove its chunks, as `qa ingest` would."""
        if source not in {d["source"] for d in self.documents()}:
            raise InputError(f"not an indexed document: {source}")
        lock = ingest_lock(self.settings, UPLOAD_WAIT)
        try:
            path = self.settings.corpus_dir / source
            try:
                if path.is_file() and not path.is_symlink():
                    move_to_trash(path, self.trash_dir)
                elif path.exists() or path.is_symlink():
                    path.unlink()
            except OSError as exc:
                reason = (exc.strerror or str(exc)).lower()
                raise BackendError(f"{source} could not be moved to the trash ({reason})") from None
            return self.ingest(progress=False, allow_empty=True, locked=True)
        finally:
            lock.release()

    def document_text(self, source: str) -> tuple[str, str]:
        """An indexed document's title and text, as its citations' offsets count it."""
        title, extracted = self.document(source)
        return title, extracted.text

    def document(self, source: str) -> tuple[str, Extracted]:
        """An indexed document's title and stored extraction (text, pages, OCR boxes)."""
        titles = {d["source"]: d["title"] for d in self.documents()}
        if source not in titles:
            raise InputError(f"not an indexed document: {source}")
        settings, lexical = self.settings, self.store.lexical
        chunks = lexical.documents_of([source])
        metadata = chunks[0].metadata if chunks else {"source": source}
        return titles[source], source_extracted(
            settings.corpus_dir, source, settings.max_file_bytes, StoredTexts(lexical), metadata
        )

    def ingest(
        self,
        progress: bool | None = None,
        allow_empty: bool = False,
        locked: bool = False,
        control: IngestControl | None = None,
    ) -> IngestReport:
        """Bring the index in step with the corpus folder; `locked`: the caller holds the
        ingest lock; `control` lets another thread follow and stop it."""
        report = ingest(self.settings, self.embeddings, progress, allow_empty, control, locked)
        self.__dict__.pop("store", None)  # reopen on next ask (questions under way go on)
        return report

    def close(self) -> None:
        """Close the opened index (a throwaway one, done with); the next question opens it
        again."""
        store = self.__dict__.pop("store", None)
        if store is not None:
            store.close()
