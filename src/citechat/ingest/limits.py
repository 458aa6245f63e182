"""What reading one file may cost, checked as the text comes in: characters of text, characters of one page,
bytes unpacked from its compressed parts, cells of a sheet, pixels of an image, seconds (and seconds per
scanned page read by OCR). A file over a limit is skipped with the reason and the setting that raises it.
`process.py` adds a hard stop for what a parser cannot interrupt from inside.
"""

from __future__ import annotations

import time
import zipfile
from dataclasses import dataclass
from typing import BinaryIO, Callable

from .document import TooCostly

# pypdf's text extraction takes time quadratic in the text of one page (it grows one string by concatenation):
# 200,000 characters, fifty times a dense printed page, take about a second; a page built to hold millions,
# minutes. No real page comes near it.
MAX_PAGE_CHARS = 200_000
# A document has tens of parts, hundreds with many images; a ZIP of millions of empty entries is a trap.
MAX_ZIP_PARTS = 10_000
# A sheet's cells as the reader visits them (empty ones inside a row included): a million is a large real
# workbook; a sheet built with a cell at its far corner would otherwise make the reader walk billions.
MAX_SHEET_CELLS = 1_000_000
# An image (or a picture on a scanned page) of more pixels is refused before it is decoded: 64 million is an A4
# page scanned at 600 dpi (35 million) with room to spare, and 200 MB of memory once decoded.
MAX_IMAGE_PIXELS = 64_000_000
# Scanned pages read by OCR in one file: each takes seconds (bench/README.md), so a file of thousands of blank
# pages would take hours.
MAX_SCANNED_PAGES = 500


@dataclass(frozen=True)
class ReadLimits:
    """What reading one file may cost; see Settings.max_file_chars, max_unpacked_mb, parse_seconds."""

    max_chars: int = 10_000_000
    max_unpacked_mb: float = 64
    seconds: float = 30
    ocr: bool = True  # read scanned pages and images by OCR (Settings.ocr)
    ocr_page_seconds: float = 30  # each scanned page may take this long, on top of `seconds`

    @classmethod
    def of(cls, settings) -> "ReadLimits":
        return cls(settings.max_file_chars, settings.max_unpacked_mb, settings.parse_seconds, settings.ocr,
                   settings.ocr_page_seconds)

    @property
    def max_unpacked_bytes(self) -> int:
        return int(self.max_unpacked_mb * 1024 * 1024)

    def too_slow(self) -> TooCostly:
        return TooCostly(f"reading took longer than {self.seconds:g} s (set CITECHAT_PARSE_SECONDS to raise the limit)")

    def page_too_slow(self) -> TooCostly:
        return TooCostly(f"a scanned page took longer than {self.ocr_page_seconds:g} s to read by OCR (set "
                         "CITECHAT_OCR_PAGE_SECONDS to raise the limit)")

    def too_big(self, what: str = "unpacks to more than") -> TooCostly:
        return TooCostly(f"{what} {self.max_unpacked_mb:g} MB when decompressed, a possible decompression bomb (set "
                         "CITECHAT_MAX_UNPACKED_MB to raise the limit)")


class Budget:
    """The characters and time spent reading one file, checked against its limits as the text comes in.
    progress(done, total): told before each scanned page is read by OCR."""

    def __init__(self, limits: ReadLimits | None, progress: Callable[[int, int], None] | None = None) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds if limits else float("inf")
        self.chars = 0
        self.page = self.page_chars = 0
        self.cells = 0
        self.scanned = 0  # scanned pages started
        self.exceeded: TooCostly | None = None  # kept: a parser may swallow the exception raised in a callback
        self.progress = progress
        self.scanning = False  # reading a scanned page: its own time limit applies

    @property
    def ocr(self) -> bool:
        """Read scanned pages and images by OCR (always, when reading without limits)."""
        return self.limits is None or self.limits.ocr

    def scanned_page(self, done: int, total: int) -> None:
        """Before the next scanned page (`done` of `total` read so far): checks the time spent, then gives the
        page its own time (`ReadLimits.ocr_page_seconds`) and reports progress."""
        self.check()
        if self.limits is not None and self.scanned + total - done > MAX_SCANNED_PAGES:  # refused before the first
            self.fail(TooCostly(f"more than {MAX_SCANNED_PAGES} scanned pages to read by OCR"))
        if done < total:
            self.scanned += 1  # across the file: an e-mail's attachments add up
        if self.limits is not None:
            self.scanning = True
            self.deadline = max(self.deadline, time.monotonic() + self.limits.ocr_page_seconds)
        if self.progress is not None:
            self.progress(done, total)

    def spend_cells(self, cells: int) -> None:
        """Count `cells` more cells visited in a sheet; raises TooCostly past MAX_SHEET_CELLS."""
        self.cells += cells
        if self.limits is not None and self.cells > MAX_SHEET_CELLS:
            self.fail(TooCostly(f"more than {MAX_SHEET_CELLS:,} cells in its sheets: a file built to be slow to "
                                "read, or a sheet of data rather than a document"))

    def check_pixels(self, width: int, height: int) -> None:
        """Refuse an image (or a page to render) of more than MAX_IMAGE_PIXELS, before it is decoded."""
        if self.limits is not None and width * height > MAX_IMAGE_PIXELS:
            self.fail(TooCostly(f"an image of {width:,} x {height:,} pixels, more than the limit of "
                                f"{MAX_IMAGE_PIXELS // 1_000_000} million: a possible decompression bomb"))

    def check_package(self, f: BinaryIO) -> None:
        """For a ZIP-based format: refuse a package whose parts unpack to more than the limit (`check_zip`)."""
        if self.limits is not None:
            check_zip(f, self.limits)

    def new_page(self) -> None:
        self.check()
        self.page += 1
        self.page_chars = 0

    def spend(self, chars: int) -> None:
        """Count `chars` more characters of text; raises TooCostly past a limit."""
        self.chars += chars
        self.page_chars += chars
        if self.limits is None:
            return
        if self.chars > self.limits.max_chars:
            self.fail(TooCostly(f"more than {self.limits.max_chars:,} characters of text (set CITECHAT_MAX_FILE_CHARS "
                                "to raise the limit)"))
        if self.page and self.page_chars > MAX_PAGE_CHARS:
            self.fail(TooCostly(f"page {self.page} holds more than {MAX_PAGE_CHARS:,} characters of text, far more "
                                "than any printed page: a file built to be slow to read"))
        self.check()

    def check(self) -> None:
        if self.exceeded is None and time.monotonic() > self.deadline:
            self.exceeded = self.limits.page_too_slow() if self.scanning else self.limits.too_slow()
        if self.exceeded is not None:
            raise self.exceeded

    def fail(self, exc: TooCostly) -> None:
        self.exceeded = self.exceeded or exc
        raise self.exceeded


def check_zip(f: BinaryIO, limits: ReadLimits) -> None:
    """Refuse a ZIP package whose parts unpack to more than the limit, before anything is unpacked. The
    declared sizes are a bound: zipfile never returns more than an entry's declared size (a longer stream fails
    its CRC check, or is cut there), and the readers of zip-based formats read every part through zipfile."""
    with zipfile.ZipFile(f) as package:
        entries = package.infolist()
    f.seek(0)
    if len(entries) > MAX_ZIP_PARTS:
        raise TooCostly(f"the package holds {len(entries):,} parts, more than a document has (limit {MAX_ZIP_PARTS:,})")
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > limits.max_unpacked_bytes:
        megabytes = unpacked / 2**20
        raise limits.too_big(f"unpacks to {megabytes:,.{0 if megabytes >= 10 else 1}f} MB, more than the limit of")
