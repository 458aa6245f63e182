"""OpenDocument spreadsheets (.ods), read with odfpy: one section per sheet, each row a line of "Header: value"
pairs (`sheets.py`); repeated rows and cells as the file declares them, counted against the cell limit."""

from __future__ import annotations

from typing import BinaryIO

from ..blocks import render_blocks
from ..document import Document
from ..limits import Budget
from .odt import TABLE, load_package, table_rows_of
from .sheets import sheet_blocks

SUFFIXES = (".ods",)


def read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    package = load_package(f, budget, ".ods")
    blocks: list[tuple[str, str]] = []
    for sheet in package.spreadsheet.childNodes:
        if sheet.nodeType == sheet.ELEMENT_NODE and sheet.qname == (TABLE, "table"):
            blocks.extend(sheet_blocks(sheet.getAttribute("name"), table_rows_of(sheet, budget), budget))
    return Document(source, stem, render_blocks(blocks))
