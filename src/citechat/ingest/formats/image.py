"""Images (.png, .jpg, .jpeg, .tif, .tiff, .webp): a picture of a page, read by OCR (`ingest/ocr.py`); each
frame of a multi-page TIFF is a page. The image's size is read from its header and refused past the pixel
limit before anything is decoded."""

from __future__ import annotations

from typing import BinaryIO

from ..document import Document, UnreadableFile, join_pages, require
from ..limits import Budget
from ..ocr import OFF, page_with_heading, read_picture

SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")


def read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    if not budget.ocr:
        raise UnreadableFile(OFF)
    Image = require("PIL.Image", "Pillow", "images")
    # Pillow's own guard (a decompression bomb) checks the first frame as the file is opened: each frame is
    # checked here instead, against the same kind of limit, before it is decoded (budget.check_pixels).
    Image.MAX_IMAGE_PIXELS = None
    try:
        image = Image.open(f)
    except Image.UnidentifiedImageError:
        raise UnreadableFile("not an image Pillow can read, or a damaged one") from None
    frames = getattr(image, "n_frames", 1)
    texts = []
    for frame in range(frames):
        image.seek(frame)
        budget.check_pixels(*image.size)
        budget.scanned_page(frame, frames)
        text = read_picture(image)
        budget.spend(len(text))
        texts.append(page_with_heading(frame + 1, text))
    budget.scanned_page(frames, frames)
    if not any(texts):
        raise UnreadableFile("OCR found no text in the image")
    text, pages = join_pages(texts)
    return Document(source, stem, text, pages)
