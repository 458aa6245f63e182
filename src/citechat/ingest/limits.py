"""What reading one file may cost, checked as the text comes in: characters of text, characters of one page,
bytes unpacked from its compressed parts, seconds. A file over a limit is skipped with the reason and the
setting that raises it. `process.py` adds a hard stop for what a parser cannot interrupt from inside.
"""

from __future__ import annotations

import time
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from .document import TooCostly

# pypdf's text extraction takes time quadratic in the text of one page (it grows one string by concatenation):
# 200,000 characters, fifty times a dense printed page, take about a second; a page built to hold millions,
# minutes. No real page comes near it.
MAX_PAGE_CHARS = 200_000
# A document has tens of parts, hundreds with many images; a ZIP of millions of empty entries is a trap.
MAX_ZIP_PARTS = 10_000


@dataclass(frozen=True)
class ReadLimits:
    """What reading one file may cost; see Settings.max_file_chars, max_unpacked_mb, parse_seconds."""

    max_chars: int = 10_000_000
    max_unpacked_mb: float = 64
    seconds: float = 30

    @classmethod
    def of(cls, settings) -> "ReadLimits":
        return cls(settings.max_file_chars, settings.max_unpacked_mb, settings.parse_seconds)

    @property
    def max_unpacked_bytes(self) -> int:
        return int(self.max_unpacked_mb * 1024 * 1024)

    def too_slow(self) -> TooCostly:
        return TooCostly(f"reading took longer than {self.seconds:g} s (set CITECHAT_PARSE_SECONDS to raise the limit)")

    def too_big(self, what: str = "unpacks to more than") -> TooCostly:
        return TooCostly(f"{what} {self.max_unpacked_mb:g} MB when decompressed, a possible decompression bomb (set "
                         "CITECHAT_MAX_UNPACKED_MB to raise the limit)")


class Budget:
    """The characters and time spent reading one file, checked against its limits as the text comes in."""

    def __init__(self, limits: ReadLimits | None) -> None:
        self.limits = limits
        self.deadline = time.monotonic() + limits.seconds if limits else float("inf")
        self.chars = 0
        self.page = self.page_chars = 0
        self.exceeded: TooCostly | None = None  # kept: a parser may swallow the exception raised in a callback

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
            self.exceeded = self.limits.too_slow()
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
