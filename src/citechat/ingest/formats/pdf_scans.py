"""The scanned pages of a PDF: pages with no text layer (or almost none) that show pictures are rendered with
pypdfium2 and read by OCR (`ingest/ocr.py`), each under its heading "Page 3 (scanned)"."""

from __future__ import annotations

import math
from typing import BinaryIO

from ..document import require
from ..limits import Budget
from ..ocr import page_with_heading, read_picture

# A page whose text layer has fewer visible characters than this has none worth keeping (a scanner's page
# number, a stray mark): it is read by OCR when it shows a picture.
MIN_TEXT_LAYER_CHARS = 20
# Pages are rendered at twice their size in points (144 dpi: printed text reads exactly), but never to more
# pixels than this: a page drawn a metre wide is rendered smaller.
RENDER_SCALE = 2.0
MAX_RENDER_PIXELS = 6_000_000


def read_scanned_pages(f: BinaryIO, texts: list[str], budget: Budget) -> list[str]:
    """The pages' texts, with each scanned page's text read by OCR (left as it was when OCR is turned off,
    or when OCR finds no text on it)."""
    bare = [i for i, text in enumerate(texts) if len("".join(text.split())) < MIN_TEXT_LAYER_CHARS]
    if not bare or not budget.ocr:
        return texts
    pdfium = require("pypdfium2", "pypdfium2", "the scanned pages of PDF files")
    image_kind = require("pypdfium2.raw", "pypdfium2", "the scanned pages of PDF files").FPDF_PAGEOBJ_IMAGE
    f.seek(0)
    pdf = pdfium.PdfDocument(f.read())
    try:
        if len(pdf) != len(texts):  # the two libraries disagree on the pages: keep what pypdf read
            return texts
        scanned = [i for i in bare if _shows_pictures(pdf[i], budget, image_kind)]
        out = list(texts)
        for done, i in enumerate(scanned):
            budget.scanned_page(done, len(scanned))
            page = pdf[i]
            width, height = page.get_size()
            scale = min(RENDER_SCALE, math.sqrt(MAX_RENDER_PIXELS / max(1.0, width * height)))
            text = read_picture(page.render(scale=scale).to_pil())
            budget.spend(len(text))
            if text.strip():
                out[i] = page_with_heading(i + 1, text)
        if scanned:
            budget.scanned_page(len(scanned), len(scanned))
        return out
    finally:
        pdf.close()


def _shows_pictures(page, budget: Budget, image_kind: int) -> bool:
    """Does the page draw an image? Each image's size is checked first: pdfium decodes it whole to render."""
    found = False
    for picture in page.get_objects(filter=[image_kind], max_depth=3):
        budget.check_pixels(*picture.get_px_size())
        found = True
    return found
