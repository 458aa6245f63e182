"""Gradio's upload folder, private to citechat: `<cache>/uploads/<random>/`, mode 0700.

By default Gradio keeps every upload for ever in `/tmp/gradio`, shared by every Gradio app on the machine, and
serves any file in it at `/gradio_api/file=...`. citechat gives each server process a folder of its own
(`GRADIO_TEMP_DIR`, which must be set before Gradio is imported), deletes each upload's copy there as soon as
it is saved into the documents folder or refused, and removes the folder when the server stops; a folder left
behind by a server that was killed is removed when the next one starts (its lock is no longer held).

`UploadLedger` records the files Gradio's upload route wrote there (`RecordUploads` reads them from its
responses): an upload event may take those files and no others. Gradio checks the paths an event names only
when the app was started by its own `launch()`, and copies any other file into this folder before the event
runs; the ledger does not depend on what Gradio checks.
"""

from __future__ import annotations

import atexit
import fcntl
import json
import os
import shutil
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ENV = "GRADIO_TEMP_DIR"


class _Folder:
    def __init__(self, path: Path, lock) -> None:
        self.path, self.lock, self.users = path, lock, 0


_current: _Folder | None = None  # the folder of this process, while a server uses it


def acquire(cache_dir: Path) -> Path:
    """This process's upload folder (created, and pointed to by GRADIO_TEMP_DIR, on first use); servers in
    one process share it. Pair with release()."""
    global _current
    if _current is None:
        root = Path(cache_dir) / "uploads"
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        remove_stale(root)
        handle, lock_path = tempfile.mkstemp(dir=root, suffix=".lock")
        lock = os.fdopen(handle, "w")
        fcntl.flock(lock, fcntl.LOCK_EX)  # held while this process lives: the folder is in use
        path = Path(lock_path[: -len(".lock")])
        path.mkdir(mode=0o700)
        _current = _Folder(path, lock)
        atexit.register(_remove, _current)
    _current.users += 1
    os.environ[ENV] = str(_current.path)
    return _current.path


def release() -> None:
    """One server stopped; the last one removes the folder."""
    global _current
    if _current is not None:
        _current.users -= 1
        if _current.users <= 0:
            _remove(_current)
            _current = None


def _remove(folder: _Folder) -> None:
    shutil.rmtree(folder.path, ignore_errors=True)
    Path(f"{folder.path}.lock").unlink(missing_ok=True)
    folder.lock.close()
    if os.environ.get(ENV) == str(folder.path):
        del os.environ[ENV]


def remove_stale(root: Path) -> None:
    """Remove the folders of servers that no longer run: a lock nobody holds, or no lock at all."""
    for entry in root.iterdir():
        if entry.suffix == ".lock":
            try:
                with open(entry, "a") as lock:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    shutil.rmtree(entry.with_suffix(""), ignore_errors=True)
                    entry.unlink(missing_ok=True)
            except (BlockingIOError, FileNotFoundError):
                pass  # a running server's folder
        elif entry.is_dir() and not Path(f"{entry}.lock").exists():
            shutil.rmtree(entry, ignore_errors=True)


def forget(path: str | Path, folder: Path | None) -> None:
    """Delete an upload's temporary copy (`<folder>/<hash>/<name>`) and its folder, and the empty files Gradio
    leaves beside uploads (one per uploaded file, never used). Only ever deletes inside `folder`."""
    if folder is None:
        return
    folder = folder.resolve()
    parent = Path(path).parent.resolve()
    if parent == folder or folder in parent.parents:
        (parent / Path(path).name).unlink(missing_ok=True)  # a link planted there goes, never its target
        if parent != folder:
            try:
                parent.rmdir()  # empty unless the same bytes were uploaded under another name
            except OSError:
                pass
    for entry in folder.glob("tmp*"):
        try:
            if entry.is_file() and not entry.is_symlink() and entry.stat().st_size == 0:
                entry.unlink()
        except OSError:
            pass


class UploadLedger:
    """The files Gradio's upload route wrote into `folder` (by resolved path), oldest forgotten first."""

    def __init__(self, folder: Path, keep: int = 10_000) -> None:
        self.folder = Path(folder).resolve()
        self.keep = keep
        self._paths: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def record(self, paths: list[str]) -> None:
        with self._lock:
            for path in paths:
                resolved = Path(path).resolve()
                if self.folder in resolved.parents:
                    self._paths[str(resolved)] = None
            while len(self._paths) > self.keep:
                self._paths.popitem(last=False)

    def written(self, path: str | Path) -> bool:
        """Did the upload route write this file (a regular file in the folder, not a link)?"""
        path = Path(path)
        if path.is_symlink() or not path.is_file():
            return False
        with self._lock:
            return str(path.resolve()) in self._paths

    def forget(self, path: str | Path) -> None:
        """Delete the upload's copy (see `forget` below) and its record."""
        with self._lock:
            self._paths.pop(str(Path(path).resolve()), None)
        forget(path, self.folder)


class RecordUploads:
    """ASGI middleware: records in the ledger the files each successful POST to Gradio's upload route wrote (its
    response is the JSON list of their paths)."""

    def __init__(self, app: ASGIApp, ledger: UploadLedger, route: str = "/gradio_api/upload") -> None:
        self.app, self.ledger, self.route = app, ledger, route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") != self.route:
            await self.app(scope, receive, send)
            return
        status, body = 0, bytearray()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and status == 200:
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    self._record(bytes(body))
            await send(message)

        await self.app(scope, receive, recording_send)

    def _record(self, body: bytes) -> None:
        try:
            paths = json.loads(body)
        except ValueError:
            return
        if isinstance(paths, list):
            self.ledger.record([p for p in paths if isinstance(p, str)])
