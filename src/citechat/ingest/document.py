"""A document as read from a file: the text every offset refers to, its title and its pages; the reasons a file
cannot be read; and the text helpers every reader shares."""

from __future__ import annotations

import importlib
from dataclasses import dataclass


class UnreadableFile(Exception):
    """A file that cannot be indexed; the message says why."""


class TooCostly(UnreadableFile):
    """A file that goes past one of the read limits."""


@dataclass
class Document:
    source: str  # path relative to the documents folder, with forward slashes
    title: str
    text: str
    pages: list[tuple[int, int]] | None = None  # (start, end) of each page in `text`, for paged formats


def require(module: str, package: str, what: str, pip: str | None = None):
    """The module a reader needs, imported; UnreadableFile("install python-pptx to read .pptx files (pip
    install python-pptx)") when it is not installed, so the file is skipped with what to do."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UnreadableFile(f"install {package} to read {what} (pip install {pip or package})") from None


PAGE_SEPARATOR = "\n\n"


def join_pages(texts: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """The pages' texts joined by PAGE_SEPARATOR, and where each page is in the result."""
    parts, pages, pos = [], [], 0
    for i, page_text in enumerate(texts):
        if i:
            parts.append(PAGE_SEPARATOR)
            pos += len(PAGE_SEPARATOR)
        parts.append(page_text)
        pages.append((pos, pos + len(page_text)))
        pos += len(page_text)
    return "".join(parts), pages


def decode_text(data: bytes) -> str:
    """Decode bytes as UTF-8 (or UTF-16 with a BOM); lines that are not UTF-8 are read as Windows-1252.

    A UTF-8 byte-order mark is kept as a character so offsets match the file read as UTF-8.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(_decode_line(line) for line in data.splitlines(keepends=True))


def _decode_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("cp1252", errors="replace")


def first_line_title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("\ufeff").lstrip("#").strip()
        if line:
            return line[:200]
    return fallback
