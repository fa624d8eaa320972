"""The index: Chroma for vectors, the lexical index beside it, kept in step as one store."""

import os
import uuid
from collections.abc import Iterable
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

from qa.core.errors import BackendError, NotIndexedError, StaleIndexError
from qa.core.settings import Settings
from qa.index.lexical import LexicalBackend
from qa.index.postgres import PostgresIndex, failures, sqlalchemy_url
from qa.index.sqlite import LexicalIndex

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection
    from chromadb.config import Settings as ChromaSettings
    from langchain_chroma import Chroma
    from langchain_classic.indexes import SQLRecordManager


def retrieval_text(chunk: Document) -> str:
    """What a chunk's vector embeds: its heading path, then its text."""
    path = chunk.metadata.get("headings")
    return f"{path}\n\n{chunk.page_content}" if path else chunk.page_content


class HybridStore(VectorStore):
    """A Chroma store whose writes and deletes also go to the lexical index.

    LangChain's indexing API writes through this class, so both indexes always hold the
    same chunk ids. Vectors are written before the lexical rows, and the record manager
    only after both, so an interrupted run is repaired by the next one.
    """

    def __init__(self, dense: "Chroma", lexical: LexicalBackend) -> None:
        self.dense = dense
        self.lexical = lexical

    @property
    def embeddings(self) -> Embeddings | None:
        return self.dense.embeddings

    def add_documents(self, documents: list[Document], **kwargs: Any) -> list[str]:
        """Both indexes; a chunk's vector embeds its heading path with its text, so a section
        heading that names what the question asks helps find it."""
        if self.embeddings is None or not documents:
            ids = self.dense.add_documents(documents, **kwargs)
        else:
            ids = list(kwargs.get("ids") or [d.id or str(uuid.uuid4()) for d in documents])
            vectors = self.embeddings.embed_documents([retrieval_text(d) for d in documents])
            # langchain_chroma's add_texts embeds page_content only; its collection takes
            # our vectors with the same documents and metadata
            self.dense._collection.upsert(
                ids=ids,
                embeddings=vectors,  # type: ignore[arg-type]
                documents=[d.page_content for d in documents],
                metadatas=[d.metadata for d in documents],
            )
        self.lexical.upsert(ids, documents)
        return ids

    def add_texts(
        self, texts: Iterable[str], metadatas: list[dict] | None = None, **kwargs: Any
    ) -> list[str]:
        texts = list(texts)
        metadatas = metadatas or [{} for _ in texts]
        documents = [
            Document(page_content=t, metadata=m) for t, m in zip(texts, metadatas, strict=True)
        ]
        return self.add_documents(documents, **kwargs)

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool:
        if ids:
            self.dense.delete(ids)
            self.lexical.delete(ids)
        return True

    def similarity_search(self, query: str, k: int = 4, **kwargs: Any) -> list[Document]:
        return self.dense.similarity_search(query, k=k, **kwargs)

    def close(self) -> None:
        """Release both indexes: the lexical connection, and this store's hold on Chroma's
        client (an embedded index's database stays open while any client holds it)."""
        self.lexical.close()
        close = getattr(getattr(self.dense, "_client", None), "close", None)
        if close is not None:
            close()

    @classmethod
    def from_texts(  # type: ignore[override]
        cls, texts: list[str], embedding: Embeddings, **kwargs: Any
    ) -> "HybridStore":
        raise NotImplementedError("open a HybridStore with open_store(settings, embeddings)")


def chroma_client(settings: Settings) -> "ClientAPI":
    """A Chroma client: the server at QA_CHROMA_URL if set, else embedded in the index folder."""
    import chromadb

    chroma_settings = chromadb.config.Settings(anonymized_telemetry=False)
    if settings.chroma_url:
        return chroma_server(settings.chroma_url, chroma_settings)
    path = settings.index_dir / "chroma"
    if path.is_dir() and not os.access(path, os.W_OK):
        path = read_only_copy(path)
    try:
        return chromadb.PersistentClient(path=str(path), settings=chroma_settings)
    except Exception as exc:  # chromadb raises bare exceptions for unusable folders
        raise BackendError(f"cannot open the Chroma store in {settings.index_dir}: {exc}") from exc


