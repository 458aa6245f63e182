"""The store interface: where an index keeps its documents, chunks and vectors, and how sync and retrieval use it.

An index holds a manifest (the model, the chunking and the documents folder it was built with), one record per
document with its content hash, and the document's chunks with their exact offsets, text and vector. `sync.py`
writes it through a `Writer`; retrieval and the bot read it through a `Snapshot` of one committed generation.
Neither knows which store holds it. Two stores implement this interface:

- `local` (stores/local.py): SQLite and FAISS files in the index folder. The default.
- `milvus` (stores/milvus/): Milvus Lite in one local folder, or a Milvus server shared by many machines.

A new backend implements `Store`, `Snapshot` and `Writer` in its own module and is named in
`stores/__init__.py`; the index tests run against every store (tests/conftest.py `STORES`). When sync or
retrieval needs something this interface does not offer, the interface changes, not the callers.
"""

from __future__ import annotations

import errno
import json
import os
import shlex
from collections import Counter
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Protocol

import numpy as np

from ...config import Settings
from ...errors import CitechatError
from ...ingest.chunking import Chunk, indexed_text
from ...ingest.files import sha256_of  # noqa: F401 - part of this module's surface
from ..terms import tokenize

# 2: chunks record their section path and where their page starts; 2: chunks follow paragraphs and headings.
FORMAT_VERSION = 2
CHUNKER_VERSION = 2
# Reciprocal rank fusion constant (Cormack et al. use 60; smaller favours the top of each list): retrieval's
# fusion and a store's own (`Snapshot.hybrid`) use the same.
RRF_K = 60

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


class StoreUnavailable(IndexProblem):
    """The store cannot be reached or opened: a bad address, a server that does not answer, refused
    credentials, a missing optional package, or a file another process holds."""


@dataclass
class DocumentRecord:
    """One indexed document, as `Bot.documents` lists it."""

    source: str  # its path relative to the documents folder
    title: str
    n_chunks: int
    size: int  # bytes of the file
    indexed_at: float  # time.time() of the sync that embedded it
    hash: str = ""  # SHA-256 of the file's bytes when it was indexed


@dataclass
class NewDocument:
    """A document read and embedded by sync, to be stored in place of any earlier version."""

    source: str
    hash: str  # SHA-256 of the file's bytes
    title: str
    size: int
    file_stat: str | None  # what identifies this version of the file without reading it (sync.file_signature)
    chunks: list[Chunk]
    vectors: np.ndarray  # float32 unit vectors, row i belongs to chunks[i]


@dataclass
class Hit:
    """A chunk found by a search. `id` is unique within the snapshot (it becomes `Passage.row`)."""

    id: int
    score: float  # the search's own score, higher is better
    chunk: Chunk
    # Filled by `Snapshot.hybrid` only: the chunk's cosine similarity to the question vector and its BM25
    # score for the question's terms on `bm25_scores`' scale (0.0 when no term matches).
    dense: float | None = None
    lexical: float | None = None


@dataclass
class TermStats:
    """What BM25 needs to know about the whole index besides one chunk: how many chunks contain each term, how
    many chunks there are and their average length in terms."""

    n_chunks: int
    average_length: float
    counts: dict[str, int] = field(default_factory=dict)  # term -> chunks containing it (0 when none)


KnownDocuments = dict[str, tuple[str, str | None]]  # source -> (content hash, file_stat)


class Snapshot(Protocol):
    """One committed generation of an index, read-only. Every method sees that generation, whatever sync does
    meanwhile: a reader never sees a document half replaced, nor any part of a step that is not committed.

    Attributes:
        meta: the manifest (see `manifest_for`) plus `docs_dir` (the folder it was built from), `generation`
            and `last_sync`; all values are strings.
        documents: every indexed document, ordered by source.
        n_chunks: how many chunks the generation holds.
        state: identifies this generation; `Store.state()` returns something else once another is committed.
    """

    meta: dict[str, str]
    documents: list[DocumentRecord]
    n_chunks: int
    state: str
    excluded: list[str]  # files of the folder removed from the index by the user (`excluded(meta)`)

    def dense(self, vector: np.ndarray, n: int) -> list[Hit]:
        """The n chunks whose vectors are nearest to `vector` (a unit vector of the index's dimension) by
        cosine similarity, best first; `Hit.score` is the similarity. A store may search an approximate
        index; bench/store.py measures its recall against exact search."""
        ...

    def lexical(self, terms: list[str], n: int) -> list[Hit]:
        """Up to n chunks containing any of `terms` (tokens made by `terms.tokenize`, repeats counted),
        best first by BM25; `Hit.score` is on `bm25_scores`' scale, so the answerer reads the same signals
        from every store. Chunks matching no term are left out."""
        ...

    def hybrid(self, vector: np.ndarray, terms: list[str], n: int) -> list[Hit] | None:
        """The store's own fusion of `dense` and `lexical` by reciprocal rank fusion (k = `RRF_K`):
        up to n chunks best first, `Hit.score` the fused score, and `Hit.dense` / `Hit.lexical` filled in.
        None when the store does not fuse searches itself; retrieval then fuses `dense` and `lexical`."""
        ...

    def term_stats(self, terms: Iterable[str]) -> TermStats:
        """How many chunks of this generation contain each of `terms`, with the chunk count and average
        length, for BM25 weights (`retrieval.Retriever.idf`) and for the answerer's signals."""
        ...

    def all_chunks(self) -> list[Chunk]:
        """Every chunk of this generation, in no particular order. This reads the whole index: meant for
        `citechat status`, tools and tests, not for answering questions."""
        ...


