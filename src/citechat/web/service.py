"""What every web surface does, without any web framework: answer (whole or streamed), add and remove
documents, sync. The chat window, its `/ask` endpoint and the OpenAI-compatible API all call one
`ChatService`, shared by every browser session and API client."""

from __future__ import annotations

import os
import re
import shutil
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from ..answers import Answer
from ..bot import Bot
from ..config import Settings
from ..stores.base import IndexNotFound
from ..sync import SyncReport, sync_index
from . import upload_folder

UPLOAD_TYPES = [".txt", ".md", ".html", ".htm", ".pdf", ".docx"]
MAX_UPLOAD_MB = 20
MAX_NAME_CHARS = 120
# Answers computed at once across all surfaces: more than this on 2 cores only makes each one slower
# (bench/load.py measures the latency under 20 concurrent clients).
ANSWER_SLOTS = 4
# The largest request any surface accepts. Only a question's first 2,000 characters are searched, and only the
# latest turns of a conversation are read (the one with names in it, or the last three for an LLM); beyond
# these a request is a mistake, or an attempt to make the server read and keep megabytes.
MAX_QUESTION_CHARS = 4_000
MAX_HISTORY_TURNS = 100
MAX_HISTORY_CHARS = 200_000
# The largest request body of a question, checked before any JSON is parsed: a question and a conversation at
# the limits above take well under 2 MB of JSON.
MAX_REQUEST_BYTES = 2 * 1024 * 1024


class UploadRefused(ValueError):
    pass


class RequestTooLarge(ValueError):
    """A question or conversation over the limits; the message says which and what to send instead."""


def check_request(question: str, history: list[tuple[str, str]] | None) -> None:
    """Raise RequestTooLarge when the question or the conversation is over the limits."""
    if len(question) > MAX_QUESTION_CHARS:
        raise RequestTooLarge(f"The question is {len(question):,} characters long; ask in at most "
                              f"{MAX_QUESTION_CHARS:,} characters.")
    turns = history or []
    if len(turns) > MAX_HISTORY_TURNS:
        raise RequestTooLarge(f"The conversation has {len(turns):,} earlier turns; send at most the last "
                              f"{MAX_HISTORY_TURNS:,}, or start a new conversation.")
    chars = sum(len(q) + len(a) for q, a in turns)
    if chars > MAX_HISTORY_CHARS:
        raise RequestTooLarge(f"The conversation's earlier turns hold {chars:,} characters; send at most "
                              f"{MAX_HISTORY_CHARS:,} (leave out the oldest turns), or start a new conversation.")


