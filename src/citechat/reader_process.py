"""Reading files in a child process, so that one hostile file costs at most the time limit and never the
memory of the process that indexes.

`readers.load_document` stops a file that goes past its limits as the text comes in, but some of a parser's
work cannot be interrupted from inside: pypdf parses a page's whole content stream before it produces any
text, and Python's HTML parser has inputs that take quadratic time. A child process can be killed. One child
serves a whole sync (starting it costs about a second, each file then a few milliseconds: bench/README.md);
it is killed and replaced when a file overruns, and its address space is capped so that a parser running away
with memory fails there. Plain text is read in this process: it has no parser to trap.

    with FileReader(ReadLimits(seconds=30)) as reader:
        doc = reader.read(path, source)      # a Document, or UnreadableFile / TooCostly with the reason

The child speaks JSON lines over its standard input and output: {"path", "source", "limits"} in, then
{"document": {...}} or {"skipped": reason, "costly": bool} out. Nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import selectors
import subprocess
import sys
import time
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path

from .readers import Document, ReadLimits, TooCostly, UnreadableFile, load_document

IN_PROCESS_SUFFIXES = {".txt", ".md", ".markdown"}
# The child's address space. Within the unpacking limit python-docx needs about 6x the unpacked XML (a 64 MB
# document part: ~400 MB); pypdf far less.
CHILD_MEMORY_BYTES = 1536 * 2**20
# Time for the child to send its answer once its own clock (the same limit) has run out.
GRACE_SECONDS = 2.0
# Time for a new child to start and import its parsers (about a second; much more on a loaded machine).
START_SECONDS = 120.0

# Files skipped for their cost in this process, by identity and limits: a server asked to sync again while a
# hostile file is still in the folder skips it at once instead of paying its cost at every sync.
_costly: OrderedDict[tuple, str] = OrderedDict()
_COSTLY_KEPT = 1000


class FileReader:
    """Reads files with limits, in one child process reused from file to file. Use as a context manager."""

    def __init__(self, limits: ReadLimits) -> None:
        self.limits = limits
        self.child: subprocess.Popen | None = None

    def __enter__(self) -> "FileReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, path: Path, source: str) -> Document:
        if path.suffix.lower() in IN_PROCESS_SUFFIXES:
            return load_document(path, source, self.limits)
        key = _identity(path, self.limits)
        if key in _costly:
            raise TooCostly(_costly[key])
        try:
            return self._read_in_child(path, source)
        except TooCostly as exc:
            _costly[key] = str(exc)
            while len(_costly) > _COSTLY_KEPT:
                _costly.popitem(last=False)
            raise

    def _read_in_child(self, path: Path, source: str) -> Document:
        if self.child is None:
            self.child = _start_child()
        request = {"path": str(path), "source": source, "limits": asdict(self.limits)}
        try:
            self.child.stdin.write(json.dumps(request).encode() + b"\n")
            self.child.stdin.flush()
            line = _read_line(self.child.stdout, self.limits.seconds + GRACE_SECONDS)
        except (BrokenPipeError, OSError):
            line = b""
        if line is None:  # still working: a parse that cannot be interrupted from inside
            self._stop(kill=True)
            raise self.limits.too_slow()
        if not line:  # the child died: out of memory, or a crash in a parser's C code
            self._stop(kill=True)
            raise TooCostly("the reader stopped while reading it (out of memory, or a parser crashed)")
        reply = json.loads(line)
        if "document" in reply:
            fields = reply["document"]
            pages = [tuple(p) for p in fields["pages"]] if fields["pages"] is not None else None
            return Document(fields["source"], fields["title"], fields["text"], pages)
        raise (TooCostly if reply["costly"] else UnreadableFile)(reply["skipped"])

    def _stop(self, kill: bool = False) -> None:
        child, self.child = self.child, None
        if child is None:
            return
        if kill:
            child.kill()
        else:
            child.stdin.close()  # the child ends at the end of its input
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()

    def close(self) -> None:
        self._stop()


def _identity(path: Path, limits: ReadLimits) -> tuple:
    stat = path.stat()
    return (str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino, limits)


def _start_child() -> subprocess.Popen:
    """A child ready to read: its parsers imported, so that their import never counts against a file's time."""
    # A fresh interpreter, never a fork: the parent holds torch, FAISS and server threads.
    child = subprocess.Popen([sys.executable, "-m", "citechat.reader_process"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE)
    if _read_line(child.stdout, START_SECONDS) != b"ready\n":
        child.kill()
        child.wait()
        child.stdout.close()
        raise OSError("the process that reads PDF, DOCX and HTML files did not start (see the messages above)")
    return child


def _read_line(stream, seconds: float) -> bytes | None:
    """One line from the child's output: b"" when it ended, None when none came within `seconds`."""
    deadline = time.monotonic() + seconds
    data = bytearray()
    fd = stream.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b""
            data += chunk
    return bytes(data)


# ---------------------------------------------------------------- the child


def _serve() -> None:
    import resource

    import docx  # noqa: F401  (imported now: see _start_child)
    import pypdf  # noqa: F401

    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to the error stream, never into the replies
    replies.write(b"ready\n")
    replies.flush()
    for line in sys.stdin.buffer:
        request = json.loads(line)
        try:
            doc = load_document(Path(request["path"]), request["source"], ReadLimits(**request["limits"]))
            reply = {"document": asdict(doc)}
        except UnreadableFile as exc:
            reply = {"skipped": str(exc), "costly": isinstance(exc, TooCostly)}
        replies.write(json.dumps(reply).encode() + b"\n")
        replies.flush()


if __name__ == "__main__":
    _serve()
