"""The local store's dense index: FAISS over the vectors the database holds, kept in memory once per process
and per database, and brought up to date by delta.

- Exact search (`IndexFlatIP`) below `exact_below` chunks (Settings.exact_search_below); above, an approximate one (`IndexIVFScalarQuantizer`,
  8-bit codes, about a quarter of the memory) whose NPROBE lists are searched and whose RERANK best are scored
  again exactly from the stored vectors. bench/scale.py measures its recall against exact search.
- Every sync step logs the chunk ids it adds and removes (`changes`). A reader brings its index from the
  generation it holds to the one it opens by that log: adds now, removals once no older snapshot of this
  process still reads the index, so every snapshot keeps seeing exactly its own generation.
- `vectors.faiss` saves the index with the generation it holds and its SHA-256 (checked as it is read). A sync
  writes it again only when the log since it has grown past REWRITE_SHARE of the chunks, so that a sync of one
  file costs one file, not the index; a reader loads it and applies the rest of the log. It is a cache: the
  database is the truth, and a file that does not match is rebuilt from it.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import weakref
from collections import Counter
from pathlib import Path

import numpy as np

from ...ingest.files import UnsafeFile, open_regular, sha256_of
from .base import IndexCorrupt
from .local_db import DB_NAME, read_meta, set_meta, transaction

FAISS_NAME = "vectors.faiss"
NPROBE = 32
RERANK = 100  # candidates of the approximate search scored again exactly
TRAIN_SAMPLE = 50_000
REWRITE_SHARE = 0.05
REWRITE_MIN = 2_000
BATCH = 20_000

# One index per database file (device, inode) in this process, shared by its snapshots.
_indexes: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_registry_lock = threading.Lock()


def kind_for(rows: int, exact_below: int) -> str:
    return "flat" if rows < exact_below else "ivf"


class VectorIndex:
    """The vectors of one database up to `generation`, searchable, shared by the snapshots that read it."""

    def __init__(self, index, kind: str, generation: int) -> None:
        self.index, self.kind, self.generation = index, kind, generation
        self.lock = threading.RLock()
        self.pending: list[tuple[int, np.ndarray]] = []  # (generation, ids) removed but still read by someone
        self.added: list[tuple[int, int]] = []  # (generation, how many) added since it was loaded
        self.readers: weakref.WeakSet = weakref.WeakSet()

    def catch_up(self, conn: sqlite3.Connection, generation: int) -> None:
        """Apply the log of the generations after this index's, up to `generation`, read through `conn` (in
        the read transaction of the snapshot at `generation`)."""
        with self.lock:
            if generation <= self.generation:
                self.release()
                return
            log = conn.execute("SELECT generation, id, added FROM changes WHERE generation > ? AND generation <= ? "
                               "ORDER BY generation, rowid", (self.generation, generation)).fetchall()
            added = [row[1] for row in log if row[2]]
            for ids, vectors in _vectors_of(conn, added, self.index.d):
                self.index.add_with_ids(vectors, ids)
            by_generation: dict[int, list[int]] = {}
            for g, chunk_id, was_added in log:
                if not was_added:
                    by_generation.setdefault(g, []).append(chunk_id)
            self.added += sorted(Counter(g for g, _, was_added in log if was_added).items())
            self.pending += [(g, np.array(ids, dtype=np.int64)) for g, ids in sorted(by_generation.items())]
            self.generation = generation
            self.release()

    def release(self) -> None:
        """Take out the removed vectors no snapshot of this process still reads."""
        with self.lock:
            oldest = min((s.generation for s in list(self.readers)), default=self.generation)
            due = [ids for g, ids in self.pending if g <= oldest]
            self.pending = [(g, ids) for g, ids in self.pending if g > oldest]
            self.added = [(g, n) for g, n in self.added if g > oldest]
            if due:
                self.index.remove_ids(np.concatenate(due))

    def search(self, vector: np.ndarray, k: int, since: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of the k nearest vectors, plus enough more to make up for those added after generation
        `since`, which a snapshot of that generation does not see; the approximate index returns RERANK or
        more candidates, to be scored again exactly."""
        import faiss

        # One query is too little work to share: FAISS's threads only wait for each other (most on a busy
        # machine). This holds for the calling thread only; building and training keep every core.
        faiss.omp_set_num_threads(1)
        with self.lock:
            # Added after `since`, and removed by then but still read by an older snapshot: neither is seen.
            extra = (sum(n for g, n in self.added if g > since)
                     + sum(len(ids) for g, ids in self.pending if g <= since))
            want = k + extra if self.kind == "flat" else max(RERANK, 4 * k) + extra
            want = min(want, self.index.ntotal)
            if want <= 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            scores, ids = self.index.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), want)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]


