"""Bring the index in line with a documents folder, embedding only what is new or changed."""

from __future__ import annotations

import fcntl
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np

from ..config import Settings
from ..ingest.chunking import Chunk, chunk_document, indexed_text
from ..ingest.document import UnreadableFile
from ..ingest.files import UnsafeFile, sha256_of_handle
from ..ingest.folder import Skipped, find_files, folder_not_found
from ..ingest.formats import SUFFIXES
from ..ingest.limits import ReadLimits
from ..ingest.process import FileReader
from .embeddings import Embedder
from .stores import base, open_store
from .stores.base import IndexProblem, NewDocument, Store, Writer

# Documents are embedded and committed together once this many chunks are pending.
BATCH_CHUNKS = 256

Progress = Callable[[str, int, int], None]  # (stage, done, total)
SCANNING = "reading scanned pages"  # the stage of a file's pages read by OCR, in pages


@dataclass
class SyncReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)  # in the folder, but removed from the index by the user
    chunks: int = 0  # chunks in the index after the sync
    documents: int = 0  # documents in the index after the sync
    embedded: int = 0  # texts sent to the embedding model by this sync
    seconds: float = 0.0

    def summary(self) -> str:
        left_out = f", {len(self.excluded)} kept out of the index by choice" if self.excluded else ""
        return (
            f"{len(self.added)} added, {len(self.updated)} updated, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped{left_out}; "
            f"index holds {plural(self.documents, 'document')} in {plural(self.chunks, 'chunk')} "
            f"({plural(self.embedded, 'chunk')} embedded, {self.seconds:.1f}s)"
        )

    def warning(self, docs_dir: Path) -> str | None:
        """What to tell the user when the folder gave the index nothing to hold."""
        if self.documents:
            return None
        found = "only files it cannot use" if self.skipped else "no files"
        return (f"{docs_dir} has {found}: the index is empty. Put documents of a supported type "
                f"({' '.join(SUFFIXES)}) in it, or pass --docs with another folder.")


def plural(n: int, word: str) -> str:
    """"1 document", "2 documents"."""
    return f"{n:,} {word}{'' if n == 1 else 's'}"


class SyncBusy(IndexProblem):
    pass


@contextmanager
def sync_lock(index_dir: Path, wait: bool, notify: Callable[[str], None]) -> Iterator[None]:
    """Only one sync may write an index at a time; others wait (or are refused when wait=False)."""
    try:
        index_dir.mkdir(parents=True, exist_ok=True)
        handle = open(index_dir / ".lock", "a")  # "a": never truncate whatever it may point to
    except OSError as exc:
        raise (base.read_only_error(exc, index_dir) or exc) from exc
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise SyncBusy(f"Another sync is updating {index_dir}; try again when it has finished.") from None
            notify(f"Another sync is updating {index_dir}; waiting for it to finish...")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def sync_running(index_dir: Path) -> bool:
    """Is a sync (of any process) writing this index right now?"""
    try:
        with open(index_dir / ".lock", "rb") as handle:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:  # no lock file: no sync has ever run here
        return False
    return False


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
    exclude: Iterable[str] = (),
    include: Iterable[str] = (),
    store: Store | None = None,
) -> SyncReport:
    """Bring the index in line with the documents folder. exclude: files to remove from the index and keep
    out of later syncs (they stay on disk); include: such files to take back in. store: the open store of
    these settings (default: opened here and closed at the end)."""
    started = time.perf_counter()
    embedder = embedder or Embedder(settings.model)
    progress = progress or (lambda stage, done, total: None)
    report = SyncReport()
    if not settings.docs_dir.is_dir():  # checked before anything is written: no empty index is left behind
        raise folder_not_found(settings.docs_dir)
    manifest = base.manifest_for(settings, embedder.dimension)  # loads the model: its errors come first
    if not embedder.prepared():
        notify("Preparing the embedding model for this CPU (first use only; about 20 s)...")
    target = store or open_store(settings)
    try:
        with sync_lock(settings.index_dir, wait, notify):
            kept_out = set(_previous_exclusions(target, manifest) if rebuild else ())
            with target.writer(manifest, rebuild) as writer:
                kept_out = (kept_out | set(base.excluded(writer.meta)) | set(exclude)) - set(include)
                # A file removed from the index and then deleted from the folder is forgotten.
                kept_out = {name for name in kept_out if os.path.lexists(settings.docs_dir / name)}
                writer.set_meta({"excluded": json.dumps(sorted(kept_out), ensure_ascii=False)})
                before_embedded = embedder.texts_embedded
                with FileReader(ReadLimits.of(settings)) as reader:  # one hostile file costs its limits, no more
                    _apply_changes(writer, settings, embedder, report, progress, reader, kept_out)
                report.embedded = embedder.texts_embedded - before_embedded
                writer.set_meta({"last_sync": time.strftime("%Y-%m-%d %H:%M:%S")})
                report.documents, report.chunks = writer.counts()
    finally:
        if store is None:
            target.close()
    report.seconds = time.perf_counter() - started
    return report