def recent_history(history: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The latest turns that fit the limits, for a surface whose user cannot shorten the conversation."""
    kept, chars = [], 0
    for q, a in reversed(history[-MAX_HISTORY_TURNS:]):
        chars += len(q) + len(a)
        if chars > MAX_HISTORY_CHARS:
            break
        kept.append((q, a))
    return kept[::-1]


def safe_name(name: str) -> str:
    """A plain base name for an uploaded file: no folders, no traversal, not hidden, a supported type.
    Raises UploadRefused with the reason otherwise."""
    base = unicodedata.normalize("NFC", str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = re.sub(r"[^\w.\- ()]+", "_", base).strip().lstrip(".").rstrip(". ")
    base = re.sub(r"\s+", " ", base)
    stem, dot, suffix = base.rpartition(".")
    if not dot or not stem.strip(" ._"):
        raise UploadRefused(f"“{name}” has no usable file name")
    suffix = "." + suffix.lower()
    if suffix not in UPLOAD_TYPES:
        raise UploadRefused(f"“{name}” is not a supported type (use {', '.join(UPLOAD_TYPES)})")
    return stem[: MAX_NAME_CHARS - len(suffix)].rstrip(" .") + suffix


@dataclass
class UploadResult:
    saved: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # messages


def open_bot(bot_or_settings: Bot | Settings, notify: Callable[[str], None] = lambda message: None) -> Bot:
    """A Bot for the settings, building the index first when there is none."""
    if isinstance(bot_or_settings, Bot):
        return bot_or_settings
    try:
        return Bot(bot_or_settings)
    except IndexNotFound:
        notify(f"No index in {bot_or_settings.index_dir} yet; building it from {bot_or_settings.docs_dir}...")
        report = sync_index(bot_or_settings, notify=notify)
        notify(report.summary())
        return Bot(bot_or_settings)


class ChatService:
    """Answers, uploads, removals and syncs for one Bot. Syncs are serialised by a lock while questions
    keep being answered; at most `answer_slots` answers are computed at once, whichever surface asked."""

    def __init__(self, bot: Bot, max_upload_mb: float = MAX_UPLOAD_MB, answer_slots: int = ANSWER_SLOTS,
                 upload_dir: Path | None = None) -> None:
        self.bot = bot
        self.max_upload_mb = min(max_upload_mb, bot.settings.max_file_mb)
        self.upload_dir = upload_dir  # where the web framework puts uploads; their copies there are deleted
        self.sync_lock = threading.Lock()
        self._answer_slots = threading.BoundedSemaphore(answer_slots)

    @property
    def docs_dir(self) -> Path:
        return self.bot.settings.docs_dir

    def stream(self, question: str, history: list[tuple[str, str]] | None = None) -> Iterator[str | Answer]:
        """The answer text as the answerer writes it, then the final Answer. An LLM's draft is checked and
        renumbered once complete: show the final Answer's text in place of the draft. Raises RequestTooLarge
        (before anything is yielded) for a request over the limits."""
        check_request(question, history)
        with self._answer_slots:
            yield from self.bot.stream(question, history or None)

    def answer(self, question: str, history: list[tuple[str, str]] | None = None) -> Answer:
        check_request(question, history)
        with self._answer_slots:
            return self.bot.answer(question, history or None)

    def sync(self, rebuild: bool = False, progress: Callable[[str, int, int], None] | None = None,
             waiting: Callable[[], None] | None = None) -> SyncReport:
        if not self.sync_lock.acquire(blocking=False):
            if waiting:
                waiting()
            self.sync_lock.acquire()
        try:
            return self.bot.sync(rebuild=rebuild, progress=progress)
        finally:
            self.sync_lock.release()

    def save_uploads(self, paths: list[str]) -> UploadResult:
        """Copy uploaded files into the documents folder under sanitised names; the uploads' temporary copies
        are deleted, whether saved or refused."""
        result = UploadResult()
        self.docs_dir.mkdir(parents=True, exist_ok=True)
        for path in paths:
            shown = Path(path).name
            try:
                result.saved.append(self._save_upload(path, shown))
            except UploadRefused as exc:
                result.refused.append(str(exc))
            except OSError as exc:
                result.refused.append(f"“{shown}” could not be saved ({exc.strerror or exc})")
            finally:
                upload_folder.forget(path, self.upload_dir)
        return result

    def _save_upload(self, path: str, shown: str) -> str:
        name = safe_name(shown)
        size = os.path.getsize(path)
        if size > self.max_upload_mb * 1024 * 1024:
            raise UploadRefused(f"“{shown}” is larger than the {self.max_upload_mb:g} MB limit")
        if size == 0:
            raise UploadRefused(f"“{shown}” is empty")
        target = self.docs_dir / name
        if target.is_symlink() or (target.exists() and not target.is_file()):
            raise UploadRefused(f"“{name}” already exists in the documents folder and is not a plain file")
        # Copy under a hidden name (never indexed), then move into place in one step.
        tmp = self.docs_dir / f".upload-{os.getpid()}-{threading.get_ident()}.tmp"
        try:
            shutil.copyfile(path, tmp)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return name

    def remove(self, source: str) -> Path:
        """Delete an indexed document's file from the documents folder (not yet synced)."""
        known = {d.source for d in self.bot.documents}
        if source not in known:
            raise UploadRefused(f"“{source}” is not an indexed document")
        root = self.docs_dir.resolve()
        path = self.docs_dir / source
        if ".." in Path(source).parts or Path(source).is_absolute():
            raise UploadRefused(f"“{source}” is not inside the documents folder")
        parent = path.parent.resolve()
        if not (parent == root or root in parent.parents):
            raise UploadRefused(f"“{source}” is not inside the documents folder")
        path.unlink(missing_ok=True)  # a symbolic link is removed itself, never its target
        return path
