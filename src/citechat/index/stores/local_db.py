"""The local store's SQLite database: its schema, connections, transactions and the meta table."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from ...ingest.files import kind_of
from ...ingest.chunking import Chunk
from . import local_lexical
from .base import IndexCorrupt, IndexProblem, IndexReadOnly, rebuild_hint, writable

DB_NAME = "chunks.sqlite"

# The layout of this store's tables (the manifest's FORMAT_VERSION is about what an index holds, for every store):
# 3 adds the lexical index (`lexical`, SQLite FTS5, over the terms `chunk_terms` gives, with how many chunks hold
# each term in `term_counts`) and the log of chunk ids added and removed per generation (`changes`), which lets a
# reader bring its vector index up to date by delta.
LAYOUT = 3

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
# Terms are citechat's own tokens (`terms.tokenize`), written space-separated: FTS5 only splits them again.
_LEXICAL = """
CREATE VIRTUAL TABLE IF NOT EXISTS lexical USING fts5(
    terms, content='', tokenize="unicode61 remove_diacritics 0 tokenchars '_'");
CREATE TABLE IF NOT EXISTS term_counts (term TEXT PRIMARY KEY, chunks INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS changes (generation INTEGER NOT NULL, id INTEGER NOT NULL, added INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS changes_by_generation ON changes (generation);
"""
CHUNK_COLUMNS = "id, source, title, text, start, end, page, ordinal, section, page_start"


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


def check_regular(path: Path) -> None:
    """Refuse a database path that is a link or a special file (a named pipe, a device): SQLite would follow
    it or wait on it. IndexCorrupt with what to do."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISREG(info.st_mode):
        raise IndexCorrupt(f"{path} is {kind_of(info.st_mode)}, not the index database. Move it away and rebuild: "
                           f"{rebuild_hint(path.parent)[0].lower()}{rebuild_hint(path.parent)[1:]}")


def connect(path: Path, shared: bool = False) -> sqlite3.Connection:
    """A connection for reading and writing (SQLite errors are raised as they are); shared: usable from other
    threads than this one (its user serialises the calls)."""
    check_regular(path)
    conn = sqlite3.connect(str(path), timeout=60, isolation_level=None, check_same_thread=not shared)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
    except sqlite3.DatabaseError:  # not a database at all: the first statement is where it shows
        conn.close()
        raise
    return conn


def connect_for_reading(path: Path, shared: bool = False) -> sqlite3.Connection:
    """A connection for reading (shared: as for `connect`); in a folder this process may not write to
    (read-only or immutable), the database is opened read-only instead of being mistaken for a damaged one."""
    try:
        return connect(path, shared)
    except sqlite3.OperationalError:
        if writable(path.parent):
            raise
    try:  # another process has it open (its -shm file exists): read alongside it
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=60, isolation_level=None,
                               check_same_thread=not shared)
        conn.execute("SELECT 1 FROM meta LIMIT 1")
        return conn
    except sqlite3.OperationalError:
        pass
    # Nobody can write here, so nobody changes it while we read.
    return sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True, isolation_level=None,
                           check_same_thread=not shared)


def create(path: Path, manifest: dict[str, str]) -> sqlite3.Connection:
    """A connection to the database at `path`, created with `manifest` if it is new, its layout brought up to
    LAYOUT if it is older (see `upgrade`)."""
    conn = connect(path)
    try:
        fresh = not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'meta'").fetchone()
        conn.executescript(_SCHEMA + (_LEXICAL if fresh else ""))
        if "file_stat" not in {row[1] for row in conn.execute("PRAGMA table_info(documents)")}:
            conn.execute("ALTER TABLE documents ADD COLUMN file_stat TEXT")  # indexes made before it existed
        with transaction(conn):
            defaults = {"generation": "0", "last_sync": "", "layout": str(LAYOUT) if fresh else "2",
                        "next_chunk_id": "1", "n_chunks": "0", "total_terms": "0"}
            for key, value in {**manifest, **defaults}.items():
                conn.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))
        if int(read_meta(conn).get("layout") or 2) < LAYOUT:
            upgrade(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def upgrade(conn: sqlite3.Connection, batch: int = 2_000) -> None:
    """Bring an index of layout 2 to layout 3 in place, in one transaction: the lexical index and the counts
    are made from the stored chunks (nothing is embedded again), and new chunk ids never reuse old ones."""
    with transaction(conn):
        for statement in _LEXICAL.strip().split(";"):
            if statement.strip():
                conn.execute(statement)
        total = last = 0
        while rows := conn.execute(f"SELECT {CHUNK_COLUMNS} FROM chunks WHERE id > ? ORDER BY id LIMIT ?",
                                   (last, batch)).fetchall():
            total += local_lexical.add(conn, [(row[0], chunk_of(row)) for row in rows])
            last = rows[-1][0]
        n, top = conn.execute("SELECT COUNT(*), COALESCE(MAX(id), 0) FROM chunks").fetchone()
        for key, value in (("n_chunks", n), ("total_terms", total), ("next_chunk_id", top + 1), ("layout", LAYOUT)):
            set_meta(conn, key, str(value))


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


def read_recorded_meta(index_dir: Path) -> dict[str, str]:
    """What an existing index records, unchecked; {} when there is none or it cannot be read."""
    if not os.path.lexists(index_dir / DB_NAME):
        return {}
    try:
        conn = connect_for_reading(index_dir / DB_NAME)
        try:
            return read_meta(conn)
        finally:
            conn.close()
    except (sqlite3.Error, IndexCorrupt):
        return {}  # a damaged index: whoever opens or rebuilds it reports that


def bump_generation(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'")


def set_meta(conn: sqlite3.Connection, key: str, value: str) -> None:
    conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))


_CHUNK_TYPES = (int, str, str, str, int, int, (int, type(None)), int, str, int)


def chunk_of(row: tuple) -> Chunk:
    """The chunk of a `SELECT {CHUNK_COLUMNS}` row; a value of the wrong type (a damaged or edited database)
    raises sqlite3.DatabaseError, which callers report with the rebuild command."""
    if len(row) != len(_CHUNK_TYPES) or not all(isinstance(v, t) for v, t in zip(row, _CHUNK_TYPES)):
        raise sqlite3.DatabaseError("it holds malformed values: damaged or edited")
    return Chunk(*row[1:])


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
# Up to this many chunks, every value is checked when the index is opened (a few tens of milliseconds);
# beyond, opening would read the whole table, so each chunk is checked as it is read (`chunk_of`).
CHECK_ALL_BELOW = 100_000


def check_values(conn: sqlite3.Connection, meta: dict[str, str]) -> None:
    """Refuse an index whose values have the wrong types (damaged or edited) before anything uses them."""
    try:
        ok = (0 < int(meta["dimension"]) <= 65536 and int(meta["generation"]) >= 0
              and int(meta["n_chunks"]) >= 0 and int(meta["total_terms"]) >= 0 and int(meta["next_chunk_id"]) > 0)
    except (KeyError, ValueError):
        ok = False
    if not ok or (int(meta["n_chunks"]) < CHECK_ALL_BELOW and conn.execute(_MALFORMED_ROWS).fetchone()):
        raise sqlite3.DatabaseError("it holds malformed values: damaged or edited")
