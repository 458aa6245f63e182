"""Reading files of each supported format into a Document: the text every offset refers to.

For .txt and .md files the text is the file's own text, decoded without newline translation, so
`text[start:end]` of the file read as UTF-8 is exactly a chunk. HTML and DOCX are written out as a person reads
them, in Markdown's shape: headings as `#` lines, list items as `- ` lines, and each table row as one line
with its column headers ("Milestone: Go-live; Due date: 3 March 2025"). PDF pages keep pypdf's reading order;
`pdf_layout.py` puts the blank lines a reader sees between paragraphs and around headings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from itertools import zip_longest
from pathlib import Path

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


# ---------------------------------------------------------------- blocks, shared by HTML and DOCX


def render_blocks(blocks: list[tuple[str, str]]) -> str:
    """Write (kind, text) blocks as text: paragraphs apart by a blank line, list items and table rows of one
    list or table on consecutive lines. kind: "p", "h1".."h6", "li", "row", "pre"."""
    out: list[str] = []
    previous = ""
    for kind, text in blocks:
        if kind != "pre":
            text = re.sub(r"[ \t\r\f\v]*\n[ \t\r\f\v]*", "\n", re.sub(r"[ \t\r\f\v]+", " ", text)).strip()
        if not text.strip():
            continue
        if kind[0] == "h" and kind[1:].isdigit():
            text = "#" * int(kind[1:]) + " " + text.replace("\n", " ")
        elif kind == "li":
            text = "- " + text
        if out:
            out.append("\n" if kind == previous and kind in ("li", "row") else "\n\n")
        out.append(text)
        previous = kind
    return "".join(out)


def table_rows(rows: list[list[str]], header: bool | None = None) -> list[str]:
    """One line per table row, each cell with its column header ("Milestone: Go-live; Due date: 3 March 2025").
    header: whether the first row holds the column headers; None: guess from the cells."""
    rows = [[re.sub(r"\s+", " ", cell).strip() for cell in row] for row in rows]
    rows = [row for row in rows if any(row)]
    if not rows:
        return []
    if header is None:
        header = _looks_like_header(rows)
    if header and len(rows) > 1:
        names, body = rows[0], rows[1:]
        return ["; ".join(f"{name}: {value}" if name else value for name, value in zip_longest(names, row, fillvalue="") if value)
                for row in body]
    # No header: a two-column table is a list of "label: value" pairs.
    return [f"{row[0]}: {row[1]}" if len(row) == 2 and all(row) else "; ".join(c for c in row if c) for row in rows]


def _looks_like_header(rows: list[list[str]]) -> bool:
    """Short labels without a full stop; no figures, unless the figures are years or the columns below them
    hold figures the labels do not (as in "Due date" over dates)."""
    first, body = rows[0], rows[1:]
    labels = [c for c in first if c]
    if not body or len(labels) < max(1, len(first) - 1) or any(len(c) > 40 or c.endswith(".") for c in labels):
        return False
    def has_digit(cell: str) -> bool:
        return any(ch.isdigit() for ch in cell)
    if all(re.fullmatch(r"(?:FY ?)?\d{4}", c) for c in labels):
        return True
    if any(has_digit(c) for c in labels):
        return False
    if len(first) > 2:
        return True
    # Two columns: "label | value" pairs look just like a header over its rows; a column of figures below a
    # label without figures tells them apart.
    return any(sum(has_digit(row[j]) for row in body if j < len(row)) * 2 >= len(body) for j in range(len(first)))


# ---------------------------------------------------------------- HTML


class _HtmlBlocks(HTMLParser):
    """Collects the blocks a browser would show: headings, paragraphs, list items and table rows."""

    HIDDEN = {"script", "style", "noscript", "template", "head", "svg", "iframe", "object"}
    BLOCKS = {
        "p", "div", "li", "ul", "ol", "table", "section", "article", "header", "footer", "h1", "h2", "h3", "h4",
        "h5", "h6", "blockquote", "pre", "main", "aside", "nav", "dd", "dt", "figcaption", "caption",
        "figure", "form", "fieldset", "address", "details", "summary", "dl",
    }  # <br> and <hr> are void: they break the line or the block without opening one

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []
        self.buffer: list[str] = []
        self.kinds: list[str] = ["p"]  # the innermost block element's kind
        self.tables: list[dict] = []  # open tables: {"rows": [[cells]], "cell": [text] | None, "header": bool}
        self.title_parts: list[str] = []
        self.hidden_depth = 0
        self.in_title = False

    def _flush(self) -> None:
        text = "".join(self.buffer)
        self.buffer = []
        if text.strip():
            self.blocks.append((self.kinds[-1], text))

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self.in_title = True
        elif tag == "body":  # </head> is optional in HTML: the body is always visible
            self.hidden_depth = 0
        elif tag in self.HIDDEN:
            self.hidden_depth += 1
        elif self.tables and self.tables[-1]["cell"] is not None and tag not in ("table", "td", "th", "tr"):
            self.tables[-1]["cell"].append("\n" if tag == "br" else " ")
        elif tag == "table":
            self._flush()
            self.tables.append({"rows": [], "cell": None, "header": False})
        elif tag in ("tr", "td", "th") and self.tables:
            self._table_tag(tag, start=True)
        elif tag == "br":
            self.buffer.append("\n")
        elif tag == "hr":
            self._flush()
        elif tag in self.BLOCKS:
            self._flush()
            kind = tag if tag in ("li", "pre") or tag[0] == "h" and tag[1:].isdigit() else "p"
            self.kinds.append(self.kinds[-1] if kind == "p" and self.kinds[-1] in ("li", "pre") else kind)

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        elif tag in self.HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag == "table" and self.tables:
            table = self.tables.pop()
            self._close_cell(table)
            self.blocks.extend(("row", line) for line in table_rows(table["rows"], table["header"] or None))
        elif tag in ("td", "th") and self.tables:
            self._close_cell(self.tables[-1])
        elif tag in self.BLOCKS and not (self.tables and self.tables[-1]["cell"] is not None):
            self._flush()
            if len(self.kinds) > 1:
                self.kinds.pop()

    def _table_tag(self, tag: str, start: bool) -> None:
        table = self.tables[-1]
        self._close_cell(table)
        if tag == "tr" or not table["rows"]:
            table["rows"].append([])
        if tag in ("td", "th"):
            table["cell"] = []
            if tag == "th" and len(table["rows"]) == 1:
                table["header"] = True

    @staticmethod
    def _close_cell(table: dict) -> None:
        if table["cell"] is not None:
            table["rows"][-1].append("".join(table["cell"]))
            table["cell"] = None

    def handle_data(self, data):
        if self.in_title:
            self.title_parts.append(data)
            return
        if self.hidden_depth:
            return
        if self.kinds[-1] != "pre":
            data = re.sub(r"[ \t\n\r\f\v]+", " ", data)  # line breaks in the source are spaces in a browser
        if self.tables and self.tables[-1]["cell"] is not None:
            self.tables[-1]["cell"].append(data)
        elif not self.tables:
            self.buffer.append(data)

    def close(self):
        super().close()
        while self.tables:
            self.handle_endtag("table")
        self._flush()


def _load_html(path: Path, source: str) -> Document:
    data = path.read_bytes()
    if not data.strip():
        raise UnreadableFile("empty file")
    parser = _HtmlBlocks()
    parser.feed(_defuse_unclosed(decode_text(data)))
    parser.close()
    text = render_blocks(parser.blocks)
    title = re.sub(r"\s+", " ", "".join(parser.title_parts)).strip()
    return Document(source, title[:200] or first_line_title(text, path.stem), text)


def _defuse_unclosed(html: str) -> str:
    """Escape the "<" of constructs that can never close: Python's HTMLParser rescans to the end of the input
    for each of them, so a malformed file full of them takes quadratic time. Escaped, they are the same text."""
    for opener, closer in _UNCLOSED:
        cut = 0
        for cut_match in closer.finditer(html):
            cut = cut_match.end()
        if opener.search(html, cut):
            html = html[:cut] + opener.sub(lambda m: "&lt;" + m.group()[1:], html[cut:])
    return html


# (opener, what closes it) as Python's HTMLParser reads them; "<" last, as it covers every construct.
_UNCLOSED = [
    (re.compile(r"<!--"), re.compile(r"-->")),
    (re.compile(r"<!\[(?i:temp|cdata|ignore|include|rcdata)(?![-_.a-zA-Z0-9])"), re.compile(r"\]\s*\]\s*>")),
    (re.compile(r"<!\[(?i:if|else|endif)(?![-_.a-zA-Z0-9])"), re.compile(r"\]\s*>")),
    (re.compile(r"<"), re.compile(r">")),
]


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
