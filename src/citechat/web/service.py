"""What every served surface does, without any web framework: answer (whole or streamed), search, add and
remove documents, sync. The chat window, its `/ask` endpoint, the OpenAI-compatible API and the MCP server all
call one `ChatService`, shared by every browser session and client."""

from __future__ import annotations

import os
import re
import shutil
import threading
import unicodedata
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..answering.retrieval import Passage
from ..answering.types import Answer, final_answer
from ..bot import Bot
from ..config import Settings
from ..errors import BadRequest, CitechatError, log_line
from ..question_limits import check_limits
from ..index.stores.base import IndexNotFound
from ..answering.llm import LLMFailed
from ..index.sync import SyncReport, sync_index
from ..ingest.folder import Skipped
from ..ingest.files import open_regular, sha256_of, sha256_of_handle
from ..ingest.formats import SUFFIXES
from . import upload_folder

UPLOAD_TYPES = list(SUFFIXES)
MAX_UPLOAD_MB = 20
MAX_NAME_CHARS = 120
# Answers computed at once across all surfaces: more than this on 2 cores only makes each one slower
# (bench/load.py measures the latency under 20 concurrent clients).
ANSWER_SLOTS = 4
# The largest request body of a question, checked before any JSON is parsed: a question and a conversation at
# the limits above take well under 2 MB of JSON.
MAX_REQUEST_BYTES = 2 * 1024 * 1024


class UploadRefused(CitechatError, ValueError):
    pass


# Characters that mean something to a shell, a URL or another file system; any other printable character
# (letters of any script, emoji) is kept.
_UNSAFE_IN_NAMES = re.compile(r"[<>:\"/\\|?*&;$`!{}\[\]#%~^=+,']+")


