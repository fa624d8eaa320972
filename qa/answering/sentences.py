"""Candidate sentences of the retrieved passages, and the features a learned model scores.

Every sentence of the top passages is a candidate answer; each gets a row of numbers (how
close it is to the question in meaning and in words, whether it holds the kind of thing the
question asks for, where its passage ranked). The weights that turn rows into probabilities
are learned (`qa train`), not set by hand.
"""

import difflib
import re
from dataclasses import dataclass, field

import numpy as np
from langchain_core.documents import Document

from qa.index.lexical import LexicalBackend
from qa.models.reader import Reading
from qa.text.blocks import ANSWER_KINDS, Unit, decode, heading_text
from qa.text.sentences import split_sentences
from qa.text.terms import terms

MIN_SENTENCE_WORDS = 3
ANAPHOR = re.compile(r"[\"“‘']?(It|He|She|They|This|That|These|Those|Its|His|Her|Their)\b")
MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|dozen|hundred|"
    r"thousand|million|billion)\b",
    re.I,
)
# What each kind of question asks for, and how a sentence shows it holds one.
ANSWER_TYPES = {
    "date": re.compile(
        rf"\b(1[0-9]{{3}}|20[0-9]{{2}}|{MONTHS}|century|Monday|Tuesday|"
        r"Wednesday|Thursday|Friday|Saturday|Sunday)s?\b|\d{1,2}(st|nd|rd|th)\b",
        re.I,
    ),
    "number": NUMBER,
    "name": re.compile(r"\b[A-Z][\w'’-]+(?:\s+(?:of\s+|de\s+|von\s+)?[A-Z][\w'’-]+)*"),
}
QUESTION_TYPES = [
    (
        re.compile(
            r"\b(when|what year|which year|what date|what day|what century|how long ago)\b", re.I
        ),
        "date",
    ),
    (
        re.compile(
            r"\b(how many|how much|how long|how old|how far|how large|how big|how high|"
            r"what percentage|what percent|what number|what amount)\b",
            re.I,
        ),
        "number",
    ),
    (re.compile(r"\b(who|whom|whose)\b", re.I), "name"),
]
SENTENCE_FEATURES = [
    "dense",
    "dense_gap",
    "neighbour_dense",
    "coverage",
    "coverage_gap",
    "context_coverage",
    "exact_overlap",
    "bigram_overlap",
    "type_match",
    "type_missing",
    "passage_rank",
    "first_in_passage",
    "log_words",
]


def question_type(question: str) -> str | None:
    """The kind of answer a question asks for: date, number, name, or None."""
    for pattern, kind in QUESTION_TYPES:
        if pattern.search(question):
            return kind
    return None


@dataclass
class Candidate:
    """A sentence of a retrieved passage, located in its source file."""

    document: Document
    start: int
    end: int
    text: str
    rank: int  # of its passage in the retrieval, 0 first
    position: int  # of the sentence in its passage, 0 first
    previous: str = ""  # the sentence before it in the passage
    following: str = ""
    features: dict[str, float] = field(default_factory=dict)
    probability: float = 0.0
    reading: Reading | None = None  # the span reader's best span, once it has read this
    kind: str = "paragraph"  # of the block it belongs to (`qa.text.blocks`)
    opens_block: bool = True  # the first sentence of its block


def passage_units(passage: Document) -> list[Unit]:
    """The units a chunk was made of; sentences by `split_sentences` for a chunk indexed
    before chunks carried their units."""
    base = passage.metadata["start"]
    if "units" in passage.metadata:
        return decode(passage.metadata["units"], base)
    return [Unit("paragraph", base + a, base + b, 0, i) for i, (a, b) in enumerate(
        split_sentences(passage.page_content))]  # fmt: skip


