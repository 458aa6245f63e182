"""Sheets as a person reads them (for the workbook, OpenDocument spreadsheet and CSV readers): one section per
sheet, headed by its name, and each row one line of "Header: value" pairs under the sheet's header row, ending
with where the row is (its number as the spreadsheet shows it), so that a quoted row says so itself and a
question that names the sheet finds its rows:

    # Marketing

    Quarter: Q3; Budget: 42,000 EUR; Owner: Dana Whitfield (Marketing, row 4)

Empty rows and cells are left out, so are empty columns; a lone cell above the table (a sheet's title) is a
paragraph of its own. The header row itself is never a line: it is only ever read as the labels of the rows.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Iterable

from ..limits import Budget

MAX_LABEL_CHARS = 60  # a longer first-row cell is text, not a column header
_NUMBER = re.compile(r"[-+(]?[$€£¥]?\s?\d[\d.,'\s]*%?\)?")


def sheet_blocks(name: str | None, rows: Iterable[tuple[int, list]], budget: Budget) -> list[tuple[str, str]]:
    """The (kind, text) blocks (see `blocks.render_blocks`) of one sheet. rows: (row number, cell values) in
    order; values as the library gives them (text, numbers, dates, None)."""
    blocks: list[tuple[str, str]] = [("h1", name)] if name else []
    header: list[str] | None = None
    for number, values in rows:
        budget.spend_cells(len(values))
        cells = [cell_text(value) for value in values]
        filled = [cell for cell in cells if cell]
        if not filled:
            continue
        if header is None:
            if len(filled) >= 2 and all(_is_label(value, cell) for value, cell in zip(values, cells) if cell):
                header = cells
                continue
            if len(filled) == 1:  # a title or a note above the table
                blocks.append(("p", filled[0]))
                continue
            header = []  # a table without a header row
        line = row_line(name, number, header, cells)
        budget.spend(len(line))
        blocks.append(("row", line))
    return blocks


def row_line(sheet: str | None, number: int, header: list[str], cells: list[str]) -> str:
    """ "Quarter: Q3; Budget: 42,000 (Marketing, row 4)": the row's cells with their headers (a cell without a
    header is its value alone), then where the row is, so that a quote of it says so itself."""
    pairs = [(header[j] if j < len(header) else "", cell) for j, cell in enumerate(cells) if cell]
    where = f"{sheet}, row {number}" if sheet else f"row {number}"
    return "; ".join(f"{label}: {cell}" if label else cell for label, cell in pairs) + f" ({where})"


def cell_text(value) -> str:
    """A cell's value as the sheet shows it, on one line; ";" (which separates the pairs of a row) as ","."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        text = str(int(value)) if value.is_integer() and abs(value) < 1e15 else format(value, ".10g")
    elif isinstance(value, dt.datetime):
        text = value.strftime("%Y-%m-%d" if value.time() == dt.time() else "%Y-%m-%d %H:%M")
    elif isinstance(value, (dt.date, dt.time)):
        text = value.isoformat()
    else:
        text = str(value)
    return re.sub(r"\s+", " ", text).replace(";", ",").strip()


def _is_label(value, text: str) -> bool:
    """Could this cell be a column header: short text that is not a figure."""
    return isinstance(value, str) and len(text) <= MAX_LABEL_CHARS and not _NUMBER.fullmatch(text)
