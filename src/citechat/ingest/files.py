"""Opening files that someone else may be changing: a document in the user's folder, an upload, a file of the
index folder. Each is opened once, without following a link at its last component and without blocking on a
named pipe, and refused unless it is a regular file (and, when the caller listed it earlier, the very file it
listed: same device and inode). Everything is then read from that one handle, so a link swapped in between the
listing and the reading is never followed.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO


class UnsafeFile(OSError):
    """A file that is a link, not a regular file, or no longer the file that was listed; the message says
    which ("a symbolic link, not a regular file")."""


_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_regular(path: Path, expected: tuple[int, int] | None = None, dir_fd: int | None = None) -> BinaryIO:
    """Open `path` for reading in binary; raises UnsafeFile when it is a symbolic link, a named pipe, a device,
    a folder or a socket, or (given `expected`, a (device, inode) pair) another file than the one listed, and
    OSError as usual when it cannot be opened. dir_fd: open `path` relative to this open folder."""
    try:
        fd = os.open(path, _READ | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # O_NOFOLLOW met a link
            raise UnsafeFile("a symbolic link, not a regular file") from None
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeFile(f"not a regular file ({kind_of(info.st_mode)})")
        if expected is not None and (info.st_dev, info.st_ino) != tuple(expected):
            raise UnsafeFile("replaced by another file while it was being read")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_inside(root: Path, relative: str, expected: tuple[int, int] | None = None) -> BinaryIO:
    """Open the file at `relative` (forward slashes) under the folder `root`, following no link on the way:
    every folder below `root` is opened in turn without following links, then the file as `open_regular`
    does. So whatever is swapped in meanwhile, what is opened lies inside `root`."""
    parts = relative.split("/")
    if not parts[-1] or any(part in ("", ".", "..") for part in parts):
        raise UnsafeFile(f"not a plain path inside the folder: {relative!r}")
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            try:
                inner = os.open(part, _READ | os.O_DIRECTORY, dir_fd=folder)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise UnsafeFile(f"its folder {part!r} is no longer a folder (a link or a file took its "
                                     "place)") from None
                raise
            os.close(folder)
            folder = inner
        return open_regular(parts[-1], expected, dir_fd=folder)
    finally:
        os.close(folder)


def kind_of(mode: int) -> str:
    """What a file that is not regular is, in words."""
    for test, kind in ((stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"), (stat.S_ISCHR, "a device"),
                       (stat.S_ISBLK, "a device"), (stat.S_ISDIR, "a folder"), (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return kind
    return "a special file"


def sha256_of_handle(handle: BinaryIO) -> str:
    """Hex SHA-256 of an open file's bytes from its start, read in blocks; the handle is left at its end."""
    handle.seek(0)
    digest = hashlib.sha256()
    for block in iter(lambda: handle.read(1 << 20), b""):
        digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a regular file's bytes (see `open_regular`)."""
    with open_regular(path) as handle:
        return sha256_of_handle(handle)
