"""The index: one lexical protocol (SQLite FTS5 embedded, PostgreSQL shared), Chroma for
vectors, and the hybrid store that writes both."""
