"""Fitting the answering step's scorers and thresholds (`qa train`), from SQuAD 2.0 training
articles.

The articles are split in two halves by title. The span reader (`qa.training.finetune`) is
fine-tuned on the first; the scorers learn from the second, so they see the reader as it
behaves on text and questions it was not trained on. Each scorer is a logistic regression
calibrated by isotonic regression on out-of-fold scores (folds by article, so a score is
never judged on its own article):
- sentence: P(a candidate sentence holds a gold answer), from `SENTENCE_FEATURES`;
- cited: the same for the `READ_TOP` best once the reader has read them (`CITED_FEATURES`);
- answerable: P(the corpus answers the question), from `QUESTION_FEATURES`. Negatives are
  SQuAD 2.0's unanswerable questions and questions about the first half's articles, which
  are not indexed;
- span: P(the reader's span of the cited sentence is right), from `SPAN_FEATURES`.
The thresholds are chosen on the same out-of-fold scores: refuse at most `MAX_FALSE_REFUSALS`
of answerable questions; show a short answer where precision reaches `SPAN_PRECISION`.
Nothing here reads an evaluation set.
"""

import hashlib
import json
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa.answering.calibration import PARAMS, SPAN_PRECISION, Scorer
from qa.answering.calibration import rows as feature_rows
from qa.answering.extractive import (
    CITED_FEATURES,
    QUESTION_FEATURES,
    add_reading_features,
    question_features,
    read,
)
from qa.answering.sentences import SENTENCE_FEATURES
from qa.answering.spans import SPAN_FEATURES, span_features
from qa.core.errors import InputError
from qa.core.settings import Settings
from qa.evaluation.metrics import contains_answer, exact_match, f1_score, short_answer_right
from qa.models.reader import ADAPTER, load_reader
from qa.training.data import (
    CachedEmbeddings,
    Example,
    collect,
    halves,
    load_articles,
    reader_articles,
)
from qa.training.finetune import train_reader
from qa.training.guard import check_disjoint, evaluation_texts

SCRIPT_VERSION = 2
MAX_FALSE_REFUSALS = 0.01


def fit(
    rows: np.ndarray, labels: np.ndarray, groups: np.ndarray, names: list[str]
) -> tuple[Scorer, np.ndarray]:
    """A calibrated logistic regression, and each row's out-of-fold probability."""
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    mean, scale = rows.mean(axis=0), rows.std(axis=0)
    scale[scale == 0] = 1.0
    standard = (rows - mean) / scale
    out_of_fold = np.zeros(len(rows))
    for train, test in GroupKFold(n_splits=5).split(standard, labels, groups):
        model = LogisticRegression(C=1.0, max_iter=2000).fit(standard[train], labels[train])
        out_of_fold[test] = model.decision_function(standard[test])
    isotonic = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0)
    isotonic.fit(out_of_fold, labels)
    model = LogisticRegression(C=1.0, max_iter=2000).fit(standard, labels)
    scorer = Scorer(
        features=names,
        mean=mean,
        scale=scale,
        weights=model.coef_[0],
        bias=float(model.intercept_[0]),
        calibration_x=isotonic.X_thresholds_,
        calibration_y=isotonic.y_thresholds_,
        threshold=0.5,
    )
    return scorer, isotonic.predict(out_of_fold)


def precision_threshold(probabilities: np.ndarray, correct: np.ndarray, target: float) -> float:
    """The lowest threshold at which what is shown (p >= t) is right `target` of the time.

    Calibrated probabilities come in steps (isotonic), so thresholds are taken at the steps:
    everything tied at a level is shown or not together.
    """
    for level in np.unique(probabilities):  # ascending: the first that qualifies shows most
        shown = probabilities >= level
        if correct[shown].mean() >= target:
            return float(level)
    return 1.01  # never show


def fit_candidates(examples: list[Example], names: list[str]) -> tuple[Scorer, dict]:
    """A scorer of candidate sentences over `names`. Every candidate gets its probability
    (out of fold where it has a label, else from the final model), and each question's
    candidates are sorted by it, best first."""
    answerable = [e for e in examples if e.in_corpus and e.answers]
    rows = feature_rows([c.features for e in answerable for c in e.ranked.found], names)
    labels = np.array(
        [contains_answer(c.text, e.answers) for e in answerable for c in e.ranked.found]
    )
    groups = np.array([e.article for e in answerable for _ in e.ranked.found])
    scorer, out_of_fold = fit(rows, labels, groups, names)
    fold_scores = iter(out_of_fold)
    for example in examples:
        found = example.ranked.found
        if example.in_corpus and example.answers:
            for cand in found:
                cand.probability = float(next(fold_scores))
        else:
            for cand, p in zip(found, scorer.score([c.features for c in found]), strict=True):
                cand.probability = float(p)
        found.sort(key=lambda c: c.probability, reverse=True)
    top1 = np.mean([contains_answer(e.ranked.found[0].text, e.answers) for e in answerable])
    return scorer, {"questions": len(answerable), "top1_containment": round(float(top1), 4)}


def train_sentences(examples: list[Example]) -> tuple[Scorer, dict]:
    """The sentence scorer; candidates re-sorted by their out-of-fold probability."""
    return fit_candidates(examples, SENTENCE_FEATURES)


def train_cited(examples: list[Example], reader, progress: bool) -> tuple[Scorer, dict]:
    """Read the best candidates of every question; the scorer that ranks them again."""
    for example in tqdm(examples, desc="read", disable=not progress):
        example.ranked.question = question_features(
            example.question, example.ranked.found, example.ranked.idf, example.lexical
        )
        read(example.question, example.ranked, reader, None)
    scorer, figures = fit_candidates(examples, CITED_FEATURES)
    for example in examples:
        add_reading_features(example.ranked)
    answerable = [e for e in examples if e.in_corpus and e.answers]
    held = [any(contains_answer(c.text, e.answers) for c in e.ranked.found) for e in answerable]
    return scorer, {**figures, "read_hold_answer": round(float(np.mean(held)), 4)}


