"""The judge's plumbing (`qa eval --judge`) on LangChain's fake chat models: known replies in,
the exact prompts, raw verdicts and scores out. test_generation.py runs it on a real model."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import FakeListChatModel

import qa.evaluation.judge as judge_module
from qa.core.errors import InputError
from qa.core.schema import Answer, Passage
from qa.core.settings import Settings
from qa.evaluation.datasets import EvalQuestion
from qa.evaluation.judge import CORRECTNESS, FAITHFULNESS, Judge
from qa.evaluation.runs import aggregate, ask_and_score
from qa.interfaces.cli import main

QUESTION = EvalQuestion(
    id="a", question="When did EU sectoral sanctions start?", answers=["25 June", "June 25"]
)
PASSAGES = [
    Passage("seed.md", "Seed", 0, 40, "Sanctions came into force on 25 June."),
    Passage("seed.md", "Seed", 41, 80, "They hit potash exports."),
]
ANSWER_TEXT = "Sanctions came into force on 25 June [1]. They hit potash exports [1] [2]."
CLAIMS = ["Sanctions came into force on 25 June.", "They hit potash exports."]
CORRECTNESS_PROMPT = CORRECTNESS.format(
    question=QUESTION.question,
    gold="25 June | June 25",
    answer="Sanctions came into force on 25 June. They hit potash exports.",
)
FAITHFULNESS_PROMPTS = [
    FAITHFULNESS.format(
        passages="Sanctions came into force on 25 June.\n\nThey hit potash exports.", claim=claim
    )
    for claim in CLAIMS
]


class Prompts(BaseCallbackHandler):
    """The prompts a chat model was sent, in order."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def on_chat_model_start(self, serialized, messages, **kwargs) -> None:
        self.sent += [batch[-1].content for batch in messages]


def generated(text: str = ANSWER_TEXT, refused: bool = False) -> Answer:
    return Answer(QUESTION.question, text, refused=refused, generated=True, passages=PASSAGES)


@pytest.fixture
def fake_judge(monkeypatch: pytest.MonkeyPatch):
    """Build a Judge whose chat model replies with the given texts, in order; returns the
    judge, the prompts it sent, and the settings it built its model from."""

    def build(replies: list[str]) -> tuple[Judge, Prompts, list[Settings]]:
        prompts, built = Prompts(), []
        model = FakeListChatModel(responses=replies, callbacks=[prompts])

        def chat_model(settings: Settings) -> FakeListChatModel:
            built.append(settings)
            return model

        monkeypatch.setattr(judge_module, "chat_model", chat_model)
        return Judge(Settings(llm_model="qwen"), "openai"), prompts, built

    return build


@pytest.mark.parametrize(
    ("replies", "correctness", "faithfulness"),
    [
        (["YES", " Yes, it does.", "NO"], 1.0, 0.5),
        (["no", "YES", "yes."], 0.0, 1.0),
        (["NO", "No.", "NO"], 0.0, 0.0),
        # neither YES nor NO: kept raw, and that score is left unjudged, not guessed
        (["Maybe", "YES", "I cannot tell"], None, None),
        (["", "YES", "YES"], None, 1.0),
    ],
)
def test_judge_scores_are_what_the_model_replied(
    fake_judge, replies: list[str], correctness: float | None, faithfulness: float | None
) -> None:
    judge, prompts, built = fake_judge(replies)
    assert judge(QUESTION, generated()) == {
        "judge": {
            "answer_correctness": correctness,
            "faithfulness": faithfulness,
            "verdicts": {
                "answer_correctness": replies[0],
                "faithfulness": [
                    {"claim": claim, "verdict": raw}
                    for claim, raw in zip(CLAIMS, replies[1:], strict=True)
                ],
            },
        }
    }
    assert prompts.sent == [CORRECTNESS_PROMPT, *FAITHFULNESS_PROMPTS]
    [settings] = built  # one model, asked for a one-word verdict
    assert (settings.engine, settings.llm_max_tokens, settings.llm_model) == ("openai", 4, "qwen")


def test_a_refusal_is_not_sent_to_the_judge(fake_judge) -> None:
    judge, prompts, _ = fake_judge(["YES"])
    assert judge(QUESTION, generated(refused=True)) == {
        "judge": {"answer_correctness": None, "faithfulness": None, "verdicts": {}}
    }
    assert prompts.sent == []


