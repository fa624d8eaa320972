"""Every test gets its own corpus and index folders; the real embedding model is loaded once."""

import shutil
from pathlib import Path

import pytest

from benchmarks.servers import free_port, local_server  # noqa: F401  (shared by the tests)
from qa.core.settings import Settings
from qa.models.embedder import load_embeddings
from qa.service import QAService, build_service

ROOT = Path(__file__).resolve().parent.parent
SEED = sorted((ROOT / "corpus").glob("*.md"))
# The JSON object of `qa ask --json` and of the UI's /ask endpoint
ANSWER_KEYS = {
    "question",
    "answer",
    "short_answer",
    "refused",
    "confidence",
    "sure",
    "short_answer_confidence",
    "citations",
    "timings_ms",
}


def seed_chunks() -> int:
    """How many chunks the seed article makes at the default chunk size and overlap."""
    from qa.ingest.chunking import chunk_document, make_chunker
    from qa.ingest.corpus import load_file

    return len(chunk_document(load_file(SEED[0], SEED[0].parent), make_chunker(800, 120)))


@pytest.fixture(autouse=True)
def data_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point QA_CORPUS_DIR and QA_INDEX_DIR at empty folders of this test."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    monkeypatch.setenv("QA_CORPUS_DIR", str(corpus))
    monkeypatch.setenv("QA_INDEX_DIR", str(tmp_path / "index"))
    return corpus


@pytest.fixture
def seed_corpus(data_dirs: Path) -> Path:
    """The test's corpus folder holding the project's seed article."""
    for path in SEED:
        shutil.copy(path, data_dirs / path.name)
    return data_dirs


@pytest.fixture(scope="session")
def embeddings():
    """The real bundled all-MiniLM-L6-v2, loaded once for the whole run."""
    return load_embeddings()


@pytest.fixture(scope="session")
def instruct_model() -> Path:
    """A real instruction-tuned GGUF (Qwen2.5-Coder-1.5B-Instruct, SHA-256 pinned), fetched and
    assembled once into the model cache by scripts/fetch-instruct-model."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fetch-instruct-model")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


@pytest.fixture
def service(embeddings) -> QAService:
    """A service over the test's folders, sharing the loaded model."""
    return build_service(Settings(), embeddings)


@pytest.fixture
def indexed(service: QAService, seed_corpus: Path) -> QAService:
    """A service whose index holds the seed article."""
    service.library.ingest(progress=False)
    return service


# Test tiers. `pytest` alone runs the unit tests (seconds); `make test` runs every tier.
# A test's tier follows from the fixtures it uses, so a new test is placed without a mark.
TIERS = {
    "models": {"embeddings", "service", "indexed", "reader"},  # the real bundled models
    "servers": {"servers", "server", "app", "llm_server"},  # PostgreSQL, chroma run, qa serve
    "browser": {"browser", "page"},  # headless Chromium
    "llm": {"instruct_model", "llm_server", "crashing"},  # llama.cpp and the instruct model
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with the tiers its fixtures need; any of them also makes it `slow`."""
    for item in items:
        needs = set(getattr(item, "fixturenames", ()))
        tiers = [tier for tier, fixtures in TIERS.items() if needs & fixtures]
        for tier in tiers:
            item.add_marker(tier)
        if tiers:
            item.add_marker("slow")
