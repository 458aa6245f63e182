"""Chunks to a searchable index: `sync.py` brings the index in line with a documents folder (reading only new
and changed files, through `ingest/`), `embeddings.py` turns texts into vectors (the model from `model.py`,
exported by `export.py`, run by `runtime.py`), `terms.py` gives the words lexical search counts, and `stores/`
keeps the index (local SQLite + FAISS, or Milvus) behind one interface. `which.py` decides which index a
command works on.

Takes: a documents folder and settings. Gives: a `Store` whose `Snapshot`s are searched by dense and lexical
search, and a `SyncReport` of what changed.
"""
