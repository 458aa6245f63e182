"""The Python API: one object per index, used by the CLI, the UI and outside code alike."""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Iterator

from .answering.chat import History, clean_question, condense
from .answering.extractive import ExtractiveAnswerer
from .answering.llm import LLMAnswerer, check_spec, failure, make_chat_model
from .answering.retrieval import Passage, Retriever
from .answering.types import Answer, final_answer, locate
from .config import Settings
from .errors import CitechatError
from .index.embeddings import Embedder
from .index.stores import open_store
from .index.stores.base import DocumentRecord, Snapshot, manifest_for
from .index.sync import Progress, SyncReport, sync_index
from .index.which import settings_for_index
from .ingest.document import Document, UnreadableFile
from .ingest.files import sha256_of_handle
from .ingest.folder import find_file
from .ingest.limits import ReadLimits
from .ingest.process import FileReader

# How often a bot reading a shared store (a Milvus server) looks for a generation another process committed.
FOLLOW_SECONDS = 1.0
# Documents whose text `Bot.document` keeps: reading around a citation asks for the same document again and
# again, and a PDF takes a reader process and seconds to read.
DOCUMENTS_KEPT = 4


class DocumentUnavailable(CitechatError, LookupError):
    """The text of a document cannot be given: it is not in the index, or its file has changed or gone."""


class Bot:
    """Answers questions from one index. Searches always see one complete generation of the index:
    a sync builds the next one and `reload()` swaps it in atomically. On a store other processes write (a
    Milvus server), the bot follows the generations they commit, checking at most once a second."""

    def __init__(self, settings: Settings, embedder: Embedder | None = None, llm=None) -> None:
        """llm: a LangChain chat model, or a CITECHAT_LLM-style spec; default: settings.llm (None: no LLM,
        the grounded extractive answerer). Refuses an index built from another documents folder than
        settings.docs_dir, or with another model."""
        self.settings = settings
        self._llm = llm if llm is not None else settings.llm
        if isinstance(self._llm, str):
            check_spec(self._llm)
        self.embedder = embedder or Embedder(settings.model)
        self.store = open_store(settings)
        self._swap = threading.Lock()
        self._checked = time.monotonic()
        try:
            self._retriever = self._load()
        except BaseException:
            self.store.close()
            raise
        self._llm_answerer = None
        self._texts: OrderedDict[tuple[str, str], Document] = OrderedDict()  # (source, content hash) -> Document
        self._texts_lock = threading.Lock()

    def _load(self) -> Retriever:
        expected = manifest_for(self.settings, None)
        if not self.settings.docs_known:  # an index that cannot say its folder: no folder is checked or named
            expected["docs_dir"] = ""
        return Retriever(self.store.snapshot(expected), self.embedder)

    @property
    def llm_spec(self) -> str | None:
        """The CITECHAT_LLM-style spec of the LLM that writes the answers (None: none, or a model object)."""
        return self._llm if isinstance(self._llm, str) else None

    def reload(self) -> None:
        retriever = self._load()
        with self._swap:
            self._retriever = retriever

    def reload_if_changed(self) -> bool:
        """Serve the index's newest generation if another process (or a sync) has written one since."""
        state = self.store.state()
        if state is None or state == self.snapshot.state:
            return False
        self.reload()
        return True

    def _follow(self) -> None:
        """Serve the newest generation of a shared store (at most one check per FOLLOW_SECONDS)."""
        if not self.store.shared or time.monotonic() - self._checked < FOLLOW_SECONDS:
            return
        self._checked = time.monotonic()
        self.reload_if_changed()

    def sync(self, rebuild: bool = False, progress: Progress | None = None, **kwargs) -> SyncReport:
        """Synchronise the index with the documents folder, then serve the new generation. kwargs: those of
        `sync_index` (notify, wait, exclude, include)."""
        report = sync_index(self.settings, rebuild=rebuild, embedder=self.embedder, progress=progress,
                            store=self.store, **kwargs)
        self.reload()
        return report

    def remove_from_index(self, source: str) -> SyncReport:
        """Take a document out of the index and keep it out of later syncs; its file stays where it is."""
        return self.sync(exclude=[source])

    def add_back(self, source: str) -> SyncReport:
        """Index again a file that was removed from the index."""
        return self.sync(include=[source])

    def close(self) -> None:
        """Release the store (a Milvus Lite file can then be opened by another process)."""
        self.store.close()

    @property
    def retriever(self) -> Retriever:
        with self._swap:
            return self._retriever

    @property
    def snapshot(self) -> Snapshot:
        return self.retriever.snapshot

    @property
    def n_chunks(self) -> int:
        return self.snapshot.n_chunks

    @property
    def n_documents(self) -> int:
        return len(self.snapshot.documents)

    @property
    def documents(self) -> list[DocumentRecord]:
        return self.snapshot.documents

    def document(self, source: str) -> Document:
        """An indexed document as the index read it: `Source.start`/`end` and `Passage.start`/`end` are
        offsets into its `text`. Only a document of the index, by its `source` name, read from inside the
        documents folder; DocumentUnavailable for any other name, or when the file has changed since it was
        indexed (the offsets would no longer hold)."""
        record = next((d for d in self.documents if d.source == source), None)
        if record is None:
            raise DocumentUnavailable(f"“{source}” is not a document of this index; `citechat status` lists them.")
        if not self.settings.docs_known:
            raise DocumentUnavailable("This index does not record its documents folder: open it with its folder "
                                      "(--docs DIR) to read its documents.")
        docs = self.settings.docs_dir
        try:
            listed = find_file(docs, source)
            with listed.open(docs.resolve()) as handle:
                key = (source, sha256_of_handle(handle))
                if key[1] != record.hash:
                    raise DocumentUnavailable(f"“{source}” has changed since it was indexed; sync the index "
                                              "(`citechat index`, or wait for a running server to) and ask again.")
                with self._texts_lock:
                    kept = self._texts.get(key)
                if kept is None:
                    with FileReader(ReadLimits.of(self.settings)) as reader:
                        kept = reader.read(handle, listed.name, source)
                    self._keep(key, kept)
        except (OSError, UnreadableFile) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise DocumentUnavailable(f"“{source}” cannot be read from {docs} now ({reason}); sync the index if "
                                      "it was moved or deleted.") from exc
        return kept

    def _keep(self, key: tuple[str, str], document: Document) -> None:
        with self._texts_lock:
            self._texts[key] = document
            self._texts.move_to_end(key)
            while len(self._texts) > DOCUMENTS_KEPT:
                self._texts.popitem(last=False)

    def retrieve(self, question: str, k: int = 5, mode: str = "hybrid") -> list[Passage]:
        """The k passages that best match the question, best first."""
        self._follow()
        return self.retriever.search(question, k=k, mode=mode)

    def answer(self, question: str, history: History | None = None, k: int = 5) -> Answer:
        """Answer from the documents, citing each statement; `refused` is set when they do not answer it."""
        return final_answer(self.stream(question, history, k=k))

    def as_retriever(self, k: int = 5):
        """A LangChain BaseRetriever over the same hybrid retrieval."""
        from .integrations import CitechatRetriever  # here: LangChain is slow to import, and few callers want it

        return CitechatRetriever(bot=self, k=k)

    @property
    def llm_answerer(self):
        """The LLM answerer when an LLM is configured (built on first use), else None."""
        if self._llm is not None and self._llm_answerer is None:
            model = make_chat_model(self._llm) if isinstance(self._llm, str) else self._llm
            self._llm_answerer = LLMAnswerer(model, self.settings.prompts_dir, self.embedder)
        return self._llm_answerer

    def stream(self, question: str, history: History | None = None, k: int = 5, extractive: bool = False
               ) -> Iterator[str | Answer]:
        """Yield the answer text as it is produced, then the final Answer. extractive: quote the documents even
        when an LLM is configured (raises LLMFailed, a CitechatError, when the LLM does not answer)."""
        started = time.perf_counter()
        self._follow()
        cleaned = standalone = clean_question(question)
        if not re.search(r"\w", cleaned):
            result = Answer(question=question, text="Please type a question about your documents.", refused=True)
            yield result.text
        elif not extractive and self.llm_answerer is not None:
            retriever = self.retriever  # one generation of the index for the whole answer
            try:
                standalone = self.llm_answerer.condense(cleaned, history)
                passages = retriever.search(standalone, k=k)
                for piece in self.llm_answerer.stream(standalone, passages):
                    if isinstance(piece, Answer):
                        result = locate(piece, passages)
                    else:
                        yield piece
            except CitechatError:
                raise
            except Exception as exc:  # the server is down, the key refused, the model broken: say which
                raise failure(exc, self._llm) from exc
        else:
            retriever = self.retriever
            standalone = condense(cleaned, history)
            passages = retriever.search(standalone, k=k)
            result = locate(ExtractiveAnswerer(retriever).answer(standalone, passages), passages)
            for piece in re.split(r"(?<=\]) ", result.text):
                yield piece if piece is result.text else piece + " "
        result.standalone_question = result.standalone_question or standalone
        result.question = question
        result.seconds = round(time.perf_counter() - started, 4)
        yield result


