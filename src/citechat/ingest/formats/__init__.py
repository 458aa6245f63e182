"""One reader per file format. A reader is a module here with:

    SUFFIXES: tuple[str, ...]
        The file name endings it reads, lower case, with the dot.
    read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document
        The document in the open file `f` (read from its start): `source` is its name in the documents folder,
        `stem` its file name without the ending (a title of last resort). Raise UnreadableFile with the reason
        when the file cannot be used, and call `budget.spend(chars)` as text comes in (or `budget.check()` in
        long loops) so that a hostile file stops at its limits; whatever the reader does not count is counted
        once it returns. Heavy parsers are imported inside `read`, through `document.require`, so that a
        missing one skips the file with "install X to read .ext files". A ZIP-based format calls
        `budget.check_package(f)` before unpacking anything, a sheet counts its cells (`budget.spend_cells`),
        an image its pixels (`budget.check_pixels`), and OCR announces each page (`budget.scanned_page`).

A new format is one new module, listed in `standalone.MODULES` (an e-mail can then carry it as an attachment). The readers of structured formats write Markdown's shape
(`ingest/blocks.py`), so that the text structure (`ingest/text.py`) finds their headings, lists and table rows;
a place a person finds in the original (a slide, a sheet, an attachment, a scanned page) is a heading, so that
it is in the section path of every passage under it. Helpers shared by readers live beside them
(`pdf_layout.py`, `pdf_scans.py`, `sheets.py`).
"""

from __future__ import annotations

from ..ocr import scanned_page
from . import eml, image, pptx, standalone

READERS = {**standalone.READERS, **{suffix: eml.read for suffix in eml.SUFFIXES}}
SUFFIXES = tuple(READERS)


def formats_line(ocr: bool) -> str:
    """The file types read, in words: for `citechat status` and the chat window's Documents tab."""
    pictures = set(image.SUFFIXES)
    read = " ".join(suffix for suffix in SUFFIXES if suffix not in pictures)
    if not ocr:
        return f"{read} (OCR of scanned pages and images turned off: CITECHAT_OCR=0)"
    return f"{read}; scanned PDF pages and images ({' '.join(image.SUFFIXES)}) by OCR"


def place_heading(name: str) -> bool:
    """Is this section name a place in the original ("Slide 4", "Page 3 (scanned)") rather than a topic?"""
    return scanned_page([name]) is not None or pptx.SLIDE_HEADING.fullmatch(name) is not None
