"""Judged scores for generated answers, by a configured chat model (`qa eval --judge`).

The definitions are RAGAS's:
- answer correctness: does the answer state what the gold answers state (judged YES/NO, 1 or 0);
- faithfulness: the answer's claims (its sentences, citation markers removed) that the
  retrieved passages support, divided by its claims.

The prompts, the judge's engine and model, and every raw verdict are stored with the run, so
a score can be checked by reading what the judge said. A verdict that is neither YES nor NO
is kept raw and leaves that score unjudged; nothing is made up.
"""

import re

from qa.core.schema import Answer
from qa.core.settings import Settings
from qa.evaluation.datasets import EvalQuestion
from qa.evaluation.metrics import strip_markers
from qa.generation.backends import GENERATIVE_ENGINES, chat_model, llm_errors
from qa.text.sentences import split_sentences

CORRECTNESS = (
    "You grade answers to questions. Question: {question}\n"
    "Correct answers: {gold}\n"
    "Answer to grade: {answer}\n"
    "Does the answer to grade state a correct answer? Reply with one word, YES or NO.\n"
    "Verdict:"
)
FAITHFULNESS = (
    "You check claims against passages.\n"
    "Passages:\n{passages}\n\n"
    "Claim: {claim}\n"
    "Do the passages support the claim? Reply with one word, YES or NO.\n"
    "Verdict:"
)
WORD = re.compile(r"[A-Za-z]+")


def verdict(raw: str) -> bool | None:
    """YES -> True, NO -> False, anything else -> None (not judged)."""
    word = WORD.search(raw or "")
    return {"yes": True, "no": False}.get(word.group(0).lower()) if word else None


class Judge:
    """A chat model from the QA_LLM_* settings, with the engine `--judge` names."""

    def __init__(self, settings: Settings, engine: str) -> None:
        if engine not in GENERATIVE_ENGINES:
            from qa.core.errors import InputError

            raise InputError(
                f"unknown judge '{engine}'; choose from: {', '.join(GENERATIVE_ENGINES)}"
            )
        self.settings = settings.model_copy(update={"engine": engine, "llm_max_tokens": 4})
        self.model = chat_model(self.settings)

    def info(self) -> dict:
        return {
            "engine": self.settings.engine,
            "model": self.settings.llm_model,
            "base_url": self.settings.llm_base_url or None,
            "prompts": {"answer_correctness": CORRECTNESS, "faithfulness": FAITHFULNESS},
        }

    def ask(self, prompt: str) -> str:
        with llm_errors(self.settings):
            message = self.model.invoke(prompt)
        return message.content if isinstance(message.content, str) else str(message.content)

    def __call__(self, question: EvalQuestion, answer: Answer) -> dict:
        """The record's judged fields: both scores and the raw verdicts behind them."""
        text = strip_markers(answer.text).strip()
        judged: dict = {"answer_correctness": None, "faithfulness": None, "verdicts": {}}
        if answer.refused:
            return {"judge": judged}  # a refusal is scored by refusal precision and recall
        if question.answers:
            raw = self.ask(
                CORRECTNESS.format(
                    question=question.question, gold=" | ".join(question.answers), answer=text
                )
            )
            judged["verdicts"]["answer_correctness"] = raw
            if (ok := verdict(raw)) is not None:
                judged["answer_correctness"] = float(ok)
        passages = "\n\n".join(p.text for p in answer.passages)
        claims = [text[a:b].strip() for a, b in split_sentences(text) if text[a:b].strip()]
        supported, decided, raws = 0, 0, []
        for claim in claims:
            raw = self.ask(FAITHFULNESS.format(passages=passages, claim=claim))
            raws.append({"claim": claim, "verdict": raw})
            if (ok := verdict(raw)) is not None:
                decided += 1
                supported += ok
        judged["verdicts"]["faithfulness"] = raws
        if claims and decided == len(claims):
            judged["faithfulness"] = round(supported / len(claims), 4)
        return {"judge": judged}
