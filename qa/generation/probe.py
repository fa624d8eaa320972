"""Try a GGUF model in a child process before loading it in ours: a native crash stays there.

llama.cpp is native code. Built for the wrong CPU features or miscompiled, it dies with
SIGSEGV or SIGILL at the first decode, and takes the whole process with it. So before a
model is first used in-process, a child process loads it and generates two tokens. The
verdict is cached per model file, llama-cpp-python version and CPU flags, in the model cache
folder, so the check costs a second or two once per machine, not per run.

`probe` returns None when the model runs here, otherwise the reason it does not, in one
sentence:

    >>> print(probe(Path("model.gguf"), Path("~/.cache/qa")))  # doctest: +SKIP
    None
"""

import hashlib
import json
import os
import platform
import signal
import subprocess
import sys
from importlib import metadata
from pathlib import Path

PROBE_TIMEOUT_S = 120.0
# Tests make the child fail on purpose (crash: SIGSEGV after loading, hang: never returns);
# the value is part of the cache key, so such a verdict never stands for the real model.
FAULT_ENV = "QA_TEST_PROBE_FAULT"

_QUIET_LOG = None


def silence_llama_log() -> None:
    """Keep llama.cpp's own log lines (even with verbose=False) off the user's terminal."""
    global _QUIET_LOG
    import ctypes

    import llama_cpp

    if _QUIET_LOG is None:
        _QUIET_LOG = llama_cpp.llama_log_callback(lambda level, text, data: None)
        llama_cpp.llama_log_set(_QUIET_LOG, ctypes.c_void_p(0))


def cpu_flags() -> str:
    """The CPU's feature flags (Linux), else the processor's name."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("flags"):
                    return " ".join(sorted(line.split(":", 1)[1].split()))
    except OSError:
        pass
    return platform.processor() or platform.machine()


def verdict_path(model: Path, cache_dir: Path) -> Path:
    """The cache file for this model file, llama-cpp-python version and CPU."""
    stat = model.stat()
    try:
        library = metadata.version("llama_cpp_python")
    except metadata.PackageNotFoundError:
        library = "missing"
    key = "|".join(
        [
            str(model.resolve()),
            str(stat.st_size),
            str(stat.st_mtime_ns),
            library,
            cpu_flags(),
            os.environ.get(FAULT_ENV, ""),
        ]
    )
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir / "probes" / f"{model.stem}-{digest}.json"


def _run_child(model: Path, threads: int, timeout: float) -> tuple[str | None, bool]:
    """The child's verdict, and whether it is worth keeping (a crash or hang, or success)."""
    command = [sys.executable, "-m", "qa.generation.probe", str(model), str(threads)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return f"a test generation did not finish within {timeout:g} s", True
    if done.returncode < 0:
        name = signal.Signals(-done.returncode).name
        return f"llama.cpp crashed ({name}) at a test generation", True
    if done.returncode != 0:  # an error, not a crash: said, but checked again next time
        last = (done.stderr.strip().splitlines() or ["no message"])[-1][:200]
        return f"a test generation failed: {last}", False
    return None, True


def probe(
    model: Path, cache_dir: Path, threads: int = 1, timeout: float = PROBE_TIMEOUT_S
) -> str | None:
    """None if `model` generates in a child process here; else why not (cached either way)."""
    path = verdict_path(model, cache_dir)
    try:
        return json.loads(path.read_text(encoding="utf-8"))["problem"]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    problem, lasting = _run_child(model, threads, timeout)
    if not lasting:
        return problem
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".tmp")
        partial.write_text(json.dumps({"model": str(model), "problem": problem}), "utf-8")
        partial.replace(path)
    except OSError:
        pass  # an unwritable cache only means probing again next time
    return problem


def _child(model: str, threads: int) -> None:
    """Load the model and generate two tokens; a crash here is the verdict."""
    from llama_cpp import Llama

    silence_llama_log()
    llm = Llama(model_path=model, n_ctx=64, n_threads=threads, verbose=False)
    fault = os.environ.get(FAULT_ENV, "")
    if fault == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    if fault == "hang":
        signal.pause()
    llm("The capital of France is", max_tokens=2, temperature=0.0)


if __name__ == "__main__":
    _child(sys.argv[1], int(sys.argv[2]))
