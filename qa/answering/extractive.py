"""The default answer engine: the retrieved sentence most likely to hold the answer, quoted.

No text is generated: the answer is a sentence quoted from a retrieved passage, so every
word the user sees traces to a span of a corpus file. Learned, calibrated scorers
(`params.json`, made by `qa train`) rank the sentences, decide whether the corpus answers
the question at all, and pick the short answer; each decision carries its probability.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from qa.answering.calibration import Scorer, load_scorers
from qa.answering.reader import Proposal
from qa.answering.sentences import (
    Candidate,
    add_features,
    candidates,
    coverage,
    question_type,
    term_weights,
    unknown_names,
)
from qa.answering.spans import Span, add_span_features, span_candidates
from qa.chunking import page_at
from qa.errors import StaleIndexError
from qa.lexical import LexicalIndex, terms
from qa.loading import source_text
from qa.schema import Answer, Citation

REFUSAL = "The corpus does not contain the answer to this question."
QUESTION_FEATURES = [
    "top_probability",
    "top_dense",
    "top_coverage",
    "top_context_coverage",
    "max_dense",
    "missing_weight",
    "absent_weight",
    "unknown_name",
    "type_missing_top",
    "type_missing_all",
    "log_terms",
]


@dataclass
class Ranking:
    """The candidates of one question, best first, and the question's own features."""

    found: list[Candidate]
    question: dict[str, float]
    idf: dict[str, float]  # of the query's terms, looked up once per question


def question_features(
    question: str, found: list[Candidate], idf: dict[str, float], lexical: LexicalIndex
) -> dict[str, float]:
    """What says whether the corpus answers at all, from the best candidate (found[0])."""
    best = found[0]
    total = sum(idf.values()) or 1.0
    window = f"{best.previous} {best.text} {best.following}"
    weights = term_weights(idf)
    missing = [w for word, w in idf.items() if coverage({word: 1.0}, window) == 0.0]
    kind = question_type(question)
    return {
        "top_probability": best.probability,
        "top_dense": best.features["dense"],
        "top_coverage": best.features["coverage"],
        "top_context_coverage": coverage(weights, window),
        "max_dense": max(c.features["dense"] for c in found),
        "missing_weight": max(missing, default=0.0) / total,
        "absent_weight": sum(1 for w in idf.values() if w == 0.0) / max(len(idf), 1),
        "unknown_name": float(bool(unknown_names(question, lexical))),
        "type_missing_top": best.features["type_missing"],
        "type_missing_all": float(bool(kind) and all(c.features["type_missing"] for c in found)),
        "log_terms": float(np.log1p(len(idf))),
    }


def rank(
    question: str,
    query: str,
    passages: list[Document],
    embeddings: Embeddings,
    lexical: LexicalIndex,
    sentence_scorer: Scorer | None,
) -> Ranking | None:
    """Candidates with features and (given a scorer) probabilities, best first."""
    found = candidates(passages)
    if not found:
        return None
    sentences = np.array(embeddings.embed_documents([c.text for c in found]))
    dense = sentences @ np.array(embeddings.embed_query(query))  # embedded by retrieval
    idf = lexical.idf(terms(query))
    add_features(question, query, found, dense, term_weights(idf))
    if sentence_scorer is not None:
        for cand, p in zip(found, sentence_scorer.score([c.features for c in found]), strict=True):
            cand.probability = float(p)
        found.sort(key=lambda c: c.probability, reverse=True)
    return Ranking(found, question_features(question, found, idf, lexical), idf)


def best_span(
    question: str,
    sentence: str,
    proposal: Proposal | None,
    sentence_probability: float,
    scorer: Scorer,
) -> Span | None:
    """The most probable span of the sentence, with its probability, or None."""
    spans = span_candidates(question, sentence, proposal)
    if not spans:
        return None
    add_span_features(question, sentence, spans, proposal, sentence_probability)
    for span, p in zip(spans, scorer.score([s.features for s in spans]), strict=True):
        span.probability = float(p)
    return max(spans, key=lambda s: (s.probability, -len(s.text)))


class ExtractiveAnswerer:
    """Ranks every sentence of the retrieved passages and quotes the best, or refuses."""

    def __init__(self, embeddings: Embeddings, lexical: LexicalIndex, corpus_dir: Path) -> None:
        self.embeddings = embeddings
        self.corpus_dir = corpus_dir
        self.lexical = lexical
        self.scorers = load_scorers()

    def answer(self, question: str, query: str, passages: list[Document]) -> Answer:
        """The best sentence as a cited answer with its confidence, or a refusal."""
        ranking = rank(
            question, query, passages, self.embeddings, self.lexical, self.scorers["sentence"]
        )
        if ranking is None:
            return Answer(question=question, text=REFUSAL, refused=True)
        answerable = self.scorers["answerable"]
        if answerable.score([ranking.question])[0] < answerable.threshold:
            return Answer(question=question, text=REFUSAL, refused=True)
        best = ranking.found[0]
        meta = best.document.metadata
        source = self.corpus_dir / meta["source"]
        if source_text(source)[best.start : best.end] != best.text:
            raise StaleIndexError(f"{source} changed since it was indexed: run `qa ingest`")
        citation = Citation(
            n=1,
            source=str(source),
            title=meta.get("title", ""),
            start=best.start,
            end=best.end,
            quote=best.text,
            page=page_at(meta, best.start),
        )
        return Answer(
            question=question,
            text=f"{best.text} [1]",
            citations=[citation],
            confidence=round(best.probability, 3),
            sure=best.probability >= self.scorers["sentence"].threshold,
        )

    def short_answer(self, answer: Answer, proposal: Proposal | None) -> None:
        """Set the answer's short form when the best span clears the learned threshold."""
        scorer = self.scorers["span"]
        span = best_span(
            answer.question, answer.citations[0].quote, proposal, answer.confidence or 0.0, scorer
        )
        if span is not None and span.probability >= scorer.threshold:
            answer.short_answer = span.text
            answer.short_answer_confidence = round(span.probability, 3)
