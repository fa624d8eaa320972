"""`qa eval` end to end on the real pipeline, and its errors."""

import json
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.interfaces.cli import main

QUESTIONS = [
    {
        "id": "a",
        "question": "When did EU sectoral sanctions come into force?",
        "answers": ["25 June"],
        "evidence": "came into force on 25 June",
    },
    {"id": "b", "question": "Which factories were sanctioned?", "answers": ["MAZ and BelAZ"]},
    {"id": "c", "question": "Who is the president of France?", "answers": [], "unanswerable": True},
    {
        "id": "d",
        "question": "Did she accept the results?",
        "answers": ["did not recognize"],
        "turns": ["Who came second in the election?"],
    },
]


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_eval_writes_reports_whose_numbers_match_the_records(
    seed_corpus: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    assert runner.invoke(main, ["ingest"]).exit_code == 0
    questions = write_jsonl(tmp_path / "mini.jsonl", QUESTIONS)
    results = tmp_path / "results"
    result = runner.invoke(main, ["eval", str(questions), "--results-dir", str(results)])
    assert result.exit_code == 0, result.output
    assert "| extractive | 4 |" in result.stdout
    [report] = results.glob("mini-extractive-*.json")
    data = json.loads(report.read_text())
    records, metrics = data["questions"], data["metrics"]
    assert [r["id"] for r in records] == ["a", "b", "c", "d"]
    answerable = [r for r in records if not r["unanswerable"]]
    for key, name in [("exact_match", "exact_match"), ("f1", "f1"), ("containment", "containment")]:
        assert metrics[name] == pytest.approx(sum(r[key] for r in answerable) / 3, abs=1e-4)
    assert records[0]["hit1"] == 1.0 and records[0]["containment"] == 1.0
    assert records[2]["refused"] and metrics["refusal_recall"] == 1.0
    assert metrics["questions"] == 4 and metrics["latency_p50_ms"] > 0
    assert list(results.glob("mini-*.md")) and list(results.glob("mini-*.png"))
    assert (results / next(results.glob("mini-*.png")).name).stat().st_size > 1000
    run = data["run"]  # what a comparison needs to tell a code change from a settings change
    assert run["engine"] == "extractive" and run["settings"]["top_k"] == 5
    assert "llm_api_key" not in run["settings"] and run["embedder"]
    assert all(len(sha) == 64 for sha in run["models"].values()) and len(run["models"]) == 2
    time.sleep(1.1)  # runs are named by the second they start
    again = runner.invoke(
        main, ["eval", str(questions), "--results-dir", str(results), "--top-k", "3"]
    )
    assert again.exit_code == 0, again.output
    [newest] = sorted(results.glob("mini-extractive-*.json"))[-1:]
    compared = runner.invoke(
        main,
        ["eval", "--compare", str(newest), "--against", "latest", "--results-dir", str(results)],
    )
    assert compared.exit_code == 0 and "setting top_k: 5 → 3" in compared.stdout


@pytest.mark.slow
def test_eval_on_a_squad_file_builds_its_own_index(tmp_path: Path) -> None:
    squad = {
        "source": "test",
        "articles": [
            {
                "title": "Rivers",
                "paragraphs": [
                    {
                        "context": "The Danube flows through ten countries. "
                        "It ends in the Black Sea.",
                        "qas": [
                            {
                                "id": "q1",
                                "question": "Where does the Danube end?",
                                "answers": ["the Black Sea"],
                            }
                        ],
                    },
                    {
                        "context": "The Nile is often said to be the longest river in Africa.",
                        "qas": [
                            {
                                "id": "q2",
                                "question": "Which is the longest river in Africa?",
                                "answers": ["Nile"],
                            }
                        ],
                    },
                ],
            }
        ],
    }
    path = tmp_path / "rivers.json"
    path.write_text(json.dumps(squad), encoding="utf-8")
    result = CliRunner().invoke(
        main, ["eval", "--squad", str(path), "--results-dir", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output
    [report] = (tmp_path / "r").glob("rivers-extractive-*.json")
    metrics = json.loads(report.read_text())["metrics"]
    assert metrics["hit@1"] == 1.0 and metrics["containment"] == 1.0


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"id": "1", "question": "q?", "answers": ["a"]}\n{not json\n', "line 2: not valid JSON"),
        ('{"id": "1", "answers": ["a"]}\n', "line 1: missing field 'question'"),
        (
            '{"id": "1", "question": "q?", "answers": "a"}\n',
            "line 1: field 'answers' must be a list",
        ),
        ('{"id": "1", "question": "q?", "answers": []}\n', 'mark the question "unanswerable"'),
        ("\n\n", "holds no questions"),
    ],
)
def test_bad_question_files_name_the_line(tmp_path: Path, content: str, fragment: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(main, ["eval", str(path)])
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and fragment in result.stderr


def test_unknown_engine_and_missing_input(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "q.jsonl", QUESTIONS[:1])
    result = CliRunner().invoke(main, ["eval", str(path), "--engine", "magic"])
    assert result.exit_code == 2 and "unknown engine 'magic'" in result.stderr
    result = CliRunner().invoke(main, ["eval"])
    assert result.exit_code == 2 and "question file or --squad" in result.stderr


def test_an_interrupted_run_keeps_what_it_finished(
    seed_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from qa.evaluation import runs as evaluate

    runner = CliRunner()
    assert runner.invoke(main, ["ingest"]).exit_code == 0
    questions = write_jsonl(tmp_path / "mini.jsonl", QUESTIONS)
    real, asked = evaluate.ask_and_score, []

    def interrupted_at_the_third(ask, question, judge=None):
        if len(asked) == 2:
            raise KeyboardInterrupt
        asked.append(question.id)
        return real(ask, question, judge)

    monkeypatch.setattr(evaluate, "ask_and_score", interrupted_at_the_third)
    result = runner.invoke(main, ["eval", str(questions), "--results-dir", str(tmp_path / "r")])
    assert result.exit_code == 130 and "partial run" in result.stderr
    [report] = (tmp_path / "r").glob("mini-extractive-*.json")
    data = json.loads(report.read_text())
    assert data["metrics"]["partial"] is True and len(data["questions"]) == 2
