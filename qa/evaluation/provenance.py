"""Where a run's figures came from: the git commit, the settings, and digests of the models
and learned parameters it ran with (recorded in every result file)."""

import functools
import json
from pathlib import Path

from qa.core.settings import Settings


def file_digest(path: Path) -> str | None:
    """SHA-256 of a file, computed once per process per version (path, size, mtime)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return _digest(path, stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _digest(path: Path, size: int, mtime_ns: int) -> str | None:
    import hashlib

    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError:
        return None


def run_info(settings: Settings) -> dict:
    """What a run ran on, so that a comparison can tell a code change from a settings one:
    the commit, the settings (secrets left out), the model files' SHA-256 and the embedder."""
    import subprocess

    from qa.index.store import indexed_embedder

    models: dict[str, str | None] = {}
    try:
        from qa.models.embedder import model_folder
        from qa.models.reader import ADAPTER

        models["span_reader"] = file_digest(ADAPTER / "adapter_model.safetensors")
        if settings.llm_model and Path(settings.llm_model).is_file():
            models["llm"] = file_digest(Path(settings.llm_model))
        models["embedding_model"] = file_digest(
            model_folder(settings.embedding_model) / "model.safetensors"
        )
    except Exception:  # a missing model is reported by the run itself
        pass
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "commit": (commit + ("+changes" if dirty else "")) or None,
        "settings": json.loads(settings.model_dump_json(exclude={"llm_api_key", "session_secret"})),
        "models": models,
        "embedder": indexed_embedder(settings),
    }
