"""Excel workbooks (.xlsx, .xlsm), read with openpyxl in read-only mode: the values the workbook last showed
(cached results of formulas, never evaluated; macros never run), one section per visible sheet, each row a
line of "Header: value" pairs (`sheets.py`). The package's unpacked size is checked before anything is
unpacked, and the cells visited are counted against the cell limit."""

from __future__ import annotations

from typing import BinaryIO

from ..blocks import render_blocks
from ..document import Document, require
from ..limits import Budget
from .sheets import sheet_blocks

SUFFIXES = (".xlsx", ".xlsm")


def read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    openpyxl = require("openpyxl", "openpyxl", ".xlsx files")
    budget.check_package(f)
    book = openpyxl.load_workbook(f, read_only=True, data_only=True, keep_links=False)
    try:
        blocks: list[tuple[str, str]] = []
        for sheet in book.worksheets:
            if sheet.sheet_state != "visible":
                continue
            # The recorded dimensions may claim the whole grid: without them, a row is as wide as its last cell.
            sheet.reset_dimensions()
            rows = enumerate(sheet.iter_rows(values_only=True), start=1)  # missing rows come as empty ones
            blocks.extend(sheet_blocks(sheet.title, rows, budget))
        title = (book.properties.title or "").strip() if book.properties else ""
    finally:
        book.close()
    return Document(source, title[:200] or stem, render_blocks(blocks))
