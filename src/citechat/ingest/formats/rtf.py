"""Rich Text Format (.rtf), read with striprtf: the document's paragraphs, without its formatting."""

from __future__ import annotations

from typing import BinaryIO

from ..blocks import render_blocks
from ..document import Document, UnreadableFile, first_line_title, require
from ..limits import Budget

SUFFIXES = (".rtf",)


def read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    rtf_to_text = require("striprtf.striprtf", "striprtf", ".rtf files").rtf_to_text
    data = f.read()
    if not data.lstrip().startswith(b"{\\rtf"):
        raise UnreadableFile("not an RTF document (it does not start with {\\rtf)")
    # RTF is 7-bit text; characters beyond it are escapes that striprtf decodes with the document's code page.
    plain = rtf_to_text(data.decode("latin-1"), errors="replace")
    budget.spend(len(plain))
    blocks = [("p", line) for line in plain.split("\n") if line.strip()]
    text = render_blocks(blocks)
    return Document(source, first_line_title(text, stem), text)
