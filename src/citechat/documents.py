"""Finding, reading and chunking documents.

A document's extracted text is what every offset refers to. For .txt and .md files it is the file's text,
decoded without newline translation, so `text[start:end]` of the file read as UTF-8 is exactly the chunk.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Iterator

from .config import SUPPORTED_SUFFIXES
from .text import sentence_spans, split_long

PAGE_SEPARATOR = "\n\n"


class UnreadableFile(Exception):
    """A file that cannot be indexed; the message says why."""


@dataclass
class Document:
    source: str  # path relative to the documents folder, with forward slashes
    title: str
    text: str
    pages: list[tuple[int, int]] | None = None  # (start, end) of each page in `text`, for paged formats


@dataclass
class Chunk:
    source: str
    title: str
    text: str
    start: int
    end: int
    page: int | None
    ordinal: int


@dataclass
class Skipped:
    source: str
    reason: str


# ---------------------------------------------------------------- finding files


def find_files(docs_dir: Path) -> tuple[list[tuple[str, Path]], list[Skipped]]:
    """List indexable files under docs_dir as (relative name, path); report what is left out and why.

    Hidden files and folders are ignored. Symbolic links are followed only when they resolve inside
    docs_dir, so nothing outside the folder is ever read and link loops end.
    """
    root = docs_dir.resolve()
    found: list[tuple[str, Path]] = []
    skipped: list[Skipped] = []
    seen_dirs: set[Path] = set()

    def inside(p: Path) -> bool:
        return p == root or root in p.parents

    def walk(folder: Path, prefix: str) -> None:
        real = folder.resolve()
        if real in seen_dirs:
            return
        seen_dirs.add(real)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            skipped.append(Skipped(prefix.rstrip("/") or ".", f"cannot list folder: {exc.strerror}"))
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = prefix + entry.name  # built as text: Path objects for thousands of files cost more than the listing
            if not _valid_name(rel):  # the index stores names as UTF-8 text; such a name cannot be stored
                skipped.append(Skipped(_printable(rel), "file name is not valid UTF-8; rename it"))
                continue
            if entry.is_symlink():
                try:
                    target = Path(entry.path).resolve(strict=True)
                except (OSError, RuntimeError):
                    skipped.append(Skipped(rel, "broken or looping symbolic link"))
                    continue
                if not inside(target):
                    skipped.append(Skipped(rel, "symbolic link points outside the documents folder"))
                    continue
            if entry.is_dir():
                walk(Path(entry.path), rel + "/")
            elif entry.is_file():
                suffix = os.path.splitext(entry.name)[1]
                suffix = suffix if len(suffix) > 1 else ""  # "notes." has no type, as for pathlib
                if suffix.lower() in SUPPORTED_SUFFIXES:
                    found.append((rel, Path(entry.path)))
                else:
                    skipped.append(Skipped(rel, f"unsupported file type '{suffix or '(none)'}'"))

    if not docs_dir.is_dir():
        raise FileNotFoundError(f"Documents folder not found: {docs_dir}. Create it or pass --docs DIR.")
    walk(docs_dir, "")
    return found, skipped


def _valid_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of the name, kept by Python as lone surrogates
        return False
    return True


def _printable(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# ---------------------------------------------------------------- reading


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


def _first_line_title(text: str, fallback: str) -> str:
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
    title = _first_line_title(text, path.stem)
    if path.suffix.lower() in (".md", ".markdown"):
        heading = re.search(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$", text, re.M)
        if heading:
            title = heading.group(1)[:200]
    return Document(source, title, text)


class _VisibleText(HTMLParser):
    """Collects the text a browser would show, with line breaks at block elements."""

    HIDDEN = {"script", "style", "noscript", "template", "head", "svg", "iframe", "object"}
    BLOCKS = {
        "p", "div", "br", "li", "ul", "ol", "tr", "table", "section", "article", "header", "footer", "h1", "h2",
        "h3", "h4", "h5", "h6", "blockquote", "pre", "hr", "main", "aside", "nav", "dd", "dt", "figcaption",
    }

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self.hidden_depth = 0
        self.in_title = False

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self.in_title = True
        elif tag == "body":  # </head> is optional in HTML: the body is always visible
            self.hidden_depth = 0
        elif tag in self.HIDDEN:
            self.hidden_depth += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        elif tag in self.HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data):
        if self.in_title:
            self.title_parts.append(data)
        elif not self.hidden_depth:
            self.parts.append(data)


def _load_html(path: Path, source: str) -> Document:
    data = path.read_bytes()
    if not data.strip():
        raise UnreadableFile("empty file")
    parser = _VisibleText()
    parser.feed(_defuse_unclosed(decode_text(data)))
    parser.close()
    raw = "".join(parser.parts)
    # Collapse runs of spaces inside lines and of blank lines, as a browser would.
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in raw.split("\n")]
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = re.sub(r"\s+", " ", "".join(parser.title_parts)).strip()
    return Document(source, title[:200] or _first_line_title(text, path.stem), text)


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


def _join_pages(page_texts: list[str]) -> tuple[str, list[tuple[int, int]]]:
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

    reader = PdfReader(str(path))
    if reader.is_encrypted:
        try:
            unlocked = reader.decrypt("")
        except Exception:
            unlocked = 0
        if not unlocked:
            raise UnreadableFile("encrypted PDF (needs a password)")
    text, pages = _join_pages([(page.extract_text() or "").strip() for page in reader.pages])
    meta_title = ""
    try:
        meta_title = (reader.metadata.title or "") if reader.metadata else ""
    except Exception:
        pass
    return Document(source, meta_title.strip()[:200] or _first_line_title(text, path.stem), text, pages)


def _load_docx(path: Path, source: str) -> Document:
    import docx

    d = docx.Document(str(path))
    text = "\n\n".join(p.text for p in d.paragraphs if p.text.strip())
    title = (d.core_properties.title or "").strip()
    return Document(source, title[:200] or _first_line_title(text, path.stem), text)


# ---------------------------------------------------------------- chunking


def chunk_document(doc: Document, chunk_chars: int, overlap_chars: int) -> list[Chunk]:
    """Pack whole sentences into chunks of at most chunk_chars, repeating up to overlap_chars of trailing
    sentences at the start of the next chunk. Chunks never cross a page boundary."""
    sections = doc.pages or [(0, len(doc.text))]
    chunks: list[Chunk] = []
    for page_no, (a, b) in enumerate(sections, start=1):
        spans: list[tuple[int, int]] = []
        for s, e in sentence_spans(doc.text, a, b):
            spans.extend(split_long(doc.text, s, e, chunk_chars))
        for s, e in _pack(spans, chunk_chars, overlap_chars):
            chunks.append(
                Chunk(doc.source, doc.title, doc.text[s:e], s, e, page_no if doc.pages else None, len(chunks))
            )
    return chunks


def _pack(spans: list[tuple[int, int]], limit: int, overlap: int) -> Iterator[tuple[int, int]]:
    i = 0
    while i < len(spans):
        j = i + 1
        while j < len(spans) and spans[j][1] - spans[i][0] <= limit:
            j += 1
        yield spans[i][0], spans[j - 1][1]
        if j >= len(spans):
            return
        # Step back over trailing sentences that fit in the overlap, but always move forward.
        k = j
        while k - 1 > i and spans[j - 1][1] - spans[k - 1][0] <= overlap:
            k -= 1
        i = k
