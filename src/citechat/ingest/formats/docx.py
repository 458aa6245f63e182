"""Word documents (.docx): paragraphs and tables in document order, written out in Markdown's shape
(`ingest/blocks.py`): heading styles as `#` lines, list paragraphs as `- ` lines, each table row as one line with
its column headers. The package's unpacked size is checked before anything is unpacked."""

from __future__ import annotations

import re
from typing import BinaryIO

from ..blocks import render_blocks, table_rows
from ..document import Document, first_line_title
from ..limits import Budget

SUFFIXES = (".docx",)


def read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    import docx
    from docx.table import Table

    budget.check_package(f)
    d = docx.Document(f)
    style_of = _style_names()
    blocks: list[tuple[str, str]] = []
    for item in d.iter_inner_content():  # paragraphs and tables in document order
        if isinstance(item, Table):
            rows = _docx_table(item)
            budget.spend(sum(map(len, rows)))
            blocks.extend(("row", line) for line in rows)
        else:
            text = item.text
            budget.spend(len(text))
            if text.strip():
                blocks.append((_docx_kind(item, style_of(item)), text))
    text = render_blocks(blocks)
    title = (d.core_properties.title or "").strip()
    return Document(source, title[:200] or first_line_title(text, stem), text)


def _style_names():
    """A paragraph's style name, looked up once per style: python-docx scans every style of the document for
    each paragraph that names none (milliseconds each; minutes for a long document)."""
    names: dict[str | None, str] = {}

    def style_of(paragraph) -> str:
        style_id = paragraph._p.style
        if style_id not in names:
            try:
                style = paragraph.style
                names[style_id] = (style.name or "") if style is not None else ""
            except (KeyError, ValueError):  # a style the file names but does not define
                names[style_id] = ""
        return names[style_id]

    return style_of


def _docx_kind(paragraph, style: str) -> str:
    if style == "Title":
        return "h1"
    heading = re.fullmatch(r"Heading (\d)", style)
    if heading:
        return f"h{min(6, int(heading.group(1)) + 1)}"
    properties = paragraph._p.pPr
    if style.startswith("List") or (properties is not None and properties.numPr is not None):
        return "li"
    return "p"


def _docx_table(table) -> list[str]:
    rows: list[list[str]] = []
    bold_first = False
    for r, row in enumerate(table.rows):
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is listed once per grid column it spans
                continue
            seen.add(id(cell._tc))
            cells.append(cell.text)
        rows.append(cells)
        if r == 0:
            runs = [run for cell in row.cells for p in cell.paragraphs for run in p.runs if run.text.strip()]
            bold_first = bool(runs) and all(run.bold for run in runs)
            bold_first = bold_first or row._tr.trPr is not None and row._tr.trPr.find(
                "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}tblHeader") is not None
    return table_rows(rows, True if bold_first else None)
