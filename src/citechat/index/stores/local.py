"""The local store (the default): one SQLite database holding documents, chunks, their vectors and the lexical
index of their terms, plus a FAISS file, in the index folder.

SQLite is the single source of truth and every change is a transaction, so a crash or kill at any moment
leaves a consistent index. A snapshot (`local_snapshot.py`) reads one generation through a read transaction of
its own and loads nothing whole: chunks come from the database as searches return them, lexical search is
SQLite FTS5 (`local_lexical.py`), and the vectors are searched in an index kept once per process and brought
up to date by the log of what each sync step added and removed (`local_vectors.py`). `vectors.faiss` saves
that index with the generation it holds and its SHA-256, and is rewritten only when the log has grown long;
a file that does not match is rebuilt from the database. Nothing is ever unpickled.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from . import local_lexical
from .base import (
    IndexProblem,
    KnownDocuments,
    NewDocument,
    check_manifest,
    read_only_error,
    sha256_of,  # noqa: F401 - part of this module's surface
)
from .local_db import (  # noqa: F401 - DB_NAME, connect and unreadable are part of this module's surface
    CHUNK_COLUMNS,
    DB_NAME,
    bump_generation,
    chunk_of,
    connect,
    create,
    read_meta,
    read_recorded_meta,
    set_meta,
    transaction,
    unreadable,
)
from .local_snapshot import LocalSnapshot, load_snapshot, state_of
from .local_vectors import FAISS_NAME, save_if_due  # noqa: F401 - FAISS_NAME is part of this module's surface


# ---------------------------------------------------------------- the store and its writer


class LocalStore:
    """The index in `index_dir`: chunks.sqlite and vectors.faiss."""

    shared = False

    def __init__(self, index_dir: Path, exact_below: int = 200_000) -> None:
        """exact_below: vectors are searched exactly below this many chunks (Settings.exact_search_below)."""
        self.index_dir = Path(index_dir)
        self.location = str(self.index_dir)
        self.exact_below = exact_below

    def snapshot(self, expected: dict[str, str] | None) -> LocalSnapshot:
        return load_snapshot(self.index_dir, expected, self.exact_below)

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
            (index_dir / (FAISS_NAME + ".tmp")).unlink(missing_ok=True)  # a killed write's, likewise
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
            save_if_due(index_dir, conn, self.exact_below)
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
    """Each step is one SQLite transaction: the chunks, their terms in the lexical index, the log of ids added
    and removed, the counts and the generation move together."""

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
            generation = self._next_generation()
            for source in sources:
                self._retire(source, generation)
            bump_generation(self.conn)

    def add(self, documents: list[NewDocument]) -> None:
        with transaction(self.conn):
            generation = self._next_generation()
            for doc in documents:
                self._retire(doc.source, generation)
                meta = read_meta(self.conn)
                first = int(meta["next_chunk_id"])  # ids are never reused: the vector log names them
                ids = range(first, first + len(doc.chunks))
                vectors = iter(doc.vectors)
                self.conn.executemany(
                    "INSERT INTO chunks (id, source, ordinal, title, start, end, page, text, vector, section, "
                    "page_start) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    # A generator: a large document's rows (text and vector bytes) are never all built at once.
                    ((i, c.source, c.ordinal, c.title, c.start, c.end, c.page, c.text,
                      np.asarray(next(vectors), dtype=np.float32).tobytes(), c.section, c.page_start)
                     for i, c in zip(ids, doc.chunks)),
                )
                terms = local_lexical.add(self.conn, zip(ids, doc.chunks))
                self.conn.executemany("INSERT INTO changes VALUES (?, ?, 1)", ((generation, i) for i in ids))
                self.conn.execute(
                    "INSERT INTO documents (source, hash, title, size, n_chunks, indexed_at, file_stat)"
                    " VALUES (?,?,?,?,?,?,?)",
                    (doc.source, doc.hash, doc.title, doc.size, len(doc.chunks), time.time(), doc.file_stat),
                )
                self._count(int(meta["n_chunks"]) + len(doc.chunks), int(meta["total_terms"]) + terms,
                            first + len(doc.chunks))
            bump_generation(self.conn)

    def touch(self, file_stats: dict[str, str | None]) -> None:
        with transaction(self.conn):
            self.conn.executemany("UPDATE documents SET file_stat = ? WHERE source = ?",
                                  [(stat, source) for source, stat in file_stats.items()])

    def counts(self) -> tuple[int, int]:
        documents = self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
        return documents, int(read_meta(self.conn)["n_chunks"])

    def _next_generation(self) -> int:
        return int(read_meta(self.conn)["generation"]) + 1

    def _retire(self, source: str, generation: int) -> None:
        """Take a document's chunks out: rows, terms and counts; log their ids as removed."""
        rows = self.conn.execute(f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE source = ?", (source,)).fetchall()
        if rows:
            removed = [(r[0], chunk_of(r)) for r in rows]
            terms = local_lexical.remove(self.conn, removed)
            meta = read_meta(self.conn)
            self._count(int(meta["n_chunks"]) - len(rows), int(meta["total_terms"]) - terms,
                        int(meta["next_chunk_id"]))
            self.conn.executemany("INSERT INTO changes VALUES (?, ?, 0)", ((generation, i) for i, _ in removed))
            self.conn.execute("DELETE FROM chunks WHERE source = ?", (source,))
        self.conn.execute("DELETE FROM documents WHERE source = ?", (source,))

    def _count(self, chunks: int, terms: int, next_id: int) -> None:
        for key, value in (("n_chunks", chunks), ("total_terms", terms), ("next_chunk_id", next_id)):
            set_meta(self.conn, key, str(value))
