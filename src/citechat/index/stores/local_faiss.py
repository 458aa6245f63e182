"""The local store's FAISS file, `vectors.faiss`: derived from the SQLite database, stamped with the generation
it was built from and its SHA-256, read only when both match, and written atomically."""

from __future__ import annotations

import os
import shlex
import sqlite3
import struct
from pathlib import Path

import numpy as np

from ...ingest.files import UnsafeFile, open_regular, sha256_of, sha256_of_handle
from .base import IndexCorrupt
from .local_db import read_meta, set_meta, transaction

FAISS_NAME = "vectors.faiss"


# How faiss.write_index lays out an IndexFlatIP: fourcc, dimension, rows, two unused fields, is_trained, metric,
# then the number of floats that follow (rows x dimension) and the floats themselves.
_FLAT_HEADER = struct.Struct("<4siqqq?iQ")


def cached_faiss(index_dir: Path, meta: dict[str, str], n_rows: int):
    """The FAISS file if it is the one written for this generation and untouched, else None. Its size and
    header are checked before FAISS allocates anything, and it is read through one handle that follows no
    link (IndexCorrupt for a link or a special file in its place)."""
    import faiss

    path = index_dir / FAISS_NAME
    stamp = meta.get("faiss_stamp", "")
    if not stamp or not os.path.lexists(path):
        return None
    generation, _, digest = stamp.partition(":")
    if generation != meta.get("generation"):
        return None
    dimension = int(meta["dimension"])
    try:
        handle = open_regular(path)
    except UnsafeFile as exc:
        raise IndexCorrupt(f"{path} is {exc}. Delete it (`rm {shlex.quote(str(path))}`): citechat writes it "
                           "again from the index database.") from None
    with handle:
        if os.fstat(handle.fileno()).st_size != _FLAT_HEADER.size + 4 * n_rows * dimension:
            return None
        fourcc, d, ntotal, _, _, _, _, floats = _FLAT_HEADER.unpack(handle.read(_FLAT_HEADER.size))
        if (fourcc, d, ntotal, floats) != (b"IxFI", dimension, n_rows, n_rows * dimension):
            return None
        if sha256_of_handle(handle) != digest:
            return None
        handle.seek(0)
        try:
            index = faiss.read_index(faiss.PyCallbackIOReader(handle.read))
        except RuntimeError:  # FAISS refused a malformed file: the database, the source of truth, rebuilds it
            return None
    if not isinstance(index, faiss.IndexFlatIP) or index.ntotal != n_rows or index.d != dimension:
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
        stat = os.lstat(index_dir / FAISS_NAME)
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
