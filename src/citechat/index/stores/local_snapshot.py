"""A snapshot of the local store: one generation of the index, read through a connection of its own held in one
SQLite read transaction for as long as the snapshot lives, so that every chunk, term count and vector it gives
is of that generation, whatever a sync commits meanwhile. Chunks are read when a search returns them, never
all at once; the vectors are searched in this process's shared index (`local_vectors`)."""

from __future__ import annotations

import os
import shlex
import sqlite3
import threading
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Iterable

import numpy as np

from ...ingest.chunking import Chunk
from . import local_lexical, local_vectors
from .base import DocumentRecord, Hit, IndexMismatch, IndexNotFound, TermStats, check_manifest, chunk_terms, excluded
from .local_db import (
    CHUNK_COLUMNS,
    DB_NAME,
    LAYOUT,
    check_values,
    chunk_of,
    connect_for_reading,
    read_meta,
    unreadable,
)

TERM_COUNTS_KEPT = 50_000
TERMS_KEPT = 20_000  # chunks whose terms are kept, as they recur from question to question


class LocalSnapshot:
    """One generation of the local index (see the module docstring). Safe to use from several threads."""

    def __init__(self, index_dir: Path, conn: sqlite3.Connection, meta: dict[str, str],
                 documents: list[DocumentRecord]) -> None:
        self.index_dir, self.meta, self.documents = index_dir, meta, documents
        self.state = state_of(index_dir, meta)
        self._conn = conn
        self._lock = threading.Lock()
        self._counts: OrderedDict[str, int] = OrderedDict()
        self._terms: OrderedDict[int, list[str]] = OrderedDict()  # chunk id -> its terms, for lexical scores
        self.vectors = None  # set by load_snapshot, once this snapshot is registered as a reader
        weakref.finalize(self, _close, conn)

    @property
    def generation(self) -> int:
        return int(self.meta["generation"])

    @property
    def n_chunks(self) -> int:
        return int(self.meta["n_chunks"])

    @property
    def excluded(self) -> list[str]:
        return excluded(self.meta)

    def _query(self, sql: str, params: Iterable = ()) -> list[tuple]:
        with self._lock:
            return self._conn.execute(sql, tuple(params)).fetchall()

    def _chunks(self, ids: list[int], vectors: bool = False) -> dict[int, tuple[Chunk, np.ndarray | None]]:
        """The chunks of these ids that this generation holds (others are left out), with their vectors."""
        if not ids:
            return {}
        columns = CHUNK_COLUMNS + (", vector" if vectors else "")
        rows = self._query(f"SELECT {columns} FROM chunks WHERE id IN ({','.join('?' * len(ids))})", ids)
        try:
            return {r[0]: (chunk_of(r[:10]), _vector(r[10]) if vectors else None) for r in rows}
        except sqlite3.DatabaseError as exc:
            raise unreadable(exc, self.index_dir) from exc

    def dense(self, vector: np.ndarray, n: int) -> list[Hit]:
        if not self.n_chunks:
            return []
        ids, scores = self.vectors.search(vector, n, since=self.generation)
        found = self._chunks([int(i) for i in ids], vectors=self.vectors.kind != "flat")
        if self.vectors.kind == "flat":  # exact already
            hits = [Hit(int(i), float(s), found[int(i)][0]) for i, s in zip(ids, scores) if int(i) in found]
        else:  # the approximate candidates, scored again exactly
            query = np.asarray(vector, dtype=np.float32)
            hits = sorted((Hit(i, float(v @ query), c) for i, (c, v) in found.items()), key=lambda h: -h.score)
        return hits[:n]

    def lexical(self, terms: list[str], n: int) -> list[Hit]:
        if not self.n_chunks or not terms:
            return []
        stats = self.term_stats(terms)
        with self._lock:
            ids = local_lexical.candidates(self._conn, terms, n, stats.counts)
        found = self._chunks(ids)
        ranked = local_lexical.rescored(terms, [(i, self._terms_of(i, found[i][0])) for i in ids if i in found],
                                        stats, n)
        return [Hit(i, score, found[i][0]) for i, score in ranked]

    def _terms_of(self, chunk_id: int, chunk: Chunk) -> list[str]:
        terms = self._terms.get(chunk_id)
        if terms is None:
            terms = self._terms[chunk_id] = chunk_terms(chunk)
            while len(self._terms) > TERMS_KEPT:
                self._terms.popitem(last=False)
        return terms

    def hybrid(self, vector: np.ndarray, terms: list[str], n: int) -> None:
        return None  # retrieval fuses dense() and lexical()

    def term_stats(self, terms: Iterable[str]) -> TermStats:
        terms = list(terms)
        missing = [t for t in set(terms) if t not in self._counts]
        if missing:
            with self._lock:
                counts = local_lexical.counts(self._conn, missing)
                self._counts.update(counts)
                while len(self._counts) > TERM_COUNTS_KEPT:
                    self._counts.popitem(last=False)
        n = self.n_chunks
        average = int(self.meta["total_terms"]) / n if n else 0.0
        return TermStats(n, average, {t: self._counts.get(t, 0) for t in terms})

    def all_chunks(self) -> list[Chunk]:
        try:
            return [chunk_of(r) for r in self._query(f"SELECT {CHUNK_COLUMNS} FROM chunks ORDER BY id")]
        except sqlite3.DatabaseError as exc:
            raise unreadable(exc, self.index_dir) from exc