def open_index(index_dir: str | Path | None = None, docs_dir: str | Path | None = None, llm=None, **overrides) -> Bot:
    """Open a built index: index_dir, else the documents folder's own index (see `settings_for_index`; with
    neither, the project's index/ of seeds/). A docs_dir other than the one the index was built from is
    refused (IndexMismatch). llm: a LangChain chat model or a CITECHAT_LLM-style spec; default $CITECHAT_LLM,
    else no LLM.
    overrides: Settings fields, e.g. store="milvus:index/milvus.db" (default $CITECHAT_STORE, else local)."""
    return Bot(settings_for_index(index_dir, docs_dir, **overrides), llm=llm)


def build_index(
    docs_dir: str | Path | None = None,
    index_dir: str | Path | None = None,
    rebuild: bool = False,
    progress: Progress | None = None,
    **overrides,
) -> SyncReport:
    """Synchronise the index in index_dir with the documents in docs_dir; returns what changed.
    overrides: Settings fields, e.g. store="milvus:index/milvus.db" (default $CITECHAT_STORE, else local)."""
    return sync_index(settings_for_index(index_dir, docs_dir, **overrides), rebuild=rebuild, progress=progress)


def answer(question: str, history: History | None = None) -> Answer:
    """Answer a question from the default index."""
    return _default_bot().answer(question, history)


_default: Bot | None = None


def _default_bot() -> Bot:
    global _default
    if _default is None:
        _default = open_index()
    return _default