def train_answerable(examples: list[Example]) -> tuple[Scorer, dict]:
    """The refusal scorer, with a threshold that refuses few answerable questions."""
    rows = np.array([[e.ranked.question[n] for n in QUESTION_FEATURES] for e in examples])
    labels = np.array([float(e.in_corpus and bool(e.answers)) for e in examples])
    groups = np.array([e.article for e in examples])
    scorer, out_of_fold = fit(rows, labels, groups, QUESTION_FEATURES)
    threshold = float(np.quantile(out_of_fold[labels == 1], MAX_FALSE_REFUSALS))
    refused = out_of_fold < threshold
    impossible = np.array([e.in_corpus and not e.answers for e in examples])
    outside = np.array([not e.in_corpus for e in examples])
    figures = {
        "questions": len(examples),
        "answerable_refused": round(float(refused[labels == 1].mean()), 4),
        "unanswerable_in_corpus_refused": round(float(refused[impossible].mean()), 4),
        "off_corpus_refused": round(float(refused[outside].mean()), 4),
    }
    return replace(scorer, threshold=threshold), figures


def train_spans(examples: list[Example]) -> tuple[Scorer, dict]:
    """The short-answer scorer, with the threshold where shown spans reach SPAN_PRECISION."""
    kept, rows, labels, groups = [], [], [], []
    for example in examples:
        if not (example.in_corpus and example.answers):
            continue
        best = example.ranked.found[0]
        assert best.reading is not None  # the reader read every question's best sentence
        found = span_features(
            example.question, best.text, best.reading, best.features, best.probability
        )
        if found is None:
            continue
        text, features = found
        kept.append((example, text))
        rows.append(features)
        labels.append(float(short_answer_right(text, example.answers)))
        groups.append(example.article)
    scorer, out_of_fold = fit(
        feature_rows(rows, SPAN_FEATURES), np.array(labels), np.array(groups), SPAN_FEATURES
    )
    correct = np.array(labels)
    threshold = precision_threshold(out_of_fold, correct, SPAN_PRECISION)
    shown = out_of_fold >= threshold
    exact = np.array([exact_match(text, e.answers) for e, text in kept])
    figures = {
        "questions": len(kept),
        "precision": round(float(correct[shown].mean()) if shown.any() else 0.0, 4),
        "coverage": round(float(shown.mean()), 4),
        "span_right": round(float(correct.mean()), 4),
        "span_exact": round(float(exact.mean()), 4),
        "f1": round(float(np.mean([f1_score(t, e.answers) for e, t in kept])), 4),
        "coverage_at_precision": {
            str(target): round(float((out_of_fold >= level).mean()), 4)
            for target in (0.7, 0.8, 0.85, 0.9)
            for level in [precision_threshold(out_of_fold, correct, target)]
        },
    }
    return replace(scorer, threshold=threshold), figures


def train(
    settings: Settings,
    data: Path,
    output: Path = PARAMS,
    progress: bool | None = None,
    keep_reader: bool = False,
    evaluation: tuple[Path, ...] = (),
) -> dict:
    """Learn the reader (qa/models/reader-adapter for the packaged parameters, else beside
    `output`, in `reader-adapter/`) and every scorer, written with their
    provenance to `output`. `keep_reader` keeps the reader already there. Training articles
    that share a title or a paragraph with the `evaluation` sets are refused."""
    from qa.service import build_service

    progress = sys.stderr.isatty() if progress is None else progress
    started = time.perf_counter()
    articles = load_articles(data)
    check_disjoint(articles, evaluation_texts(list(evaluation)))
    # the packaged reader beside the packaged parameters; another --output keeps its own
    adapter = ADAPTER if output.resolve() == PARAMS.resolve() else output.with_name(ADAPTER.name)
    reader_figures = None
    if not keep_reader:
        reader_figures = train_reader(reader_articles(articles), adapter, progress)
    reader = load_reader(settings.model_cache_dir, settings.embedding_threads, adapter)
    embeddings = CachedEmbeddings(build_service(settings).embeddings)
    with tempfile.TemporaryDirectory(prefix="qa-train-") as folder:
        examples = collect(settings, articles, embeddings, Path(folder), progress)
        sentence, sentence_figures = train_sentences(examples)
        cited, cited_figures = train_cited(examples, reader, progress)
        answerable, answerable_figures = train_answerable(examples)
        for lexical in {id(e.lexical): e.lexical for e in examples if e.lexical}.values():
            lexical.close()
    span, span_figures = train_spans(examples)
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    result = {
        "script_version": SCRIPT_VERSION,
        "trained": datetime.now().isoformat(timespec="seconds"),
        "data": {"file": data.name, "sha256": digest},
        "reader": {
            "adapter": f"{'qa/models/reader-adapter' if adapter == ADAPTER else adapter}/"
            " (LoRA on the bundled all-MiniLM-L6-v2)",
            "articles": sorted(halves(articles)[0]),
            "trained": reader_figures or "kept from an earlier run",
        },
        "out_of_fold": {
            "sentence": sentence_figures,
            "cited": cited_figures,
            "answerable": answerable_figures,
            "span": span_figures,
        },
        "seconds": round(time.perf_counter() - started),
        "scorers": {
            "sentence": sentence.to_dict(),
            "cited": cited.to_dict(),
            "answerable": answerable.to_dict(),
            "span": span.to_dict(),
        },
    }
    try:
        output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {output}: {exc.strerror}") from None
    return result
