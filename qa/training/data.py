"""Training data for `qa train`: SQuAD 2.0 articles, split into the reader's half and the
scorers' half, and each question asked of a throwaway index of its half (`collect`)."""

import json
import random
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from qa.answering.extractive import Ranking, rank
from qa.core.errors import InputError
from qa.core.settings import Settings
from qa.evaluation.datasets import ArticleNames
from qa.index.lexical import LexicalBackend

OFF_CORPUS = 1200


@dataclass
class Example:
    """One training question as the pipeline saw it."""

    article: str
    question: str
    answers: list[str]
    in_corpus: bool
    ranking: Ranking | None = None
    lexical: LexicalBackend | None = None  # the lexical index of the fold it was asked in

    @property
    def ranked(self) -> Ranking:
        """The ranking `collect` made: every collected example has one."""
        assert self.ranking is not None
        return self.ranking


class CachedEmbeddings:
    """The real embedder, remembering each text: training sees the same sentences often."""

    def __init__(self, embeddings) -> None:
        self.embeddings = embeddings
        self.cache: dict[str, list[float]] = {}

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


def halves(articles: list[dict]) -> tuple[set[str], set[str]]:
    """The titles the reader learns from, and the titles the scorers learn from."""
    titles = sorted(a["title"] for a in articles)
    return set(titles[0::2]), set(titles[1::2])


def reader_articles(articles: list[dict]) -> list[dict]:
    """The articles the span reader is fine-tuned on; the scorers never see its answers."""
    return [a for a in articles if a["title"] in halves(articles)[0]]


def collect(
    settings: Settings, articles: list[dict], embeddings, folder: Path, progress: bool
) -> list[Example]:
    """Index the second half's articles; ask their questions and some of the first half's."""
    from qa.service import build_service

    indexed = halves(articles)[1]
    rng = random.Random(7)
    # a throwaway index of its own, never the one `settings` serves
    temporary = settings.scratch(folder).model_copy(update={"engine": "sentence"})
    corpus = temporary.corpus_dir
    corpus.mkdir()
    asked, names = [], ArticleNames()  # one stem per article
    for article in articles:
        name = names(article["title"])
        inside = article["title"] in indexed
        for index, paragraph in enumerate(article["paragraphs"]):
            if inside:
                path = corpus / f"{name}-{index:03d}.txt"
                path.write_text(paragraph["context"], encoding="utf-8")
            for qa in paragraph["qas"]:
                answers = [a["text"] for a in qa["answers"]]
                asked.append(Example(article["title"], qa["question"], answers, inside))
    indexed_questions = [e for e in asked if e.in_corpus]
    others = [e for e in asked if not e.in_corpus]
    outside = rng.sample(others, min(len(others), OFF_CORPUS))
    service = build_service(temporary, embeddings.embeddings)
    service.library.ingest(progress)
    retriever, lexical = service.retriever, service.store.lexical
    examples = []
    for example in tqdm(indexed_questions + outside, desc="retrieve", disable=not progress):
        passages = retriever.invoke(example.question)
        example.ranking = rank(
            example.question, example.question, passages, embeddings, lexical, None
        )
        example.lexical = lexical
        examples.append(example)
    return [e for e in examples if e.ranking is not None]
