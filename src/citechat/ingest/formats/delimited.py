"""Comma- and tab-separated values (.csv, .tsv): one sheet (`sheets.py`), its rows numbered as a spreadsheet
shows them (the header row is row 1). The delimiter is guessed from the first lines (`csv.Sniffer`), falling
back to the one the file name says."""

from __future__ import annotations

import csv
import io
from typing import BinaryIO

from ..blocks import render_blocks
from ..document import Document, UnreadableFile, decode_text
from ..limits import Budget
from .sheets import sheet_blocks

SUFFIXES = (".csv", ".tsv")
# The delimiter is guessed from this much of the file (the guess takes time quadratic in it).
SNIFF_CHARS = 8_192
# A field longer than this is no cell of a table: csv's own default limit (128 KB) would raise on it anyway.
FIELD_LIMIT = 131_072


def read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    data = f.read()
    if not data.strip():
        raise UnreadableFile("empty file")
    if b"\x00" in data[:8192]:
        raise UnreadableFile("binary content, not text")
    text = decode_text(data).lstrip("\ufeff")
    dialect = _dialect(text[:SNIFF_CHARS], "\t" if source.lower().endswith(".tsv") else ",")
    csv.field_size_limit(FIELD_LIMIT)
    rows = enumerate(csv.reader(io.StringIO(text, newline=""), dialect), start=1)
    try:
        blocks = sheet_blocks(None, rows, budget)
    except csv.Error as exc:
        raise UnreadableFile(f"not a readable table of values ({exc})") from None
    return Document(source, stem, render_blocks(blocks))


def _dialect(sample: str, default: str):
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:  # one column, or too few lines to tell
        return csv.excel_tab if default == "\t" else csv.excel
