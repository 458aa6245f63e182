"""The Python API: one object per index, used by the CLI, the UI and outside code alike."""

from __future__ import annotations

import threading
from pathlib import Path

from . import store
from .config import Settings, settings as make_settings
from .embeddings import Embedder
from .retrieval import Passage, Retriever
from .sync import Progress, SyncReport, sync_index


class Bot:
    """Answers questions from one index. Searches always see one complete generation of the index:
    a sync builds the next one on disk and `reload()` swaps it in atomically."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None) -> None:
        self.settings = settings
        self.embedder = embedder or Embedder(settings.model)
        self._swap = threading.Lock()
        self._retriever = self._load()

    def _load(self) -> Retriever:
        snapshot = store.load_snapshot(self.settings.index_dir, store.manifest_for(self.settings, None))
        return Retriever(snapshot, self.embedder)

    def reload(self) -> None:
        retriever = self._load()
        with self._swap:
            self._retriever = retriever

    def sync(self, rebuild: bool = False, progress: Progress | None = None, **kwargs) -> SyncReport:
        """Synchronise the index with the documents folder, then serve the new generation."""
        report = sync_index(self.settings, rebuild=rebuild, embedder=self.embedder, progress=progress, **kwargs)
        self.reload()
        return report

    @property
    def retriever(self) -> Retriever:
        with self._swap:
            return self._retriever

    @property
    def snapshot(self) -> store.Snapshot:
        return self.retriever.snapshot

    @property
    def n_chunks(self) -> int:
        return len(self.snapshot.chunks)

    @property
    def n_documents(self) -> int:
        return len(self.snapshot.documents)

    @property
    def documents(self) -> list[store.DocumentRecord]:
        return self.snapshot.documents

    def retrieve(self, question: str, k: int = 5, mode: str = "hybrid") -> list[Passage]:
        """The k passages that best match the question, best first."""
        return self.retriever.search(question, k=k, mode=mode)


def open_index(index_dir: str | Path | None = None, docs_dir: str | Path | None = None, **overrides) -> Bot:
    """Open a built index (default: the project's index/ for seeds/, or $CITECHAT_INDEX)."""
    return Bot(make_settings(index_dir=index_dir, docs_dir=docs_dir, **overrides))


def build_index(
    docs_dir: str | Path | None = None,
    index_dir: str | Path | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
    **overrides,
) -> SyncReport:
    """Synchronise the index in index_dir with the documents in docs_dir; returns what changed."""
    return sync_index(make_settings(index_dir=index_dir, docs_dir=docs_dir, **overrides), rebuild=rebuild, progress=progress)
