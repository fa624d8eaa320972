"""Evaluation: ask every question of a set, score the answers, write JSON, Markdown and a chart."""

import re
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from qa.core.errors import InputError
from qa.core.schema import Answer, Passage
from qa.core.settings import Settings
from qa.evaluation.datasets import EvalQuestion
from qa.evaluation.metrics import (
    contains_answer,
    exact_match,
    f1_score,
    percentile,
    reciprocal_rank,
    short_answer_right,
    spans_overlap,
    strip_markers,
)

if TYPE_CHECKING:
    from qa.service import QAService

INDEXING = "indexing"  # the stage reported while a SQuAD file's paragraphs are indexed

HEADLINE = [
    "exact_match",
    "f1",
    "short_answer_precision",
    "short_answer_coverage",
    "containment",
    "hit@1",
    "hit@5",
    "mrr",
    "citation_precision",
    "refusal_precision",
    "refusal_recall",
    "refused_share",
]


# What a model that echoes its prompt writes: the prompt's document tags (and the older
# passage tags), chat-template tokens, the reply's JSON keys.
PROMPT_MARKUP = re.compile(
    r"</?(?:document|passage)\b|<\|im_|<start_of_turn>|<end_of_turn>"
    r"|\"(?:answer|sentences|short_answer)\"\s*:"
)


@cache
def _file_text(source: str) -> str:
    with open(source, encoding="utf-8") as handle:
        return handle.read()


def evidence_span(source: str, evidence: str) -> tuple[int, int] | None:
    """Where the evidence quote stands in `source`, if it does."""
    start = _file_text(source).find(evidence)
    return (start, start + len(evidence)) if start >= 0 else None


def holds_gold(passage: Passage, question: EvalQuestion) -> bool | None:
    """Whether a retrieved passage holds the question's gold paragraph or evidence."""
    if question.gold_source:
        return Path(passage.source).name == question.gold_source
    if question.evidence:
        span = evidence_span(passage.source, question.evidence)
        return span is not None and spans_overlap(span, (passage.start, passage.end))
    return None


def score(question: EvalQuestion, answer: Answer, latency_ms: float) -> dict:
    """One question's record: the answer, its citations and every per-question score."""
    record = {
        "id": question.id,
        "question": question.question,
        "turns": question.turns,
        "gold": question.answers,
        "unanswerable": question.unanswerable,
        "answer": answer.text,
        "short_answer": answer.short_answer,
        "refused": answer.refused,
        "confidence": answer.confidence,
        "short_answer_confidence": answer.short_answer_confidence,
        "citations": [asdict(c) for c in answer.citations],
        "retrieved": [
            {"source": p.source, "start": p.start, "end": p.end} for p in answer.passages
        ],
        "latency_ms": round(latency_ms, 1),
    }
    if answer.generated:
        record.update(
            generated=True,
            ungrounded=answer.ungrounded,
            markup=bool(PROMPT_MARKUP.search(answer.text)),
            markers_written=answer.markers_written,
            markers_removed=answer.markers_removed,
            first_token_ms=answer.timings_ms.get("first_token"),
            proposed_short_answer=answer.proposed_short_answer,
        )
        proposed = answer.proposed_short_answer
        if not question.unanswerable and proposed is not None and not answer.refused:
            record["proposed_short_answer_right"] = float(
                short_answer_right(proposed, question.answers)
            )
    if question.unanswerable:
        return record
    prediction = "" if answer.refused else (answer.short_answer or strip_markers(answer.text))
    hits = [holds_gold(p, question) for p in answer.passages]
    located = question.gold_source or question.evidence
    good = [_supports(c.quote, c.source, c.start, c.end, question) for c in answer.citations]
    short = answer.short_answer if not answer.refused else None
    record.update(
        short_answer_right=None
        if short is None
        else float(short_answer_right(short, question.answers)),
        exact_match=exact_match(prediction, question.answers),
        f1=f1_score(prediction, question.answers),
        containment=0.0 if answer.refused else contains_answer(answer.text, question.answers),
        hit1=float(any(hits[:1])) if located else None,
        hit5=float(any(hits[:5])) if located else None,
        rr=reciprocal_rank(hits) if located else None,
        good_citations=sum(good),
        total_citations=len(good),
    )
    return record


