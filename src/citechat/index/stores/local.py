"""The local store (the default): one SQLite database holding documents, chunks and their vectors, plus a FAISS
file, in the index folder.

SQLite is the single source of truth and every change is a transaction, so a crash or kill at any moment
leaves a consistent index. `vectors.faiss` is derived from it: it carries the generation it was built from
and a SHA-256 recorded in the database, and is rebuilt from the database whenever it does not match (stale,
truncated or tampered). Nothing is ever unpickled. A snapshot loads one generation whole into memory: its
chunks, the FAISS index for dense search and, on first use, a bm25s index for lexical search.
"""

from __future__ import annotations

import errno
import os
import shlex
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ...ingest.chunking import Chunk
from .base import (
    DocumentRecord,
    Hit,
    IndexNotFound,
    IndexProblem,
    KnownDocuments,
    NewDocument,
    TermStats,
    check_manifest,
    chunk_terms,
    excluded,
    read_only_error,
    sha256_of,  # noqa: F401 - part of this module's surface
)
from .local_db import (  # noqa: F401 - DB_NAME, connect and unreadable are part of this module's surface
    DB_NAME,
    bump_generation,
    check_values,
    connect,
    connect_for_reading,
    create,
    read_meta,
    read_recorded_meta,
    set_meta,
    transaction,
    unreadable,
)
from .local_faiss import (  # noqa: F401 - FAISS_NAME is part of this module's surface
    FAISS_NAME,
    cached_faiss,
    faiss_cache_written,
    faiss_from_db,
    write_faiss_cache,
)


# ---------------------------------------------------------------- snapshot


