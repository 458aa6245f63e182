"""Reading a file of any supported format into a Document (see `formats/`): the text every offset refers to.

With `ReadLimits`, reading stops as soon as a file goes past what one file may cost (`limits.py`); `process.py`
runs the parsers in a child process, which adds a hard stop for the parts of a parse that cannot be
interrupted from inside.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from .document import Document, TooCostly, UnreadableFile
from .files import open_regular
from .formats import READERS
from .limits import Budget, ReadLimits


def load_document(path: Path, source: str, limits: ReadLimits | None = None) -> Document:
    """Read one file into a Document; raises UnreadableFile with the reason when it cannot be used (TooCostly
    when it goes past `limits`; without limits, a file costs what it costs). A link or a special file is
    refused (see `files.open_regular`)."""
    try:
        handle = open_regular(path)
    except OSError as exc:
        raise UnreadableFile(f"cannot read file: {exc.strerror or exc}") from exc
    with handle:
        return read_document(handle, path.name, source, limits)


def read_document(handle: BinaryIO, name: str, source: str, limits: ReadLimits | None = None) -> Document:
    """Read a Document from an open file, of the type its `name` says (see `load_document`)."""
    suffix = os.path.splitext(name)[1].lower()
    stem = os.path.splitext(name)[0]
    budget = Budget(limits)
    try:
        reader = READERS.get(suffix)
        if reader is None:
            raise UnreadableFile(f"unsupported file type '{suffix}'")
        handle.seek(0)  # a descriptor passed from another process shares its position: it may be anywhere
        doc = reader(handle, source, stem, budget)
        budget.spend(max(0, len(doc.text) - budget.chars))  # what the reader did not count as it read
    except UnreadableFile:
        raise
    except MemoryError:
        raise TooCostly("reading it needs more memory than one file may use") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot read file: {exc.strerror or exc}") from exc
    except Exception as exc:  # parsers raise many kinds of errors on corrupt input
        raise UnreadableFile(f"corrupt or unreadable {suffix[1:].upper()} file ({type(exc).__name__}: {exc})") from exc
    if not doc.text.strip():
        raise UnreadableFile("no text found (empty file" + (", or a scanned PDF without a text layer)" if suffix == ".pdf" else ")"))
    return doc
