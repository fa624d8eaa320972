"""The ONNX embedder: faithful to sentence-transformers, cached, and tied to the index it made."""

import copy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qa.core.errors import BackendError, StaleIndexError
from qa.core.settings import Settings
from qa.models.embedder import OnnxEmbeddings, load_embeddings, model_folder
from qa.service import QAService, build_service

pytestmark = pytest.mark.slow

TEXTS = [
    "Who won the presidential election in Belarus?",
    "Moscow and Minsk have strengthened economic cooperation despite Western sanctions.",
    "Photosynthesis converts light energy into chemical energy stored in glucose molecules, "
    "which plants use to grow; the process takes place mainly in the chloroplasts of leaf "
    "cells and releases oxygen as a by-product. " * 3,
    "Die Katze schläft auf dem Sofa.",
    "2 + 2 = 4",
    "x",
]


def test_vectors_agree_with_sentence_transformers(embeddings: OnnxEmbeddings) -> None:
    from sentence_transformers import SentenceTransformer  # torch: imported by this test only

    reference = SentenceTransformer(str(model_folder()), device="cpu").encode(
        TEXTS, normalize_embeddings=True
    )
    ours = np.array(embeddings.embed_documents(TEXTS))
    assert ours.shape == reference.shape
    assert np.allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    agreement = (ours * reference).sum(axis=1)
    assert agreement.min() > 0.93 and agreement.mean() > 0.97, agreement
    # batching and order change nothing
    one_by_one = np.array([embeddings.embed_query(t) for t in reversed(TEXTS)])[::-1]
    assert np.allclose(ours, one_by_one, atol=1e-4)
    assert embeddings.embed_documents([]) == []


def test_first_use_exports_an_int8_copy_once(tmp_path: Path, embeddings: OnnxEmbeddings) -> None:
    fresh = load_embeddings(cache_dir=tmp_path)  # the export path, as on a new machine
    [onnx_file] = tmp_path.glob("*/model.onnx")
    assert onnx_file.stat().st_size < 40 * 2**20  # int8 weights: a quarter of the 90 MB float copy
    assert not list(tmp_path.glob("*/*partial*")) and not list(tmp_path.glob("*/full.onnx"))
    assert fresh.name == embeddings.name == onnx_file.parent.name
    assert np.allclose(fresh.embed_query(TEXTS[1]), embeddings.embed_query(TEXTS[1]), atol=1e-5)
    stamp = onnx_file.stat().st_mtime_ns
    load_embeddings(cache_dir=tmp_path)
    assert onnx_file.stat().st_mtime_ns == stamp


def test_a_folder_without_a_model_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="no sentence-transformers model in"):
        load_embeddings(str(tmp_path), cache_dir=tmp_path / "cache")


def test_an_unusable_cache_folder_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(BackendError, match="QA_MODEL_CACHE_DIR") as caught:
        load_embeddings(cache_dir=blocker)
    assert "\n" not in str(caught.value)


def test_an_index_made_by_another_model_is_embedded_again(
    indexed: QAService, seed_corpus: Path
) -> None:
    chunks = indexed.store.lexical.count()
    other = copy.copy(indexed.embeddings)
    other.name = "some-other-model"
    (seed_corpus / "notes.txt").write_text("Zebras graze on the plains.\n", encoding="utf-8")
    indexed.library.ingest(progress=False)
    (seed_corpus / "notes.txt").unlink()

    switched = build_service(Settings(), other)
    with pytest.raises(StaleIndexError, match="embedded by another model"):
        switched.ask("When did EU sectoral sanctions start?")
    report = switched.library.ingest(progress=False)
    assert (report.added, report.unchanged, report.deleted) == (chunks, 0, 1)
    assert switched.store.lexical.count() == chunks  # the removed file's chunk is gone too
    assert set(switched.store.dense.get(include=[])["ids"]) == switched.store.lexical.ids()
    assert "25 June" in switched.ask("When did EU sectoral sanctions start?").text

    back = build_service(Settings(), indexed.embeddings)
    with pytest.raises(StaleIndexError):
        back.ask("When did EU sectoral sanctions start?")


def test_asking_never_imports_torch(indexed: QAService) -> None:
    script = (
        "import sys\n"
        "from qa.interfaces.cli import main\n"
        "main(['ask', '--json', 'When did EU sectoral sanctions start?'], standalone_mode=False)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "25 June" in done.stdout
