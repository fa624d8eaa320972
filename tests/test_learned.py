"""The learned answering step: scorers as data, spans typed by the question, `qa train` reruns."""

import json
import random
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from qa.answering.calibration import PARAMS, SPAN_PRECISION, Scorer, load_scorers
from qa.answering.extractive import CITED_FEATURES, QUESTION_FEATURES
from qa.answering.sentences import SENTENCE_FEATURES, question_type
from qa.answering.spans import SPAN_FEATURES, span_kinds
from qa.interfaces.cli import main
from qa.training.fit import MAX_FALSE_REFUSALS

from .conftest import ROOT

TRAINING = ROOT.parent / "shared" / "data" / "squad2-train-10-articles.json"


def test_committed_parameters_name_their_data_and_features() -> None:
    data = json.loads(PARAMS.read_text())
    assert len(data["data"]["sha256"]) == 64 and data["script_version"] >= 1
    scorers = load_scorers()
    assert scorers["sentence"].features == SENTENCE_FEATURES
    assert scorers["cited"].features == CITED_FEATURES
    assert scorers["answerable"].features == QUESTION_FEATURES
    assert scorers["span"].features == SPAN_FEATURES
    for scorer in scorers.values():
        assert np.all(np.diff(scorer.calibration_y) >= 0)  # calibrated: monotone
    # the rankers keep fit's 0.5 ("sure" for the cited sentence); the gates are chosen by
    # `qa train` on out-of-fold scores, and neither is the never-show 1.01
    assert scorers["sentence"].threshold == scorers["cited"].threshold == 0.5
    figures = data["out_of_fold"]
    answerable = scorers["answerable"].threshold
    assert 0.0 < answerable < 1.0  # refuses some questions, not every one
    assert figures["answerable"]["answerable_refused"] <= MAX_FALSE_REFUSALS
    span = scorers["span"]
    assert span.threshold in span.calibration_y and span.threshold < 1.0  # a calibrated level
    assert figures["span"]["precision"] >= SPAN_PRECISION and figures["span"]["coverage"] > 0


def test_scorer_round_trips_and_is_monotone_in_its_score() -> None:
    scorer = load_scorers()["sentence"]
    again = Scorer.from_dict(json.loads(json.dumps(scorer.to_dict())))
    rows = np.random.default_rng(1).normal(size=(50, len(scorer.features)))
    assert np.allclose(scorer.probability(rows), again.probability(rows))
    order = np.argsort(scorer.raw(rows))
    assert np.all(np.diff(scorer.probability(rows)[order]) >= -1e-12)


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("When did the bridge open?", "date"),
        ("How many ports does the registry list?", "number"),
        ("Who designed the bridge?", "name"),
        ("What is the bridge made of?", None),
    ],
)
def test_question_types(question: str, kind: str | None) -> None:
    assert question_type(question) == kind


@pytest.mark.parametrize(
    ("span", "kinds"),
    [
        ("7", {"number"}),
        ("in 1921", {"date", "number"}),
        ("Gdansk", {"name"}),
        ("the sea", set()),
    ],
)
def test_span_kinds(span: str, kinds: set[str]) -> None:
    assert span_kinds(span) == kinds


@pytest.mark.slow
def test_qa_train_reruns_on_a_small_slice(tmp_path: Path) -> None:
    articles = json.loads(TRAINING.read_text())["data"]
    random.Random(3).shuffle(articles)
    small = {
        "version": "v2.0",
        "data": [{**a, "paragraphs": a["paragraphs"][:3]} for a in articles],
    }
    data, output = tmp_path / "small.json", tmp_path / "params.json"
    data.write_text(json.dumps(small))
    result = CliRunner().invoke(main, ["train", "--data", str(data), "--output", str(output)])
    assert result.exit_code == 0, result.output
    learned = json.loads(output.read_text())
    assert set(learned["scorers"]) == {"sentence", "cited", "answerable", "span"}
    assert learned["out_of_fold"]["answerable"]["answerable_refused"] <= 0.05
    assert (tmp_path / "reader-adapter" / "adapter_model.safetensors").is_file()
    assert learned["reader"]["trained"]["steps"] > 0


def test_train_names_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [{"title": "x"}]}')
    result = CliRunner().invoke(main, ["train", "--data", str(bad)])
    assert result.exit_code == 2 and "not a SQuAD 2.0 training file" in result.stderr
    missing = CliRunner().invoke(main, ["train", "--data", str(tmp_path / "none.json")])
    assert missing.exit_code == 2 and "no training file" in missing.stderr
    unwritable = CliRunner().invoke(
        main, ["train", "--data", str(bad), "--output", str(tmp_path / "no" / "p.json")]
    )
    assert unwritable.exit_code == 2 and "not a writable folder" in unwritable.stderr
