"""Evaluation: ask every question of a set, score the answers, write JSON, Markdown and a chart."""

import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from functools import cache
from pathlib import Path

from langchain_core.embeddings import Embeddings
from tqdm import tqdm

from qa.datasets import EvalQuestion
from qa.metrics import (
    contains_answer,
    exact_match,
    f1_score,
    percentile,
    reciprocal_rank,
    short_answer_right,
    spans_overlap,
    strip_markers,
)
from qa.schema import Answer, Passage
from qa.settings import Settings

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

    def share(part: int, whole: int) -> float | None:
        return round(part / whole, 4) if whole else None

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
        "latency_p50_ms": percentile(latencies, 50),
        "latency_p95_ms": percentile(latencies, 95),
    }


def run(
    ask: Callable[[str, list[str]], Answer],
    questions: list[EvalQuestion],
    progress: bool | None = None,
) -> list[dict]:
    """Ask every question (with its earlier turns as history) and score the answers."""
    records = []
    for question in tqdm(
        questions,
        desc="asking",
        unit="question",
        disable=(not sys.stderr.isatty()) if progress is None else not progress,
    ):
        started = time.perf_counter()
        answer = ask(question.question, question.turns)
        records.append(score(question, answer, (time.perf_counter() - started) * 1000))
    return records


def evaluate_set(
    settings: Settings,
    questions: list[EvalQuestion],
    engines: list[str],
    progress: bool | None = None,
    embeddings: Embeddings | None = None,
) -> dict[str, tuple[dict, list[dict]]]:
    """Run each engine over the questions on the index of `settings`; metrics and records."""
    from qa.service import build_service

    embeddings = embeddings or build_service(settings).embeddings  # one load for all engines
    runs: dict[str, tuple[dict, list[dict]]] = {}
    for engine in engines:
        service = build_service(settings.model_copy(update={"engine": engine}), embeddings)
        records = run(service.ask, questions, progress)
        runs[engine] = (aggregate(records), records)
    return runs


def evaluate_squad(
    settings: Settings,
    squad_file: Path,
    engines: list[str],
    limit: int | None,
    progress: bool | None = None,
) -> dict[str, tuple[dict, list[dict]]]:
    """Index every paragraph of a SQuAD file as a document of a fresh temporary index, then run."""
    import tempfile

    from qa.datasets import load_squad
    from qa.service import build_service

    with tempfile.TemporaryDirectory(prefix="qa-squad-") as folder:
        corpus, index = Path(folder) / "corpus", Path(folder) / "index"
        corpus.mkdir()
        questions = load_squad(squad_file, corpus)[:limit]
        temporary = settings.model_copy(update={"corpus_dir": corpus, "index_dir": index})
        indexer = build_service(temporary)
        indexer.ingest(progress)
        return evaluate_set(temporary, questions, engines, progress, indexer.embeddings)
