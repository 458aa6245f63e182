"""The on-disk index: one SQLite database holding documents, chunks and their vectors, plus a FAISS file.

SQLite is the single source of truth and every change is a transaction, so a crash or kill at any moment
leaves a consistent index. `vectors.faiss` is derived from it: it carries the generation it was built from
and a SHA-256 recorded in the database, and is rebuilt from the database whenever it does not match (stale,
truncated or tampered). Nothing is ever unpickled.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shlex
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .config import Settings
from .errors import CitechatError

DB_NAME = "chunks.sqlite"
FAISS_NAME = "vectors.faiss"
# 2: chunks record their section path and where their page starts; 2: chunks follow paragraphs and headings.
FORMAT_VERSION = 2
CHUNKER_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    source TEXT PRIMARY KEY, hash TEXT NOT NULL, title TEXT NOT NULL, size INTEGER NOT NULL,
    n_chunks INTEGER NOT NULL, indexed_at REAL NOT NULL, file_stat TEXT
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, ordinal INTEGER NOT NULL, title TEXT NOT NULL,
    start INTEGER NOT NULL, end INTEGER NOT NULL, page INTEGER, text TEXT NOT NULL, vector BLOB NOT NULL,
    section TEXT NOT NULL DEFAULT '', page_start INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS chunks_by_source ON chunks (source);
"""


class IndexProblem(CitechatError, RuntimeError):
    """Base for index problems the user can fix; the message says how."""


class IndexNotFound(IndexProblem):
    pass


class IndexMismatch(IndexProblem):
    pass


class IndexCorrupt(IndexProblem):
    pass


class IndexReadOnly(IndexProblem):
    pass


def rebuild_hint(index_dir: Path, docs_dir: Path | str | None = None) -> str:
    """How to rebuild this index, naming it (and its documents folder, when known)."""
    docs = f"--docs {shlex.quote(str(docs_dir))} " if docs_dir else ""
    return f"Run `citechat index {docs}--index {shlex.quote(str(index_dir))} --rebuild` to rebuild it."


def manifest_for(settings: Settings, dimension: int | None) -> dict[str, str]:
    """What an index built with these settings records; dimension None leaves it unchecked. The model and
    the documents folder are used again when the index is opened without naming them."""
    return {
        "format_version": str(FORMAT_VERSION),
        "model": settings.model,
        "dimension": "" if dimension is None else str(dimension),
        "chunk_chars": str(settings.chunk_chars),
        "overlap_chars": str(settings.overlap_chars),
        "chunker_version": str(CHUNKER_VERSION),
        "docs_dir": str(settings.docs_dir.resolve()),
    }


def unreadable(exc: BaseException, index_dir: Path, docs_dir: Path | str | None = None) -> IndexProblem:
    """The error for a database SQLite cannot open or read: a folder it may not write to is said to be
    read-only (the database may well be intact); anything else is damage, with the rebuild command."""
    kind = getattr(exc, "sqlite_errorname", "")
    if kind.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY")) and not writable(index_dir):
        return IndexReadOnly(
            f"The index in {index_dir} cannot be opened: its folder is read-only ({exc}). Make it writable, or "
            "give the documents another index with --index DIR."
        )
    return IndexCorrupt(f"The index database in {index_dir} is unreadable ({exc}). {rebuild_hint(index_dir, docs_dir)}")


def writable(folder: Path) -> bool:
    return not folder.exists() or os.access(folder, os.W_OK)


def read_only_error(exc: OSError, index_dir: Path) -> IndexReadOnly | None:
    """The error for a write refused because the index folder is read-only, immutable or not ours."""
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return IndexReadOnly(
            f"Cannot write the index in {index_dir}: {exc.strerror or exc}. Make the folder writable, or give the "
            "documents another index with --index DIR; the index was left as it was."
        )
    return None


