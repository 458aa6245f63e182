"""PowerPoint presentations (.pptx), read with python-pptx: one section per slide, headed "Slide 4", with the
slide's title as the heading under it ("Slide 4 › Quarterly targets"); then its text boxes in reading order
(top to bottom, then left to right; bullet points as list items), its tables as "Header: value" rows, and its
speaker notes under "Notes". The package's unpacked size is checked before anything is unpacked."""

from __future__ import annotations

import re
from typing import BinaryIO, Iterator

from ..blocks import render_blocks, table_rows
from ..document import Document, require
from ..limits import Budget

SUFFIXES = (".pptx",)
NOTES = "Notes"
SLIDE_HEADING = re.compile(r"Slide \d+")  # see slide_heading


def read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    presentations = require("pptx", "python-pptx", ".pptx files")
    budget.check_package(f)
    deck = presentations.Presentation(f)
    blocks: list[tuple[str, str]] = []
    first_title, counted = "", 0
    for number, slide in enumerate(deck.slides, start=1):
        budget.check()
        title_shape = slide.shapes.title
        title = _one_line(title_shape.text_frame.text) if title_shape is not None else ""
        first_title = first_title or title
        blocks.append(("h1", slide_heading(number)))
        if title:
            blocks.append(("h2", title))
        for shape in _reading_order(slide.shapes):
            if title_shape is None or shape.shape_id != title_shape.shape_id:
                blocks.extend(_shape_blocks(shape, budget))
        notes = slide.notes_slide.notes_text_frame if slide.has_notes_slide else None
        if notes is not None and notes.text.strip():
            blocks.append(("h3", NOTES))
            blocks.extend(("p", _text(p.text)) for p in notes.paragraphs)
        budget.spend(sum(len(text) for _, text in blocks[counted:]))
        counted = len(blocks)
    core_title = (deck.core_properties.title or "").strip()
    return Document(source, core_title[:200] or first_title[:200] or stem, render_blocks(blocks))


def slide_heading(number: int) -> str:
    """The heading a slide's text sits under: "Slide 4"."""
    return f"Slide {number}"


def _reading_order(shapes) -> list:
    return sorted(shapes, key=lambda s: ((s.top or 0), (s.left or 0)))


def _shape_blocks(shape, budget: Budget) -> Iterator[tuple[str, str]]:
    from pptx.enum.shapes import MSO_SHAPE_TYPE, PP_PLACEHOLDER

    if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
        for inner in _reading_order(shape.shapes):
            yield from _shape_blocks(inner, budget)
    elif getattr(shape, "has_table", False) and shape.has_table:
        table = shape.table
        rows = [[cell.text for cell in row.cells] for row in table.rows]
        budget.spend_cells(sum(map(len, rows)))
        yield from (("row", line) for line in table_rows(rows, True if table.first_row else None))
    elif shape.has_text_frame:
        bullets = shape.is_placeholder and shape.placeholder_format.type in (PP_PLACEHOLDER.BODY,
                                                                            PP_PLACEHOLDER.OBJECT)
        for paragraph in shape.text_frame.paragraphs:
            text = _text(paragraph.text)
            if text.strip():
                yield ("li" if bullets or paragraph.level else "p"), text


def _text(text: str) -> str:
    return text.replace("\v", "\n")  # python-pptx gives a line break inside a paragraph as a vertical tab


def _one_line(text: str) -> str:
    return " ".join(text.split())
