"""The lexical (BM25) index every backend implements, and the scoring both share.

`LexicalBackend` is the one interface: `qa.index.sqlite` (SQLite FTS5, embedded) and
`qa.index.postgres` (PostgreSQL full-text search, shared) implement it, and
`tests/test_lexical_conformance.py` runs the same checks against both. Their term statistics
feed learned features, so where they must differ is said here (and pinned by that test):
SQLite stems with the Porter stemmer and PostgreSQL with its `english` Snowball configuration.
Most stems agree ("ponies" is "poni", "running" "run", "organization" "organ" in both); some
do not: "generously" and "general" are both "gener" in SQLite but "generous" and "general" in
PostgreSQL, "dying" is "dy" and "die", "skies" "ski" and "sky", "news" "new" and "news", "ore"
"or" and "ore". PostgreSQL leaves its english stop words out of the index ("the", "and",
"yourself": idf 0.0), SQLite indexes every word; queries lose qa's own stop words in both
(`qa.text.terms`), so one of PostgreSQL's alone ("yourself", "ourselves", "don") matches in
SQLite only. PostgreSQL also keeps accents ("café") and dotted words ("fees.pdf", "3.5")
whole, where SQLite removes accents and splits at the dot. Both count a term's chunks, so idf
agrees wherever the terms do.
"""

import math
from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from langchain_core.documents import Document

# Rows a search may rank: rarer query terms first (see `uncommon`)
MATCH_BUDGET = 20_000


def idf(total: int, found: int) -> float:
    """BM25's inverse document frequency of a term in `found` of `total` chunks; 0 if absent."""
    return math.log(1 + (total - found + 0.5) / (found + 0.5)) if found else 0.0


def source_rows(rows: Iterable[tuple]) -> list[dict]:
    """(source, title, chunks, indexed_at) rows as the dicts `sources()` returns."""
    return [
        {"source": source, "title": title, "chunks": chunks, "indexed_at": when}
        for source, title, chunks, when in rows
    ]


def uncommon(counts: dict[str, float]) -> list[str]:
    """The query terms a search matches on, given how many rows each is in: the rarest first,
    while their rows add up to at most MATCH_BUDGET (always at least one term).

    Ranking reads every matching row, so a term in a tenth of a million chunks costs about
    100 ms; such a term is left out of the match, as Elasticsearch's `common` terms query
    does. Where the terms' rows add up to MATCH_BUDGET or fewer (any index of that many
    chunks, for a one-term query), every term is matched, as before.
    """
    kept: list[str] = []
    rows = 0.0
    for term, count in sorted(counts.items(), key=lambda item: (item[1], item[0])):
        if kept and rows + count > MATCH_BUDGET:
            break
        kept.append(term)
        rows += count
    return kept


@runtime_checkable
class LexicalBackend(Protocol):
    """A BM25 index of chunk texts with their metadata, and a few facts kept beside them."""

    def upsert(self, ids: Sequence[str], documents: Sequence[Document]) -> None:
        """Add or replace chunks by id."""

    def delete(self, ids: Iterable[str]) -> None:
        """Remove chunks by id (unknown ids are ignored)."""

    def ids(self) -> set[str]:
        """Every chunk id."""
        ...

    def sources(self) -> list[dict]:
        """Per indexed file: source, title, chunks, indexed_at (`source_rows`)."""
        ...

    def documents_of(self, sources: Sequence[str]) -> list[Document]:
        """The chunks of these files, with their metadata."""
        ...

    def count(self) -> int:
        """How many chunks."""
        ...

    def search(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[Document]:
        """The `k` best chunks for the query's terms by BM25, optionally within `sources`."""
        ...

    def idf(self, words: Sequence[str]) -> dict[str, float]:
        """Each word's `idf` over the chunks, by its stem; 0.0 for a word in none."""
        ...

    def vocabulary(self) -> list[str]:
        """The indexed terms (stems)."""
        ...

    def fact(self, key: str) -> str | None:
        """A value kept with the index (e.g. its embedder), or None."""
        ...

    def set_fact(self, key: str, value: str) -> None:
        """Keep `value` under `key`, replacing any."""

    def first_fact(self, key: str, value: str) -> str:
        """The value under `key`, storing `value` there first if there is none."""
        ...

    def close(self) -> None:
        """Release connections; the index stays on disk or in the database."""