def _vector(blob: bytes) -> np.ndarray:
    if not isinstance(blob, bytes) or len(blob) % 4:
        raise sqlite3.DatabaseError("a stored vector has the wrong size")
    return np.frombuffer(blob, dtype=np.float32)


def _close(conn: sqlite3.Connection) -> None:
    try:
        conn.close()
    except sqlite3.Error:
        pass


def load_snapshot(index_dir: Path, expected_manifest: dict[str, str] | None, exact_below: int = 200_000
                  ) -> LocalSnapshot:
    """The newest committed generation of the index in `index_dir`, checked against the manifest."""
    db_path = index_dir / DB_NAME
    docs = expected_manifest and expected_manifest.get("docs_dir")
    if not os.path.lexists(db_path):
        build = f"citechat index{f' --docs {shlex.quote(docs)}' if docs else ''} --index {shlex.quote(str(index_dir))}"
        raise IndexNotFound(f"No index in {index_dir}. Run `{build}` to build it.")
    conn = None
    try:
        conn = connect_for_reading(db_path, shared=True)
        conn.execute("BEGIN")  # held for the snapshot's life: every read sees this generation
        meta = read_meta(conn)
        if expected_manifest is not None:
            check_manifest(meta, expected_manifest, str(index_dir))
        if int(meta.get("layout") or 2) < LAYOUT:
            raise IndexMismatch(f"The index in {index_dir} was written by an older version of citechat. "
                                f"`citechat index --index {shlex.quote(str(index_dir))}` brings it up to date in "
                                "place, without embedding anything again.")
        check_values(conn, meta)
        documents = [DocumentRecord(*r) for r in conn.execute(
            "SELECT source, title, n_chunks, size, indexed_at, hash FROM documents ORDER BY source")]
        snapshot = LocalSnapshot(index_dir, conn, meta, documents)
        snapshot.vectors = local_vectors.shared(conn, index_dir, meta, exact_below, reader=snapshot)
        return snapshot
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        raise unreadable(exc, index_dir, docs) from exc
    except BaseException:
        if conn is not None:
            conn.close()
        raise


def state_of(index_dir: Path, meta: dict[str, str]) -> str:
    """Which database file (a rebuild swaps in another) at which generation."""
    try:
        inode = os.lstat(index_dir / DB_NAME).st_ino
    except OSError:
        inode = 0
    return f"{inode}:{meta.get('generation', '')}"
