"""Markdown (.md, .markdown): the file's own text, as for plain text; the first heading is the title. Headings,
lists and tables are read by the text structure (`ingest/text.py`)."""

from __future__ import annotations

import re
from typing import BinaryIO

from ..document import Document, first_line_title
from ..limits import Budget
from .txt import read_text

SUFFIXES = (".md", ".markdown")


def read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    text = read_text(f)
    heading = re.search(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)
    return Document(source, heading.group(1)[:200] if heading else first_line_title(text, stem), text)
