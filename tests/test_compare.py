"""`qa eval --compare`: deltas, flips and significance between two runs."""

import json
from pathlib import Path

from click.testing import CliRunner

from qa.evaluation.compare import compare, load_run
from qa.interfaces.cli import main


def write_run(folder: Path, stamp: str, rights: list[bool], ems: list[bool]) -> Path:
    records = [
        {
            "id": f"q{n:02d}",
            "question": f"Question {n}?",
            "unanswerable": False,
            "refused": False,
            "containment": float(r),
            "exact_match": float(e),
            "f1": 1.0 if e else 0.5 if r else 0.0,
        }
        for n, (r, e) in enumerate(zip(rights, ems, strict=True))
    ]
    metrics = {"containment": sum(rights) / len(rights), "questions": len(rights)}
    path = folder / f"set-extractive-{stamp}.json"
    path.write_text(
        json.dumps(
            {
                "dataset": "set",
                "engine": "extractive",
                "date": stamp,
                "metrics": metrics,
                "questions": records,
            }
        )
    )
    return path


def test_flips_and_significance(tmp_path: Path) -> None:
    before = write_run(tmp_path, "20260101-000000", [False] * 20 + [True] * 10, [False] * 30)
    after = write_run(tmp_path, "20260102-000000", [True] * 20 + [True] * 9 + [False], [True] * 30)
    result = compare(load_run(before), load_run(after))
    assert [q["id"] for q in result["broken"]] == ["q29"] and len(result["fixed"]) == 20
    assert result["right_p"] < 0.001 and result["em"]["fixed"] == 30
    low, high = result["f1"]["interval"]
    assert 0 < low <= result["f1"]["mean_difference"] <= high
    small = write_run(tmp_path, "20260103-000000", [True] * 30, [True] * 30)
    close = compare(load_run(after), load_run(small))  # one question flipped: not progress
    assert len(close["fixed"]) == 1 and close["right_p"] == 1.0


def test_the_cli_compares_against_the_latest_earlier_run(tmp_path: Path) -> None:
    write_run(tmp_path, "20260101-000000", [False] * 10, [False] * 10)
    write_run(tmp_path, "20260102-000000", [True] * 5 + [False] * 5, [False] * 10)
    newest = write_run(tmp_path, "20260103-000000", [True] * 10, [False] * 10)
    result = CliRunner().invoke(
        main,
        ["eval", "--compare", str(newest), "--against", "latest", "--results-dir", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    assert "set-extractive-20260102-000000.json → set-extractive-20260103-000000.json" in (
        result.stdout
    )
    assert "| containment | 0.5 | 1 | +0.5 |" in result.stdout and "## Fixed (5)" in result.stdout
    assert list(tmp_path.glob("compare-*.md"))
    bad = CliRunner().invoke(main, ["eval", "--compare", str(newest)])
    assert bad.exit_code == 2 and "two runs" in bad.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{}")
    bad = CliRunner().invoke(main, ["eval", "--compare", str(broken), str(newest)])
    assert bad.exit_code == 2 and "not a `qa eval` run" in bad.stderr
