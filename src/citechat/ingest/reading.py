"""Reading files of each supported format into a Document: the text every offset refers to.

For .txt and .md files the text is the file's own text, decoded without newline translation, so
`text[start:end]` of the file read as UTF-8 is exactly a chunk. HTML (`html_reader.py`) and DOCX are written
out as a person reads them, in Markdown's shape (`blocks.py`): headings as `#` lines, list items as `- ` lines,
each table row as one line with its column headers. PDF pages keep pypdf's reading order; `pdf_layout.py` puts
the blank lines a reader sees between paragraphs and around headings.

With `ReadLimits`, reading stops as soon as a file goes past what one file may cost: characters of text,
bytes unpacked from its compressed parts, seconds. `reader_process.py` runs the parsers in a child process,
which adds a hard stop for the parts of a parse that cannot be interrupted from inside.
"""

from __future__ import annotations

import os
import re
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .blocks import render_blocks, table_rows
from .files import open_regular
from .html_reader import html_blocks

PAGE_SEPARATOR = "\n\n"


class UnreadableFile(Exception):
    """A file that cannot be indexed; the message says why."""


class TooCostly(UnreadableFile):
    """A file that goes past one of the read limits."""


# pypdf's text extraction takes time quadratic in the text of one page (it grows one string by concatenation):
# 200,000 characters, fifty times a dense printed page, take about a second; a page built to hold millions,
# minutes. No real page comes near it.
MAX_PAGE_CHARS = 200_000
# A document has tens of parts, hundreds with many images; a ZIP of millions of empty entries is a trap.
MAX_DOCX_PARTS = 10_000


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


@dataclass
class Document:
    source: str  # path relative to the documents folder, with forward slashes
    title: str
    text: str
    pages: list[tuple[int, int]] | None = None  # (start, end) of each page in `text`, for paged formats


def load_document(path: Path, source: str, limits: ReadLimits | None = None) -> Document:
    """Read one file into a Document; raises UnreadableFile with the reason when it cannot be used (TooCostly
    when it goes past `limits`; without limits, a file costs what it costs). A link or a special file is
    refused (see `files.open_regular`)."""
    try:
        handle = open_regular(path)
    except OSError as exc:
        raise UnreadableFile(f"cannot read file: {exc.strerror or exc}") from exc
    with handle:
        return read_document(handle, path.name, source, limits)


def read_document(handle: BinaryIO, name: str, source: str, limits: ReadLimits | None = None) -> Document:
    """Read a Document from an open file, of the type its `name` says (see `load_document`)."""
    suffix = os.path.splitext(name)[1].lower()
    stem = os.path.splitext(name)[0]
    budget = Budget(limits)
    try:
        handle.seek(0)  # a descriptor passed from another process shares its position: it may be anywhere
        if suffix in (".txt", ".md", ".markdown"):
            doc = _load_text(handle, source, stem, markdown=suffix != ".txt")
        elif suffix in (".html", ".htm"):
            doc = _load_html(handle, source, stem)
        elif suffix == ".pdf":
            doc = _load_pdf(handle, source, stem, budget)
        elif suffix == ".docx":
            doc = _load_docx(handle, source, stem, budget)
        else:
            raise UnreadableFile(f"unsupported file type '{suffix}'")
        if suffix not in (".pdf", ".docx"):  # those two count as they read
            budget.spend(len(doc.text))
    except UnreadableFile:
        raise
    except MemoryError:
        raise TooCostly("reading it needs more memory than one file may use") from None
    except OSError as exc:
        raise UnreadableFile(f"cannot read file: {exc.strerror or exc}") from exc
    except Exception as exc:  # parsers raise many kinds of errors on corrupt input
        raise UnreadableFile(f"corrupt or unreadable {suffix[1:].upper()} file ({type(exc).__name__}: {exc})") from exc
    if not doc.text.strip():
        raise UnreadableFile("no text found (empty file" + (", or a scanned PDF without a text layer)" if suffix == ".pdf" else ")"))
    return doc


def decode_text(data: bytes) -> str:
    """Decode bytes as UTF-8 (or UTF-16 with a BOM); lines that are not UTF-8 are read as Windows-1252.

    A UTF-8 byte-order mark is kept as a character so offsets match the file read as UTF-8.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "".join(_decode_line(line) for line in data.splitlines(keepends=True))


def _decode_line(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("cp1252", errors="replace")


def _looks_binary(data: bytes) -> bool:
    head = data[:8192]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return False
    if b"\x00" in head:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return len(head) > 0 and controls / len(head) > 0.1


def first_line_title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("\ufeff").lstrip("#").strip()
        if line:
            return line[:200]
    return fallback


def _load_text(f: BinaryIO, source: str, stem: str, markdown: bool) -> Document:
    head = f.read(8192)  # a large binary file is refused from its first block, never read whole
    if head.strip() and _looks_binary(head):
        raise UnreadableFile("binary content, not text")
    f.seek(0)
    data = f.read()
    if not data or data.isspace():
        raise UnreadableFile("empty file")
    text = decode_text(data)
    title = first_line_title(text, stem)
    if markdown:
        heading = re.search(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)
        if heading:
            title = heading.group(1)[:200]
    return Document(source, title, text)


def _load_html(f: BinaryIO, source: str, stem: str) -> Document:
    data = f.read()
    if not data.strip():
        raise UnreadableFile("empty file")
    blocks, title = html_blocks(decode_text(data))
    text = render_blocks(blocks)
    return Document(source, title[:200] or first_line_title(text, stem), text)


# ---------------------------------------------------------------- PDF


def join_pages(page_texts: list[str]) -> tuple[str, list[tuple[int, int]]]:
    parts, pages, pos = [], [], 0
    for i, page_text in enumerate(page_texts):
        if i:
            parts.append(PAGE_SEPARATOR)
            pos += len(PAGE_SEPARATOR)
        parts.append(page_text)
        pages.append((pos, pos + len(page_text)))
        pos += len(page_text)
    return "".join(parts), pages


def _load_pdf(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    from pypdf import PdfReader, apply_configuration
    from pypdf.errors import LimitReachedError

    from .pdf_layout import page_texts

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


# ---------------------------------------------------------------- DOCX


def check_zip(f: BinaryIO, limits: ReadLimits) -> None:
    """Refuse a ZIP package whose parts unpack to more than the limit, before anything is unpacked. The
    declared sizes are a bound: zipfile never returns more than an entry's declared size (a longer stream fails
    its CRC check, or is cut there), and python-docx reads every part through zipfile."""
    with zipfile.ZipFile(f) as package:
        entries = package.infolist()
    f.seek(0)
    if len(entries) > MAX_DOCX_PARTS:
        raise TooCostly(f"the package holds {len(entries):,} parts, more than a document has (limit {MAX_DOCX_PARTS:,})")
    unpacked = sum(entry.file_size for entry in entries)
    if unpacked > limits.max_unpacked_bytes:
        megabytes = unpacked / 2**20
        raise limits.too_big(f"unpacks to {megabytes:,.{0 if megabytes >= 10 else 1}f} MB, more than the limit of")


def _load_docx(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    import docx
    from docx.table import Table

    if budget.limits:
        check_zip(f, budget.limits)
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
