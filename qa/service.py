"""Asking: `ask(question, history) -> Answer` and `stream`, the one door the CLI, UI and
evaluation use to ask. The documents themselves are administered by `qa.library`."""

import time
from collections.abc import Iterator
from functools import cached_property

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from qa.answering import REFUSAL, ExtractiveAnswerer
from qa.answering.calibration import SPAN_PRECISION
from qa.answering.sentences import Candidate
from qa.core.errors import BackendError, InputError
from qa.core.schema import Answer, Passage
from qa.core.settings import Settings
from qa.engines import ENGINES
from qa.generation.backends import GENERATIVE_ENGINES, chat_model, constrained, llm_errors
from qa.generation.grounded import (
    Reply,
    answer_so_far,
    condense_chain,
    evidence,
    ground,
    reply_schema,
    stream_reply,
)
from qa.index.store import HybridStore
from qa.library import Library
from qa.models.reader import SpanReader, load_reader
from qa.retrieval import contextual_query, hybrid_retriever

SCOPED_REFUSAL = "The chosen documents do not contain the answer to this question."


class QAService:
    """Answers questions over the indexed corpus; models and index open on first use.

    Over a folder `timetables/` holding one Markdown file that says when the night ferry
    leaves:

    >>> service = build_service(Settings(corpus_dir="timetables"))  # doctest: +SKIP
    >>> service.library.ingest(progress=False).summary()  # doctest: +SKIP
    'indexed 1 file(s), 1 chunk(s): 1 added, 0 unchanged, 0 removed, 0 file(s) skipped'
    >>> service.ask("When does the night ferry leave?").citations[0].quote  # doctest: +SKIP
    'The night ferry to the island leaves the harbour at 22:40 every weekday.'
    """

    def __init__(self, settings: Settings, library: Library | None = None) -> None:
        self.settings = settings
        self.library = library or Library(settings)
        self._opened: tuple[HybridStore, Runnable, ExtractiveAnswerer] | None = None

    @property
    def embeddings(self) -> Embeddings:
        return self.library.embeddings

    @embeddings.setter
    def embeddings(self, embeddings: Embeddings) -> None:
        self.library.embeddings = embeddings

    @property
    def store(self) -> HybridStore:
        return self.library.store

    @store.setter
    def store(self, store: HybridStore) -> None:
        self.library.store = store

    def _pipeline(self) -> tuple[Runnable, ExtractiveAnswerer]:
        """The retriever and answerer over the library's index as it is now (an ingest
        reopens the index; questions under way go on with the one they started with)."""
        store, opened = self.store, self._opened
        if opened is None or opened[0] is not store:
            settings = self.settings
            retriever = hybrid_retriever(
                store, settings.top_k, settings.fetch_k, settings.lexical_weight
            )
            answerer = ExtractiveAnswerer(
                self.embeddings,
                store.lexical,
                settings.corpus_dir,
                self.span_reader,
                short_answers=settings.engine == "extractive",
                max_bytes=settings.max_file_bytes,
            )
            opened = self._opened = (store, retriever, answerer)
        return opened[1], opened[2]

    @property
    def retriever(self) -> Runnable:
        return self._pipeline()[0]

    @property
    def answerer(self) -> ExtractiveAnswerer:
        return self._pipeline()[1]

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
        assert isinstance(answer, Answer)  # the last event always is
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
        model, (retriever, answerer) = self.chat_model, self._pipeline()
        retriever = self.scoped_retriever(sources) if sources else retriever
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
        known = {d["source"] for d in self.library.documents()}
        if unknown := sorted(set(sources) - known):
            raise InputError(f"not an indexed document: {', '.join(unknown)}")
        settings = self.settings
        return hybrid_retriever(
            self.store, settings.top_k, settings.fetch_k, settings.lexical_weight, sources
        )

    def condense(self, question: str, history: list[str]) -> str | None:
        """The follow-up rewritten as a standalone question by the language model."""
        model = self.chat_model
        assert model is not None  # only a generative engine condenses
        with llm_errors(self.settings):
            standalone = condense_chain(model).invoke(
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

        `ranked` holds the sentences the reader read (READ_TOP), best first; `asked` is when
        the question came (perf_counter), for the time to the first token."""
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
                reply,
                sentences,
                self.settings.corpus_dir,
                self.settings.max_file_bytes,
                self.answerer.texts,
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


def build_service(settings: Settings, embeddings: Embeddings | None = None) -> QAService:
    """The service for `settings`; nothing heavy is loaded until it is used."""
    if settings.engine not in ENGINES:
        raise InputError(f"unknown engine '{settings.engine}'; choose from: {', '.join(ENGINES)}")
    return QAService(settings, Library(settings, embeddings))
