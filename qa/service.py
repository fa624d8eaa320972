"""The one object the CLI, UI and evaluation talk to: `ask(question, history) -> Answer`."""

import time
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from qa.answering import REFUSAL, ExtractiveAnswerer
from qa.answering.calibration import SPAN_PRECISION
from qa.answering.reading import SpanReader, load_reader
from qa.answering.sentences import Candidate
from qa.errors import BackendError, InputError, NotIndexedError, QAError
from qa.generation import (
    Reply,
    answer_so_far,
    condense_chain,
    evidence,
    ground,
    reply_schema,
    stream_reply,
)
from qa.indexing import IngestControl, IngestReport, ingest, ingest_lock
from qa.llms import GENERATIVE_ENGINES, chat_model, constrained, llm_errors
from qa.loading import SkippedFile, Upload, add_to_corpus, move_to_trash, source_text
from qa.retrieval import contextual_query, hybrid_retriever
from qa.schema import Answer, Passage
from qa.settings import Settings
from qa.store import HybridStore, open_existing_store, open_lexical


class QAService:
    """Answers questions over the indexed corpus; models and index open on first use.

    >>> service = build_service(Settings())  # doctest: +SKIP
    >>> service.ask("When did EU sectoral sanctions start?").citations[0].quote  # doctest: +SKIP
    'Economic sectoral sanctions of the European Union against Belarus came into force on 25 June.'
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def embeddings(self) -> Embeddings:
        from qa.embeddings import load_embeddings

        settings = self.settings
        return load_embeddings(
            settings.embedding_model, settings.embedding_threads, settings.model_cache_dir
        )

    @cached_property
    def store(self) -> HybridStore:
        return open_existing_store(self.settings, self.embeddings)

    @cached_property
    def retriever(self) -> Runnable:
        settings = self.settings
        return hybrid_retriever(
            self.store, settings.top_k, settings.fetch_k, settings.lexical_weight
        )

    @cached_property
    def answerer(self) -> ExtractiveAnswerer:
        settings = self.settings
        return ExtractiveAnswerer(
            self.embeddings,
            self.store.lexical,
            settings.corpus_dir,
            self.span_reader,
            short_answers=settings.engine == "extractive",
            max_bytes=settings.max_file_bytes,
        )

    @cached_property
    def span_reader(self) -> SpanReader:
        settings = self.settings
        return load_reader(settings.model_cache_dir, settings.embedding_threads)

    def validate(self, question: str) -> str:
        """The question stripped, or an InputError saying what is wrong with it."""
        if question is not None and not isinstance(question, str):
            raise InputError("the question must be text")
        question = (question or "").strip()
        if not question:
            raise InputError("the question is empty")
        try:
            question.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError("the question is not valid UTF-8 text") from None
        if len(question) > self.settings.max_question_chars:
            raise InputError(
                f"the question is {len(question)} characters long; the limit is "
                f"{self.settings.max_question_chars}"
            )
        return question

    @cached_property
    def chat_model(self) -> BaseChatModel | None:
        if self.settings.engine not in GENERATIVE_ENGINES:
            return None
        return chat_model(self.settings)

    def ask(
        self, question: str, history: list[str] | None = None, sources: list[str] | None = None
    ) -> Answer:
        """Answer `question`; `history` holds the earlier user turns of the conversation, and
        `sources` the indexed files to search (None: all)."""
        *_, answer = self.stream(question, history, sources)
        return answer

    def stream(
        self, question: str, history: list[str] | None = None, sources: list[str] | None = None
    ) -> Iterator[str | Answer]:
        """Yield what can be shown as soon as it is known; the last event is the final Answer.

        The extractive engine yields its answer once; a generative engine yields its tokens,
        then the checked Answer. `sources` limits the search to those indexed files (None: all
        of them).
        """
        question = self.validate(question)
        history = [self.validate(turn) for turn in history or []]
        model, answerer = self.chat_model, self.answerer
        retriever = self.scoped_retriever(sources) if sources else self.retriever
        started = time.perf_counter()
        query = self.condense(question, history) if model and history else None
        query = query or contextual_query(question, history)
        passages = retriever.invoke(query)
        retrieved = time.perf_counter()
        answer, ranked = answerer.answer(question, query, passages)
        if answer.refused and sources:
            answer.text = SCOPED_REFUSAL
        answer.passages = [self.passage(document) for document in passages]
        answer.timings_ms = {
            "retrieve": round((retrieved - started) * 1000, 1),
            "answer": round((time.perf_counter() - retrieved) * 1000, 1),
        }
        if model is None or answer.refused:  # refusal is decided the same way for every engine
            yield answer
            return
        yield from self.generate(model, question, answer, ranked, started)

    def scoped_retriever(self, sources: list[str]) -> Runnable:
        """The retriever over only the named indexed files."""
        known = {d["source"] for d in self.documents()}
        if unknown := sorted(set(sources) - known):
            raise InputError(f"not an indexed document: {', '.join(unknown)}")
        settings = self.settings
        return hybrid_retriever(
            self.store, settings.top_k, settings.fetch_k, settings.lexical_weight, sources
        )

    def condense(self, question: str, history: list[str]) -> str | None:
        """The follow-up rewritten as a standalone question by the language model."""
        with llm_errors(self.settings):
            standalone = condense_chain(self.chat_model).invoke(
                {"history": "\n".join(history), "question": question}
            )
        standalone = standalone.strip().splitlines()[0].strip() if standalone.strip() else ""
        return standalone if 0 < len(standalone) <= 3 * len(question) + 200 else None

    def generate(
        self,
        model: BaseChatModel,
        question: str,
        extractive: Answer,
        ranked: list[Candidate],
        asked: float,
    ) -> Iterator[str | Answer]:
        """Stream the answer text of the model's reply, then quote the sentences it cited.

        `ranked` holds the passages' sentences, best first; `asked` is when the question came
        (perf_counter), for the time to the first token."""
        sentences = evidence(ranked)
        bound = constrained(model, self.settings.engine, reply_schema(len(sentences)))
        started, raw, shown, first = time.perf_counter(), "", "", None
        with llm_errors(self.settings):
            for chunk in stream_reply(bound, sentences, question):
                raw += chunk
                text = answer_so_far(raw)
                if len(text) > len(shown) and text.startswith(shown):
                    first = first or time.perf_counter()
                    yield text[len(shown) :]
                    shown = text
                if time.perf_counter() - started > self.settings.llm_timeout:
                    raise BackendError(
                        f"the {self.settings.engine} answer took over "
                        f"{self.settings.llm_timeout:g} s (QA_LLM_TIMEOUT)"
                    )
        timings = {
            **extractive.timings_ms,
            "generate": round((time.perf_counter() - started) * 1000, 1),
            "first_token": round(((first or time.perf_counter()) - asked) * 1000, 1),
        }
        answer = Answer(question, REFUSAL, refused=True, generated=True, timings_ms=timings)
        reply = Reply.parse(raw)
        if not reply.refused:
            grounded = ground(
                reply, sentences, self.settings.corpus_dir, self.settings.max_file_bytes
            )
            answer.text, answer.citations = grounded.text, grounded.citations
            answer.proposed_short_answer = grounded.short_answer
            p = grounded.short_answer_sentence_probability
            if p is not None and p >= SPAN_PRECISION:  # shown bold only above that
                answer.short_answer, answer.short_answer_confidence = grounded.short_answer, p
            answer.markers_written = grounded.markers_written
            answer.markers_removed = grounded.markers_removed
            answer.refused, answer.ungrounded = False, not answer.citations
            answer.extractive = extractive if answer.ungrounded else None
        answer.passages = extractive.passages
        yield answer

    def passage(self, document: Document) -> Passage:
        """A retrieved chunk as a Passage whose source path opens from here."""
        meta = document.metadata
        return Passage(
            source=str(self.settings.corpus_dir / meta["source"]),
            title=meta.get("title", ""),
            start=meta["start"],
            end=meta["end"],
            text=document.page_content,
        )

    def variant(self, **updates: object) -> "QAService":
        """A service with some settings changed, sharing this one's loaded models."""
        return self.with_settings(self.settings.model_copy(update=updates))

    def with_settings(self, settings: Settings) -> "QAService":
        """A service for other settings, sharing this one's loaded models."""
        service = build_service(settings, self.embeddings)
        reader = self.__dict__.get("span_reader")  # one reader per process
        same = ("embedding_threads", "model_cache_dir")
        if reader and all(getattr(service.settings, n) == getattr(self.settings, n) for n in same):
            service.span_reader = reader
        return service

    def documents(self) -> list[dict]:
        """The indexed files, with title, chunk count and time of indexing."""
        try:
            return self.store.lexical.sources()
        except NotIndexedError:
            return []

    def session_secret(self) -> str:
        """QA_SESSION_SECRET, else a random secret kept with the index, the same for every
        process that shares the index (a read-only one without it: this process's own)."""
        import secrets

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

    @property
    def trash_dir(self) -> Path:
        """Where replaced and deleted documents are kept (nothing a user adds is lost)."""
        return self.settings.index_dir / "trash"

    def add_files(self, paths: list[Path]) -> tuple[list[Upload], list[SkippedFile], IngestReport]:
        """Place files in the corpus and index them; files qa cannot read never enter it.

        The ingest lock is taken first (waiting up to UPLOAD_WAIT seconds for another ingest),
        so an upload either changes the corpus and the index, or nothing."""
        settings = self.settings
        lock = ingest_lock(settings, UPLOAD_WAIT)
        try:
            uploads, rejected = add_to_corpus(
                paths,
                settings.corpus_dir,
                self.trash_dir,
                settings.max_file_bytes,
                settings.extract_timeout,
            )
            changed = any(upload.status != "unchanged" for upload in uploads)
            report = self.ingest(progress=True, locked=True) if changed else IngestReport()
        finally:
            lock.release()
        return uploads, rejected, report

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
        titles = {d["source"]: d["title"] for d in self.documents()}
        if source not in titles:
            raise InputError(f"not an indexed document: {source}")
        settings = self.settings
        return titles[source], source_text(settings.corpus_dir, source, settings.max_file_bytes)

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
        for name in ("store", "retriever", "answerer"):
            self.__dict__.pop(name, None)  # reopen on next ask (questions under way go on)
        return report

    def close(self) -> None:
        """Close the opened index (a throwaway one, done with); the next question opens it
        again."""
        store = self.__dict__.pop("store", None)
        for name in ("retriever", "answerer"):
            self.__dict__.pop(name, None)
        if store is not None:
            store.close()