def connect(path: Path) -> sqlite3.Connection:
    """A connection for reading and writing (SQLite errors are raised as they are)."""
    conn = sqlite3.connect(str(path), timeout=60, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    except sqlite3.DatabaseError:  # not a database at all: the first statement is where it shows
        conn.close()
        raise
    return conn


def connect_for_reading(path: Path) -> sqlite3.Connection:
    """A connection for reading; in a folder this process may not write to (read-only or immutable), the
    database is opened read-only instead of being mistaken for a damaged one."""
    try:
        return connect(path)
    except sqlite3.OperationalError:
        if writable(path.parent):
            raise
    try:  # another process has it open (its -shm file exists): read alongside it
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60, isolation_level=None)
        conn.execute("SELECT 1 FROM meta LIMIT 1")
        return conn
    except sqlite3.OperationalError:
        pass
    # Nobody can write here, so nobody changes it while we read.
    return sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True, isolation_level=None)


def create(path: Path, manifest: dict[str, str]) -> sqlite3.Connection:
    conn = connect(path)
    try:
        conn.executescript(_SCHEMA)
        if "file_stat" not in {row[1] for row in conn.execute("PRAGMA table_info(documents)")}:
            conn.execute("ALTER TABLE documents ADD COLUMN file_stat TEXT")  # indexes made before it existed
        with transaction(conn):
            for key, value in {**manifest, "generation": "0", "last_sync": ""}.items():
                conn.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))
    except BaseException:
        conn.close()
        raise
    return conn


class transaction:
    """`with transaction(conn):` runs the block in one IMMEDIATE transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        elif self.conn.in_transaction:  # SQLite may have rolled back already (a full disk does)
            self.conn.execute("ROLLBACK")


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT key, value FROM meta"))


def check_manifest(meta: dict[str, str], expected: dict[str, str], where: Path) -> None:
    """Refuse an index built by another format, model or chunking, or from another documents folder."""
    hint = rebuild_hint(where, expected.get("docs_dir"))
    found = meta.get("format_version")
    if found != expected["format_version"]:
        older = found is not None and found.isdigit() and int(found) < int(expected["format_version"])
        raise IndexMismatch(
            f"The index in {where} was written by {'an older' if older else 'another'} version of citechat "
            f"(index format {found}; this version reads format {expected['format_version']}). {hint}"
        )
    recorded, given = meta.get("docs_dir"), expected.get("docs_dir")
    if recorded and given and recorded != given:
        # Serving, syncing or removing files of another folder than the index's would act on the wrong files.
        raise IndexMismatch(
            f"The index in {where} was built from {recorded}, not {given}. Leave out --docs to use it with "
            f"{recorded}; leave out --index to give {given} an index of its own; or {hint[0].lower()}{hint[1:]}"
        )
    for key in ("model", "dimension", "chunk_chars", "overlap_chars", "chunker_version"):
        if expected[key] and meta.get(key) != expected[key]:
            raise IndexMismatch(
                f"The index in {where} was built with {key}={meta.get(key)!r}, but the current setting is "
                f"{expected[key]!r}. {hint}"
            )


def recorded_manifest(index_dir: Path) -> dict[str, str]:
    """What an existing index records about how it was built (documents folder, model, ...); empty when
    there is no index or it cannot be read (whoever opens or rebuilds it reports why)."""
    if not (index_dir / DB_NAME).exists():
        return {}
    try:
        conn = connect_for_reading(index_dir / DB_NAME)
        try:
            return read_meta(conn)
        finally:
            conn.close()
    except sqlite3.Error:
        return {}


def excluded(meta: dict[str, str]) -> list[str]:
    """Files of the documents folder removed from the index: they stay on disk and out of every sync."""
    try:
        names = json.loads(meta.get("excluded") or "[]")
    except ValueError:
        return []
    return sorted(n for n in names if isinstance(n, str)) if isinstance(names, list) else []


def set_excluded(conn: sqlite3.Connection, names: set[str]) -> None:
    set_meta(conn, "excluded", json.dumps(sorted(names), ensure_ascii=False))


def bump_generation(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


# ---------------------------------------------------------------- snapshot


@dataclass
class ChunkRecord:
    source: str
    title: str
    text: str
    start: int
    end: int
    page: int | None
    ordinal: int
    section: str = ""  # headings the chunk sits under: "Handbook › Expenses"
    page_start: int = 0  # where its page starts in the document text (0 when not paged)


@dataclass
class DocumentRecord:
    source: str
    title: str
    n_chunks: int
    size: int
    indexed_at: float
    hash: str = ""  # SHA-256 of the file's bytes when it was indexed


@dataclass
class Snapshot:
    """An immutable, fully loaded view of one generation of the index."""

    index_dir: Path
    meta: dict[str, str]
    chunks: list[ChunkRecord]
    documents: list[DocumentRecord]
    vectors: object  # faiss.Index; row i is chunks[i]

    @property
    def generation(self) -> int:
        return int(self.meta.get("generation", 0))

    @property
    def excluded(self) -> list[str]:
        return excluded(self.meta)


_MALFORMED_ROWS = """
SELECT 1 FROM chunks WHERE typeof(source) != 'text' OR typeof(title) != 'text' OR typeof(text) != 'text'
    OR typeof(start) != 'integer' OR typeof(end) != 'integer' OR typeof(ordinal) != 'integer'
    OR typeof(page) NOT IN ('integer', 'null') OR typeof(vector) != 'blob' OR typeof(section) != 'text'
    OR typeof(page_start) != 'integer'
