"""Reading files of each supported format into a Document: the text every offset refers to.

For .txt and .md files the text is the file's own text, decoded without newline translation, so
`text[start:end]` of the file read as UTF-8 is exactly a chunk. HTML (`html_reader.py`) and DOCX are written
out as a person reads them, in Markdown's shape (`blocks.py`): headings as `#` lines, list items as `- ` lines,
each table row as one line with its column headers. PDF pages keep pypdf's reading order; `pdf_layout.py` puts
the blank lines a reader sees between paragraphs and around headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .blocks import render_blocks, table_rows
from .html_reader import html_blocks

PAGE_SEPARATOR = "\n\n"


class UnreadableFile(Exception):
    """A file that cannot be indexed; the message says why."""


@dataclass
class Document:
    source: str  # path relative to the documents folder, with forward slashes
    title: str
    text: str
    pages: list[tuple[int, int]] | None = None  # (start, end) of each page in `text`, for paged formats


def load_document(path: Path, source: str) -> Document:
    """Read one file into a Document; raises UnreadableFile with the reason when it cannot be used."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".txt", ".md", ".markdown"):
            doc = _load_text(path, source)
        elif suffix in (".html", ".htm"):
            doc = _load_html(path, source)
        elif suffix == ".pdf":
            doc = _load_pdf(path, source)
        elif suffix == ".docx":
            doc = _load_docx(path, source)
        else:
            raise UnreadableFile(f"unsupported file type '{suffix}'")
    except UnreadableFile:
        raise
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


def _load_text(path: Path, source: str) -> Document:
    with open(path, "rb") as f:  # a large binary file is refused from its first block, never read whole
        head = f.read(8192)
        if head.strip() and _looks_binary(head):
            raise UnreadableFile("binary content, not text")
        f.seek(0)
        data = f.read()
    if not data or data.isspace():
        raise UnreadableFile("empty file")
    text = decode_text(data)
    title = first_line_title(text, path.stem)
    if path.suffix.lower() in (".md", ".markdown"):
        heading = re.search(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)
        if heading:
            title = heading.group(1)[:200]
    return Document(source, title, text)


def _load_html(path: Path, source: str) -> Document:
    data = path.read_bytes()
    if not data.strip():
        raise UnreadableFile("empty file")
    blocks, title = html_blocks(decode_text(data))
    text = render_blocks(blocks)
    return Document(source, title[:200] or first_line_title(text, path.stem), text)


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


def _load_pdf(path: Path, source: str) -> Document:
    from pypdf import PdfReader

    from .pdf_layout import page_texts

    reader = PdfReader(str(path))
    if reader.is_encrypted:
        try:
            unlocked = reader.decrypt("")
        except Exception:
            unlocked = 0
        if not unlocked:
            raise UnreadableFile("encrypted PDF (needs a password)")
    text, pages = join_pages(page_texts(reader.pages))
    meta_title = ""
    try:
        meta_title = (reader.metadata.title or "") if reader.metadata else ""
    except Exception:
        pass
    return Document(source, meta_title.strip()[:200] or first_line_title(text, path.stem), text, pages)


# ---------------------------------------------------------------- DOCX


def _load_docx(path: Path, source: str) -> Document:
    import docx
    from docx.table import Table

    d = docx.Document(str(path))
    blocks: list[tuple[str, str]] = []
    for item in d.iter_inner_content():  # paragraphs and tables in document order
        if isinstance(item, Table):
            blocks.extend(("row", line) for line in _docx_table(item))
        elif item.text.strip():
            blocks.append((_docx_kind(item), item.text))
    text = render_blocks(blocks)
    title = (d.core_properties.title or "").strip()
    return Document(source, title[:200] or first_line_title(text, path.stem), text)


def _docx_kind(paragraph) -> str:
    try:
        style = (paragraph.style.name or "") if paragraph.style is not None else ""
    except (KeyError, ValueError):  # a style the file names but does not define
        style = ""
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
