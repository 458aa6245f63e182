"""Plain text (.txt): the file's own text, decoded without newline translation, so `text[start:end]` of the file
read as UTF-8 is exactly a chunk."""

from __future__ import annotations

from typing import BinaryIO

from ..document import Document, UnreadableFile, decode_text, first_line_title
from ..limits import Budget

SUFFIXES = (".txt",)


def read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    """The file's text; its first line is the title."""
    text = read_text(f)
    return Document(source, first_line_title(text, stem), text)


def read_text(f: BinaryIO) -> str:
    """The decoded text of a text file; UnreadableFile when it is empty or binary."""
    head = f.read(8192)  # a large binary file is refused from its first block, never read whole
    if head.strip() and _looks_binary(head):
        raise UnreadableFile("binary content, not text")
    f.seek(0)
    data = f.read()
    if not data or data.isspace():
        raise UnreadableFile("empty file")
    return decode_text(data)


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return len(head) > 0 and controls / len(head) > 0.1
