"""Short answers from the bundled Gemma model are verbatim spans of the cited sentence."""

import pytest

from qa.answering.calibration import load_scorers
from qa.answering.reader import verbatim_span
from qa.service import QAService

SENTENCE = "Economic sectoral sanctions of the European Union came into force on 25 June."


@pytest.mark.parametrize(
    ("proposal", "span"),
    [
        (" 25 June", "25 June"),
        ("25 June 2022", "25 June"),  # an invented year is cut off
        ("on 25 June.", "on 25 June"),
        ("the Forum of Regions", None),  # nothing of it is in the sentence
        ("Union", "Union"),
        ("Unio", None),  # part of a word is not a span
        ("in 1999 and in 2000 the Union", None),  # under half of the words survive
    ],
)
def test_verbatim_span(proposal: str, span: str | None) -> None:
    assert verbatim_span(proposal, SENTENCE) == span


@pytest.mark.slow
@pytest.mark.parametrize(
    "question",
    [
        "When did EU sectoral sanctions start?",
        "Who came second in the election?",
        "Which agency quotes Lukashenko?",
        "With how many Russian regions does Belarus keep close contacts?",
    ],
)
def test_bundled_model_short_answer_is_part_of_the_cited_sentence(
    indexed: QAService, question: str
) -> None:
    answer = indexed.ask(question)
    assert not answer.refused
    quote = answer.citations[0].quote
    assert answer.short_answer is None or answer.short_answer in quote
    assert answer.short_answer != quote
    assert answer.timings_ms["short_answer"] > 0


@pytest.mark.slow
def test_default_engine_shows_only_the_date_for_the_sanctions_question(indexed: QAService) -> None:
    answer = indexed.ask("when did EU sectoral sanctions start?")
    assert answer.short_answer in (None, "25 June")  # shown only when confident, never wrong
    assert 0.0 <= answer.confidence <= 1.0 and answer.sure
    if answer.short_answer:
        assert answer.short_answer_confidence >= load_scorers()["span"].threshold


@pytest.mark.slow
def test_sentence_engine_has_no_short_answer(embeddings, seed_corpus) -> None:
    from qa.service import build_service
    from qa.settings import Settings

    service = build_service(Settings(engine="sentence"), embeddings)
    service.ingest(progress=False)
    answer = service.ask("when did EU sectoral sanctions start?")
    assert answer.short_answer is None and "short_answer" not in answer.timings_ms


def test_settings_variants_share_the_loaded_reader(embeddings) -> None:
    from qa.service import build_service
    from qa.settings import Settings

    service = build_service(Settings(), embeddings)
    reader = service.short_answerer
    assert service.variant(top_k=3).short_answerer is reader
    assert service.variant(engine="sentence").variant(top_k=2).short_answerer is None
    assert service.variant(llm_threads=3).short_answerer is not reader
