"""Bring the index in line with a documents folder, embedding only what is new or changed."""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from .config import Settings
from .documents import Chunk, Skipped, UnreadableFile, chunk_document, find_files, indexed_text
from .embeddings import Embedder
from .stores import base, open_store
from .stores.base import IndexMismatch, IndexProblem, NewDocument, Store, Writer
from .reader_process import FileReader
from .readers import ReadLimits

# Documents are embedded and committed together once this many chunks are pending.
BATCH_CHUNKS = 256

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks: int = 0  # chunks in the index after the sync
    documents: int = 0  # documents in the index after the sync
    embedded: int = 0  # texts sent to the embedding model by this sync
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped; "
            f"index holds {self.documents} documents in {self.chunks} chunks "
            f"({self.embedded} chunks embedded, {self.seconds:.1f}s)"
        )


class SyncBusy(IndexProblem):
    pass


@contextmanager
def sync_lock(index_dir: Path, wait: bool, notify: Callable[[str], None]) -> Iterator[None]:
    """Only one sync may write an index at a time; others wait (or are refused when wait=False)."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".lock", "a") as handle:  # "a": never truncate whatever it may point to
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise SyncBusy(f"Another sync is updating {index_dir}; try again when it has finished.") from None
            notify(f"Another sync is updating {index_dir}; waiting for it to finish...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


# File metadata is trusted to show a file unchanged only once it is older than this: a file written just
# before a sync could change again within the same clock tick (or a coarse file system's timestamp).
TRUST_AFTER_NS = 2_000_000_000


def file_signature(stat: os.stat_result, trust_before: int) -> str | None:
    """What identifies a file's current version without reading it: size, modification and change times,
    inode (as git does; the change time cannot be set back by `touch` or `cp -p`). None when too recent to
    trust, so the file is hashed again at the next sync."""
    if max(stat.st_mtime_ns, stat.st_ctime_ns) >= trust_before:
        return None
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:{stat.st_ino}"


def embedding_text(chunk: Chunk) -> str:
    # The title and section path give every chunk the context of what its part of the document is about.
    return indexed_text(chunk.title, chunk.section, chunk.text)


def sync_index(
    settings: Settings,
    rebuild: bool = False,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    notify: Callable[[str], None] = lambda message: None,
    wait: bool = True,
    store: Store | None = None,
) -> SyncReport:
    """Bring the index in line with the documents folder. store: the open store of these settings (default:
    opened here and closed at the end)."""
    started = time.perf_counter()
    embedder = embedder or Embedder(settings.model)
    progress = progress or (lambda stage, done, total: None)
    report = SyncReport()
    if not settings.docs_dir.is_dir():  # checked before anything is written: no empty index is left behind
        raise FileNotFoundError(f"Documents folder not found: {settings.docs_dir}. Create it or pass --docs DIR.")
    target = store or open_store(settings)
    try:
        with sync_lock(settings.index_dir, wait, notify):
            manifest = base.manifest_for(settings, embedder.dimension)
            with target.writer(manifest, rebuild) as writer:
                docs = str(settings.docs_dir.resolve())
                if writer.meta.get("docs_dir", docs) != docs:
                    # Syncing another folder into this index would delete every document it holds.
                    recorded = writer.meta["docs_dir"]
                    raise IndexMismatch(
                        f"The index in {target.location} was built from {recorded}. Pass --docs {recorded} "
                        f"to update it, or add --rebuild to rebuild it from {settings.docs_dir}."
                    )
                writer.set_meta({"docs_dir": docs})
                before_embedded = embedder.texts_embedded
                with FileReader(ReadLimits.of(settings)) as reader:  # one hostile file costs its limits, no more
                    _apply_changes(writer, settings, embedder, report, progress, notify, reader)
                report.embedded = embedder.texts_embedded - before_embedded
                writer.set_meta({"last_sync": time.strftime("%Y-%m-%d %H:%M:%S")})
                report.documents, report.chunks = writer.counts()
    finally:
        if store is None:
            target.close()
    report.seconds = time.perf_counter() - started
    return report


def _apply_changes(writer: Writer, settings: Settings, embedder: Embedder, report: SyncReport, progress: Progress,
                   notify, reader: FileReader) -> None:
    files, skipped = find_files(settings.docs_dir)
    for item in skipped:
        _skip(report, notify, item)
    known = writer.documents()
    present = {source for source, _ in files}
    trust_before = time.time_ns() - TRUST_AFTER_NS

    gone = sorted(set(known) - present)
    if gone:
        writer.remove(gone)
        report.removed.extend(gone)

    max_bytes = settings.max_file_mb * 1024 * 1024
    pending: list[tuple[str, str, int, str | None, str, list[Chunk]]] = []  # (source, hash, size, signature, title, chunks)
    touched: dict[str, str | None] = {}  # source -> signature: same content, new file metadata
    pending_chunks = 0
    for done, (source, path) in enumerate(files, start=1):
        progress("reading", done, len(files))
        try:
            stat = path.stat()
            size = stat.st_size
            if size > max_bytes:
                raise UnreadableFile(
                    f"larger than the {settings.max_file_mb:g} MB limit (set CITECHAT_MAX_FILE_MB to raise it)"
                )
            signature = file_signature(stat, trust_before)
            known_digest, known_signature = known.get(source, (None, None))
            if signature is not None and signature == known_signature:
                report.unchanged.append(source)  # not read at all
                continue
            digest = base.sha256_of(path)
            if digest == known_digest:
                report.unchanged.append(source)
                if signature != known_signature:
                    touched[source] = signature
                continue
            doc = reader.read(path, source)
        except (UnreadableFile, OSError) as exc:
            _skip(report, notify, Skipped(source, str(exc) if isinstance(exc, UnreadableFile) else f"cannot read file: {exc}"))
            if source in known:  # its indexed content is stale now
                writer.remove([source])
            continue
        chunks = chunk_document(doc, settings.chunk_chars, settings.overlap_chars)
        (report.updated if source in known else report.added).append(source)
        pending.append((source, digest, size, signature, doc.title, chunks))
        pending_chunks += len(chunks)
        if pending_chunks >= BATCH_CHUNKS:
            _commit(writer, embedder, pending, progress)
            pending, pending_chunks = [], 0
    if pending:
        _commit(writer, embedder, pending, progress)
    if touched:
        writer.touch(touched)


def _skip(report: SyncReport, notify, item: Skipped) -> None:
    report.skipped.append(item)
    notify(f"skipped {item.source}: {item.reason}")


def _commit(writer: Writer, embedder: Embedder, pending, progress: Progress) -> None:
    """Embed the pending documents' chunks and store them in one step."""
    texts = [embedding_text(c) for *_, chunks in pending for c in chunks]
    batches = [np.zeros((0, embedder.dimension), dtype=np.float32)]
    step = 512
    for i in range(0, len(texts), step):
        progress("embedding", i, len(texts))
        batches.append(embedder.encode(texts[i : i + step]))
    progress("embedding", len(texts), len(texts))
    vectors = np.concatenate(batches)
    documents, at = [], 0
    for source, digest, size, signature, title, chunks in pending:
        documents.append(NewDocument(source, digest, title, size, signature, chunks, vectors[at : at + len(chunks)]))
        at += len(chunks)
    writer.add(documents)
