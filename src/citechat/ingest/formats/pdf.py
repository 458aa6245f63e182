"""PDF: each page's text in pypdf's reading order, with the blank lines a reader sees between paragraphs and
around headings (`pdf_layout.py`); pages joined by a blank line and recorded as Document.pages."""

from __future__ import annotations

from typing import BinaryIO

from ..document import Document, TooCostly, UnreadableFile, first_line_title
from ..limits import Budget
from .pdf_layout import page_texts

SUFFIXES = (".pdf",)
PAGE_SEPARATOR = "\n\n"


def join_pages(texts: list[str]) -> tuple[str, list[tuple[int, int]]]:
    """The pages' texts joined by PAGE_SEPARATOR, and where each page is in the result."""
    parts, pages, pos = [], [], 0
    for i, page_text in enumerate(texts):
        if i:
            parts.append(PAGE_SEPARATOR)
            pos += len(PAGE_SEPARATOR)
        parts.append(page_text)
        pages.append((pos, pos + len(page_text)))
        pos += len(page_text)
    return "".join(parts), pages


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
    return Document(source, meta_title.strip()[:200] or first_line_title(text, stem), text, pages)
