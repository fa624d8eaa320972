"""One conformance suite for both lexical backends (`qa.index.lexical.LexicalBackend`): SQLite
FTS5 and PostgreSQL full-text search (a real throwaway server, with RUM), given the same chunks,
answer alike; where their stemmers, stop words and tokenizers must differ, the difference is
pinned, so a change on either side fails here."""

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.documents import Document

from benchmarks.servers import postgres_server
from qa.index.lexical import LexicalBackend, idf
from qa.index.postgres import PostgresIndex
from qa.index.sqlite import LexicalIndex

# A test needing PostgreSQL starts a real server: not a unit test (`make test` runs it)
POSTGRES = [pytest.mark.slow, pytest.mark.servers]

CHUNKS = [  # id, source, title, text
    ("harbour-1", "harbour.md", "Harbour",
     "Harbour cranes unload copper ore at the river port every winter."),
    ("harbour-2", "harbour.md", "Harbour",
     "The lighthouse keeper counts the ships entering the harbour: ships, ships and more ships."),
    ("orchards-1", "orchards.md", "Orchards",
     "Prune the apple trees yourself in late winter, before the buds open."),
    ("orchards-2", "orchards.md", "Orchards",
     "A generous harvest is stored in the cold cellar until spring."),
    ("council-1", "council.md", "Council",
     "The general assembly of the town council meets in the old hall each spring."),
    ("council-2", "council.md", "Council",
     "The café licence fee rose by 3.5 percent; the full table is in fees.pdf."),
]  # fmt: skip
TOTAL = len(CHUNKS)

# Queries whose hits are ranked by how many of the query's terms each holds, so any BM25
# gives this order
CLEAR_CUT = {
    "copper ore": ["harbour-1"],
    "How many ships enter the harbour?": ["harbour-2", "harbour-1"],
    "apple trees in winter": ["orchards-1", "harbour-1"],
    "When does the town council meet in spring?": ["council-1", "orchards-2"],
    "café licence fee": ["council-2"],
}
# In how many chunks each word's stem is, the same stem in both backends
FOUND = {
    "harbour": 2,
    "ships": 1,
    "entering": 1,
    "winter": 2,
    "spring": 2,
    "meeting": 1,
    "apples": 1,
    "café": 1,
    "fee": 1,
    "zebra": 0,
}
# word: (SQLite's Porter stem, PostgreSQL's english Snowball stem)
STEMS_DIFFER = {
    "generously": ("gener", "generous"),
    "general": ("gener", "general"),
    "dying": ("dy", "die"),
    "skies": ("ski", "sky"),
    "news": ("new", "news"),
    "saying": ("sai", "say"),
    "ore": ("or", "ore"),
    "communication": ("commun", "communic"),
}
STEMS_AGREE = {
    "ponies": "poni",
    "running": "run",
    "organization": "organ",
    "universal": "univers",
    "ships": "ship",
    "meeting": "meet",
}


def documents() -> tuple[list[str], list[Document]]:
    """CHUNKS as ids and documents, each with its file's metadata and offsets in it."""
    ids: list[str] = []
    docs: list[Document] = []
    ends: dict[str, int] = {}
    for id_, source, title, text in CHUNKS:
        start = ends.get(source, 0)
        ends[source] = start + len(text) + 1
        meta = {"source": source, "title": title, "start": start, "end": start + len(text)}
        ids.append(id_)
        docs.append(Document(page_content=text, metadata=meta))
    return ids, docs