class Writer(Protocol):
    """Changes one index, step by step. Each of `remove` and `add` is one step: when it returns, its changes
    are committed together and a new generation is visible to readers; a step cut short (an error, a kill)
    leaves nothing behind, and the earlier steps stay. Only one writer may work on an index at a time
    (`sync.sync_lock` serialises them on one machine).

    Attributes:
        meta: what the index recorded when the writer opened it, as `Snapshot.meta`.
    """

    meta: dict[str, str]

    def documents(self) -> KnownDocuments:
        """Every indexed document: source -> (content hash, file_stat)."""
        ...

    def set_meta(self, values: dict[str, str]) -> None:
        """Record these keys with the index (e.g. `docs_dir`, `last_sync`), in one step."""
        ...

    def remove(self, sources: list[str]) -> None:
        """Take these documents and their chunks out of the index, in one step."""
        ...

    def add(self, documents: list[NewDocument]) -> None:
        """Store these documents and their chunks, replacing any earlier version of each, in one step."""
        ...

    def touch(self, file_stats: dict[str, str | None]) -> None:
        """Record new file_stat values for documents whose content did not change."""
        ...

    def counts(self) -> tuple[int, int]:
        """(documents, chunks) in the index now."""
        ...


class Store(Protocol):
    """Where one index lives. Opening a store connects nothing yet; `close()` releases what it holds.

    Attributes:
        location: how messages name the index, e.g. "index/" or "milvus:index/milvus.db (collection X)".
        shared: True when other processes or machines may write the index while this one reads it, so that a
            long-running reader should check `state()` and follow new generations.
    """

    location: str
    shared: bool

    def snapshot(self, expected: dict[str, str] | None) -> Snapshot:
        """Open the newest committed generation. `expected`: a manifest (`manifest_for`) the index must match,
        else IndexMismatch; IndexNotFound when there is no index; StoreUnavailable when the store cannot be
        reached."""
        ...

    def state(self) -> str | None:
        """The `Snapshot.state` of the newest committed generation, cheaply; None when there is no index or
        it cannot be read just now."""
        ...

    def recorded_meta(self) -> dict[str, str]:
        """What the index records (as `Snapshot.meta`) without checking it; {} when there is none or it cannot
        be read."""
        ...

    def writer(self, manifest: dict[str, str], rebuild: bool) -> AbstractContextManager[Writer]:
        """A writer for the index, created with `manifest` if there is none. IndexMismatch when an existing
        index was built with another manifest, unless `rebuild`: then a new, empty index is written beside the
        old one, and it replaces the old one only when the `with` block ends without an error, so readers keep
        the old index until the new one is complete."""
        ...

    def close(self) -> None:
        """Release connections, files and locks (idempotent)."""
        ...


def rebuild_hint(index_dir: Path | str, docs_dir: Path | str | None = None) -> str:
    """How to rebuild this index, naming it and its documents folder (a placeholder when it is not known)."""
    index = shlex.quote(str(index_dir))
    if not docs_dir:
        return (f"Run `citechat index --docs FOLDER --index {index} --rebuild` to rebuild it, FOLDER being the "
                "folder of documents it indexes.")
    return f"Run `citechat index --docs {shlex.quote(str(docs_dir))} --index {index} --rebuild` to rebuild it."


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


def check_manifest(meta: dict[str, str], expected: dict[str, str], where: str, index_dir: Path | str | None = None
                   ) -> None:
    """Refuse an index built by another format, model or chunking, or from another documents folder.
    where: how messages name the index; index_dir: the folder the rebuild command names (default: where)."""
    hint = rebuild_hint(index_dir or where, expected.get("docs_dir"))
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


def excluded(meta: dict[str, str]) -> list[str]:
    """Files of the documents folder removed from the index: they stay on disk and out of every sync."""
    try:
        names = json.loads(meta.get("excluded") or "[]")
    except ValueError:
        return []
    return sorted(n for n in names if isinstance(n, str)) if isinstance(names, list) else []


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


def chunk_terms(chunk: Chunk) -> list[str]:
    """The terms lexical search matches a chunk by: its title, section path and text, as retrieval tokenizes
    them (the same text the embedding model reads)."""
    return tokenize(indexed_text(chunk.title, chunk.section, chunk.text))


# BM25 as bm25s computes it (its "lucene" variant, k1 1.5, b 0.75), which the answer model was fitted on.
BM25_K1 = 1.5
BM25_B = 0.75


def bm25_scores(query: list[str], documents: list[list[str]], stats: TermStats) -> list[float]:
    """BM25 of each document (a list of terms) for the query terms, repeats counted, on bm25s' scale."""
    weights = {}
    for term in query:
        df = stats.counts.get(term, 0)
        if df:
            idf = float(np.log(1 + (stats.n_chunks - df + 0.5) / (df + 0.5)))
            weights[term] = weights.get(term, 0.0) + idf
    scores = []
    for terms in documents:
        norm = BM25_K1 * (1 - BM25_B + BM25_B * len(terms) / (stats.average_length or 1.0))
        counts = Counter(terms)
        scores.append(sum(weight * counts[term] / (counts[term] + norm) for term, weight in weights.items()
                          if counts[term]))
    return scores


def describe(meta: dict[str, str]) -> dict[str, str]:
    """The index's settings and state as recorded, for `citechat status --json` (private bookkeeping left out)."""
    return {k: meta[k] for k in sorted(meta) if not k.startswith("faiss_")}