ENGINES = ("extractive", "sentence", *GENERATIVE_ENGINES)
UPLOAD_WAIT = 60  # seconds an upload or delete waits for another ingest to end
SCOPED_REFUSAL = "The chosen documents do not contain the answer to this question."
ENGINE_HELP = {
    "extractive": "quotes the best sentence; a short answer only when the reader is sure",
    "sentence": "quotes the best sentence, nothing more (fastest)",
    "llamacpp": "a local GGUF model writes the answer; its citations are checked",
    "ollama": "an Ollama model writes the answer; its citations are checked",
    "openai": "an OpenAI-compatible server writes the answer; its citations are checked",
}


def offered_engines(settings: Settings) -> list[tuple[str, str]]:
    """(engine, one-line help) for each engine that can answer with these settings.

    The generative engines need a configured model: the one named by QA_LLM, with its
    QA_LLM_MODEL, is offered.
    """
    names = ["extractive", "sentence"]
    if settings.engine in GENERATIVE_ENGINES and settings.llm_model:
        names.append(settings.engine)
    return [(name, ENGINE_HELP[name]) for name in names]


def build_service(settings: Settings, embeddings: Embeddings | None = None) -> QAService:
    """The service for `settings`; nothing heavy is loaded until it is used."""
    if settings.engine not in ENGINES:
        raise InputError(f"unknown engine '{settings.engine}'; choose from: {', '.join(ENGINES)}")
    service = QAService(settings)
    if embeddings is not None:
        service.embeddings = embeddings  # share one loaded model between services
    return service
