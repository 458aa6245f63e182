"""PDF: each page's text in pypdf's reading order, with the blank lines a reader sees between paragraphs and
around headings (`pdf_layout.py`); a page with no text layer but pictures (a scanned page) read by OCR
(`pdf_scans.py`); pages joined by a blank line and recorded as Document.pages."""

from __future__ import annotations

from typing import BinaryIO

from ..document import Document, TooCostly, UnreadableFile, first_line_title, join_pages
from ..limits import Budget
from ..ocr import without_scanned_headings
from .pdf_layout import page_texts
from .pdf_scans import read_scanned_pages

SUFFIXES = (".pdf",)


def read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError

    # pypdf's limits live in a context variable: they hold in this thread only, for the whole read.
    unpacked = budget.limits.max_unpacked_bytes if budget.limits else None
    caps = {f"{kind}_maximum_output_length": unpacked for kind in ("zlib", "lzw", "run_length", "brotli", "jbig2",
                                                                   "array_based_stream")} if unpacked else {}
    try:
        with apply_configuration(**caps):
            reader = PdfReader(f)
            if reader.is_encrypted:
                try:
                    unlocked = reader.decrypt("")
                except Exception:
                    unlocked = 0
                if not unlocked:
                    raise UnreadableFile("encrypted PDF (needs a password)")
            texts = page_texts(reader.pages, budget)
            texts = read_scanned_pages(f, texts, budget)
    except LimitReachedError as exc:
        if "decompressing" in str(exc):
            raise budget.limits.too_big("a compressed part unpacks to more than") from None
        raise TooCostly(f"goes past a safety limit of the PDF reader ({exc})") from None
    budget.check()  # an exception raised while reading a form may have been swallowed by pypdf
    text, pages = join_pages(texts)
    meta_title = ""
    try:
        meta_title = (reader.metadata.title or "") if reader.metadata else ""
    except Exception:
        pass
    title = meta_title.strip()[:200] or first_line_title(without_scanned_headings(text), stem)
    return Document(source, title, text, pages)