def candidates(passages: list[Document]) -> list[Candidate]:
    """Every sentence of the passages' answer blocks, once, with offsets into the source
    file and the units before and after it in reading order: the sentence before the first
    of an FAQ answer is its question, before the first of a section its heading, so their
    words count in the context features. Headings, titles and questions are never
    candidates (SQuAD has no headings to learn that from: it is a rule of the block model)."""
    seen, found = set(), []
    for rank, passage in enumerate(passages):
        base, text, meta = passage.metadata["start"], passage.page_content, passage.metadata
        units = passage_units(passage)
        read = [_unit_text(text, base, u) for u in units]
        position = -1
        for i, unit in enumerate(units):
            if unit.kind not in ANSWER_KINDS:
                continue
            position += 1
            sentence = text[unit.start - base : unit.end - base]
            key = (meta["source"], unit.start)
            if key in seen or len(sentence.split()) < MIN_SENTENCE_WORDS:
                continue
            seen.add(key)
            previous = read[i - 1] if i else ""
            following = read[i + 1] if i + 1 < len(units) else ""
            opens = not i or units[i - 1].block != unit.block
            where = (passage, unit.start, unit.end, sentence, rank, position)
            found.append(Candidate(*where, previous, following, kind=unit.kind, opens_block=opens))
    return found


def _unit_text(text: str, base: int, unit: Unit) -> str:
    """A unit's words: a heading without its marks, a sentence as it stands."""
    piece = text[unit.start - base : unit.end - base]
    return piece if unit.kind in ANSWER_KINDS else heading_text(piece)


def stem(word: str) -> str:
    """A crude stem: common suffixes off, then the first five letters."""
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
    present = {stem(word) for word in terms(text)}
    return sum(w for word, w in weights.items() if stem(word) in present) / total


def term_weights(idf: dict[str, float]) -> dict[str, float]:
    """Each query term's IDF; a term the corpus never uses weighs as the rarest term."""
    rarest = max(idf.values(), default=1.0) or 1.0
    return {word: weight or rarest * 1.5 for word, weight in idf.items()}


def unknown_names(question: str, lexical: LexicalBackend) -> list[str]:
    """Capitalised words past the first that the corpus never mentions, even misspelt."""
    words = re.findall(r"\b[A-Z][\w-]*\w", re.sub(r"['’]s\b", "", question))[1:]
    names = [word.lower() for word in words]
    idf = lexical.idf(names) if names else {}
    absent = [name for name in names if idf.get(name, 0.0) == 0.0]
    if not absent:
        return []
    vocabulary = lexical.vocabulary()
    return [name for name in absent if not difflib.get_close_matches(name, vocabulary, 1, 0.8)]


def _bigrams(text: str) -> set[tuple[str, str]]:
    words = [stem(w) for w in terms(text)]
    return set(zip(words, words[1:], strict=False))


def add_features(
    question: str,
    query: str,
    found: list[Candidate],
    dense: np.ndarray,
    weights: dict[str, float],
) -> None:
    """Fill each candidate's features; `dense` holds its cosine similarity to the query."""
    kind = question_type(question)
    words = set(terms(query))
    pairs = _bigrams(query)
    # a sentence that opens with a pronoun ("It ends in the Black Sea") is read with the
    # sentence before it, which names what the pronoun stands for
    covered = [
        coverage(weights, f"{c.previous} {c.text}" if ANAPHOR.match(c.text) else c.text)
        for c in found
    ]
    top_dense, top_cover = float(dense.max()), max(covered)
    for i, cand in enumerate(found):
        neighbours = [
            dense[j]
            for j in (i - 1, i + 1)
            if 0 <= j < len(found) and found[j].document is cand.document
        ]
        holds = bool(kind and ANSWER_TYPES[kind].search(cand.text))
        present = set(terms(cand.text))
        cand.features = {
            "dense": float(dense[i]),
            "dense_gap": float(dense[i]) - top_dense,
            "neighbour_dense": float(max(neighbours, default=0.0)),
            "coverage": covered[i],
            "coverage_gap": covered[i] - top_cover,
            "context_coverage": coverage(weights, f"{cand.previous} {cand.text}"),
            "exact_overlap": len(words & present) / len(words) if words else 0.0,
            "bigram_overlap": len(pairs & _bigrams(cand.text)) / len(pairs) if pairs else 0.0,
            "type_match": float(holds),
            "type_missing": float(bool(kind) and not holds),
            "passage_rank": 1.0 / (cand.rank + 1),
            "first_in_passage": float(cand.position == 0),
            "log_words": float(np.log(len(cand.text.split()))),
        }