UNION ALL
SELECT 1 FROM documents WHERE typeof(source) != 'text' OR typeof(title) != 'text'
    OR typeof(n_chunks) != 'integer' OR typeof(size) != 'integer' OR typeof(indexed_at) NOT IN ('integer', 'real')
LIMIT 1
"""


def _check_values(conn: sqlite3.Connection, meta: dict[str, str]) -> None:
    """Refuse an index whose values have the wrong types (damaged or edited) before anything uses them."""
    try:
        numbers_ok = 0 < int(meta["dimension"]) <= 65536 and int(meta["generation"]) >= 0
    except (KeyError, ValueError):
        numbers_ok = False
    if not numbers_ok or conn.execute(_MALFORMED_ROWS).fetchone():
        raise sqlite3.DatabaseError("it holds malformed values: damaged or edited")


def load_snapshot(index_dir: Path, expected_manifest: dict[str, str] | None) -> Snapshot:
    db_path = index_dir / DB_NAME
    docs = expected_manifest and expected_manifest.get("docs_dir")
    if not db_path.exists():
        build = f"citechat index{f' --docs {shlex.quote(docs)}' if docs else ''} --index {shlex.quote(str(index_dir))}"
        raise IndexNotFound(f"No index in {index_dir}. Run `{build}` to build it.")
    try:
        conn = connect_for_reading(db_path)
        try:
            conn.execute("BEGIN")  # one read transaction: every read below sees the same generation
            meta = read_meta(conn)
            if expected_manifest is not None:
                check_manifest(meta, expected_manifest, index_dir)
            _check_values(conn, meta)
            rows = conn.execute(
                "SELECT id, source, title, text, start, end, page, ordinal, section, page_start FROM chunks ORDER BY id"
            ).fetchall()
            documents = [DocumentRecord(*r) for r in conn.execute(
                "SELECT source, title, n_chunks, size, indexed_at, hash FROM documents ORDER BY source")]
            chunks = [ChunkRecord(*r[1:]) for r in rows]
            vectors = _cached_faiss(index_dir, meta, len(rows))
            if vectors is None:
                vectors = _faiss_from_db(conn, int(meta["dimension"]))
            conn.execute("COMMIT")
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        raise unreadable(exc, index_dir, docs) from exc
    return Snapshot(index_dir, meta, chunks, documents, vectors)


def current_state(index_dir: Path) -> tuple[str, str] | None:
    """(generation, FAISS stamp) of the index on disk, to tell whether another process has changed it since
    a snapshot was loaded; None when it cannot be read just now."""
    meta = recorded_manifest(index_dir)
    return (meta.get("generation", ""), meta.get("faiss_stamp", "")) if meta else None


def _cached_faiss(index_dir: Path, meta: dict[str, str], n_rows: int):
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


def _faiss_from_db(conn: sqlite3.Connection, dimension: int):
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
    index = _faiss_from_db(conn, int(meta["dimension"]))
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


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes, read in blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S")


def describe(meta: dict[str, str]) -> dict[str, str]:
    """The index's settings and state as recorded, for `citechat status --json`."""
    return {k: meta[k] for k in sorted(meta) if k not in ("faiss_stamp", "faiss_file")}