def _supports(quote: str, source: str, start: int, end: int, question: EvalQuestion) -> bool:
    if contains_answer(quote, question.answers):
        return True
    span = evidence_span(source, question.evidence) if question.evidence else None
    return span is not None and spans_overlap(span, (start, end))


def judged(records: list[dict], key: str) -> float | None:
    """The mean of a judged score over the records a judge scored; None: not judged."""
    given = [(r.get("judge") or {}).get(key) for r in records]
    scores = [score for score in given if score is not None]
    return round(sum(scores) / len(scores), 4) if scores else None


def share(part: int, whole: int) -> float | None:
    """part / whole to 4 places; None when there is nothing to divide by."""
    return round(part / whole, 4) if whole else None


def aggregate(records: list[dict]) -> dict:
    """Run-level metrics from the per-question records (definitions in eval/README.md)."""
    answerable = [r for r in records if not r["unanswerable"]]
    located = [r for r in answerable if r["hit1"] is not None]
    refused = [r for r in records if r["refused"]]
    unanswerable = [r for r in records if r["unanswerable"]]
    cited = sum(r["total_citations"] for r in answerable)
    shown = [r for r in answerable if r.get("short_answer_right") is not None]
    latencies = [r["latency_ms"] for r in records]

    def mean(rows: list[dict], key: str) -> float | None:
        return round(sum(r[key] for r in rows) / len(rows), 4) if rows else None

    return {
        "questions": len(records),
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "exact_match": mean(answerable, "exact_match"),
        "f1": mean(answerable, "f1"),
        "short_answer_precision": mean(shown, "short_answer_right"),
        "short_answer_coverage": share(len(shown), len(answerable)),
        "containment": mean(answerable, "containment"),
        "hit@1": mean(located, "hit1"),
        "hit@5": mean(located, "hit5"),
        "mrr": mean(located, "rr"),
        "citation_precision": share(sum(r["good_citations"] for r in answerable), cited),
        "refusal_precision": share(sum(r["unanswerable"] for r in refused), len(refused)),
        "refusal_recall": share(sum(r["refused"] for r in unanswerable), len(unanswerable)),
        "refused_share": share(len(refused), len(records)),
        "answer_correctness": judged(records, "answer_correctness"),
        "faithfulness": judged(records, "faithfulness"),
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
        **generation_metrics(records),
    }


def generation_metrics(records: list[dict]) -> dict:
    """What only generated answers have: citations kept, markers removed, markup, first token.

    Empty for extractive runs (their answers are quotes, cited by construction)."""
    generated = [r for r in records if r.get("generated")]
    if not generated:
        return {}
    answered = [r for r in generated if not r["refused"]]
    answerable = [r for r in records if not r["unanswerable"]]
    written = sum(r["markers_written"] for r in generated)
    proposed = [r for r in answerable if r.get("proposed_short_answer_right") is not None]

    return {
        "cited_share": share(sum(bool(r["citations"]) for r in answered), len(answered)),
        "answerable_cited": share(
            sum(bool(r["citations"]) and not r["refused"] for r in answerable), len(answerable)
        ),
        "ungrounded_rate": share(sum(r["ungrounded"] for r in answered), len(answered)),
        "markers_removed_share": share(sum(r["markers_removed"] for r in generated), written),
        "markup_share": share(sum(r["markup"] for r in answered), len(answered)),
        "proposed_short_precision": share(
            sum(r["proposed_short_answer_right"] for r in proposed), len(proposed)
        ),
        "proposed_short_coverage": share(len(proposed), len(answerable)),
        "first_token_p50_ms": percentile(
            [r["first_token_ms"] for r in generated if r["first_token_ms"] is not None], 50
        ),
    }


def ask_and_score(
    ask: Callable[[str, list[str]], Answer],
    question: EvalQuestion,
    judge: Callable[[EvalQuestion, Answer], dict] | None = None,
) -> dict:
    """One question asked and scored; a generated answer is also judged if a judge is set."""
    started = time.perf_counter()
    answer = ask(question.question, question.turns)
    record = score(question, answer, (time.perf_counter() - started) * 1000)
    if judge is not None and answer.generated:
        record.update(judge(question, answer))
    return record


