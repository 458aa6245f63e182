"""Gradio's upload folder, private to citechat: `<cache>/uploads/<random>/`, mode 0700.

By default Gradio keeps every upload for ever in `/tmp/gradio`, shared by every Gradio app on the machine, and
serves any file in it at `/gradio_api/file=...`. citechat gives each server process a folder of its own
(`GRADIO_TEMP_DIR`, which must be set before Gradio is imported), deletes each upload's copy there as soon as
it is saved into the documents folder or refused, and removes the folder when the server stops; a folder left
behind by a server that was killed is removed when the next one starts (its lock is no longer held).
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import tempfile
from pathlib import Path

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
    copy = Path(path).resolve()
    if folder in copy.parents:
        copy.unlink(missing_ok=True)
        if copy.parent != folder:
            try:
                copy.parent.rmdir()  # empty unless the same bytes were uploaded under another name
            except OSError:
                pass
    for entry in folder.glob("tmp*"):
        try:
            if entry.is_file() and not entry.is_symlink() and entry.stat().st_size == 0:
                entry.unlink()
        except OSError:
            pass