def safe_name(name: str) -> str:
    """A plain base name for an uploaded file: no folders, no traversal, not hidden, a supported type.
    Raises UploadRefused with the reason otherwise."""
    base = unicodedata.normalize("NFC", str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = _UNSAFE_IN_NAMES.sub("_", base).strip().lstrip(".").rstrip(". ")
    base = re.sub(r"\s+", " ", base)
    stem, dot, suffix = base.rpartition(".")
    if not dot or not stem.strip(" ._-()"):
        raise UploadRefused(f"“{name}” has no usable file name")
    suffix = "." + suffix.lower()
    if suffix not in UPLOAD_TYPES:
        raise UploadRefused(f"“{name}” is not a supported type (use {', '.join(UPLOAD_TYPES)})")
    return stem[: MAX_NAME_CHARS - len(suffix)].rstrip(" .") + suffix


@dataclass
class UploadResult:
    saved: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # messages
    notes: list[str] = field(default_factory=list)  # what the user should know: a file kept under another name
    report: SyncReport | None = None  # of the sync that indexed the saved files
    error: Exception | None = None  # why that sync failed


def open_bot(bot_or_settings: Bot | Settings, notify: Callable[[str], None] = lambda message: None) -> Bot:
    """A Bot for the settings, building the index first when there is none."""
    if isinstance(bot_or_settings, Bot):
        return bot_or_settings
    try:
        return Bot(bot_or_settings)
    except IndexNotFound:
        notify(f"No index in {bot_or_settings.index_dir} yet; building it from {bot_or_settings.docs_dir}...")
        notify(sync_index(bot_or_settings, notify=notify).summary())  # what it skipped: said by the sync at start
        return Bot(bot_or_settings)


def check_request(question: object, history: object) -> list[tuple[str, str]]:
    """The history of a request as (question, answer) pairs; BadRequest when the question is not text or the
    history is not a list of [question, answer] pairs of text."""
    if not isinstance(question, str):
        raise BadRequest(f"The question must be text, not {type(question).__name__}.")
    if history is None:
        return []
    if isinstance(history, list) and all(
        isinstance(turn, (list, tuple)) and len(turn) == 2 and all(isinstance(t, str) for t in turn)
        for turn in history
    ):
        return [(q, a) for q, a in history]
    raise BadRequest("The history must be a list of [question, answer] pairs of text, oldest first.")


class ChatService:
    """Answers, uploads, removals and syncs for one Bot. Syncs are serialised by a lock while questions
    keep being answered; at most `answer_slots` answers are computed at once, whichever surface asked."""

    def __init__(self, bot: Bot, max_upload_mb: float = MAX_UPLOAD_MB, answer_slots: int = ANSWER_SLOTS,
                 uploads: upload_folder.UploadLedger | None = None) -> None:
        """uploads: the files the web framework's upload route wrote, the only ones `upload` takes (None: no
        uploads are taken)."""
        self.bot = bot
        self.max_upload_mb = min(max_upload_mb, bot.settings.max_file_mb)
        self.uploads = uploads
        self.sync_lock = threading.Lock()
        self._answer_slots = threading.BoundedSemaphore(answer_slots)
        self.skipped: list[Skipped] = []  # the files the latest sync could not index, with the reason
        self._skips_said: set[tuple[str, str]] = set()
        self.llm_problem: str | None = None  # why the configured LLM did not answer, while it does not

    @property
    def upload_dir(self) -> Path | None:
        """Where the web framework puts uploads; their copies there are deleted once saved or refused."""
        return self.uploads.folder if self.uploads else None

    @property
    def docs_dir(self) -> Path:
        return self.bot.settings.docs_dir

    def stream(self, question: str, history: list[tuple[str, str]] | None = None) -> Iterator[str | Answer]:
        """The answer text as the answerer writes it, then the final Answer. An LLM's draft is checked and
        renumbered once complete: show the final Answer's text in place of the draft. Raises RequestTooLarge
        (before anything is yielded) for a request over the limits."""
        check_limits(question, history)
        with self._answer_slots:
            try:
                yield from self.bot.stream(question, history or None)
                self.llm_problem = None
            except LLMFailed as exc:  # answer from the documents alone, and say why
                self.llm_problem = str(exc)
                print(f"citechat: {log_line(exc)} Answering from the documents instead.", flush=True)
                yield from self._quoted_instead(question, history, str(exc))

    def _quoted_instead(self, question: str, history, problem: str) -> Iterator[str | Answer]:
        for piece in self.bot.stream(question, history or None, extractive=True):
            if isinstance(piece, Answer):
                piece.notice = f"{problem} This answer is quoted from the documents instead."
            yield piece

    def answer(self, question: str, history: list[tuple[str, str]] | None = None) -> Answer:
        return final_answer(self.stream(question, history))

    def newly_skipped(self) -> list[Skipped]:
        """The files the latest sync skipped that have not been said before (a log says each once)."""
        new = [s for s in self.skipped if (s.source, s.reason) not in self._skips_said]
        self._skips_said.update((s.source, s.reason) for s in new)
        return new

    def search(self, query: str, k: int = 5) -> list[Passage]:
        """The k passages that best match the query, best first; RequestTooLarge for a query over the
        question limit."""
        check_limits(query, None)
        with self._answer_slots:
            return self.bot.retrieve(query, k=k)

    @contextmanager
    def _syncing(self, waiting: Callable[[], None] | None) -> Iterator[None]:
        """Hold this server's sync lock, calling `waiting` first when another sync holds it."""
        if not self.sync_lock.acquire(blocking=False):
            if waiting:
                waiting()
            self.sync_lock.acquire()
        try:
            yield
        finally:
            self.sync_lock.release()

    def sync(self, rebuild: bool = False, progress: Callable[[str, int, int], None] | None = None,
             waiting: Callable[[], None] | None = None, **changes) -> SyncReport:
        """Sync the index with the folder; `waiting` is called when another sync (of this server or of
        another process) must finish first. changes: exclude / include (see `sync_index`)."""
        with self._syncing(waiting):
            return self._sync(rebuild, progress, waiting, **changes)

    def _sync(self, rebuild: bool, progress, waiting, **changes) -> SyncReport:
        def notify(message: str) -> None:
            if waiting and message.startswith("Another sync"):  # another process's sync
                waiting()

        report = self.bot.sync(rebuild=rebuild, progress=progress, notify=notify, **changes)
        self.skipped = list(report.skipped)
        return report

    def upload(self, paths: list[str], progress: Callable[[str, int, int], None] | None = None,
               waiting: Callable[[], None] | None = None) -> UploadResult:
        """Save uploaded files (see `save_uploads`) and index them, as one step no other sync of this server
        comes between. An upload is meant to be indexed: a file of that name removed from the index earlier
        is taken back in."""
        with self._syncing(waiting):
            result = self.save_uploads(paths)
            if result.saved:
                try:
                    result.report = self._sync(False, progress, waiting, include=result.saved)
                except Exception as exc:
                    result.error = exc
        return result

    # ------------------------------------------------------------ uploads

    def save_uploads(self, paths: list[str]) -> UploadResult:
        """Copy uploaded files into the documents folder under sanitised names. Only files the upload route
        wrote into the server's upload folder are taken (see `UploadLedger`): any other path, a link, or a file
        that is not regular is refused. A name already taken keeps its file: the upload is saved as
        "name (2).ext" (or not at all when it is the same file). The uploads' temporary copies are deleted,
        whether saved or refused."""
        result = UploadResult()
        self.docs_dir.mkdir(parents=True, exist_ok=True)
        for path in paths:
            shown = Path(path).name
            try:
                name = self._save_upload(path, shown)
            except UploadRefused as exc:
                result.refused.append(str(exc))
                continue
            except OSError as exc:
                result.refused.append(f"“{shown}” could not be saved ({exc.strerror or exc})")
            else:
                result.saved.append(name)
                wanted = safe_name(shown)
                if name != wanted:
                    result.notes.append(f"{wanted} already exists with other content: the upload was saved as {name}")
            finally:
                if self.uploads is not None:
                    self.uploads.forget(path)
        return result

    def _save_upload(self, path: str, shown: str) -> str:
        name = safe_name(shown)
        if self.uploads is None or not self.uploads.written(path):
            raise UploadRefused(f"“{shown}” was not uploaded through the chat window: only files sent to it are "
                                "taken")
        with open_regular(Path(path)) as source:
            size = os.fstat(source.fileno()).st_size
            if size > self.max_upload_mb * 1024 * 1024:
                raise UploadRefused(f"“{shown}” is larger than the {self.max_upload_mb:g} MB limit")
            if size == 0:
                raise UploadRefused(f"“{shown}” is empty")
            digest = sha256_of_handle(source)
            source.seek(0)
            return self._store_upload(source, name, digest, shown)

    def _store_upload(self, source, name: str, digest: str, shown: str) -> str:
        # Copy under a hidden name (never indexed), then give it a name nobody has taken, in one step.
        tmp = self.docs_dir / f".upload-{os.getpid()}-{threading.get_ident()}.tmp"
        try:
            tmp.unlink(missing_ok=True)
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644), "wb") as copy:
                shutil.copyfileobj(source, copy)
            for candidate in _numbered(name):
                target = self.docs_dir / candidate
                if os.path.lexists(target):
                    if target.is_file() and not target.is_symlink() and sha256_of(target) == digest:
                        return candidate  # the same file is already there
                    continue
                try:
                    os.link(tmp, target)  # fails if the name was taken meanwhile: nothing is ever replaced
                except FileExistsError:
                    continue
                except OSError:  # a file system without hard links
                    os.replace(tmp, target)
                return candidate
        finally:
            tmp.unlink(missing_ok=True)
        raise UploadRefused(f"“{shown}”: too many files named like it in the documents folder")

    # ------------------------------------------------------------ removing

    def indexed(self, source: str):
        """The index's record of a document, refusing names that are not indexed or not inside the folder."""
        record = next((d for d in self.bot.documents if d.source == source), None)
        if record is None:
            raise UploadRefused(f"“{source}” is not an indexed document")
        root = self.docs_dir.resolve()
        parent = (self.docs_dir / source).parent.resolve()
        if ".." in Path(source).parts or Path(source).is_absolute() or not (parent == root or root in parent.parents):
            raise UploadRefused(f"“{source}” is not inside the documents folder")
        return record

    def remove_from_index(self, source: str, **sync_options) -> SyncReport:
        """Take a document out of the index and keep it out of later syncs; its file stays in the folder."""
        self.indexed(source)
        return self.sync(exclude=[source], **sync_options)

    def add_back(self, source: str, **sync_options) -> SyncReport:
        """Index again a file that was removed from the index."""
        if source not in self.bot.snapshot.excluded:
            raise UploadRefused(f"“{source}” was not removed from the index")
        return self.sync(include=[source], **sync_options)

    def delete_file(self, source: str, **sync_options) -> SyncReport:
        """Delete an indexed document's file from the documents folder, then sync. Only the file that was
        indexed is deleted: one changed since (or replaced by another file) is refused."""
        record = self.indexed(source)
        path = self.docs_dir / source
        if path.is_symlink():
            path.unlink()  # the link itself, never its target
        elif path.is_file():
            if sha256_of(path) != record.hash:
                raise UploadRefused(f"“{source}” has changed since it was indexed: sync first, then decide")
            path.unlink()
        return self.sync(**sync_options)


def _numbered(name: str) -> Iterator[str]:
    """name.ext, then "name (2).ext", "name (3).ext", ..."""
    stem, dot, suffix = name.rpartition(".")
    yield name
    for n in range(2, 1000):
        yield f"{stem} ({n}).{suffix}"
