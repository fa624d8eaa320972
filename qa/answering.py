"""The default answer engine: grounded extraction of the best-supported sentence(s).

No text is generated: the answer is a sentence quoted from a retrieved passage, so every
word the user sees traces to a span of a corpus file. When no sentence is relevant
enough, the engine refuses instead of quoting something unrelated.
"""

import difflib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings

from qa.chunking import page_at, split_sentences
from qa.errors import StaleIndexError
from qa.lexical import LexicalIndex, terms
from qa.loading import source_text
from qa.schema import Answer, Citation

REFUSAL = "The corpus does not contain the answer to this question."
MIN_SENTENCE_WORDS = 3
DENSE_WEIGHT, LEXICAL_WEIGHT, TYPE_WEIGHT = 0.5, 0.5, 0.05
ANAPHOR = re.compile(r"[\"“‘']?(It|He|She|They|This|That|These|Those|Its|His|Her|Their)\b")
QUESTION_TYPES = {
    "when": re.compile(
        r"\b(1[0-9]{3}|20[0-9]{2}|January|February|March|April|May|June|July|"
        r"August|September|October|November|December|year|century|day)s?\b",
        re.I,
    ),
    "how many": re.compile(
        r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|dozen|hundred|thousand|million)\b",
        re.I,
    ),
    "how much": re.compile(r"\d|\b(hundred|thousand|million|billion)\b", re.I),
    "who": re.compile(r"\b[A-Z][a-z]+ [A-Z][a-z]+"),
}


@dataclass
class Candidate:
    """A sentence of a retrieved passage, located in its source file."""

    document: Document
    start: int
    end: int
    text: str
    context: str = ""  # the previous sentence, when this one opens with a pronoun
    score: float = 0.0
    dense: float = 0.0
    lexical: float = 0.0


def candidates(passages: list[Document]) -> list[Candidate]:
    """Every sentence of the passages, once, with offsets into the source file."""
    seen, found = set(), []
    for passage in passages:
        base, previous = passage.metadata["start"], ""
        for start, end in split_sentences(passage.page_content):
            key = (passage.metadata["source"], base + start)
            text = passage.page_content[start:end]
            context = previous if ANAPHOR.match(text) else ""
            previous = text
            if key in seen or len(text.split()) < MIN_SENTENCE_WORDS or text.startswith("#"):
                continue
            seen.add(key)
            found.append(Candidate(passage, base + start, base + end, text, context))
    return found


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    return word[:5]


def coverage(weights: dict[str, float], text: str) -> float:
    """Share of the question's term weight found in `text` (prefix-stemmed)."""
    total = sum(weights.values())
    if not total:
        return 0.0
    present = {_stem(word) for word in terms(text)}
    return sum(w for word, w in weights.items() if _stem(word) in present) / total


def term_weights(query: str, lexical: LexicalIndex) -> dict[str, float]:
    """IDF of each query term; a term the corpus never uses weighs as the rarest term."""
    idf = lexical.idf(terms(query))
    rarest = max(idf.values(), default=1.0) or 1.0
    return {word: weight or rarest * 1.5 for word, weight in idf.items()}


def type_match(question: str, text: str) -> float:
    """1 when the sentence holds the kind of thing the question asks for (a date, a number)."""
    lowered = question.lower()
    for cue, pattern in QUESTION_TYPES.items():
        if lowered.startswith(cue) or f" {cue} " in lowered:
            return 1.0 if pattern.search(text) else 0.0
    return 0.0


def unknown_names(question: str, lexical: LexicalIndex) -> list[str]:
    """Capitalised words past the first that the corpus never mentions, even misspelt ("France")."""
    words = re.findall(r"\b[A-Z][\w-]*\w", re.sub(r"['’]s\b", "", question))[1:]
    names = [word.lower() for word in words]
    idf = lexical.idf(names) if names else {}
    absent = [name for name in names if idf.get(name, 0.0) == 0.0]
    if not absent:
        return []
    vocabulary = lexical.vocabulary()
    return [name for name in absent if not difflib.get_close_matches(name, vocabulary, 1, 0.8)]


class ExtractiveAnswerer:
    """Scores every sentence of the retrieved passages and quotes the best one."""

    def __init__(
        self, embeddings: Embeddings, lexical: LexicalIndex, corpus_dir: Path, min_relevance: float
    ) -> None:
        self.embeddings = embeddings
        self.corpus_dir = corpus_dir
        self.lexical = lexical
        self.min_relevance = min_relevance

    def rank(self, question: str, query: str, passages: list[Document]) -> list[Candidate]:
        """Candidates sorted best first; `query` is the question with conversation context."""
        found = candidates(passages)
        if not found:
            return []
        sentences = np.array(self.embeddings.embed_documents([c.text for c in found]))
        dense = sentences @ np.array(self.embeddings.embed_query(query))  # embedded by retrieval
        weights = term_weights(query, self.lexical)
        for cand, similarity in zip(found, dense, strict=True):
            cand.dense = float(similarity)
            cand.lexical = coverage(weights, f"{cand.context} {cand.text}")
            cand.score = (
                DENSE_WEIGHT * cand.dense
                + LEXICAL_WEIGHT * cand.lexical
                + TYPE_WEIGHT * type_match(question, cand.text)
            )
        return sorted(found, key=lambda c: c.score, reverse=True)

    def answer(self, question: str, query: str, passages: list[Document]) -> Answer:
        """The best sentence as a cited answer, or a refusal."""
        ranked = self.rank(question, query, passages)
        if (
            not ranked
            or ranked[0].score < self.min_relevance
            or unknown_names(question, self.lexical)
        ):
            return Answer(question=question, text=REFUSAL, refused=True)
        best = ranked[0]
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
        return Answer(question=question, text=f"{best.text} [1]", citations=[citation])
