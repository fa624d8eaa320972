"""The generative path's plumbing with LangChain's fake chat models: streaming, grounding,
follow-ups and refusals through the real retrieval and index, with replies fixed in advance.
The real backends each keep a smoke test of their own (tests/test_generation.py)."""

import json
from collections.abc import Iterator

import pytest
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage

from qa.core.schema import Answer
from qa.core.settings import Settings
from qa.evaluation.runs import PROMPT_MARKUP
from qa.generation.grounded import NOT_FOUND, evidence
from qa.service import QAService, build_service

QUESTION = "When did EU sectoral sanctions start?"


def replying(*replies: dict | str) -> GenericFakeChatModel:
    """A chat model that streams these replies, one per call, word by word."""
    texts = [r if isinstance(r, str) else json.dumps(r) for r in replies]
    return GenericFakeChatModel(messages=iter(AIMessage(content=t) for t in texts))


@pytest.fixture
def generative(embeddings, seed_corpus) -> Iterator[QAService]:
    service = build_service(Settings(engine="openai", llm_model="fake"), embeddings)
    service.library.ingest(progress=False)
    yield service
    service.library.close()


def shown(service: QAService, question: str) -> list[str]:
    """The sentences the model is shown for `question`, numbered from 1 in this order."""
    passages = service.retriever.invoke(question)
    _, ranked = service.answerer.answer(question, question, passages)
    return [" ".join(c.text.split()) for c in evidence(ranked)]


def test_tokens_stream_the_answer_text_and_citations_quote_the_sentences(
    generative: QAService,
) -> None:
    sentences = shown(generative, QUESTION)
    n = next(i for i, sentence in enumerate(sentences, 1) if "25 June" in sentence)
    said = f"They began on 25 June [{n}] [99]."
    generative.chat_model = replying({"answer": said, "sentences": [n], "short_answer": "25 June"})
    *tokens, answer = generative.stream(QUESTION)
    assert all(isinstance(t, str) for t in tokens) and len(tokens) > 1
    assert "".join(tokens) == said  # the answer text as it streams, never the JSON
    assert isinstance(answer, Answer) and answer.generated and not answer.refused
    assert answer.text == "They began on 25 June [1]."  # [99] names no shown sentence
    assert (answer.markers_written, answer.markers_removed) == (2, 1)
    [citation] = answer.citations
    assert " ".join(citation.quote.split()) == sentences[n - 1]
    stored = (generative.settings.corpus_dir / citation.source).read_text(encoding="utf-8")
    assert stored[citation.start : citation.end] == citation.quote
    assert answer.proposed_short_answer == "25 June"  # it stands in the cited sentence


def test_a_reply_that_finds_nothing_is_a_refusal(generative: QAService) -> None:
    generative.chat_model = replying({"answer": NOT_FOUND, "sentences": [], "short_answer": ""})
    answer = generative.ask(QUESTION)
    assert answer.refused and answer.generated and not answer.citations


def test_a_reply_citing_nothing_shown_falls_back_to_the_extractive_answer(
    generative: QAService,
) -> None:
    generative.chat_model = replying("Sanctions started in summer [42].")
    answer = generative.ask(QUESTION)
    assert answer.ungrounded and not answer.citations
    assert answer.extractive is not None and answer.extractive.citations
    assert answer.text == "Sanctions started in summer."


def test_a_follow_up_is_condensed_by_the_model_before_retrieval(
    generative: QAService, monkeypatch: pytest.MonkeyPatch
) -> None:
    condensed = "Who came second in the election?"
    generative.chat_model = FakeListChatModel(
        responses=[condensed, json.dumps({"answer": NOT_FOUND, "sentences": []})]
    )
    searched: list[str] = []
    lexical = generative.store.lexical
    search = lexical.search

    def recording(query: str, *args: object, **kwargs: object) -> list:
        searched.append(query)
        return search(query, *args, **kwargs)

    monkeypatch.setattr(lexical, "search", recording)
    generative.ask("Did she accept them?", history=["Who ran against him?"])
    assert searched == [condensed]


def test_an_echo_of_the_prompt_is_recognised_as_markup() -> None:
    from qa.generation.grounded import messages

    shown_prompt = messages([], "When?")[1].content
    assert isinstance(shown_prompt, str) and PROMPT_MARKUP.search(shown_prompt)
    for echoed in ['<document title="Report">', "</document>", '{"short_answer": "x"}']:
        assert PROMPT_MARKUP.search(echoed), echoed
    for prose in ["The documentary aired in June [1].", "The answer: 25 June."]:
        assert not PROMPT_MARKUP.search(prose), prose
