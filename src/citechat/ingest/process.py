"""Reading files in a child process, so that one hostile file costs at most the time limit and never the
memory of the process that indexes.

`reading.load_document` stops a file that goes past its limits as the text comes in, but some of a parser's
work cannot be interrupted from inside: pypdf parses a page's whole content stream before it produces any
text, and Python's HTML parser has inputs that take quadratic time. A child process can be killed. One child
serves a whole sync (starting it costs about a second, each file then a few milliseconds: bench/README.md);
it is killed and replaced when a file overruns, and its address space is capped so that a parser running away
with memory fails there. Plain text is read in this process: it has no parser to trap.

    with FileReader(ReadLimits(seconds=30)) as reader, open_regular(path) as handle:
        doc = reader.read(handle, path.name, source)  # a Document, or UnreadableFile / TooCostly with the reason

The child reads the file the caller opened, never a path: each request is a JSON line {"name", "source",
"limits"} sent over a Unix socket together with the open file's descriptor, so the child reads exactly the file
that was checked, whatever is swapped in at its path. It answers on its standard output with a JSON line,
{"document": {...}} or {"skipped": reason, "costly": bool}, after a line {"progress": [done, total]} before each
scanned page it reads by OCR: each such page has its own time limit (`ReadLimits.ocr_page_seconds`), at most
MAX_SCANNED_PAGES of them. Nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import subprocess
import sys
import time
from collections import OrderedDict
from dataclasses import asdict
from typing import BinaryIO, Callable

from .document import Document, TooCostly, UnreadableFile
from .limits import MAX_SCANNED_PAGES, ReadLimits
from .reading import read_document

IN_PROCESS_SUFFIXES = {".txt", ".md", ".markdown"}
# The child's address space. Within the unpacking limit python-docx needs about 6x the unpacked XML (a 64 MB
# document part: ~400 MB); pypdf far less. The OCR engine uses ~750 MB but maps ~1.5 GB of address space
# (onnxruntime's threads and their allocators) on a page of printed A4, hence the room above that.
CHILD_MEMORY_BYTES = 3 * 2**30
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
        self.requests: socket.socket | None = None
        self.pending = bytearray()  # the child's output read past its last line

    def __enter__(self) -> "FileReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, handle: BinaryIO, name: str, source: str,
             progress: Callable[[int, int], None] | None = None) -> Document:
        """Read the open file `handle` (of the type its file `name` says) into a Document. progress(done,
        total): told before each scanned page is read by OCR."""
        if os.path.splitext(name)[1].lower() in IN_PROCESS_SUFFIXES:
            return read_document(handle, name, source, self.limits)
        key = _identity(handle, self.limits)
        if key in _costly:
            raise TooCostly(_costly[key])
        try:
            return self._read_in_child(handle, name, source, progress)
        except TooCostly as exc:
            _costly[key] = str(exc)
            while len(_costly) > _COSTLY_KEPT:
                _costly.popitem(last=False)
            raise

    def _read_in_child(self, handle: BinaryIO, name: str, source: str, progress) -> Document:
        if self.child is None:
            self.child, self.requests = _start_child()
        request = {"name": name, "source": source, "limits": asdict(self.limits)}
        seconds, scanned = self.limits.seconds, 0
        try:
            socket.send_fds(self.requests, [json.dumps(request).encode()], [handle.fileno()])
        except OSError:
            pass  # the child is gone: reading its reply says so
        while True:
            reply = self._reply(seconds + GRACE_SECONDS, scanned)
            if "progress" not in reply:
                break
            # A scanned page starts (or a file's last one is done): it has its own time. The child stops past
            # MAX_SCANNED_PAGES itself; this bounds the time granted even if it did not.
            scanned += 1
            if scanned > 2 * MAX_SCANNED_PAGES + 2:
                self._stop(kill=True)
                raise TooCostly(f"more than {MAX_SCANNED_PAGES} scanned pages to read by OCR")
            seconds = self.limits.ocr_page_seconds
            if progress is not None:
                done, total = reply["progress"]
                progress(int(done), int(total))
        if "document" in reply:
            fields = reply["document"]
            pages = [tuple(p) for p in fields["pages"]] if fields["pages"] is not None else None
            return Document(fields["source"], fields["title"], fields["text"], pages)
        raise (TooCostly if reply["costly"] else UnreadableFile)(reply["skipped"])

    def _reply(self, seconds: float, scanned: int) -> dict:
        """The child's next line; kills it when none comes within `seconds` or it died."""
        try:
            line = _read_line(self.child.stdout, seconds, self.pending)
        except OSError:
            line = b""
        if line is None:  # still working: a parse that cannot be interrupted from inside
            self._stop(kill=True)
            raise self.limits.page_too_slow() if scanned else self.limits.too_slow()
        if not line:  # the child died: out of memory, or a crash in a parser's C code
            self._stop(kill=True)
            raise TooCostly("the reader stopped while reading it (out of memory, or a parser crashed)")
        return json.loads(line)

    def _stop(self, kill: bool = False) -> None:
        child, self.child = self.child, None
        self.pending.clear()
        if child is None:
            return
        if kill:
            child.kill()
        self.requests.close()  # the child ends when its request socket closes
        try:
            child.wait(timeout=10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        child.stdout.close()

    def close(self) -> None:
        self._stop()


def _identity(handle: BinaryIO, limits: ReadLimits) -> tuple:
    info = os.fstat(handle.fileno())
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, limits)


