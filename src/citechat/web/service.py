"""What every web surface does, without any web framework: answer (whole or streamed), add and remove
documents, sync. The chat window, its `/ask` endpoint and the OpenAI-compatible API all call one
`ChatService`, shared by every browser session and API client."""

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

from ..answering.types import Answer
from ..bot import Bot
from ..config import Settings
from ..errors import BadRequest, CitechatError
from ..index.stores.base import IndexNotFound
from ..index.sync import SyncReport, sync_index
from ..ingest.files import open_regular, sha256_of, sha256_of_handle
from ..ingest.formats import SUFFIXES, place_heading
from ..ingest.text import SECTION_SEPARATOR
from . import upload_folder

UPLOAD_TYPES = list(SUFFIXES)
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


class UploadRefused(CitechatError, ValueError):
    pass


class RequestTooLarge(BadRequest):
    """A question or conversation over the limits; the message says which and what to send instead."""


def check_limits(question: str, history: list[tuple[str, str]] | None) -> None:
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
        report = sync_index(bot_or_settings, notify=notify)
        notify(report.summary())
        return Bot(bot_or_settings)


# Questions written for the seed article shipped in seeds/, offered only when that very file is indexed.
SEED_EXAMPLES = {
    "aba1ce9db421ea4c15cd35575f64d3b65e45a936aa50ec5bfef7062407990843": [
        "What did Altman say?",
        "What did Khosla Ventures do?",
        "What happened in Minneapolis?",
        "Who first reported Altman's message?",
    ],
}
EXAMPLE_TITLE_WORDS = 8  # a longer title is a sentence, not a name to ask about


def example_questions(bot: Bot, n: int = 4) -> list[str]:
    """Questions to offer as examples, about the indexed documents only: those written for a known document,
    else one per document from its title and first section heading ("What does “Handbook” say about
    expenses?"); none when no title is short enough to ask about."""
    documents = bot.documents
    questions = [q for d in documents for q in SEED_EXAMPLES.get(d.hash, [])]
    sections: dict[str, str] = {}
    for chunk in bot.snapshot.all_chunks():
        names = [name for name in chunk.section.split(SECTION_SEPARATOR)
                 if name and name != chunk.title and not place_heading(name)]
        if names and len(names[0].split()) <= EXAMPLE_TITLE_WORDS:
            sections.setdefault(chunk.source, names[0])
    for d in documents:
        title = d.title.strip()
        if not title or len(title.split()) > EXAMPLE_TITLE_WORDS or title.endswith((".", "?", "!")):
            continue
        heading = sections.get(d.source)
        questions.append(f"What does “{title}” say about {heading[0].lower() + heading[1:]}?" if heading
                         else f"What is “{title}” about?")
    return list(dict.fromkeys(questions))[:n]


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
            yield from self.bot.stream(question, history or None)

    def answer(self, question: str, history: list[tuple[str, str]] | None = None) -> Answer:
        check_limits(question, history)
        with self._answer_slots:
            return self.bot.answer(question, history or None)

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

        return self.bot.sync(rebuild=rebuild, progress=progress, notify=notify, **changes)

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
