"""Plain text handling shared by ingestion, indexing and answering: sentences and terms."""