def test_without_gold_answers_only_faithfulness_is_judged(fake_judge) -> None:
    judge, prompts, _ = fake_judge(["YES", "NO"])
    question = EvalQuestion(id="u", question=QUESTION.question, answers=[], unanswerable=True)
    assert judge(question, generated()) == {
        "judge": {
            "answer_correctness": None,
            "faithfulness": 0.5,
            "verdicts": {
                "faithfulness": [
                    {"claim": CLAIMS[0], "verdict": "YES"},
                    {"claim": CLAIMS[1], "verdict": "NO"},
                ]
            },
        }
    }
    assert prompts.sent == FAITHFULNESS_PROMPTS


def test_judge_info_names_the_engine_model_and_prompts(fake_judge) -> None:
    judge, _, _ = fake_judge([])
    assert judge.info() == {
        "engine": "openai",
        "model": "qwen",
        "base_url": None,
        "prompts": {"answer_correctness": CORRECTNESS, "faithfulness": FAITHFULNESS},
    }


def test_an_unknown_judge_is_an_input_error() -> None:
    with pytest.raises(InputError, match="unknown judge 'extractive'; choose from: "):
        Judge(Settings(), "extractive")


def test_only_generated_answers_are_judged_and_averaged(fake_judge) -> None:
    judge, prompts, _ = fake_judge(["YES", "YES", "NO", "NO", "YES", "YES"])
    quoted = Answer(QUESTION.question, "Sanctions came into force on 25 June. [1]")
    records = [
        ask_and_score(lambda question, turns: generated(), QUESTION, judge),  # 1.0 and 0.5
        ask_and_score(lambda question, turns: quoted, QUESTION, judge),  # extractive: not judged
        ask_and_score(lambda question, turns: generated(), QUESTION, judge),  # 0.0 and 1.0
    ]
    assert [r.get("judge", {}).get("answer_correctness") for r in records] == [1.0, None, 0.0]
    assert [r.get("judge", {}).get("faithfulness") for r in records] == [0.5, None, 1.0]
    assert "judge" not in records[1] and len(prompts.sent) == 6
    metrics = aggregate(records)
    assert (metrics["answer_correctness"], metrics["faithfulness"]) == (0.5, 0.75)


@pytest.mark.slow
def test_qa_eval_stores_the_judges_verdicts_and_scores(
    seed_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`qa eval --engine openai --judge openai` end to end, both models fake."""
    import qa.service

    reply = json.dumps({"answer": "It began on 25 June [1].", "sentences": [1]})
    writer = FakeListChatModel(responses=[reply])
    judge = FakeListChatModel(responses=["YES", "YES", "NO", "NO"])
    monkeypatch.setattr(qa.service, "chat_model", lambda settings: writer)
    monkeypatch.setattr(judge_module, "chat_model", lambda settings: judge)
    monkeypatch.setenv("QA_LLM_MODEL", "qwen")
    runner = CliRunner()
    assert runner.invoke(main, ["ingest"]).exit_code == 0
    questions = tmp_path / "two.jsonl"
    questions.write_text(
        "".join(
            json.dumps({"id": i, "question": "When did EU sectoral sanctions start?", "answers": a})
            + "\n"
            for i, a in (("a", ["25 June"]), ("b", ["1 May"]))
        )
    )
    results = tmp_path / "results"
    args = ["eval", str(questions), "--engine", "openai", "--judge", "openai"]
    judged = runner.invoke(main, [*args, "--results-dir", str(results)])
    assert judged.exit_code == 0, judged.output
    run = json.loads(next(results.glob("two-openai-*.json")).read_text())
    assert run["run"]["judge"] == {
        "engine": "openai",
        "model": "qwen",
        "base_url": None,
        "prompts": {"answer_correctness": CORRECTNESS, "faithfulness": FAITHFULNESS},
    }
    claim = {"claim": "It began on 25 June."}
    assert [r["judge"] for r in run["questions"]] == [
        {
            "answer_correctness": 1.0,
            "faithfulness": 1.0,
            "verdicts": {
                "answer_correctness": "YES",
                "faithfulness": [{**claim, "verdict": "YES"}],
            },
        },
        {
            "answer_correctness": 0.0,
            "faithfulness": 0.0,
            "verdicts": {"answer_correctness": "NO", "faithfulness": [{**claim, "verdict": "NO"}]},
        },
    ]
    assert (run["metrics"]["answer_correctness"], run["metrics"]["faithfulness"]) == (0.5, 0.5)
