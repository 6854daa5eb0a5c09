"""Index stage: SQL catalog, FAISS vector index, ingest of finished tracks."""
