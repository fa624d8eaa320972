"""The SQLite FTS5 lexical index: BM25 search, and the commonest terms left out of the match."""

from pathlib import Path

import pytest
from langchain_core.documents import Document

from qa.index import lexical
from qa.index.lexical import uncommon
from qa.index.sqlite import LexicalIndex

TEXTS = {
    "a": "Harbour cranes unload copper at the river port in winter.",
    "b": "The lighthouse keeper counts ships in winter; ships, ships and more ships.",
    "c": "Orchards are pruned in winter.",
    "d": "Winter grain is stored in the market ledger.",
}


@pytest.fixture
def index(tmp_path: Path) -> LexicalIndex:
    made = LexicalIndex(tmp_path / "lexical.sqlite3")
    docs = [Document(page_content=t, metadata={"source": f"{i}.txt"}) for i, t in TEXTS.items()]
    made.upsert(list(TEXTS), docs)
    yield made
    made.close()


def test_uncommon_keeps_the_rarest_terms_within_the_budget(monkeypatch) -> None:
    monkeypatch.setattr(lexical, "MATCH_BUDGET", 10)
    assert uncommon({"winter": 8, "copper": 1, "ships": 3}) == ["copper", "ships"]
    assert uncommon({"winter": 30, "the": 40}) == ["winter"]  # never none
    monkeypatch.setattr(lexical, "MATCH_BUDGET", 100)
    assert sorted(uncommon({"winter": 30, "the": 40})) == ["the", "winter"]


def test_search_ranks_by_bm25_and_stems_as_the_index_does(index: LexicalIndex) -> None:
    assert [d.id for d in index.search("How many ships are there?", 5)] == ["b"]
    assert index.search("winter copper", 5)[0].id == "a"
    assert index._stems(["ships", "pruned", "Copper"]) == {
        "ships": "ship",
        "pruned": "prune",
        "Copper": "copper",
    }


def test_a_term_in_too_many_rows_ranks_nothing_on_its_own(
    index: LexicalIndex, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert len(index.search("winter copper", 5)) == 4  # every row holds "winter"
    monkeypatch.setattr(lexical, "MATCH_BUDGET", 2)
    assert [d.id for d in index.search("winter copper", 5)] == ["a"]
    assert len(index.search("winter", 5)) == 4  # the rarest term is always matched
