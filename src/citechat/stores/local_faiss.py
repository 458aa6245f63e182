"""The local store's FAISS file, `vectors.faiss`: derived from the SQLite database, stamped with the generation
it was built from and its SHA-256, read only when both match, and written atomically."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import numpy as np

from .base import sha256_of
from .local_db import read_meta, set_meta, transaction

FAISS_NAME = "vectors.faiss"


def cached_faiss(index_dir: Path, meta: dict[str, str], n_rows: int):
    """The FAISS file if it is the one written for this generation and untouched, else None."""
    import faiss

    path = index_dir / FAISS_NAME
    stamp = meta.get("faiss_stamp", "")
    if not stamp or not path.exists():
        return None
    generation, _, digest = stamp.partition(":")
    if generation != meta.get("generation") or sha256_of(path) != digest:
        return None
    try:
        index = faiss.read_index(str(path))
    except RuntimeError:  # FAISS refused a malformed file: the database, the source of truth, rebuilds it
        return None
    if not isinstance(index, faiss.IndexFlatIP) or index.ntotal != n_rows or index.d != int(meta["dimension"]):
        return None
    return index


def faiss_from_db(conn: sqlite3.Connection, dimension: int):
    """A FAISS index of every stored vector, read from the database in batches."""
    import faiss

    index = faiss.IndexFlatIP(dimension)
    batch: list[np.ndarray] = []
    for (blob,) in conn.execute("SELECT vector FROM chunks ORDER BY id"):
        if len(blob) != 4 * dimension:
            raise sqlite3.DatabaseError("a stored vector has the wrong size")
        vector = np.frombuffer(blob, dtype=np.float32)
        batch.append(vector)
        if len(batch) == 4096:
            index.add(np.stack(batch))
            batch = []
    if batch:
        index.add(np.stack(batch))
    return index


def faiss_cache_written(index_dir: Path, conn: sqlite3.Connection) -> bool:
    """Is vectors.faiss the file written for the current generation, untouched since (same size and
    modification time)? Its SHA-256 is checked again whenever an index is opened."""
    meta = read_meta(conn)
    try:
        stat = (index_dir / FAISS_NAME).stat()
    except OSError:
        return False
    return (
        meta.get("faiss_stamp", "").partition(":")[0] == meta.get("generation")
        and meta.get("faiss_file") == f"{stat.st_size}:{stat.st_mtime_ns}"
    )


def write_faiss_cache(index_dir: Path, conn: sqlite3.Connection) -> None:
    """Write vectors.faiss for the current generation atomically, then record its stamp."""
    import faiss

    conn.execute("BEGIN")
    meta = read_meta(conn)
    index = faiss_from_db(conn, int(meta["dimension"]))
    conn.execute("COMMIT")
    path = index_dir / FAISS_NAME
    tmp = path.with_suffix(".faiss.tmp")
    tmp.unlink(missing_ok=True)  # never write through a link left in its place
    try:
        faiss.write_index(index, str(tmp))
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:  # e.g. a full disk: leave no partial file taking up the space
        tmp.unlink(missing_ok=True)
        raise
    stat = path.stat()
    with transaction(conn):
        set_meta(conn, "faiss_stamp", f"{meta['generation']}:{sha256_of(path)}")
        set_meta(conn, "faiss_file", f"{stat.st_size}:{stat.st_mtime_ns}")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
