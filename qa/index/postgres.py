"""The shared index: PostgreSQL holds the lexical index, the index's facts and the ingest lock.

With QA_DATABASE_URL (and QA_CHROMA_URL for the vectors) nothing of the index lives on a qa
machine, so any number of qa processes answer from one index and ingest into it in turn.
Lexical search is PostgreSQL full-text search over a generated `tsvector` column. With the
RUM extension (Debian's `postgresql-NN-rum`) the index ranks the matches itself (its `<=>`
distance, from term frequencies and positions it stores) and returns the best first, reading
no table row to rank; without it, a GIN index finds the matches and `ts_rank_cd` ranks each
from its table row, 7 times slower at a million chunks (eval/README.md). Either way the
commonest query terms rank but do not match (`qa.index.lexical.uncommon`).
"""

import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from langchain_core.documents import Document

from qa.core.errors import BackendError
from qa.index.lexical import idf, source_rows, uncommon
from qa.text.terms import terms

if TYPE_CHECKING:
    from psycopg import Connection, Cursor

TABLES = [
    """CREATE TABLE IF NOT EXISTS qa_chunks (
        collection text NOT NULL,
        id text NOT NULL,
        seq bigserial,
        text text NOT NULL,
        metadata jsonb NOT NULL,
        source text GENERATED ALWAYS AS (metadata->>'source') STORED,
        indexed_at double precision,
        tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', text)) STORED,
        PRIMARY KEY (collection, id)
    )""",
    "CREATE INDEX IF NOT EXISTS qa_chunks_source ON qa_chunks (collection, source, seq)",
    # every indexed term once, for the spelling check of names (`vocabulary`)
    """CREATE TABLE IF NOT EXISTS qa_terms (
        collection text NOT NULL, term text NOT NULL, PRIMARY KEY (collection, term)
    )""",
    # what an index folder holds in files when embedded: its id, embedder, ingest state
    """CREATE TABLE IF NOT EXISTS qa_facts (
        collection text NOT NULL, key text NOT NULL, value text NOT NULL,
        PRIMARY KEY (collection, key)
    )""",
]
SCHEMA_LOCK = 0x7161_0001  # serializes schema creation across processes (pg_advisory_xact_lock)
RANKING_EXTENSION = "rum"  # an index that returns the best-ranked rows first
CHUNKS = "chunks"  # the fact counting a collection's chunks, kept in step with every write


def sqlalchemy_url(url: str) -> str:
    """The URL for SQLAlchemy's psycopg (3) driver, which qa installs."""
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def where(url: str) -> str:
    """host:port/database of a URL, without its user or password, for messages."""
    parts = urlparse(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or ''}"


def check_url(url: str) -> None:
    """A clear error unless `url` is a postgresql:// URL."""
    parts = urlparse(url)
    if parts.scheme not in ("postgresql", "postgres") or not parts.hostname:
        raise BackendError(
            f"QA_DATABASE_URL is not a PostgreSQL URL (postgresql://user:password@host:port/db):"
            f" {parts.scheme or url[:40]}://…"
        )


def connect(url: str) -> "Connection":
    """An autocommit connection to the server, or one line naming it."""
    import psycopg

    check_url(url)
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        raise BackendError(
            f"cannot reach the PostgreSQL server at {where(url)} (QA_DATABASE_URL): {_reason(exc)}"
        ) from None