def read_only_copy(path: Path) -> Path:
    """A temporary copy of a Chroma folder on a read-only volume (Chroma's own database
    cannot open read-only); made once per process, writable by this user (the original's
    modes would keep it read-only), and removed at exit."""
    import atexit
    import shutil
    import sys
    import tempfile

    if path not in _COPIES:
        folder = Path(tempfile.mkdtemp(prefix="qa-read-only-index-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        copy = folder / "chroma"
        shutil.copytree(path, copy, copy_function=shutil.copyfile)  # contents, not modes
        for inside, _, _ in os.walk(copy):
            os.chmod(inside, 0o700)  # copytree gave each folder the original's read-only mode
        _COPIES[path] = copy
        print(f"qa: {path} is read-only; answering from a copy in {folder}", file=sys.stderr)
    return _COPIES[path]


_COPIES: dict[Path, Path] = {}


def chroma_server(url: str, chroma_settings: "ChromaSettings") -> "ClientAPI":
    """An HttpClient for a `chroma run` server, checked with a heartbeat."""
    from urllib.parse import urlparse

    import chromadb

    parts = urlparse(url if "://" in url else f"http://{url}")
    if not parts.hostname:
        raise BackendError(f"QA_CHROMA_URL is not a URL: {url}")
    try:
        client = chromadb.HttpClient(
            host=parts.hostname,
            port=parts.port or (443 if parts.scheme == "https" else 8000),
            ssl=parts.scheme == "https",
            settings=chroma_settings,
        )
        client.heartbeat()
    except Exception as exc:  # connection errors come from httpx, chromadb or the OS
        raise BackendError(
            f"cannot reach the Chroma server at {url} (QA_CHROMA_URL); start one with "
            "`chroma run --path DIR --host 127.0.0.1 --port 8000`"
        ) from exc
    return client


def open_store(settings: Settings, embeddings: Embeddings, claim: bool = False) -> HybridStore:
    """The hybrid store of `settings.index_dir`, created if missing; `claim` (an ingest)
    makes its collection this folder's own."""
    from chromadb.errors import ChromaError
    from langchain_chroma import Chroma

    try:
        dense = Chroma(
            collection_name=settings.collection,
            embedding_function=embeddings,
            client=chroma_client(settings),
            collection_metadata={"hnsw:space": "cosine"},
        )
    except ChromaError as exc:  # e.g. a collection name Chroma does not accept
        raise BackendError(f"setting QA_COLLECTION: {exc}") from exc
    lexical = open_lexical(settings)
    claim_collection(dense._collection, settings, lexical, claim)
    return HybridStore(dense, lexical)


def open_lexical(settings: Settings) -> LexicalBackend:
    """The lexical index: in PostgreSQL at QA_DATABASE_URL, else SQLite in the index folder."""
    if settings.database_url:
        return PostgresIndex(settings.database_url.get_secret_value(), settings.collection)
    return LexicalIndex(settings.index_dir / "lexical.sqlite3")


OWNER_KEY = "qa_index"


def index_id(lexical: LexicalBackend, create: bool) -> str | None:
    """The index's own id (made on first ingest): it names a collection's owner."""
    made = lexical.fact("index-id")
    if made or not create:
        return made
    import uuid

    made = uuid.uuid4().hex
    lexical.set_fact("index-id", made)
    return made


def claim_collection(
    collection: "Collection", settings: Settings, lexical: LexicalBackend, claim: bool
) -> None:
    """Refuse a collection that another qa index folder owns; an ingest claims a free one.

    Two qa folders on one Chroma server would otherwise delete each other's vectors: each
    one's repair takes chunks it has no record of for leftovers of an interrupted run.
    """
    mine = index_id(lexical, create=claim)
    owner = (collection.metadata or {}).get(OWNER_KEY)
    if owner and mine and owner != mine:
        where = settings.chroma_url or str(settings.index_dir)
        raise BackendError(
            f"the collection '{settings.collection}' at {where} belongs to another qa index "
            f"folder, not {settings.index_dir}; give this one its own QA_COLLECTION"
        )
    if claim and not owner:
        metadata = {k: v for k, v in (collection.metadata or {}).items() if ":" not in k}
        collection.modify(metadata={**metadata, OWNER_KEY: mine})


def embedder_name(embeddings: Embeddings) -> str:
    """Names the model (and the copy of it) that made an index's vectors."""
    return getattr(embeddings, "name", type(embeddings).__name__)


def indexed_embedder(settings: Settings) -> str | None:
    """The embedder the index's vectors came from; None for an index older than this record."""
    if not settings.database_url:
        path = settings.index_dir / "embedder.txt"
        return path.read_text(encoding="utf-8").strip() if path.is_file() else None
    lexical = open_lexical(settings)
    try:
        return lexical.fact("embedder")
    finally:
        lexical.close()


def open_existing_store(settings: Settings, embeddings: Embeddings) -> HybridStore:
    """The store for answering; raises NotIndexedError if nothing was ever indexed."""
    check_servers(settings)
    where = "the shared index" if settings.database_url else str(settings.index_dir)
    hint = f"nothing is indexed in {where}: run `qa ingest` first"
    if not settings.database_url and not (settings.index_dir / "lexical.sqlite3").is_file():
        raise NotIndexedError(hint)
    store = open_store(settings, embeddings)
    made_by = store.lexical.fact("embedder")
    if made_by not in (None, embedder_name(embeddings)):
        raise StaleIndexError(
            f"the index in {where} was embedded by another model ({made_by}): "
            "run `qa ingest` to embed it again"
        )
    if store.lexical.count() == 0:
        raise NotIndexedError(hint)
    return store


def check_servers(settings: Settings) -> None:
    """A shared database without a Chroma server would leave the vectors on this machine."""
    if settings.database_url and not settings.chroma_url:
        raise BackendError(
            "QA_DATABASE_URL needs QA_CHROMA_URL too: with a shared database the vectors "
            "must live on a Chroma server, or each machine would keep its own"
        )


def record_manager(settings: Settings) -> "SQLRecordManager":
    """LangChain's SQL record manager, in the index folder or the shared database: what was
    indexed, from which file."""
    from langchain_classic.indexes import SQLRecordManager

    if settings.database_url:
        url = settings.database_url.get_secret_value()
        db_url = sqlalchemy_url(url)
    else:
        db_url = f"sqlite:///{(settings.index_dir / 'records.sqlite3').resolve()}"
    manager = SQLRecordManager(namespace=f"qa/{settings.collection}", db_url=db_url)
    with failures(url) if settings.database_url else nullcontext():
        manager.create_schema()
    return manager
