"""Text as the readers of structured formats (HTML, DOCX) write it out: in Markdown's shape, headings as `#`
lines, list items as `- ` lines, paragraphs apart by a blank line, and each table row as one line with its
column headers ("Milestone: Go-live; Due date: 3 March 2025")."""

from __future__ import annotations

import re
from itertools import zip_longest


def render_blocks(blocks: list[tuple[str, str]]) -> str:
    """Write (kind, text) blocks as text: paragraphs apart by a blank line, list items and table rows of one
    list or table on consecutive lines. kind: "p", "h1".."h6", "li", "row", "pre"."""
    out: list[str] = []
    previous = ""
    for kind, text in blocks:
        if kind != "pre":
            text = re.sub(r"[ \t\r\f\v]*\n[ \t\r\f\v]*", "\n", re.sub(r"[ \t\r\f\v]+", " ", text)).strip()
        if not text.strip():
            continue
        if kind[0] == "h" and kind[1:].isdigit():
            text = "#" * int(kind[1:]) + " " + text.replace("\n", " ")
        elif kind == "li":
            text = "- " + text
        if out:
            out.append("\n" if kind == previous and kind in ("li", "row") else "\n\n")
        out.append(text)
        previous = kind
    return "".join(out)


def table_rows(rows: list[list[str]], header: bool | None = None) -> list[str]:
    """One line per table row, each cell with its column header ("Milestone: Go-live; Due date: 3 March 2025").
    header: whether the first row holds the column headers; None: guess from the cells."""
    rows = [[re.sub(r"\s+", " ", cell).strip() for cell in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if not rows:
        return []
    if header is None:
        header = _looks_like_header(rows)
    if header and len(rows) > 1:
        names, body = rows[0], rows[1:]
        cells = [[(name, value) for name, value in zip_longest(names, row, fillvalue="") if value] for row in body]
        return ["; ".join(f"{name}: {value}" if name else value for name, value in row) for row in cells]
    # No header: a two-column table is a list of "label: value" pairs.
    return [f"{row[0]}: {row[1]}" if len(row) == 2 and all(row) else "; ".join(c for c in row if c) for row in rows]


def _looks_like_header(rows: list[list[str]]) -> bool:
    """Short labels without a full stop; no figures, unless the figures are years or the columns below them
    hold figures the labels do not (as in "Due date" over dates)."""
    first, body = rows[0], rows[1:]
    labels = [c for c in first if c]
    if not body or len(labels) < max(1, len(first) - 1) or any(len(c) > 40 or c.endswith(".") for c in labels):
        return False
    def has_digit(cell: str) -> bool:
        return any(ch.isdigit() for ch in cell)
    if all(re.fullmatch(r"(?:FY ?)?\d{4}", c) for c in labels):
        return True
    if any(has_digit(c) for c in labels):
        return False
    if len(first) > 2:
        return True
    # Two columns: "label | value" pairs look just like a header over its rows; a column of figures below a
    # label without figures tells them apart.
    return any(sum(has_digit(row[j]) for row in body if j < len(row)) * 2 >= len(body) for j in range(len(first)))
