"""Learn the answering step's scorers from SQuAD 2.0 training articles: `qa train`.

What is learned, each a logistic regression calibrated by isotonic regression on
out-of-fold scores (folds by article, so a score is never judged on its own article):
- sentence: P(a candidate sentence holds a gold answer), from `SENTENCE_FEATURES`;
- answerable: P(the corpus answers the question), from `QUESTION_FEATURES`. Negatives are
  SQuAD 2.0's unanswerable questions and questions about articles left out of the index;
- span: P(a candidate span is the answer), from `SPAN_FEATURES`, with the bundled reader.
The thresholds are chosen on the same out-of-fold scores: refuse at most `MAX_FALSE_REFUSALS`
of answerable questions; show a short answer where precision reaches `SPAN_PRECISION`.
Nothing here reads an evaluation set.
"""

import hashlib
import json
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from qa.answering.calibration import PARAMS, Scorer
from qa.answering.calibration import rows as feature_rows
from qa.answering.extractive import QUESTION_FEATURES, Ranking, question_features, rank
from qa.answering.sentences import SENTENCE_FEATURES
from qa.answering.spans import SPAN_FEATURES, add_span_features, span_candidates
from qa.errors import InputError
from qa.evaluation.metrics import contains_answer, exact_match, f1_score, short_answer_right
from qa.settings import Settings

SCRIPT_VERSION = 1
MAX_FALSE_REFUSALS = 0.01
SPAN_PRECISION = 0.80  # of shown short answers, on out-of-fold training data
OFF_CORPUS_PER_FOLD = 600
SPAN_QUESTIONS_PER_FOLD = 900


@dataclass
class Example:
    """One training question as the pipeline saw it."""

    article: str
    question: str
    answers: list[str]
    in_corpus: bool
    ranking: Ranking | None = None
    lexical: object = None  # the lexical index of the fold it was asked in


