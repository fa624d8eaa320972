"""The default answer engine: the retrieved sentence most likely to hold the answer, quoted.

No text is generated: the answer is a sentence quoted from a retrieved passage, so every
word the user sees traces to a span of a corpus file. Stage by stage, each a learned,
calibrated scorer (`params.json`, made by `qa train`):
1. `sentence` ranks every sentence of the retrieved passages from cheap features;
2. the span reader reads the best `READ_TOP` of them, and `cited` ranks those again with
   what it found: the best becomes the cited sentence;
3. `answerable` decides whether the corpus answers the question at all;
4. `span` decides whether the reader's span of the cited sentence is shown as the short
   answer. Each decision carries its probability.
"""

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from qa.answering.calibration import Scorer, load_scorers
from qa.answering.quotes import quote
from qa.answering.sentences import (
    Candidate,
    add_features,
    candidates,
    coverage,
    question_type,
    term_weights,
    unknown_names,
)
from qa.answering.spans import span_features
from qa.core.schema import Answer
from qa.index.lexical import LexicalBackend
from qa.ingest.corpus import StoredTexts
from qa.models.reader import SpanReader, Window
from qa.text.blocks import display
from qa.text.terms import terms

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
    "read_margin_max",
    "cited_probability",
]
READ_TOP = 6  # sentences the span reader reads, the best by the `sentence` scorer
CITED_FEATURES = [
    "sentence_probability",
    "read_margin",
    "read_score",
    "read_gap",
    "read_logprob",
    "log_rank",
]


@dataclass
class Ranking:
    """The candidates of one question, best first, and the question's own features."""

    found: list[Candidate]
    question: dict[str, float]
    idf: dict[str, float]  # of the query's terms, looked up once per question


def question_features(
    question: str, found: list[Candidate], idf: dict[str, float], lexical: LexicalBackend
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
    lexical: LexicalBackend,
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


def read(question: str, ranking: Ranking, reader: SpanReader, cited: Scorer | None) -> None:
    """Let the reader read the best candidates; keep those, ranked again by `cited`."""
    top = ranking.found[:READ_TOP]
    windows = [Window.around(c.text, c.previous, c.following) for c in top]
    readings = reader.read(question, windows)
    best = max(r.score for r in readings)
    for rank_, (cand, reading) in enumerate(zip(top, readings, strict=True)):
        cand.reading = reading
        cand.features.update(
            sentence_probability=cand.probability,
            read_margin=reading.score - reading.null,
            read_score=reading.score,
            read_gap=reading.score - best,
            read_logprob=reading.logprob,
            log_rank=float(np.log1p(rank_)),
        )
    if cited is not None:
        for cand, p in zip(top, cited.score([c.features for c in top]), strict=True):
            cand.probability = float(p)
        top.sort(key=lambda c: c.probability, reverse=True)
    ranking.found = top
    add_reading_features(ranking)


def add_reading_features(ranking: Ranking) -> None:
    """The question's features from what the reader found (candidates in their final order)."""
    ranking.question["read_margin_max"] = max(c.features["read_margin"] for c in ranking.found)
    ranking.question["cited_probability"] = ranking.found[0].probability


YES_NO_QUESTION = re.compile(
    r"(is|are|was|were|do|does|did|can|could|will|would|should|shall|may|must|has|have|had)\b",
    re.I,
)
STATED = re.compile(r"(Yes|No)\b")


def stated_yes_no(question: str, best: Candidate) -> str | None:
    """ "Yes" or "No" when a yes/no question is answered by an FAQ answer that opens with it;
    a verbatim span of the sentence. SQuAD has no yes/no questions to learn a gate from, so
    it is shown when the cited sentence itself is sure."""
    if best.kind != "answer" or not best.opens_block or not YES_NO_QUESTION.match(question):
        return None
    said = STATED.match(best.text)
    return said.group(1) if said else None


def short_answer(question: str, best: Candidate, scorer: Scorer) -> tuple[str, float] | None:
    """The reader's span of the cited sentence and its probability of being right."""
    assert best.reading is not None  # the reader has read the best sentence
    found = span_features(question, best.text, best.reading, best.features, best.probability)
    if found is None:
        return None
    text, features = found
    return text, float(scorer.score([features])[0])


class ExtractiveAnswerer:
    """Ranks every sentence of the retrieved passages and quotes the best, or refuses."""

    def __init__(
        self,
        embeddings: Embeddings,
        lexical: LexicalBackend,
        corpus_dir: Path,
        reader: SpanReader,
        short_answers: bool = True,
        max_bytes: int | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.corpus_dir = corpus_dir
        self.max_bytes = max_bytes  # QA_MAX_FILE_MB: larger files are not read to check quotes
        self.lexical = lexical
        self.texts = StoredTexts(lexical)  # the extractions quotes are checked against
        self.reader = reader
        self.short_answers = short_answers
        self.scorers = load_scorers()

    def answer(
        self, question: str, query: str, passages: list[Document]
    ) -> tuple[Answer, list[Candidate]]:
        """The best sentence as a cited answer with its confidence and short answer, or a
        refusal; and the sentences the reader read (the `READ_TOP` best), best first: a
        generative engine chooses among them."""
        scorers = self.scorers
        ranking = rank(
            question, query, passages, self.embeddings, self.lexical, scorers["sentence"]
        )
        if ranking is None:
            return Answer(question=question, text=REFUSAL, refused=True), []
        read(question, ranking, self.reader, scorers["cited"])
        answerable = scorers["answerable"]
        if answerable.score([ranking.question])[0] < answerable.threshold:
            return Answer(question=question, text=REFUSAL, refused=True), ranking.found
        best = ranking.found[0]
        answer = Answer(
            question=question,
            text=f"{display(best.text)} [1]",
            citations=[quote(best, 1, self.corpus_dir, self.max_bytes, self.texts)],
            confidence=round(best.probability, 3),
            sure=best.probability >= scorers["cited"].threshold,
        )
        stated = stated_yes_no(question, best) if self.short_answers else None
        if stated and answer.sure:
            answer.short_answer, answer.short_answer_confidence = stated, answer.confidence
            return answer, ranking.found
        span = short_answer(question, best, scorers["span"]) if self.short_answers else None
        if span is not None and span[1] >= scorers["span"].threshold:
            answer.short_answer = display(span[0])
            answer.short_answer_confidence = round(span[1], 3)
        return answer, ranking.found
