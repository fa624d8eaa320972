"""Grounded extractive answers over the seed article: cited, exact, or refused."""

import pytest

from qa.service import QAService

pytestmark = pytest.mark.slow


def assert_quotes_reproduce(answer) -> None:
    for citation in answer.citations:
        with open(citation.source, encoding="utf-8") as handle:
            assert handle.read()[citation.start : citation.end] == citation.quote


def test_sanctions_question_cites_the_sentence_with_the_date(indexed: QAService) -> None:
    answer = indexed.ask("when did EU sectoral sanctions start?")
    assert not answer.refused
    assert "25 June" in answer.citations[0].quote
    assert "[1]" in answer.text and answer.citations[0].n == 1
    assert answer.citations[0].title.startswith("Lukashenko")
    assert_quotes_reproduce(answer)
    assert {"retrieve", "answer"} <= set(answer.timings_ms)


def test_off_corpus_question_is_refused(indexed: QAService) -> None:
    answer = indexed.ask("Who is the president of France?")
    assert answer.refused and not answer.citations
    assert "does not contain" in answer.text


def test_follow_up_question_uses_the_previous_turn(indexed: QAService) -> None:
    first = indexed.ask("Who came second in the election?")
    assert "Tikhanovskaya" in first.citations[0].quote
    follow_up = indexed.ask(
        "Did she accept the results?", history=["Who came second in the election?"]
    )
    assert not follow_up.refused
    assert "did not recognize the election results" in follow_up.citations[0].quote
    assert_quotes_reproduce(follow_up)


def test_a_file_changed_after_indexing_is_never_misquoted(indexed: QAService, seed_corpus) -> None:
    from qa.core.errors import StaleIndexError

    [path] = list(seed_corpus.glob("*.md"))
    path.write_text("Preface added later.\n" + path.read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(StaleIndexError, match="run `qa ingest`"):
        indexed.ask("when did EU sectoral sanctions start?")
    indexed.library.ingest(progress=False)
    assert_quotes_reproduce(indexed.ask("when did EU sectoral sanctions start?"))
