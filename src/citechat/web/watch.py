"""Keep a running server in step with the disk: sync once at start and whenever files in the documents folder
change, and serve the newest index when another process (`citechat index` in another terminal) has written one.

Changes are collected with `watchfiles` (inotify on Linux) and acted on once the folder has been quiet for
`QUIET_MS`, so that copying many files, or a large one, gives one sync rather than one per write.
"""

from __future__ import annotations

import threading
from pathlib import Path

from ..errors import log_line
from ..index.sync import sync_running
from .service import ChatService

QUIET_MS = 800  # changes are acted on once none has come for this long
MOST_MS = 5_000  # ... or after this long, even while files keep changing
RETRY_SECONDS = 5  # after the folder could not be watched (deleted, unmounted)


def _visible(path: str, root: Path) -> bool:
    """Changes to hidden files (an upload's temporary copy, editors' swap files) are not worth a sync."""
    try:
        parts = Path(path).relative_to(root).parts
    except ValueError:
        return False
    return not any(part.startswith(".") for part in parts)


def follow_folder(service: ChatService, say, watch: bool) -> tuple[threading.Thread, FolderWatcher | None]:
    """Sync the index with its folder now, in the background, and with watch=True whenever the folder changes
    (the watcher, to stop when done)."""
    started = threading.Thread(target=sync_at_start, args=(service, say), daemon=True)
    started.start()
    return started, FolderWatcher(service, say).start() if watch else None


def sync_at_start(service: ChatService, say) -> None:
    """Pick up what changed while no server was watching (files added, or an upload cut short by a crash)."""
    try:
        report = service.sync()
    except Exception as exc:
        say(f"citechat: the index could not be synced with {service.docs_dir}: {log_line(exc)}")
        return
    if report.added or report.updated or report.removed:
        say(f"citechat: synced with the folder: {report.summary()}")
    say_skipped(service, say)


def say_skipped(service: ChatService, say) -> None:
    """Log the files the latest sync could not index, each once (the Documents tab lists them all)."""
    for item in service.newly_skipped():
        say(f"citechat: skipped {item.source}: {item.reason}")


class FolderWatcher:
    """A background thread that syncs the service's index on changes to its documents folder and reloads it
    when another process has changed the index. `stop()` ends it."""

    def __init__(self, service: ChatService, say=lambda message: None) -> None:
        self.service = service
        self.say = say
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="citechat-watch", daemon=True)

    def start(self) -> "FolderWatcher":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        from watchfiles import watch

        settings = self.service.bot.settings
        docs, index = settings.docs_dir.resolve(), settings.index_dir.resolve()
        while not self._stop.is_set():
            try:
                for changes in watch(docs, index, stop_event=self._stop, step=QUIET_MS, debounce=MOST_MS,
                                     recursive=True, raise_interrupt=False):
                    paths = [path for _, path in changes]
                    if any(_visible(p, docs) for p in paths):
                        self._sync()
                    elif any(Path(p).is_relative_to(index) for p in paths):
                        self._reload(index)
            except Exception as exc:  # the folder went away: say so, and watch again once it is back
                self.say(f"citechat: not watching {docs} for the moment ({log_line(exc)})")
                self._stop.wait(RETRY_SECONDS)

    def _sync(self) -> None:
        try:
            report = self.service.sync()
        except Exception as exc:
            self.say(f"citechat: the documents folder changed, but the sync failed: {log_line(exc)}")
            return
        if report.added or report.updated or report.removed:
            self.say(f"citechat: the documents folder changed: {report.summary()}")
        say_skipped(self.service, self.say)

    def _reload(self, index: Path) -> None:
        # Another process's sync writes in several steps; serve its index once it has finished.
        while sync_running(index) and not self._stop.is_set():
            self._stop.wait(0.2)
        try:
            if self.service.bot.reload_if_changed():
                self.say("citechat: the index was updated by another process; now serving its newest version")
        except Exception as exc:
            self.say(f"citechat: the index changed on disk but could not be loaded: {log_line(exc)}")