def _previous_exclusions(target: Store, manifest: dict[str, str]) -> list[str]:
    """A rebuild of the same folder keeps the files removed from the index out of the new one too."""
    meta = target.recorded_meta()
    return base.excluded(meta) if meta.get("docs_dir") == manifest["docs_dir"] else []


def _apply_changes(writer: Writer, settings: Settings, embedder: Embedder, report: SyncReport, progress: Progress,
                   reader: FileReader, kept_out: set[str]) -> None:
    files, skipped = find_files(settings.docs_dir)
    for item in skipped:
        _skip(report, item)
    report.excluded = [listed.source for listed in files if listed.source in kept_out]
    files = [listed for listed in files if listed.source not in kept_out]
    known = writer.documents()
    present = {listed.source for listed in files}
    trust_before = time.time_ns() - TRUST_AFTER_NS

    gone = sorted(set(known) - present)
    if gone:
        writer.remove(gone)
        report.removed.extend(gone)

    max_bytes = settings.max_file_mb * 1024 * 1024
    pending: list[tuple[str, str, int, str | None, str, list[Chunk]]] = []  # (source, hash, size, signature, title, chunks)
    touched: dict[str, str | None] = {}  # source -> signature: same content, new file metadata
    pending_chunks = 0
    root = settings.docs_dir.resolve()
    for done, listed in enumerate(files, start=1):
        progress("reading", done, len(files))
        source = listed.source
        too_large = UnreadableFile(f"larger than the {settings.max_file_mb:g} MB limit (set CITECHAT_MAX_FILE_MB "
                                   "to raise it)")
        known_digest, known_signature = known.get(source, (None, None))
        listed_signature = file_signature(listed.info, trust_before)
        if listed_signature is not None and listed_signature == known_signature:
            report.unchanged.append(source)  # not even opened: a large folder costs one listing
            continue
        try:
            if listed.size > max_bytes:
                raise too_large  # without opening it
            # Opened once, following no link, and read only through this handle (the reader process too).
            with listed.open(root) as handle:
                stat = os.fstat(handle.fileno())
                size = stat.st_size
                if size > max_bytes:
                    raise too_large
                signature = file_signature(stat, trust_before)
                if signature is not None and signature == known_signature:
                    report.unchanged.append(source)  # not read at all
                    continue
                digest = sha256_of_handle(handle)
                if digest == known_digest:
                    report.unchanged.append(source)
                    if signature != known_signature:
                        touched[source] = signature
                    continue
                doc = reader.read(handle, listed.name, source,
                                  lambda done, total: progress(SCANNING, done, total))
        except (UnreadableFile, OSError) as exc:
            _skip(report, Skipped(source, _reason(exc)))
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


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnreadableFile):
        return str(exc)
    if isinstance(exc, UnsafeFile):
        return f"changed while it was being indexed ({exc}); the next sync reads it again"
    return f"cannot read file: {exc.strerror or exc}"


def _skip(report: SyncReport, item: Skipped) -> None:
    report.skipped.append(item)  # the caller says what was skipped, once the sync is done


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