def _vectors_of(conn: sqlite3.Connection, ids: list[int], dimension: int):
    """(ids, vectors) of the stored chunks with these ids that `conn` sees, in batches."""
    for start in range(0, len(ids), BATCH):
        part = ids[start : start + BATCH]
        rows = conn.execute(f"SELECT id, vector FROM chunks WHERE id IN ({','.join('?' * len(part))})", part).fetchall()
        if rows:
            yield _stack(rows, dimension)


def _stack(rows: list[tuple[int, bytes]], dimension: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids, vectors) of (id, vector bytes) rows; a vector of another size is a damaged database."""
    if any(not isinstance(r[1], bytes) or len(r[1]) != 4 * dimension for r in rows):
        raise sqlite3.DatabaseError("a stored vector has the wrong size")
    ids = np.array([r[0] for r in rows], dtype=np.int64)
    return ids, np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dimension)


def from_database(conn: sqlite3.Connection, dimension: int, rows: int, generation: int, exact_below: int
                  ) -> VectorIndex:
    """The index of every vector `conn` sees (in a read transaction at `generation`)."""
    import faiss

    kind = kind_for(rows, exact_below)
    if kind == "flat":
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(dimension))
    else:
        # About 4 lists per thousand... k-means wants some 40 points per list to train on.
        nlist = int(max(1, min(4096, 4 * np.sqrt(rows), rows // 40)))
        index = faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dimension), dimension, nlist,
                                              faiss.ScalarQuantizer.QT_8bit, faiss.METRIC_INNER_PRODUCT)
        all_ids = [r[0] for r in conn.execute("SELECT id FROM chunks")]
        sample = np.random.default_rng(0).choice(all_ids, size=min(TRAIN_SAMPLE, len(all_ids)), replace=False)
        index.train(np.concatenate([v for _, v in _vectors_of(conn, sorted(sample.tolist()), dimension)]))
        index.nprobe = NPROBE
    cursor = conn.execute("SELECT id, vector FROM chunks")
    while batch := cursor.fetchmany(BATCH):
        index.add_with_ids(*reversed(_stack(batch, dimension)))
    return VectorIndex(index, kind, generation)


def shared(conn: sqlite3.Connection, index_dir: Path, meta: dict[str, str], exact_below: int, reader=None
           ) -> VectorIndex:
    """This process's index of the database in `index_dir`, at the generation `conn` reads (its read
    transaction's): the one already in memory brought up to date, else `vectors.faiss` and the log since,
    else built from the database. reader: the snapshot that will search it (it must have a `generation`),
    registered first so that nothing it still sees is taken out."""
    info = os.stat(index_dir / DB_NAME)
    key = (info.st_dev, info.st_ino)
    generation = int(meta["generation"])
    with _registry_lock:
        index = _indexes.get(key)
        if index is None or index.generation < int(meta.get("log_from") or 0):  # not in memory, or too old
            index = _saved(index_dir, meta) or from_database(conn, int(meta["dimension"]), int(meta["n_chunks"]),
                                                               generation, exact_below)
            _indexes[key] = index
        if reader is not None:
            index.readers.add(reader)
        index.catch_up(conn, generation)
        return index


def _saved(index_dir: Path, meta: dict[str, str]) -> VectorIndex | None:
    """The index saved in vectors.faiss if it is the one this database stamped, else None."""
    import faiss

    path = index_dir / FAISS_NAME
    generation, digest = meta.get("faiss_generation"), meta.get("faiss_sha256")
    if not generation or not os.path.lexists(path) or int(generation) < int(meta.get("log_from") or 0):
        return None
    try:
        handle = open_regular(path)
    except UnsafeFile as exc:
        raise IndexCorrupt(f"{path} is {exc}. Delete it (`rm {path}`): citechat writes it again from the index "
                           "database.") from None
    with handle:
        if _file_stamp(os.fstat(handle.fileno())) != meta.get("faiss_file"):
            return None
        hashing = hashlib.sha256()

        def read(n: int) -> bytes:
            data = handle.read(n)
            hashing.update(data)
            return data

        try:
            index = faiss.read_index(faiss.PyCallbackIOReader(read, 1 << 20))
        except (RuntimeError, MemoryError):  # malformed: the database, the source of truth, rebuilds it
            return None
        handle.read()  # anything after what FAISS read counts in the digest too
    if hashing.hexdigest() != digest or index.d != int(meta["dimension"]):
        return None
    kind = meta.get("faiss_kind", "flat")
    if kind == "ivf":
        faiss.extract_index_ivf(index).nprobe = NPROBE
    return VectorIndex(index, kind, int(generation))


def save_if_due(index_dir: Path, conn: sqlite3.Connection, exact_below: int) -> None:
    """After a sync: write vectors.faiss again when there is none that matches, when the log since it has
    grown past REWRITE_SHARE of the chunks, or when the index should change kind; then forget the log it
    holds. A kill at any moment leaves a file that matches its stamp or one that is not used."""
    meta = read_meta(conn)
    rows = int(meta["n_chunks"])
    since = int(meta.get("faiss_generation") or -1)
    logged = conn.execute("SELECT COUNT(*) FROM changes WHERE generation > ?", (since,)).fetchone()[0]
    current = since >= 0 and _stamp_matches(index_dir, meta) and meta.get("faiss_kind") == kind_for(rows, exact_below)
    if current and logged <= REWRITE_SHARE * rows + REWRITE_MIN:
        return
    conn.execute("BEGIN")  # the generation the file will hold, read whole
    try:
        meta = read_meta(conn)
        index = shared(conn, index_dir, meta, exact_below) if current else from_database(
            conn, int(meta["dimension"]), rows, int(meta["generation"]), exact_below)
        with index.lock:
            index.release()
            _write(index_dir, index)
    finally:
        conn.execute("COMMIT")
    _stamp(index_dir, conn, index)


def _write(index_dir: Path, index: VectorIndex) -> None:
    import faiss

    path = index_dir / FAISS_NAME
    tmp = path.with_suffix(".faiss.tmp")
    tmp.unlink(missing_ok=True)  # never write through a link left in its place
    try:
        faiss.write_index(index.index, str(tmp))
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:  # e.g. a full disk: leave no partial file taking up the space
        tmp.unlink(missing_ok=True)
        raise


def _stamp(index_dir: Path, conn: sqlite3.Connection, index: VectorIndex) -> None:
    path = index_dir / FAISS_NAME
    digest = sha256_of(path)
    with transaction(conn):
        for key, value in (("faiss_generation", index.generation), ("faiss_sha256", digest),
                           ("faiss_file", _file_stamp(os.lstat(path))), ("faiss_kind", index.kind),
                           ("log_from", index.generation)):
            set_meta(conn, key, str(value))
        conn.execute("DELETE FROM changes WHERE generation <= ?", (index.generation,))


def _file_stamp(info: os.stat_result) -> str:
    return f"{info.st_size}:{info.st_mtime_ns}"


def _stamp_matches(index_dir: Path, meta: dict[str, str]) -> bool:
    """Is vectors.faiss, by its size and modification time, the file last written? (Its SHA-256 is checked when
    it is read.)"""
    try:
        return _file_stamp(os.lstat(index_dir / FAISS_NAME)) == meta.get("faiss_file")
    except OSError:
        return False
