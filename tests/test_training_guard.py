"""`qa train` refuses training data that shares an article or a paragraph with an evaluation
set (unit tier: the guard runs before any model loads)."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.core.errors import InputError
from qa.interfaces.cli import main
from qa.training.data import load_articles
from qa.training.guard import check_disjoint, evaluation_texts

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def test_the_shipped_training_data_shares_nothing_with_the_evaluation_sets() -> None:
    evaluation = evaluation_texts(
        [ROOT / "eval" / "questions.jsonl", DATA / "squad-dev-sample.json"]
    )
    assert len(evaluation["titles"]) == 3 and len(evaluation["evidence"]) > 20
    check_disjoint(load_articles(DATA / "squad2-train-10-articles.json"), evaluation)


def test_a_copied_title_or_paragraph_is_refused(tmp_path: Path) -> None:
    sample = json.loads((DATA / "squad-dev-sample.json").read_text(encoding="utf-8"))
    copied = sample["articles"][0]["paragraphs"][0]["context"]
    evaluation = evaluation_texts([DATA / "squad-dev-sample.json"])
    renamed = {"title": "Renamed", "paragraphs": [{"context": f"  {copied}\n", "qas": []}]}
    with pytest.raises(InputError, match="'Renamed' holds a paragraph of an evaluation set"):
        check_disjoint([renamed], evaluation)
    retitled = {"title": "normans", "paragraphs": [{"context": "Other words.", "qas": []}]}
    with pytest.raises(InputError, match="'normans' has the title of an evaluation set"):
        check_disjoint([retitled], evaluation)
    seed = ROOT / "eval" / "questions.jsonl"
    evidence = json.loads(seed.read_text(encoding="utf-8").splitlines()[0])["evidence"]
    quoting = {"title": "Quoting", "paragraphs": [{"context": f"As reported: {evidence}"}]}
    with pytest.raises(InputError, match="'Quoting' holds a paragraph"):
        check_disjoint([quoting], evaluation_texts([seed]))


def test_qa_train_names_the_overlap_in_one_line(tmp_path: Path) -> None:
    sample = json.loads((DATA / "squad-dev-sample.json").read_text(encoding="utf-8"))
    article = sample["articles"][1]
    training = {"data": [{"title": article["title"], "paragraphs": [
        {"context": p["context"], "qas": []} for p in article["paragraphs"]
    ]}]}  # fmt: skip
    path = tmp_path / "train.json"
    path.write_text(json.dumps(training), encoding="utf-8")
    result = CliRunner().invoke(
        main,
        ["train", "--data", str(path), "--evaluation-set", str(DATA / "squad-dev-sample.json"),
         "--output", str(tmp_path / "params.json")],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.stderr == (
        f"qa: error: the training article '{article['title']}' has the title of an evaluation "
        "set's article; leave it out of the training file\n"
    )