def _reason(exc: Exception) -> str:
    """The first line of a psycopg (or SQLAlchemy-wrapped) error, without their prefixes."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    first = re.sub(r"^\([\w.]+\) ", "", lines[0])  # SQLAlchemy's "(psycopg.OperationalError) "
    return first.removeprefix("connection failed: ")[:200]


@contextmanager
def failures(url: str) -> Iterator[None]:
    """A lost connection or a server gone down mid-query as one line naming the server."""
    import psycopg
    import sqlalchemy.exc

    try:
        yield
    except (psycopg.OperationalError, sqlalchemy.exc.OperationalError) as exc:
        raise BackendError(
            f"the PostgreSQL server at {where(url)} (QA_DATABASE_URL) failed: {_reason(exc)}"
        ) from None


def scalar(cursor: "Cursor") -> Any:
    """The first column of a statement's one row (a count, a RETURNING value, a lock's answer)."""
    row = cursor.fetchone()
    if row is None:
        raise BackendError("the PostgreSQL server returned no row where one was expected")
    return row[0]


def create_schema(db: "Connection") -> bool:
    """Tables and indexes, made once; True if search is ranked by a RUM index."""
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))
        for statement in TABLES:
            db.execute(statement)
        method = _search_index_method(db)
        if method is None:
            method = "gin"
            available = db.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = %s", (RANKING_EXTENSION,)
            )
            if available.fetchone():
                try:
                    with db.transaction():  # a savepoint: without the privilege, use GIN
                        db.execute(f'CREATE EXTENSION IF NOT EXISTS "{RANKING_EXTENSION}"')
                        method = "rum"
                except Exception:  # e.g. InsufficientPrivilege on a managed server
                    method = "gin"
            opclass = "rum_tsvector_ops" if method == "rum" else ""
            db.execute(f"CREATE INDEX qa_chunks_tsv ON qa_chunks USING {method} (tsv {opclass})")
    return method == "rum"


def _search_index_method(db: "Connection") -> str | None:
    row = db.execute(
        "SELECT am.amname FROM pg_class c JOIN pg_am am ON am.oid = c.relam"
        " WHERE c.relname = 'qa_chunks_tsv'"
    ).fetchone()
    return row[0] if row else None


def or_query(words: Sequence[str]) -> str:
    """A tsquery text matching any of `words` (\\w+ words: no quote needs escaping)."""
    return " | ".join(f"'{word}'" for word in words)


class PostgresIndex:
    """Full-text search over chunk texts in PostgreSQL, with LexicalIndex's methods, for one
    collection; several processes may read and write it at once."""

    def __init__(self, url: str, collection: str) -> None:
        self.url, self.collection = url, collection
        self._lock = threading.Lock()
        self._vocabulary: list[str] | None = None
        self._shares: dict[str, float] | None = None
        self._shares_at = 0.0
        self._db = connect(url)
        with failures(url):
            self.ranked = create_schema(self._db)

    @contextmanager
    def _session(self) -> Iterator["Connection"]:
        with self._lock, failures(self.url):
            if self._db.closed:  # lost with a server restart: connect again
                self._db = connect(self.url)
            yield self._db

    def upsert(self, ids: Sequence[str], documents: Sequence[Document]) -> None:
        """Add or replace chunks by id, in one transaction."""
        from psycopg.types.json import Jsonb

        now, ids = time.time(), list(ids)
        rows = [
            (self.collection, id_, doc.page_content, Jsonb(doc.metadata), now)
            for id_, doc in zip(ids, documents, strict=True)
        ]
        with self._session() as db, db.transaction(), db.cursor() as cursor:
            replaced = self._remove(cursor, ids)
            cursor.executemany(
                "INSERT INTO qa_chunks (collection, id, text, metadata, indexed_at)"
                " VALUES (%s, %s, %s, %s, %s)",
                rows,
            )
            cursor.execute(
                "INSERT INTO qa_terms (collection, term) SELECT DISTINCT %s, lexeme"
                " FROM qa_chunks, unnest(tsv) WHERE collection = %s AND id = ANY(%s)"
                " ON CONFLICT DO NOTHING",
                (self.collection, self.collection, ids),
            )
            self._count(cursor, len(rows) - replaced)
        self._vocabulary = None

    def delete(self, ids: Iterable[str]) -> None:
        """Remove chunks by id; unknown ids are ignored. Their terms stay in the vocabulary."""
        with self._session() as db, db.transaction(), db.cursor() as cursor:
            self._count(cursor, -self._remove(cursor, list(ids)))

    def _remove(self, cursor: "Cursor", ids: list[str]) -> int:
        cursor.execute(
            "DELETE FROM qa_chunks WHERE collection = %s AND id = ANY(%s)", (self.collection, ids)
        )
        return cursor.rowcount

    def _count(self, cursor: "Cursor", change: int) -> None:
        cursor.execute(
            "INSERT INTO qa_facts AS f (collection, key, value) VALUES (%s, %s, %s)"
            " ON CONFLICT (collection, key) DO UPDATE SET value = (f.value::bigint + %s)::text",
            (self.collection, CHUNKS, str(max(change, 0)), change),
        )

    def ids(self) -> set[str]:
        """Every chunk id held."""
        with self._session() as db:
            rows = db.execute("SELECT id FROM qa_chunks WHERE collection = %s", (self.collection,))
            return {row[0] for row in rows}

    def sources(self) -> list[dict]:
        """Each indexed file: source, title, chunk count, and when it was last indexed."""
        with self._session() as db:
            rows = db.execute(
                "SELECT source, min(metadata->>'title'), count(*), max(indexed_at)"
                " FROM qa_chunks WHERE collection = %s GROUP BY source ORDER BY source",
                (self.collection,),
            ).fetchall()
        return source_rows(rows)

    def documents_of(self, sources: Sequence[str]) -> list[Document]:
        """The chunks held for these source files, in the order they were written."""
        if not sources:
            return []
        with self._session() as db:
            rows = db.execute(
                "SELECT text, metadata FROM qa_chunks WHERE collection = %s"
                " AND source = ANY(%s) ORDER BY seq",
                (self.collection, list(sources)),
            ).fetchall()
        return [Document(page_content=text, metadata=meta) for text, meta in rows]

    def count(self) -> int:
        """How many chunks are held (a counter kept with the rows, not a scan)."""
        return int(self.fact(CHUNKS) or 0)

    def search(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[Document]:
        """The `k` best chunks for `query`, best first; only from `sources` if given."""
        lexemes = self.lexemes(terms(query))
        if not lexemes:
            return []
        # the queries as plain values: RUM orders by its index only given a constant
        q = "to_tsquery('simple', %s)"
        order = f"tsv <=> {q}" if self.ranked else f"ts_rank_cd(tsv, {q}) DESC"
        scope, values = ("AND source = ANY(%s)", [list(sources)]) if sources else ("", [])
        match, rank = or_query(self.uncommon(lexemes)), or_query(lexemes)
        with self._session() as db:
            rows = db.execute(
                f"SELECT id, text, metadata FROM qa_chunks WHERE collection = %s AND tsv @@ {q}"
                f" {scope} ORDER BY {order} LIMIT %s",
                (self.collection, match, *values, rank, k),
            ).fetchall()
        return [Document(id=id_, page_content=text, metadata=meta) for id_, text, meta in rows]

    def lexemes(self, words: Sequence[str]) -> list[str]:
        """The index's terms for `words`, stemmed as the index stems them, stop words left out."""
        with self._session() as db:
            rows = db.execute(
                "SELECT DISTINCT lexeme FROM unnest(%s::text[]) AS word,"
                " unnest(to_tsvector('english', word)) AS found(lexeme, positions, weights)",
                (list(words),),
            )
            return sorted(row[0] for row in rows)

    def uncommon(self, lexemes: list[str]) -> list[str]:
        """`uncommon` of the lexemes, by PostgreSQL's own statistics of the column (its most
        common lexemes and their shares of rows, kept by ANALYZE and autovacuum)."""
        shares, total = self.common_shares(), self.count()
        return uncommon({lexeme: shares.get(lexeme, 0.0) * total for lexeme in lexemes})

    def common_shares(self) -> dict[str, float]:
        """The share of rows holding each of the column's most common lexemes, read once a
        minute."""
        if self._shares is None or time.monotonic() - self._shares_at > 60:
            with self._session() as db:
                row = db.execute(
                    "SELECT most_common_elems::text::text[], most_common_elem_freqs"
                    " FROM pg_stats WHERE tablename = 'qa_chunks' AND attname = 'tsv'"
                ).fetchone()
            self._shares = dict(zip(row[0], row[1], strict=False)) if row and row[0] else {}
            self._shares_at = time.monotonic()
        return self._shares

    def idf(self, words: Sequence[str]) -> dict[str, float]:
        """Inverse document frequency of each word (stemmed as the index stems it); 0 if absent."""
        total, weights = self.count(), {}
        with self._session() as db:
            for word in words:
                found = scalar(
                    db.execute(
                        "SELECT count(*) FROM qa_chunks WHERE collection = %s"
                        " AND tsv @@ to_tsquery('english', %s)",
                        (self.collection, or_query([word])),
                    )
                )
                weights[word] = idf(total, found)
        return weights

    def vocabulary(self) -> list[str]:
        """Every indexed term (stemmed), read once per process."""
        if self._vocabulary is None:
            with self._session() as db:
                rows = db.execute(
                    "SELECT term FROM qa_terms WHERE collection = %s", (self.collection,)
                )
                self._vocabulary = [row[0] for row in rows]
        return self._vocabulary

    def fact(self, key: str) -> str | None:
        """A fact about the index (its id, its embedder, its ingest state); None if unset."""
        with self._session() as db:
            row = db.execute(
                "SELECT value FROM qa_facts WHERE collection = %s AND key = %s",
                (self.collection, key),
            ).fetchone()
        return row[0] if row else None

    def set_fact(self, key: str, value: str) -> None:
        self._put_fact(key, value, replace=True)

    def first_fact(self, key: str, value: str) -> str:
        """The fact `key`, set to `value` unless another process set it first."""
        return self._put_fact(key, value, replace=False)

    def _put_fact(self, key: str, value: str, replace: bool) -> str:
        """Write a fact, replacing or keeping a stored one; the value stored afterwards."""
        kept = "excluded.value" if replace else "qa_facts.value"
        with self._session() as db:
            return scalar(
                db.execute(
                    "INSERT INTO qa_facts (collection, key, value) VALUES (%s, %s, %s)"
                    f" ON CONFLICT (collection, key) DO UPDATE SET value = {kept} RETURNING value",
                    (self.collection, key, value),
                )
            )

    def close(self) -> None:
        """Release the connection."""
        with self._lock:
            self._db.close()


class IngestLock:
    """A PostgreSQL advisory lock on a collection, held by its own connection: it serializes
    ingests from any machine, and a killed ingest's lock goes with its connection."""

    def __init__(self, url: str, collection: str) -> None:
        self.url, self._db = url, connect(url)
        with failures(url):
            held = scalar(
                self._db.execute(
                    "SELECT pg_try_advisory_lock(hashtext(%s))", (f"qa-ingest/{collection}",)
                )
            )
        self.held = bool(held)
        if not self.held:
            self._db.close()

    def release(self) -> None:
        if self.held:
            self.held = False
            self._db.close()  # closing the session releases its advisory locks