class CachedEmbeddings:
    """The real embedder, remembering each text: training sees the same sentences often."""

    def __init__(self, embeddings) -> None:
        self.embeddings, self.cache = embeddings, {}

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        for text, vector in zip(missing, self.embeddings.embed_documents(missing), strict=True):
            self.cache[text] = vector
        return [self.cache[t] for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self.embeddings.embed_query(text)


def load_articles(path: Path) -> list[dict]:
    """SQuAD 2.0 articles (`data[]`), checked for the fields training reads."""
    try:
        articles = json.loads(path.read_text(encoding="utf-8"))["data"]
        for article in articles:
            for paragraph in article["paragraphs"]:
                paragraph["context"], paragraph["qas"]  # noqa: B018  (present)
    except (OSError, UnicodeError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a SQuAD 2.0 training file ({exc})") from None
    return articles


def collect(
    settings: Settings, articles: list[dict], embeddings, folder: Path, progress: bool
) -> list[Example]:
    """Index half the articles at a time; ask their questions and some of the others'."""
    from qa.service import build_service

    titles = sorted(a["title"] for a in articles)
    halves = [set(titles[0::2]), set(titles[1::2])]
    rng = random.Random(7)
    examples = []
    for fold, indexed in enumerate(halves):
        corpus = folder / f"corpus-{fold}"
        corpus.mkdir()
        asked = []
        for article in articles:
            name = re.sub(r"[^A-Za-z0-9]+", "_", article["title"])
            inside = article["title"] in indexed
            for index, paragraph in enumerate(article["paragraphs"]):
                if inside:
                    path = corpus / f"{name}-{index:03d}.txt"
                    path.write_text(paragraph["context"], encoding="utf-8")
                for qa in paragraph["qas"]:
                    answers = [a["text"] for a in qa["answers"]]
                    asked.append(Example(article["title"], qa["question"], answers, inside))
        inside = [e for e in asked if e.in_corpus]
        others = [e for e in asked if not e.in_corpus]
        outside = rng.sample(others, min(len(others), OFF_CORPUS_PER_FOLD))
        temporary = settings.model_copy(
            update={
                "corpus_dir": corpus,
                "index_dir": folder / f"index-{fold}",
                "chroma_url": "",
                "engine": "sentence",
            }
        )
        service = build_service(temporary, embeddings.embeddings)
        service.ingest(progress)
        retriever, lexical = service.retriever, service.store.lexical
        for example in tqdm(inside + outside, desc=f"fold {fold + 1}/2", disable=not progress):
            passages = retriever.invoke(example.question)
            example.ranking = rank(
                example.question, example.question, passages, embeddings, lexical, None
            )
            example.lexical = lexical
            examples.append(example)
    return [e for e in examples if e.ranking is not None]


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


def train_sentences(examples: list[Example]) -> tuple[Scorer, dict]:
    """The sentence scorer; candidates re-sorted by their out-of-fold probability."""
    answerable = [e for e in examples if e.in_corpus and e.answers]
    rows = feature_rows(
        [c.features for e in answerable for c in e.ranking.found], SENTENCE_FEATURES
    )
    labels = np.array(
        [contains_answer(c.text, e.answers) for e in answerable for c in e.ranking.found]
    )
    groups = np.array([e.article for e in answerable for _ in e.ranking.found])
    scorer, out_of_fold = fit(rows, labels, groups, SENTENCE_FEATURES)
    fold_scores = iter(out_of_fold)
    for example in answerable:
        for cand in example.ranking.found:
            cand.probability = float(next(fold_scores))
    for example in examples:
        if not (example.in_corpus and example.answers):  # no label: the final model scores it
            probabilities = scorer.score([c.features for c in example.ranking.found])
            for cand, p in zip(example.ranking.found, probabilities, strict=True):
                cand.probability = float(p)
        example.ranking.found.sort(key=lambda c: c.probability, reverse=True)
    top1 = np.mean([contains_answer(e.ranking.found[0].text, e.answers) for e in answerable])
    return scorer, {"questions": len(answerable), "top1_containment": round(float(top1), 4)}


def train_answerable(examples: list[Example]) -> tuple[Scorer, dict]:
    """The refusal scorer, with a threshold that refuses few answerable questions."""
    for example in examples:
        example.ranking.question = question_features(
            example.question, example.ranking.found, example.ranking.idf, example.lexical
        )
    rows = np.array([[e.ranking.question[n] for n in QUESTION_FEATURES] for e in examples])
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


def train_spans(examples: list[Example], reader, progress: bool) -> tuple[Scorer, dict]:
    """The short-answer scorer, with the threshold where shown spans reach SPAN_PRECISION."""
    rng = random.Random(11)
    answerable = [e for e in examples if e.in_corpus and e.answers]
    chosen = rng.sample(answerable, min(len(answerable), 2 * SPAN_QUESTIONS_PER_FOLD))
    per_question, rows, labels, groups = [], [], [], []
    for example in tqdm(chosen, desc="short answers", disable=not progress):
        best = example.ranking.found[0]
        proposal = reader(example.question, best.text) if reader else None
        spans = span_candidates(example.question, best.text, proposal)
        if not spans:
            continue
        add_span_features(example.question, best.text, spans, proposal, best.probability)
        per_question.append((example, spans, len(rows)))
        rows.extend(feature_rows([s.features for s in spans], SPAN_FEATURES))
        labels.extend(float(f1_score(s.text, example.answers) >= 0.5) for s in spans)
        groups.extend(example.article for _ in spans)
    scorer, out_of_fold = fit(np.array(rows), np.array(labels), np.array(groups), SPAN_FEATURES)
    best_p, correct, exact = [], [], []
    for example, spans, first in per_question:
        scores = out_of_fold[first : first + len(spans)]
        pick = spans[int(np.argmax(scores))].text
        best_p.append(float(scores.max()))
        correct.append(short_answer_right(pick, example.answers))
        exact.append(exact_match(pick, example.answers))
    best_p, correct = np.array(best_p), np.array(correct, dtype=float)
    threshold = precision_threshold(best_p, correct, SPAN_PRECISION)
    shown = best_p >= threshold
    figures = {
        "questions": len(per_question),
        "precision": round(float(correct[shown].mean()) if shown.any() else 0.0, 4),
        "coverage": round(float(shown.mean()), 4),
        "best_span_right": round(float(correct.mean()), 4),
        "best_span_exact": round(float(np.mean(exact)), 4),
    }
    return replace(scorer, threshold=threshold), figures


def train(
    settings: Settings, data: Path, output: Path = PARAMS, progress: bool | None = None
) -> dict:
    """Learn every scorer from `data` and write them, with provenance, to `output`."""
    from qa.answering.reader import ShortAnswerer
    from qa.service import build_service

    progress = sys.stderr.isatty() if progress is None else progress
    started = time.perf_counter()
    articles = load_articles(data)
    embeddings = CachedEmbeddings(build_service(settings).embeddings)
    reader = ShortAnswerer(
        settings.short_answer_model, settings.llm_threads, settings.model_cache_dir
    )
    if not reader.load():
        reader = None
    with tempfile.TemporaryDirectory(prefix="qa-train-") as folder:
        examples = collect(settings, articles, embeddings, Path(folder), progress)
        sentence, sentence_figures = train_sentences(examples)
        answerable, answerable_figures = train_answerable(examples)
        for lexical in {id(e.lexical): e.lexical for e in examples}.values():
            lexical.close()
    span, span_figures = train_spans(examples, reader, progress)
    result = {
        "script_version": SCRIPT_VERSION,
        "trained": datetime.now().isoformat(timespec="seconds"),
        "data": {"file": data.name, "sha256": hashlib.sha256(data.read_bytes()).hexdigest()},
        "reader": "bundled Gemma 3 270M" if reader else "none (short answers without the reader)",
        "out_of_fold": {
            "sentence": sentence_figures,
            "answerable": answerable_figures,
            "span": span_figures,
        },
        "seconds": round(time.perf_counter() - started),
        "scorers": {
            "sentence": sentence.to_dict(),
            "answerable": answerable.to_dict(),
            "span": span.to_dict(),
        },
    }
    try:
        output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {output}: {exc.strerror}") from None
    return result
