"""The span reader: the bundled MiniLM, taught to point at the answer in a sentence.

A question-answering head (start and end logits per token, as in BERT's SQuAD reader) on
the bundled all-MiniLM-L6-v2, fine-tuned with LoRA by `qa train` on SQuAD 2.0 training
articles (`qa.training.finetune`). Only the adapter is kept in the project
(`qa/models/reader-adapter/`, 2.7 MB). On first use it is merged into the packaged weights,
exported to ONNX in full precision (an int8 copy was faster but showed fewer and less precise
short answers), and cached; answering then runs on onnxruntime alone.

The reader sees the sentence with its neighbours (they say who "he" is) but may only point
inside the sentence, so every span it gives is a verbatim slice of the cited sentence. It
never writes: it scores spans. Whether a span is shown is decided by a calibrated scorer.
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Encoding

from qa.core.errors import BackendError

ADAPTER = Path(__file__).with_name("reader-adapter")
EXPORT_VERSION = 3  # 3: full precision, checked against the model in eval mode
MAX_TOKENS = 256  # question and window together
MAX_QUESTION_TOKENS = 64  # a longer question is read by its first 64 tokens
MAX_ANSWER_TOKENS = 24
NEIGHBOUR_CHARS = 300  # of the sentences before and after, at most
MIN_AGREEMENT = 0.98  # least correlation of the ONNX copy's logits with the merged model's
# Texts of qa's own (no evaluation data): a count among counts, a name among names.
REFERENCE = [
    (
        "How many lanterns hang in the hall?",
        "The hall has 42 lanterns and 7 mirrors. They were restored last spring.",
    ),
    (
        "Who designed the bridge?",
        "The engineers said Maria Lopez designed the bridge in 1962. Her partner built it.",
    ),
]


@dataclass(frozen=True)
class Reading:
    """The reader's best span of one sentence (offsets into the sentence) and its scores."""

    start: int
    end: int
    score: float  # start logit + end logit of the span
    null: float  # the same at the [CLS] token: "no answer here"
    logprob: float = -20.0  # of this span among every span of the sentence and "no answer"


@dataclass(frozen=True)
class Window:
    """A sentence with the text around it; the reader may point only inside the sentence."""

    text: str
    start: int  # of the sentence in `text`
    end: int

    @classmethod
    def around(cls, sentence: str, previous: str = "", following: str = "") -> "Window":
        """The sentence between (at most NEIGHBOUR_CHARS of) its neighbours."""
        if len(previous) > NEIGHBOUR_CHARS:  # a long neighbour must not crowd the sentence out
            previous = previous[-NEIGHBOUR_CHARS:].partition(" ")[2]
        if len(following) > NEIGHBOUR_CHARS:
            following = following[:NEIGHBOUR_CHARS].rpartition(" ")[0]
        before = f"{previous} " if previous else ""
        after = f" {following}" if following else ""
        return cls(before + sentence + after, len(before), len(before) + len(sentence))


def load_merged_model(adapter: Path = ADAPTER):
    """The bundled MiniLM with the question-answering head and the adapter merged in (torch)."""
    from peft import PeftModel
    from transformers import AutoModelForQuestionAnswering
    from transformers.utils import logging as transformers_logging

    from qa.models.embedder import bundled_model_dir

    transformers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    base = AutoModelForQuestionAnswering.from_pretrained(bundled_model_dir(), local_files_only=True)
    model = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    return model.eval().requires_grad_(False)


