"""Hybrid retrieval: dense (Chroma) and lexical (BM25) candidates fused by reciprocal rank."""

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import Runnable, RunnableLambda, RunnableParallel

from qa.index.lexical import LexicalBackend
from qa.index.store import HybridStore

FOLLOW_UP_WORDS = frozenset(
    "he she it they him her his hers its their theirs them this that these those there one".split()
)


def hybrid_retriever(
    store: HybridStore,
    k: int,
    fetch_k: int,
    lexical_weight: float = 0.6,
    sources: list[str] | None = None,
) -> Runnable[str, list[Document]]:
    """A runnable from query text to the `k` best passages, by LangChain's RRF ensemble.

    The dense and BM25 searches run at once (RunnableParallel runs branches in threads, and
    both release the GIL), then their lists are fused by the ensemble's weighted RRF.
    `sources` limits both searches to those files (a metadata filter in each).
    """
    from langchain_classic.retrievers import EnsembleRetriever

    search_kwargs: dict = {"k": fetch_k}
    if sources:
        search_kwargs["filter"] = {"source": {"$in": list(sources)}}
    dense = store.dense.as_retriever(search_kwargs=search_kwargs)
    lexical = LexicalRetriever(index=store.lexical, k=fetch_k, sources=sources)
    ensemble = EnsembleRetriever(
        retrievers=[dense, lexical], weights=[1 - lexical_weight, lexical_weight]
    )

    def fuse(found: dict[str, list[Document]]) -> list[Document]:
        return ensemble.weighted_reciprocal_rank([found["dense"], found["lexical"]])[:k]

    return RunnableParallel(dense=dense, lexical=lexical) | RunnableLambda(fuse, name="rrf_top_k")


def contextual_query(question: str, history: list[str]) -> str:
    """The question, preceded by the previous one when it reads as a follow-up ("Did she...")."""
    if not history:
        return question
    words = {word.strip("?.,!'\"").lower() for word in question.split()}
    if words & FOLLOW_UP_WORDS or len(words) <= 3:
        return f"{history[-1]} {question}"
    return question


class LexicalRetriever(BaseRetriever):
    """The lexical index as a LangChain retriever."""

    index: LexicalBackend
    k: int = 20
    sources: list[str] | None = None

    model_config = {"arbitrary_types_allowed": True}

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return self.index.search(query, self.k, self.sources)