@dataclass
class LocalSnapshot:
    """One generation of the index, loaded whole: `chunks[i]` is the chunk with id i, the vector of row i of
    `vectors` (a faiss.IndexFlatIP, exact search)."""

    index_dir: Path
    meta: dict[str, str]
    chunks: list[Chunk]
    documents: list[DocumentRecord]
    vectors: object
    state: str = ""
    _bm25: object = field(default=None, repr=False)
    _df: dict[str, int] = field(default_factory=dict, repr=False)
    _total_terms: int = 0
    _bm25_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def generation(self) -> int:
        return int(self.meta.get("generation", 0))

    @property
    def n_chunks(self) -> int:
        return len(self.chunks)

    @property
    def excluded(self) -> list[str]:
        return excluded(self.meta)

    @property
    def bm25(self):
        """The bm25s index of the chunks' terms, built on first use."""
        with self._bm25_lock:
            if self._bm25 is None:
                self._bm25 = self._build_bm25()
        return self._bm25

    def _build_bm25(self):
        import bm25s

        model = bm25s.BM25()
        corpus = [chunk_terms(c) for c in self.chunks]
        for terms in corpus:
            self._total_terms += len(terms)
            for term in set(terms):
                self._df[term] = self._df.get(term, 0) + 1
        if corpus:
            model.index(corpus, show_progress=False)
        return model

    def dense(self, vector: np.ndarray, n: int) -> list[Hit]:
        if not self.chunks:
            return []
        scores, rows = self.vectors.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), min(n, len(self.chunks)))
        return [Hit(int(r), float(s), self.chunks[r]) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def lexical(self, terms: list[str], n: int) -> list[Hit]:
        if not self.chunks:
            return []
        model = self.bm25
        known = [t for t in terms if t in model.vocab_dict]
        if not known:
            return []
        rows, scores = model.retrieve([known], k=min(n, len(self.chunks)), show_progress=False, n_threads=1)
        return [Hit(int(r), float(s), self.chunks[r]) for r, s in zip(rows[0], scores[0]) if s > 0]

    def hybrid(self, vector: np.ndarray, terms: list[str], n: int) -> None:
        return None  # retrieval fuses dense() and lexical()

    def term_stats(self, terms: Iterable[str]) -> TermStats:
        self.bm25
        n = len(self.chunks)
        return TermStats(n, self._total_terms / n if n else 0.0, {t: self._df.get(t, 0) for t in terms})

    def all_chunks(self) -> list[Chunk]:
        return list(self.chunks)


def load_snapshot(index_dir: Path, expected_manifest: dict[str, str] | None) -> LocalSnapshot:
    db_path = index_dir / DB_NAME
    docs = expected_manifest and expected_manifest.get("docs_dir")
    if not os.path.lexists(db_path):
        build = f"citechat index{f' --docs {shlex.quote(docs)}' if docs else ''} --index {shlex.quote(str(index_dir))}"
        raise IndexNotFound(f"No index in {index_dir}. Run `{build}` to build it.")
    try:
        conn = connect_for_reading(db_path)
        try:
            conn.execute("BEGIN")  # one read transaction: every read below sees the same generation
            meta = read_meta(conn)
            if expected_manifest is not None:
                check_manifest(meta, expected_manifest, str(index_dir))
            check_values(conn, meta)
            rows = conn.execute(
                "SELECT id, source, title, text, start, end, page, ordinal, section, page_start FROM chunks ORDER BY id"
            ).fetchall()
            documents = [DocumentRecord(*r) for r in conn.execute(
                "SELECT source, title, n_chunks, size, indexed_at, hash FROM documents ORDER BY source")]
            chunks = [Chunk(*r[1:]) for r in rows]
            vectors = cached_faiss(index_dir, meta, len(rows))
            if vectors is None:
                vectors = faiss_from_db(conn, int(meta["dimension"]))
            conn.execute("COMMIT")
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise unreadable(exc, index_dir, docs) from exc
    return LocalSnapshot(index_dir, meta, chunks, documents, vectors, state_of(index_dir, meta))


def state_of(index_dir: Path, meta: dict[str, str]) -> str:
    """Which database file (a rebuild swaps in another) at which generation."""
    try:
        inode = os.lstat(index_dir / DB_NAME).st_ino
    except OSError:
        inode = 0
    return f"{inode}:{meta.get('generation', '')}"


# ---------------------------------------------------------------- the store and its writer


class LocalStore:
    """The index in `index_dir`: chunks.sqlite and vectors.faiss."""

    shared = False

    def __init__(self, index_dir: Path) -> None:
        self.index_dir = Path(index_dir)
        self.location = str(self.index_dir)

    def snapshot(self, expected: dict[str, str] | None) -> LocalSnapshot:
        return load_snapshot(self.index_dir, expected)

    def state(self) -> str | None:
        meta = read_recorded_meta(self.index_dir)
        return state_of(self.index_dir, meta) if meta else None

    def recorded_meta(self) -> dict[str, str]:
        return read_recorded_meta(self.index_dir)

    @contextmanager
    def writer(self, manifest: dict[str, str], rebuild: bool) -> Iterator[LocalWriter]:
        index_dir = self.index_dir
        db_path = index_dir / DB_NAME
        # A rebuild writes a fresh database beside the old one and swaps it in at the end, so the
        # previous index stays usable until the new one is complete.
        target = index_dir / (DB_NAME + ".new") if rebuild and db_path.exists() else db_path
        conn = None
        try:
            index_dir.mkdir(parents=True, exist_ok=True)
            for leftover in index_dir.glob(DB_NAME + ".new*"):  # a killed rebuild's: it only takes up space
                leftover.unlink()
            conn = create(target, manifest)
            meta = read_meta(conn)
            check_manifest(meta, manifest, self.location)
            yield LocalWriter(conn, meta)
            if target != db_path:
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.close()
                _retire_wal(db_path)
                os.replace(target, db_path)
                for suffix in ("-wal", "-shm"):
                    Path(str(db_path) + suffix).unlink(missing_ok=True)
                conn = connect(db_path)
            if target != db_path or not faiss_cache_written(index_dir, conn):
                write_faiss_cache(index_dir, conn)
        except (sqlite3.DatabaseError, OSError, RuntimeError) as exc:  # RuntimeError: FAISS's write errors
            raise _write_error(exc, conn, index_dir, manifest.get("docs_dir"), target != db_path) from exc
        finally:
            if conn is not None:
                conn.close()

    def close(self) -> None:
        pass  # every connection is closed after use


class OutOfSpace(IndexProblem):
    pass


def _write_error(exc: BaseException, conn, index_dir: Path, docs_dir: str | None, rebuilding: bool) -> BaseException:
    """The error a failed write reports: a full disk, a read-only folder or a damaged database, each saying
    what to do; anything else as it is."""
    if _out_of_space(exc):
        if conn is not None:
            conn.close()
        if rebuilding:  # the unfinished rebuild only takes up space
            for leftover in index_dir.glob(DB_NAME + ".new*"):
                leftover.unlink(missing_ok=True)
        return OutOfSpace(
            f"The disk is full: the index in {index_dir} could not be written ({exc}). The index is still "
            "usable as it was before this step; free some disk space and run the sync again."
        )
    if isinstance(exc, OSError):
        return read_only_error(exc, index_dir) or exc
    if isinstance(exc, sqlite3.DatabaseError):
        return unreadable(exc, index_dir, docs_dir)
    return exc


def _out_of_space(exc: BaseException) -> bool:
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return True
    if getattr(exc, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
        return True
    return "No space left on device" in str(exc) or "Disk quota exceeded" in str(exc)


def _retire_wal(db_path: Path) -> None:
    """Fold the old database's write-ahead log into it and remove it before the new file takes its name: a
    log left behind (by a killed process) would be replayed into the new database if the swap is cut short."""
    try:
        old = sqlite3.connect(str(db_path), timeout=60, isolation_level=None)
        try:
            old.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            old.close()
    except sqlite3.DatabaseError:
        pass  # a damaged old database: its log is worthless too
    for suffix in ("-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)


class LocalWriter:
    """Each step is one SQLite transaction that also advances the generation."""

    def __init__(self, conn: sqlite3.Connection, meta: dict[str, str]) -> None:
        self.conn = conn
        self.meta = meta

    def documents(self) -> KnownDocuments:
        return {source: (digest, signature) for source, digest, signature
                in self.conn.execute("SELECT source, hash, file_stat FROM documents")}

    def set_meta(self, values: dict[str, str]) -> None:
        with transaction(self.conn):
            for key, value in values.items():
                set_meta(self.conn, key, value)
        self.meta.update(values)

    def remove(self, sources: list[str]) -> None:
        with transaction(self.conn):
            for source in sources:
                self._delete(source)
            bump_generation(self.conn)

    def add(self, documents: list[NewDocument]) -> None:
        with transaction(self.conn):
            for doc in documents:
                self._delete(doc.source)
                vectors = iter(doc.vectors)
                self.conn.executemany(
                    "INSERT INTO chunks (source, ordinal, title, start, end, page, text, vector, section, page_start)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?)",
                    # A generator: a large document's rows (text and vector bytes) are never all built at once.
                    ((c.source, c.ordinal, c.title, c.start, c.end, c.page, c.text,
                      np.asarray(next(vectors), dtype=np.float32).tobytes(), c.section, c.page_start)
                     for c in doc.chunks),
                )
                self.conn.execute(
                    "INSERT INTO documents (source, hash, title, size, n_chunks, indexed_at, file_stat)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (doc.source, doc.hash, doc.title, doc.size, len(doc.chunks), time.time(), doc.file_stat),
                )
            bump_generation(self.conn)

    def touch(self, file_stats: dict[str, str | None]) -> None:
        with transaction(self.conn):
            self.conn.executemany("UPDATE documents SET file_stat = ? WHERE source = ?",
                                  [(stat, source) for source, stat in file_stats.items()])

    def counts(self) -> tuple[int, int]:
        return self.conn.execute("SELECT (SELECT COUNT(*) FROM documents), (SELECT COUNT(*) FROM chunks)").fetchone()

    def _delete(self, source: str) -> None:
        self.conn.execute("DELETE FROM chunks WHERE source = ?", (source,))
        self.conn.execute("DELETE FROM documents WHERE source = ?", (source,))
