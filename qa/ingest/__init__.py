"""Files in, chunks out: format extraction (in a sandbox), the corpus folder, uploads and
the trash, chunking, and the ingest pipeline that keeps the index in step with the folder."""
