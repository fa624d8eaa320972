"""`qa bench --quick` runs end to end so that the benchmark cannot rot; figures not asserted."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.interfaces.cli import main

pytestmark = pytest.mark.slow


def test_quick_bench_writes_every_figure(seed_corpus: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["bench", "--quick", "--results-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    [path] = tmp_path.glob("bench-*.json")
    figures = json.loads(path.read_text())
    for backend in ("embedded", "server"):
        assert set(figures[backend]) == {"ingest", "retrieval_1000", "first_retrieval_1000"}
        assert figures[backend]["ingest"]["chunks"] > 100
        assert figures[backend]["first_retrieval_1000"]["ok"]
        retrieval = figures[backend]["retrieval_1000"]
        assert retrieval["write_chunks_per_s"] > 0
        assert retrieval["dense_p50_ms"] > 0 and retrieval["lexical_p50_ms"] > 0
    assert figures["cold_start"]["ok"]
    for state in ("idle", "loaded"):
        assert {"p50_ms", "p95_ms", "peak_mb"} <= set(figures["ask_short_answer"][state])
    assert figures["ask_short_answer"]["p95_loaded_over_idle"] > 0
    assert "one core busy" in result.stdout and "each search alone" in result.stdout
    assert figures["uniform_bm25"]["chunks"] == 1000
    assert "ingest / SentenceTransformer.encode" in result.stdout and "server" in result.stdout
    reading = figures["reading"]
    assert set(reading["office_files_per_s_by_format"]) == {"pptx", "eml", "epub", "odt", "xlsx"}
    assert reading["office_files_per_s"] > 0
    assert reading["ocr_pages_per_s_tesseract"] > 0 and reading["ocr_pages_per_s_rapidocr"] > 0
    assert "OCR pages /s" in result.stdout


def test_this_index_times_the_searches_over_an_index_as_it_is(indexed, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["bench", "--this-index"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout)
    assert figures["chunks"] == indexed.store.lexical.count() > 0
    for key in ("p50_ms", "p95_ms", "dense_p50_ms", "lexical_p50_ms"):
        assert figures[key] > 0


def test_this_index_over_nothing_indexed_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["bench", "--this-index"])
    assert result.exit_code != 0
    [line] = result.stderr.strip().splitlines()
    assert "nothing is indexed" in line and "qa ingest" in line
    assert not (tmp_path / "index").exists()


def test_this_index_refuses_the_options_that_write_an_index() -> None:
    result = CliRunner().invoke(main, ["bench", "--this-index", "--chunks", "10"])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("qa: error: --this-index measures the index as it is")
