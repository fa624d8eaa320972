"""The one object the CLI, UI and evaluation talk to: `ask(question, history) -> Answer`."""

import time
from functools import cached_property

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.runnables import Runnable

from qa.answering import ExtractiveAnswerer
from qa.errors import InputError
from qa.indexing import IngestReport, ingest
from qa.retrieval import contextual_query, hybrid_retriever
from qa.schema import Answer, Passage
from qa.settings import Settings
from qa.short_answers import ShortAnswerer
from qa.store import HybridStore, open_existing_store


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

        return load_embeddings(self.settings.embedding_model, self.settings.embedding_batch_size)

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
        return ExtractiveAnswerer(
            self.embeddings,
            self.store.lexical,
            self.settings.corpus_dir,
            self.settings.min_relevance,
        )

    @cached_property
    def short_answerer(self) -> ShortAnswerer | None:
        if self.settings.engine != "extractive":
            return None
        return ShortAnswerer(self.settings.short_answer_model, self.settings.llm_threads)

    def validate(self, question: str) -> str:
        """The question stripped, or an InputError saying what is wrong with it."""
        question = (question or "").strip()
        if not question:
            raise InputError("the question is empty")
        if len(question) > self.settings.max_question_chars:
            raise InputError(
                f"the question is {len(question)} characters long; the limit is "
                f"{self.settings.max_question_chars}"
            )
        return question

    def ask(self, question: str, history: list[str] | None = None) -> Answer:
        """Answer `question`; `history` holds the earlier user turns of the conversation."""
        question = self.validate(question)
        query = contextual_query(question, [self.validate(turn) for turn in history or []])
        retriever, answerer = self.retriever, self.answerer  # load before timing
        started = time.perf_counter()
        passages = retriever.invoke(query)
        retrieved = time.perf_counter()
        answer = answerer.answer(question, query, passages)
        answer.passages = [self.passage(document) for document in passages]
        answered = time.perf_counter()
        answer.timings_ms = {
            "retrieve": round((retrieved - started) * 1000, 1),
            "answer": round((answered - retrieved) * 1000, 1),
        }
        if self.short_answerer and answer.citations:
            self.add_short_answer(answer)
        return answer

    def add_short_answer(self, answer: Answer) -> None:
        """Set the answer's short form from its first cited sentence, and time it."""
        shortener = self.short_answerer
        first_use = shortener.load_ms is None
        started = time.perf_counter()
        answer.short_answer = shortener(answer.question, answer.citations[0].quote)
        answer.timings_ms["short_answer"] = round((time.perf_counter() - started) * 1000, 1)
        if first_use and shortener.load_ms is not None:
            answer.timings_ms["model_load"] = shortener.load_ms

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

    def ingest(self, progress: bool | None = None) -> IngestReport:
        """Bring the index in step with the corpus folder."""
        report = ingest(self.settings, self.embeddings, progress)
        for name in ("store", "retriever", "answerer"):
            self.__dict__.pop(name, None)  # reopen on next ask, over the new index
        return report


ENGINES = ("extractive", "sentence")


def build_service(settings: Settings, embeddings: Embeddings | None = None) -> QAService:
    """The service for `settings`; nothing heavy is loaded until it is used."""
    if settings.engine not in ENGINES:
        raise InputError(f"unknown engine '{settings.engine}'; choose from: {', '.join(ENGINES)}")
    service = QAService(settings)
    if embeddings is not None:
        service.embeddings = embeddings  # share one loaded model between services
    return service
