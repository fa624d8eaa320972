"""Metric functions against hand-worked examples."""

import pytest

from qa.evaluation.metrics import (
    contains_answer,
    exact_match,
    f1_score,
    normalize_answer,
    percentile,
    reciprocal_rank,
    strip_markers,
)
from qa.evaluation.runs import aggregate


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("The Eiffel Tower", "eiffel tower"),
        ("  a  cat,   AN apple; the end. ", "cat apple end"),
        ("Theatre and anthem", "theatre and anthem"),  # articles only as whole words
        ("U.S.-based", "usbased"),  # ASCII punctuation removed, not replaced
        ("“Quoted”", "“quoted”"),  # the official script leaves non-ASCII punctuation
    ],
)
def test_squad_normalisation(raw: str, normalised: str) -> None:
    assert normalize_answer(raw) == normalised


def test_exact_match_takes_the_best_gold() -> None:
    assert exact_match("the 25 June", ["June 25", "25 June"]) == 1.0
    assert exact_match("25 June 2021", ["25 June"]) == 0.0
    assert exact_match("", ["x"]) == 0.0


def test_f1_hand_worked() -> None:
    # prediction tokens: on 25 june 2021 (4); gold: 25 june (2); overlap 2
    # precision 2/4, recall 2/2 -> F1 = 2 * 0.5 * 1 / 1.5 = 2/3
    assert f1_score("on 25 June 2021", ["25 June"]) == pytest.approx(2 / 3)
    assert f1_score("Paris", ["London", "paris!"]) == 1.0
    assert f1_score("nothing shared", ["x y"]) == 0.0
    # repeated tokens count once per occurrence in both
    assert f1_score("x y y", ["y y z"]) == pytest.approx(2 / 3)
    assert f1_score("a b b", ["b b c"]) == pytest.approx(0.8)  # "a" is an article, dropped


def test_containment_is_whole_words_and_ignores_curly_punctuation() -> None:
    assert contains_answer("came into force on 25 June. [1]", ["25 june"]) == 1.0
    assert contains_answer("from Smolensk to Sakhalin”, – said", ["Smolensk to Sakhalin"]) == 1.0
    assert contains_answer("125 Junebug", ["25 June"]) == 0.0


def test_ranks_percentiles_and_markers() -> None:
    assert reciprocal_rank([False, False, True]) == pytest.approx(1 / 3)
    assert reciprocal_rank([False]) == 0.0
    assert percentile([10, 20, 30, 40], 50) == 25.0
    assert percentile([], 50) is None
    assert strip_markers("It rained. [1] Then it stopped [2].") == "It rained. Then it stopped."


def test_aggregate_refusal_precision_and_recall() -> None:
    base = {"latency_ms": 10.0, "citations": []}
    answerable = {
        **base,
        "unanswerable": False,
        "exact_match": 1.0,
        "f1": 1.0,
        "containment": 1.0,
        "hit1": 1.0,
        "hit5": 1.0,
        "rr": 1.0,
        "good_citations": 1,
        "total_citations": 2,
    }
    records = [
        {**answerable, "refused": False},
        {
            **answerable,
            "refused": True,
            "exact_match": 0.0,
            "f1": 0.0,
            "containment": 0.0,
            "hit1": 0.0,
            "rr": 0.5,
            "total_citations": 0,
            "good_citations": 0,
        },
        {**base, "unanswerable": True, "refused": True},
        {**base, "unanswerable": True, "refused": False},
    ]
    metrics = aggregate(records)
    assert metrics["exact_match"] == 0.5 and metrics["hit@1"] == 0.5 and metrics["mrr"] == 0.75
    assert metrics["citation_precision"] == 0.5
    assert metrics["refusal_precision"] == 0.5  # 2 refusals, 1 of them right
    assert metrics["refusal_recall"] == 0.5  # 2 unanswerable, 1 refused
    assert metrics["latency_p50_ms"] == 10.0


def test_generated_answer_metrics_hand_worked() -> None:
    from qa.core.schema import Answer, Citation
    from qa.evaluation.datasets import EvalQuestion
    from qa.evaluation.runs import score

    cite = Citation(1, "a.md", "A", 0, 7, "25 June")
    asked = EvalQuestion(id="q", question="When?", answers=["25 June"])
    off = EvalQuestion(id="o", question="Who?", answers=[], unanswerable=True)

    def generated(text: str, citations: list, **fields) -> Answer:
        timings = {"first_token": fields.pop("first", 100.0)}
        return Answer("q", text, generated=True, citations=citations, timings_ms=timings, **fields)

    records = [
        score(
            asked,
            generated(
                "On 25 June [1].",
                [cite],
                markers_written=2,
                markers_removed=1,
                proposed_short_answer="25 June",
            ),
            500.0,
        ),
        score(
            asked,
            generated(
                "Some day.",
                [],
                ungrounded=True,
                markers_written=1,
                markers_removed=1,
                proposed_short_answer=None,
                first=300.0,
            ),
            900.0,
        ),
        score(
            asked,
            generated(
                '<passage id="1">On 25 June [1]',
                [cite],
                markers_written=1,
                proposed_short_answer="1 July",
                first=200.0,
            ),
            700.0,
        ),
        score(off, generated("x", [], refused=True, first=50.0), 60.0),
        score(asked, Answer("q", "refused", refused=True), 10.0),  # refused before the model
    ]
    metrics = aggregate(records)
    assert metrics["cited_share"] == round(2 / 3, 4)  # of the 3 answered by the model
    assert metrics["answerable_cited"] == 0.5  # of the 4 answerable questions
    assert metrics["ungrounded_rate"] == round(1 / 3, 4)
    assert metrics["markers_removed_share"] == 0.5  # 2 of 4 written
    assert metrics["markup_share"] == round(1 / 3, 4)
    assert metrics["proposed_short_precision"] == 0.5  # "25 June" right, "1 July" wrong
    assert metrics["proposed_short_coverage"] == 0.5
    assert metrics["first_token_p50_ms"] == 150.0  # of the 4 answers the model wrote
    assert "cited_share" not in aggregate(records[-1:])  # extractive runs: no such columns
