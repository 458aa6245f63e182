"""Reading a file of any supported format into a Document (see `formats/`): the text every offset refers to.

With `ReadLimits`, reading stops as soon as a file goes past what one file may cost (`limits.py`); `process.py`
runs the parsers in a child process, which adds a hard stop for the parts of a parse that cannot be
interrupted from inside.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO, Callable

from .document import Document, TooCostly, UnreadableFile
from .files import open_regular
from .formats import READERS
from .limits import Budget, ReadLimits
from .ocr import OFF


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


def read_document(handle: BinaryIO, name: str, source: str, limits: ReadLimits | None = None,
                  progress: Callable[[int, int], None] | None = None) -> Document:
    """Read a Document from an open file, of the type its `name` says (see `load_document`). progress(done,
    total): told before each scanned page is read by OCR."""
    suffix = os.path.splitext(name)[1].lower()
    stem = os.path.splitext(name)[0]
    budget = Budget(limits, progress)
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
        raise UnreadableFile(_no_text(suffix, budget))
    return doc


def _no_text(suffix: str, budget: Budget) -> str:
    if suffix != ".pdf":
        return "no text found (empty file)"
    if not budget.ocr:
        return "no text found: a scanned PDF without a text layer; " + OFF
    return "no text found (empty pages, or scanned pages in which OCR found no text)"