def hits(backend: LexicalBackend, query: str, k: int = 10, **scope) -> list[str]:
    """The ids `search` returns, best first (a missing id as "None")."""
    return [str(doc.id) for doc in backend.search(query, k, **scope)]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL cluster for the whole run, stopped by PID."""
    with postgres_server() as url:
        yield url


def open_postgres(url: str, collection: str) -> PostgresIndex:
    """A PostgreSQL index of its own collection, ranked by RUM as in production."""
    made = PostgresIndex(url, collection)
    assert made.ranked, "the server lacks the RUM extension (make postgres)"
    return made


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=POSTGRES)])
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LexicalBackend]:
    """An empty index of each backend: a SQLite file of the test, a collection of the test."""
    if request.param == "sqlite":
        made: LexicalBackend = LexicalIndex(tmp_path / "lexical.sqlite3")
    else:
        made = open_postgres(request.getfixturevalue("postgres_url"), request.node.name)
    yield made
    made.close()


@pytest.fixture
def backend(empty: LexicalBackend) -> LexicalBackend:
    """Each backend holding CHUNKS."""
    empty.upsert(*documents())
    return empty


@pytest.fixture
def pair(
    tmp_path: Path, postgres_url: str, request: pytest.FixtureRequest
) -> Iterator[tuple[LexicalIndex, PostgresIndex]]:
    """Both backends holding CHUNKS, side by side."""
    sqlite = LexicalIndex(tmp_path / "lexical.sqlite3")
    postgres = open_postgres(postgres_url, request.node.name)
    for index in (sqlite, postgres):
        index.upsert(*documents())
    yield sqlite, postgres
    sqlite.close()
    postgres.close()


def test_each_backend_is_a_lexical_backend(empty: LexicalBackend) -> None:
    assert isinstance(empty, LexicalBackend)


def test_chunks_are_added_replaced_by_id_and_deleted(empty: LexicalBackend) -> None:
    assert (empty.count(), empty.ids(), empty.sources()) == (0, set(), [])
    ids, docs = documents()
    before = time.time()
    empty.upsert(ids, docs)
    after = time.time()
    assert (empty.count(), empty.ids()) == (TOTAL, set(ids))
    listed = empty.sources()
    assert [(row["source"], row["title"], row["chunks"]) for row in listed] == [
        ("council.md", "Council", 2),
        ("harbour.md", "Harbour", 2),
        ("orchards.md", "Orchards", 2),
    ]
    assert all(before <= row["indexed_at"] <= after for row in listed)
    held = empty.documents_of(["orchards.md", "harbour.md"])  # in the order written
    assert [(d.page_content, d.metadata) for d in held] == [
        (d.page_content, d.metadata) for d in docs[:4]
    ]

    timber = "Harbour cranes now unload timber at the river port."
    empty.upsert(["harbour-1"], [Document(page_content=timber, metadata=docs[0].metadata)])
    assert (empty.count(), empty.ids()) == (TOTAL, set(ids))
    assert (hits(empty, "copper"), hits(empty, "timber")) == ([], ["harbour-1"])
    held = empty.documents_of(["harbour.md"])  # the replaced chunk is written last
    assert [d.page_content for d in held] == [docs[1].page_content, timber]

    empty.delete(["harbour-1", "no-such-chunk"])
    assert (empty.count(), empty.ids()) == (TOTAL - 1, set(ids) - {"harbour-1"})
    empty.delete(["no-such-chunk"])
    assert empty.count() == TOTAL - 1
    empty.delete(["council-1", "council-2"])
    assert [row["source"] for row in empty.sources()] == ["harbour.md", "orchards.md"]
    assert (empty.documents_of(["council.md"]), empty.documents_of([])) == ([], [])
    assert hits(empty, "council") == []


@pytest.mark.parametrize("query", CLEAR_CUT)
def test_search_ranks_the_same_chunks_in_the_same_order(
    backend: LexicalBackend, query: str
) -> None:
    assert hits(backend, query) == CLEAR_CUT[query]


def test_search_returns_the_chunks_with_their_metadata(backend: LexicalBackend) -> None:
    ids, docs = documents()
    [found] = backend.search("copper", 5)
    assert (found.id, found.page_content, found.metadata) == (
        ids[0],
        docs[0].page_content,
        docs[0].metadata,
    )
    for nothing in ("", "the of and would", "zebra"):  # no terms, qa's stop words, unknown
        assert backend.search(nothing, 5) == []


def test_search_keeps_to_its_sources_and_k(backend: LexicalBackend) -> None:
    query = "How many ships enter the harbour in winter or spring?"
    assert hits(backend, query, 2) == ["harbour-2", "harbour-1"]
    everything = ["harbour-1", "harbour-2", "orchards-1", "orchards-2", "council-1"]
    assert sorted(hits(backend, query, 10)) == sorted(everything)
    assert len(hits(backend, query, 4)) == 4
    assert hits(backend, query, 1, sources=["harbour.md"]) == ["harbour-2"]
    assert sorted(hits(backend, query, sources=["orchards.md"])) == ["orchards-1", "orchards-2"]
    assert sorted(hits(backend, query, sources=["council.md", "orchards.md"])) == [
        "council-1",
        "orchards-1",
        "orchards-2",
    ]
    assert hits(backend, query, sources=["nowhere.md"]) == []


def test_idf_is_bm25s_over_the_chunks_by_stem(backend: LexicalBackend) -> None:
    assert backend.idf(list(FOUND)) == {word: idf(TOTAL, n) for word, n in FOUND.items()}
    assert backend.idf(["zebra"]) == {"zebra": 0.0}
    assert {"copper", "harbour", "ship", "appl", "meet"} <= set(backend.vocabulary())


def test_facts_are_kept_and_the_first_one_wins(empty: LexicalBackend) -> None:
    assert empty.fact("embedder") is None
    empty.set_fact("embedder", "all-MiniLM-L6-v2")
    assert empty.fact("embedder") == "all-MiniLM-L6-v2"
    empty.set_fact("embedder", "bge-small-en")
    assert empty.fact("embedder") == "bge-small-en"
    assert empty.first_fact("index-id", "first") == "first"
    assert empty.first_fact("index-id", "second") == "first"
    assert empty.fact("index-id") == "first"
    assert empty.first_fact("embedder", "other") == "bge-small-en"


@pytest.mark.slow
@pytest.mark.servers
def test_the_stemmers_differ_on_these_words(pair: tuple[LexicalIndex, PostgresIndex]) -> None:
    """Porter (SQLite) and Snowball english (PostgreSQL) agree on most words, not on these."""
    sqlite, postgres = pair
    words = [*STEMS_DIFFER, *STEMS_AGREE]
    assert sqlite._stems(words) == {w: s for w, (s, _) in STEMS_DIFFER.items()} | STEMS_AGREE
    assert {w: postgres.lexemes([w]) for w in words} == {
        w: [p] for w, (_, p) in STEMS_DIFFER.items()
    } | {w: [s] for w, s in STEMS_AGREE.items()}
    # "generous" and "general" are one term in SQLite, two in PostgreSQL
    assert sqlite.idf(["generously"]) == {"generously": idf(TOTAL, 2)}
    assert postgres.idf(["generously"]) == {"generously": idf(TOTAL, 1)}
    assert sorted(hits(sqlite, "generously")) == ["council-1", "orchards-2"]
    assert hits(postgres, "generously") == ["orchards-2"]


@pytest.mark.slow
@pytest.mark.servers
def test_postgres_leaves_out_its_stop_words_and_sqlite_none(
    pair: tuple[LexicalIndex, PostgresIndex],
) -> None:
    """Queries lose qa's stop words in both (`qa.text.terms`); chunks lose PostgreSQL's."""
    sqlite, postgres = pair
    words = ["the", "and", "yourself", "don"]
    assert sqlite._stems(words) == {word: word for word in words}
    assert postgres.lexemes(words) == []
    assert sqlite.idf(["the", "yourself"]) == {"the": idf(TOTAL, 6), "yourself": idf(TOTAL, 1)}
    assert postgres.idf(["the", "yourself"]) == {"the": 0.0, "yourself": 0.0}
    assert {"the", "yourself"} <= set(sqlite.vocabulary())
    assert not {"the", "yourself"} & set(postgres.vocabulary())
    # "yourself" is a stop word of PostgreSQL's, not of qa's: only SQLite matches it
    assert (hits(sqlite, "yourself"), hits(postgres, "yourself")) == (["orchards-1"], [])


@pytest.mark.slow
@pytest.mark.servers
def test_postgres_keeps_accents_and_dotted_words_whole(
    pair: tuple[LexicalIndex, PostgresIndex],
) -> None:
    """SQLite removes accents and splits "fees.pdf" and "3.5"; PostgreSQL indexes them whole."""
    sqlite, postgres = pair
    assert {"cafe", "fee", "pdf", "3", "5"} <= set(sqlite.vocabulary())
    assert {"café", "fee", "fees.pdf", "3.5"} <= set(postgres.vocabulary())
    assert not {"cafe", "pdf", "3", "5"} & set(postgres.vocabulary())
    assert hits(sqlite, "café") == hits(postgres, "café") == ["council-2"]
    for query in ("cafe", "pdf", "3.5"):  # a query's words are split on \W in both
        assert (hits(sqlite, query), hits(postgres, query)) == (["council-2"], [])
    assert sqlite.idf(["cafe"]) == {"cafe": idf(TOTAL, 1)}
    assert postgres.idf(["cafe"]) == {"cafe": 0.0}
