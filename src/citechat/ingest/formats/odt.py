"""OpenDocument text (.odt), read with odfpy: headings, paragraphs, list items and tables in document order,
written out in Markdown's shape as for DOCX (`ingest/blocks.py`); a table of contents is left out (it repeats
the headings). The package's unpacked size is checked before anything is unpacked. The helpers that walk
OpenDocument tables are shared with the spreadsheet reader (`ods.py`)."""

from __future__ import annotations

from typing import BinaryIO, Iterator

from ..blocks import render_blocks, table_rows
from ..document import Document, first_line_title, require
from ..limits import Budget

SUFFIXES = (".odt",)
TEXT = "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
TABLE = "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
# Repeated cells a table may declare (a row padded to the sheet's last column declares thousands): empty ones
# cost nothing, a repeated value is written out at most this often.
MAX_REPEATS = 100


def load_package(f: BinaryIO, budget: Budget, suffix: str):
    """The OpenDocument package in `f`, its unpacked size checked first."""
    opendocument = require("odf.opendocument", "odfpy", f"{suffix} files")
    budget.check_package(f)
    return opendocument.load(f)


def read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    package = load_package(f, budget, ".odt")
    blocks = list(_blocks(package.text, budget))
    text = render_blocks(blocks)
    title = _metadata_title(package)
    return Document(source, title[:200] or first_line_title(text, stem), text)


def _blocks(element, budget: Budget) -> Iterator[tuple[str, str]]:
    from odf import teletype

    for child in element.childNodes:
        if child.nodeType != child.ELEMENT_NODE:
            continue
        namespace, name = child.qname
        budget.check()
        if namespace == TEXT and name == "h":
            level = int(child.getAttribute("outlinelevel") or 1)
            yield f"h{min(6, max(1, level))}", _spent(teletype.extractText(child), budget)
        elif namespace == TEXT and name == "p":
            yield "p", _spent(teletype.extractText(child), budget)
        elif namespace == TEXT and name == "list":
            yield from _list_items(child, budget)
        elif namespace == TABLE and name == "table":
            rows = [cells for _, cells in table_rows_of(child, budget)]
            yield from (("row", line) for line in table_rows(rows))
        elif namespace == TEXT and name in ("table-of-content", "tracked-changes"):
            continue
        else:  # sections and other containers: their content in order
            yield from _blocks(child, budget)


def _list_items(element, budget: Budget) -> Iterator[tuple[str, str]]:
    for kind, text in _blocks(element, budget):
        yield ("li" if kind == "p" else kind), text


def table_rows_of(table, budget: Budget) -> Iterator[tuple[int, list[str]]]:
    """(row number, cell texts) of an OpenDocument table, repeated rows and cells written out (up to
    MAX_REPEATS times; empty cells at the end of a row and empty rows only counted)."""
    from odf import teletype

    number = 0
    for row in _descendants(table, TABLE, "table-row"):
        repeat = int(row.getAttribute("numberrowsrepeated") or 1)
        cells: list[str] = []
        for cell in row.childNodes:
            if cell.nodeType != cell.ELEMENT_NODE or cell.qname[1] not in ("table-cell", "covered-table-cell"):
                continue
            text = " ".join(teletype.extractText(p) for p in cell.childNodes if p.nodeType == p.ELEMENT_NODE)
            cells.extend([text] * min(int(cell.getAttribute("numbercolumnsrepeated") or 1), MAX_REPEATS))
        while cells and not cells[-1].strip():
            cells.pop()
        budget.spend_cells(len(cells))
        budget.spend(sum(map(len, cells)))
        if cells:
            for _ in range(min(repeat, MAX_REPEATS)):
                number += 1
                yield number, cells
            number += max(0, repeat - MAX_REPEATS)
        else:
            number += repeat


def _descendants(element, namespace: str, name: str) -> Iterator:
    """The elements `name` inside `element`, not inside a nested table."""
    for child in element.childNodes:
        if child.nodeType != child.ELEMENT_NODE:
            continue
        if child.qname == (namespace, name):
            yield child
        elif child.qname != (TABLE, "table"):
            yield from _descendants(child, namespace, name)


def _spent(text: str, budget: Budget) -> str:
    budget.spend(len(text))
    return text


def _metadata_title(package) -> str:
    from odf import dc, teletype

    titles = package.meta.getElementsByType(dc.Title) if package.meta is not None else []
    return teletype.extractText(titles[0]).strip() if titles else ""
