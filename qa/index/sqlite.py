"""The embedded lexical index: BM25 over SQLite FTS5 (porter stemmer) beside the Chroma
store, updated with it; safe to read while another process writes."""

import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from langchain_core.documents import Document

from qa.core.errors import BackendError
from qa.index.lexical import idf, source_rows, uncommon
from qa.text.terms import terms

SCHEMA = """
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, text TEXT NOT NULL, metadata TEXT NOT NULL,
    indexed_at REAL
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content='chunks', content_rowid='rowid', tokenize='porter unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_vocab USING fts5vocab(chunks_fts, 'row');
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, text) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, text) VALUES ('delete', old.rowid, old.text);
END;
"""


class LexicalIndex:
    """BM25 over chunk texts in one SQLite file; safe to read while another process writes."""

    def __init__(self, path: Path) -> None:
        self.folder = path.parent
        self._lock = threading.Lock()
        self._stemmer: sqlite3.Connection | None = None
        self._vocabulary: list[str] | None = None
        if path.is_file() and not os.access(path.parent, os.W_OK):
            # a read-only volume: nobody can write it, so SQLite may skip its locks and WAL
            uri = f"{path.resolve().as_uri()}?mode=ro&immutable=1"
            self._db = sqlite3.connect(uri, uri=True, check_same_thread=False)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=30)
        with self._lock, self._db:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(chunks)")}
            if "indexed_at" not in columns:  # an index written before this column existed
                self._db.execute("ALTER TABLE chunks ADD COLUMN indexed_at REAL")

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """The connection's lock, held for a read; a database error becomes one line."""
        with self._lock:
            try:
                yield
            except sqlite3.DatabaseError as exc:
                raise BackendError(
                    f"the lexical index {self.folder / 'lexical.sqlite3'} could not be read "
                    f"({exc}); if this persists, run `qa ingest`"
                ) from exc

    def upsert(self, ids: Sequence[str], documents: Sequence[Document]) -> None:
        """Add or replace chunks by id, in one transaction."""
        rows = [
            (id_, doc.page_content, json.dumps(doc.metadata))
            for id_, doc in zip(ids, documents, strict=True)
        ]
        with self._lock, self._db:
            self._db.executemany("DELETE FROM chunks WHERE id = ?", [(id_,) for id_ in ids])
            self._db.executemany(
                "INSERT INTO chunks(id, text, metadata, indexed_at) VALUES (?, ?, ?, ?)",
                [(*row, time.time()) for row in rows],
            )
        self._vocabulary = None

    def delete(self, ids: Iterable[str]) -> None:
        """Remove chunks by id; unknown ids are ignored."""
        with self._lock, self._db:
            self._db.executemany("DELETE FROM chunks WHERE id = ?", [(id_,) for id_ in ids])

    def ids(self) -> set[str]:
        """Every chunk id held."""
        with self._reading():
            return {row[0] for row in self._db.execute("SELECT id FROM chunks")}

    def sources(self) -> list[dict]:
        """Each indexed file: source, title, chunk count, and when it was last indexed."""
        with self._reading():
            rows = self._db.execute(
                "SELECT json_extract(metadata, '$.source'), json_extract(metadata, '$.title'),"
                " count(*), max(indexed_at) FROM chunks GROUP BY 1 ORDER BY 1"
            ).fetchall()
        return source_rows(rows)

    def documents_of(self, sources: Sequence[str]) -> list[Document]:
        """The chunks held for these source files, in the order they were written."""
        if not sources:
            return []
        with self._reading():
            rows = self._db.execute(
                "SELECT text, metadata FROM chunks WHERE json_extract(metadata, '$.source')"
                f" IN ({', '.join('?' * len(sources))}) ORDER BY rowid",
                list(sources),
            ).fetchall()
        return [Document(page_content=text, metadata=json.loads(meta)) for text, meta in rows]

    def count(self) -> int:
        """How many chunks are held."""
        with self._reading():
            return self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]

    def search(self, query: str, k: int, sources: Sequence[str] | None = None) -> list[Document]:
        """The `k` best chunks for `query` by BM25, best first; only from `sources` if given."""
        words = terms(query)
        if not words:
            return []
        match = " OR ".join(f'"{word}"' for word in self._uncommon(words))
        scope, values = "", []
        if sources:
            scope = (
                " AND rowid IN (SELECT rowid FROM chunks WHERE json_extract(metadata, '$.source')"
                f" IN ({', '.join('?' * len(sources))}))"
            )
            values = list(sources)
        with self._reading():
            rows = self._db.execute(  # rank first, then read only the k rows kept
                "SELECT c.id, c.text, c.metadata FROM (SELECT rowid, bm25(chunks_fts) AS score"
                f" FROM chunks_fts WHERE chunks_fts MATCH ?{scope} ORDER BY score LIMIT ?) f"
                " JOIN chunks c ON c.rowid = f.rowid ORDER BY f.score",
                (match, *values, k),
            ).fetchall()
        return [
            Document(id=id_, page_content=text, metadata=json.loads(meta))
            for id_, text, meta in rows
        ]

    def _uncommon(self, words: list[str]) -> list[str]:
        """`uncommon` of the words, by the index's own term counts (its fts5vocab table)."""
        stems = self._stems(words)
        unique = sorted(set(stems.values()))
        marks = ", ".join("?" * len(unique))
        with self._reading():
            found = dict(
                self._db.execute(
                    f"SELECT term, doc FROM chunks_vocab WHERE term IN ({marks})", unique
                ).fetchall()
            )
        kept = set(uncommon({stem: found.get(stem, 0) for stem in unique}))
        return [word for word in words if stems[word] in kept]

    def _stems(self, words: list[str]) -> dict[str, str]:
        """Each word as the index stores it, by FTS5's own tokenizer in a table in memory."""
        with self._reading():
            if self._stemmer is None:
                self._stemmer = sqlite3.connect(":memory:", check_same_thread=False)
                self._stemmer.executescript(
                    "CREATE VIRTUAL TABLE words USING fts5(word, tokenize="
                    "'porter unicode61 remove_diacritics 2');"
                    "CREATE VIRTUAL TABLE stems USING fts5vocab(words, 'instance');"
                )
            db = self._stemmer
            db.execute("DELETE FROM words")
            db.executemany("INSERT INTO words(rowid, word) VALUES (?, ?)", list(enumerate(words)))
            found = dict(db.execute("SELECT doc, term FROM stems").fetchall())
        return {word: found.get(i, word) for i, word in enumerate(words)}

    def idf(self, words: Sequence[str]) -> dict[str, float]:
        """Inverse document frequency of each word (stemmed as the index stems it); 0 if absent."""
        with self._reading():
            total = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            weights = {}
            for word in words:
                found = self._db.execute(
                    "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'"{word}"',)
                ).fetchone()[0]
                weights[word] = idf(total, found)
        return weights

    def vocabulary(self) -> list[str]:
        """Every indexed term (stemmed), read once per process."""
        if self._vocabulary is None:
            with self._reading():
                self._vocabulary = [
                    row[0] for row in self._db.execute("SELECT term FROM chunks_vocab")
                ]
        return self._vocabulary

    def fact(self, key: str) -> str | None:
        """A fact about the index (its id, its embedder, its ingest state), kept in a text
        file of the index folder; None if unset."""
        path = self.folder / f"{key}.txt"
        return path.read_text(encoding="utf-8").strip() if path.is_file() else None

    def set_fact(self, key: str, value: str) -> None:
        """Write a fact whole: readers see the old value or the new one, never a part."""
        target = self.folder / f"{key}.txt"
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}")
        partial.write_text(value, encoding="utf-8")
        os.replace(partial, target)

    def first_fact(self, key: str, value: str) -> str:
        """The fact `key`, set to `value` unless another process set it first; readable by
        this user only (it may be a secret)."""
        target = self.folder / f"{key}.txt"
        partial = self.folder / f".{key}.{os.getpid()}.partial"
        handle = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(value)
        try:
            os.link(partial, target)  # appears whole, and only if no other process's did
        except FileExistsError:
            value = self.fact(key) or value
        finally:
            partial.unlink()
        return value

    def close(self) -> None:
        """Release the database file."""
        with self._lock:
            self._db.close()