class SpanReader:
    """Reads (question, window) pairs with onnxruntime, one pair per thread, no padding."""

    def __init__(self, onnx_file: Path, threads: int | None = None) -> None:
        from concurrent.futures import ThreadPoolExecutor

        import onnxruntime
        from tokenizers import Tokenizer

        from qa.models.embedder import bundled_model_dir

        self.tokenizer = Tokenizer.from_file(str(bundled_model_dir() / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.question_tokenizer = Tokenizer.from_file(str(bundled_model_dir() / "tokenizer.json"))
        self.question_tokenizer.no_truncation()
        self.question_tokenizer.no_padding()
        self.tokenizer.enable_truncation(MAX_TOKENS, strategy="only_second")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self.pool = ThreadPoolExecutor(threads or os.cpu_count() or 1, "qa-read")

    def logits(self, question: str, window: str) -> tuple[np.ndarray, np.ndarray, Encoding]:
        """Start and end logits of every token, and the encoding (offsets, sequence ids)."""
        asked = self.question_tokenizer.encode(question, add_special_tokens=False).offsets
        if len(asked) > MAX_QUESTION_TOKENS:
            question = question[: asked[MAX_QUESTION_TOKENS - 1][1]]
        encoding = self.tokenizer.encode(question, window)
        ids = np.array([encoding.ids], dtype=np.int64)
        feed = {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "token_type_ids": np.array([encoding.type_ids], dtype=np.int64),
        }
        start, end = self.session.run(None, feed)
        return start[0], end[0], encoding

    def read_one(self, question: str, window: Window) -> Reading:
        """The best span inside the window's sentence."""
        start_logits, end_logits, encoding = self.logits(question, window.text)
        last = max(
            (
                b
                for q, (a, b) in zip(encoding.sequence_ids, encoding.offsets, strict=True)
                if q == 1
            ),
            default=0,
        )
        if last < window.end and (window.start or window.end < len(window.text)):
            # the neighbours pushed part of the sentence past the limit: read it alone
            return self.read_one(question, Window.around(window.text[window.start : window.end]))
        inside = [
            i
            for i, (sequence, (a, b)) in enumerate(
                zip(encoding.sequence_ids, encoding.offsets, strict=True)
            )
            if sequence == 1 and b > a and a >= window.start and b <= window.end
        ]
        null = float(start_logits[0] + end_logits[0])
        if not inside:  # nothing of the sentence fits (a very long question and sentence)
            return Reading(0, 0, -1e4, null)
        index = np.array(inside)
        scores = start_logits[index][:, None] + end_logits[index][None, :]
        gap = index[None, :] - index[:, None]
        scores[(gap < 0) | (gap >= MAX_ANSWER_TOKENS)] = -np.inf
        first, last = (int(i) for i in np.unravel_index(int(np.argmax(scores)), scores.shape))
        best = float(scores[first, last])
        every = np.append(scores[np.isfinite(scores)], null)
        total = every.max() + np.log(np.exp(every - every.max()).sum())
        offsets = encoding.offsets
        return Reading(
            offsets[index[first]][0] - window.start,
            offsets[index[last]][1] - window.start,
            best,
            null,
            float(max(best - total, -20.0)),
        )

    def read(self, question: str, windows: list[Window]) -> list[Reading]:
        """The best span of each window's sentence, in order."""
        return list(self.pool.map(lambda w: self.read_one(question, w), windows))


def cache_key(adapter: Path = ADAPTER) -> str:
    """Names the exported reader after the adapter and the packaged weights it came from."""
    from qa.models.embedder import bundled_model_dir

    digest = hashlib.sha256(str(EXPORT_VERSION).encode())
    for path in sorted(adapter.glob("*")):
        digest.update(path.name.encode() + path.read_bytes())
    for path in sorted(bundled_model_dir().glob("*.safetensors")):  # 90 MB: named by stat
        digest.update(
            repr((str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns)).encode()
        )
    return f"reader-{digest.hexdigest()[:12]}"


def export_onnx(target: Path, adapter: Path = ADAPTER) -> None:
    """Write the merged reader as ONNX, checked to reproduce the merged model's logits."""
    import warnings

    import torch

    from qa.models.onnx import export_quantised

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # peft's and transformers' deprecation notices
        model = load_merged_model(adapter)

    class Logits(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            out = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.start_logits, out.end_logits

    def agrees(copy: Path) -> bool:
        reader = SpanReader(copy, threads=1)
        least = 1.0
        for question, text in REFERENCE:
            start, end, encoding = reader.logits(question, text)
            with torch.no_grad():
                out = model(
                    input_ids=torch.tensor([encoding.ids]),
                    attention_mask=torch.ones(1, len(encoding.ids), dtype=torch.long),
                    token_type_ids=torch.tensor([encoding.type_ids]),
                )
            for mine, theirs in ((start, out.start_logits), (end, out.end_logits)):
                least = min(least, float(np.corrcoef(mine, theirs[0].numpy())[0, 1]))
        return least >= MIN_AGREEMENT

    # full precision: int8 passes `agrees` but shows fewer and less precise short answers
    # (eval/README.md, "Learned answering")
    outputs = ["start_logits", "end_logits"]
    if not export_quantised(Logits(), outputs, target, agrees, quantise=False):
        raise BackendError("the ONNX copy of the span reader does not reproduce its logits")


def load_reader(
    cache_dir: Path | None = None, threads: int | None = None, adapter: Path = ADAPTER
) -> SpanReader:
    """The span reader of `adapter`, exported to the cache on first use."""
    from qa.core.settings import default_cache_dir
    from qa.models.onnx import cached_onnx

    if not (adapter / "adapter_model.safetensors").is_file():
        raise BackendError(f"no span reader in {adapter}: run `qa train`")
    return cached_onnx(
        (cache_dir or default_cache_dir()) / cache_key(adapter),
        lambda target: export_onnx(target, adapter),
        lambda onnx_file: SpanReader(onnx_file, threads),
        "the span reader",
    )