def _start_child() -> tuple[subprocess.Popen, socket.socket]:
    """A child ready to read, and the socket its requests go to: its parsers imported, so that their import
    never counts against a file's time."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    # A fresh interpreter, never a fork: the parent holds torch, FAISS and server threads.
    try:
        # Two malloc arenas: glibc otherwise reserves 64 MB of address space for each thread that allocates.
        child = subprocess.Popen([sys.executable, "-m", "citechat.ingest.process", str(theirs.fileno())],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, pass_fds=[theirs.fileno()],
                                 env={**os.environ, "MALLOC_ARENA_MAX": "2"})
    finally:
        theirs.close()
    if _read_line(child.stdout, START_SECONDS) != b"ready\n":
        child.kill()
        child.wait()
        child.stdout.close()
        ours.close()
        raise OSError("the process that reads documents other than plain text did not start (see the messages "
                      "above)")
    return child, ours


def _read_line(stream, seconds: float, pending: bytearray | None = None) -> bytes | None:
    """One line from the child's output: b"" when it ended, None when none came within `seconds`. pending:
    what an earlier call read past its line (the child may write several lines at once); kept up to date."""
    pending = bytearray() if pending is None else pending
    deadline = time.monotonic() + seconds
    fd = stream.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in pending:
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                return b""
            pending += chunk
    end = pending.index(b"\n") + 1
    line = bytes(pending[:end])
    del pending[:end]
    return line


# ---------------------------------------------------------------- the child


def _serve(requests: socket.socket) -> None:
    import resource

    import docx  # noqa: F401  (imported now: see _start_child)
    import pypdf  # noqa: F401

    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY_BYTES, CHILD_MEMORY_BYTES))
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # anything a library prints goes to the error stream, never into the replies
    replies.write(b"ready\n")
    replies.flush()

    def progress(done: int, total: int) -> None:
        replies.write(json.dumps({"progress": [done, total]}).encode() + b"\n")
        replies.flush()

    while True:
        message, fds, _, _ = socket.recv_fds(requests, 1 << 16, 1)
        if not message:  # the parent closed its end
            return
        request = json.loads(message)
        try:
            if len(fds) != 1:
                raise UnreadableFile("the file was not passed to the reader")
            with os.fdopen(fds[0], "rb") as handle:
                doc = read_document(handle, request["name"], request["source"], ReadLimits(**request["limits"]),
                                    progress)
            reply = {"document": asdict(doc)}
        except UnreadableFile as exc:
            reply = {"skipped": str(exc), "costly": isinstance(exc, TooCostly)}
        replies.write(json.dumps(reply).encode() + b"\n")
        replies.flush()


if __name__ == "__main__":
    _serve(socket.socket(fileno=int(sys.argv[1])))