class Evaluation:
    """One run of a question set (JSON Lines, or SQuAD with its own temporary index) over one
    or more engines, a question at a time, so that the CLI and the UI show progress and can
    stop it: what was finished is kept, and the run is marked partial.

    >>> evaluation = Evaluation(Settings(), Path("eval/questions.jsonl"), ["extractive"])
    >>> for engine, done, total in evaluation:  # doctest: +SKIP, +ELLIPSIS
    ...     print(engine, done, total)
    extractive 1 55
    extractive 2 55
    ...
    extractive 55 55
    >>> metrics, records = evaluation.results()["extractive"]  # doctest: +SKIP
    >>> metrics["containment"], len(records)  # doctest: +SKIP
    (0.7955, 55)
    """

    def __init__(
        self,
        settings: Settings,
        path: Path,
        engines: list[str],
        limit: int | None = None,
        squad: bool | None = None,
        judge: str | None = None,
        shared: "QAService | None" = None,
    ) -> None:
        self.settings, self.path, self.engines, self.limit = settings, path, engines, limit
        self.shared = shared  # a service whose loaded models the run may share
        self.judge_engine = judge
        self.judge_info: dict | None = None
        self.squad = path.suffix.lower() == ".json" if squad is None else squad
        self.dataset = path.stem
        self.records: dict[str, list[dict]] = {engine: [] for engine in engines}
        self.total = 0
        self.finished = False

    def __iter__(self) -> Generator[tuple[str, int, int], None, None]:
        """(engine, questions done, questions of the run) after each answered question; while
        a SQuAD file's paragraphs are indexed, (INDEXING, chunks done, chunks) now and then.

        Closing the iterator (Stop in the UI) stops an indexing under way within a batch of
        embeddings, and removes the temporary index."""
        import tempfile

        from qa.evaluation.datasets import load_questions, load_squad
        from qa.service import build_service

        with tempfile.TemporaryDirectory(prefix="qa-eval-") as folder:
            base = self.shared or build_service(self.settings)
            if self.squad:  # a throwaway index of its own, never the one `settings` serves
                settings = self.settings.scratch(Path(folder))
                settings.corpus_dir.mkdir()
                questions = self._askable(load_squad(self.path, settings.corpus_dir))
                base = base.with_settings(settings)
                yield from self._index(base)
            else:
                questions = self._askable(load_questions(self.path))
            self.total = len(questions) * len(self.engines)
            judge = None
            if self.judge_engine:
                from qa.evaluation.judge import Judge

                judge = Judge(self.settings, self.judge_engine)
                self.judge_info = judge.info()
            done = 0
            for engine in self.engines:
                service = base.variant(engine=engine)
                try:
                    for question in questions:
                        self.records[engine].append(ask_and_score(service.ask, question, judge))
                        done += 1
                        yield engine, done, self.total
                finally:
                    service.library.close()
        self.finished = True

    def _askable(self, questions: list[EvalQuestion]) -> list[EvalQuestion]:
        """The first `limit` questions, checked before any slow work: one too long to ask
        stops the run at once, named."""
        questions, limit = questions[: self.limit], self.settings.max_question_chars
        for question in questions:
            for text in (question.question, *question.turns):
                if len(text) > limit:
                    raise InputError(
                        f"{self.path}: question '{question.id}' holds a question of {len(text)}"
                        f" characters; the limit is {limit} (QA_MAX_QUESTION_CHARS)"
                    )
        return questions

    def _index(self, service: "QAService") -> Iterator[tuple[str, int, int]]:
        """Index the service's corpus in a thread, reporting progress; stopped if closed."""
        import threading

        from qa.ingest.pipeline import IngestControl

        control, failure = IngestControl(), []

        def work() -> None:
            try:
                service.library.ingest(progress=False, control=control)
            except BaseException as exc:  # re-raised in the iterating thread
                failure.append(exc)

        worker = threading.Thread(target=work, name="qa-eval-index", daemon=True)
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.25)
                yield INDEXING, control.done, control.total
        finally:  # also on close: stop the ingest and wait, so the folder can be removed
            control.stop.set()
            worker.join()
            service.library.close()
        if failure:
            raise failure[0]

    def results(self) -> dict[str, tuple[dict, list[dict]]]:
        """Metrics and records per engine that answered anything; partial ones say so."""
        runs = {}
        for engine, records in self.records.items():
            if records:
                metrics = aggregate(records)
                if not self.finished:
                    metrics["partial"] = True
                runs[engine] = (metrics, records)
        return runs
