"""Finding documents and cutting them into chunks.

A document's extracted text (see `readers.py`) is what every offset refers to. Chunks are whole sentences
of one section (the headings above them, kept as the chunk's section path) and of one page.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from .config import SUPPORTED_SUFFIXES
from .errors import CitechatError
from .files import kind_of, open_inside
from .readers import Document, UnreadableFile, decode_text, load_document  # noqa: F401 (read from here too)
from .text import HEADING, MARK, SECTION_SEPARATOR, Span, heading_text, segment, split_long


@dataclass
class Chunk:
    source: str
    title: str
    text: str
    start: int
    end: int
    page: int | None
    ordinal: int
    section: str = ""  # the headings the chunk sits under, outermost first: "Handbook › Expenses"
    page_start: int = 0  # where the chunk's page starts in the document text (0 when not paged)


@dataclass(frozen=True)
class Listed:
    """A file found in the documents folder, and how to open exactly that file again."""

    source: str  # its name in the folder, forward slashes (a link inside the folder keeps its own name)
    path: Path  # where it is
    real: str  # its path relative to the folder with every link resolved: what `files.open_inside` opens
    identity: tuple[int, int]  # (device, inode) when listed
    size: int  # bytes, when listed

    def open(self, root: Path):
        """The file, opened as `files.open_inside` does: UnsafeFile if another file, a link or a special
        file has taken its place since it was listed."""
        return open_inside(root, self.real, self.identity)


@dataclass
class Skipped:
    source: str
    reason: str


class FolderNotFound(CitechatError, FileNotFoundError):
    pass


def folder_not_found(docs_dir: Path) -> FolderNotFound:
    """The error for a documents folder that is missing, or is a file."""
    if docs_dir.exists():
        return FolderNotFound(f"{docs_dir} is a file, not a folder: pass --docs with the folder that holds "
                              "your documents.")
    return FolderNotFound(f"Documents folder not found: {docs_dir}. Create it or pass --docs DIR.")


# ---------------------------------------------------------------- finding files


def find_files(docs_dir: Path) -> tuple[list[Listed], list[Skipped]]:
    """List indexable files under docs_dir, by relative name; report what is left out and why.

    Hidden files and folders are ignored. Symbolic links are followed only when they resolve inside
    docs_dir, so nothing outside the folder is ever read and link loops end. Open a listed file with
    `Listed.open(docs_dir.resolve())`: it is refused if anything was swapped in since.
    """
    root = docs_dir.resolve()
    found: list[Listed] = []
    skipped: list[Skipped] = []
    seen_dirs: set[Path] = set()

    def inside(p: Path) -> bool:
        return p == root or root in p.parents

    def walk(folder: Path, prefix: str, real_prefix: str) -> None:
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
            real = real_prefix + entry.name
            if entry.is_symlink():
                try:
                    target = Path(entry.path).resolve(strict=True)
                except (OSError, RuntimeError):
                    skipped.append(Skipped(rel, "broken or looping symbolic link"))
                    continue
                if not inside(target):
                    skipped.append(Skipped(rel, "symbolic link points outside the documents folder"))
                    continue
                real = target.relative_to(root).as_posix()
            if entry.is_dir():
                walk(Path(entry.path), rel + "/", real + "/")
            elif entry.is_file():
                suffix = os.path.splitext(entry.name)[1]
                suffix = suffix if len(suffix) > 1 else ""  # "notes." has no type, as for pathlib
                if suffix.lower() in SUPPORTED_SUFFIXES:
                    info = entry.stat()
                    found.append(Listed(rel, Path(entry.path), real, (info.st_dev, info.st_ino), info.st_size))
                else:
                    skipped.append(Skipped(rel, f"unsupported file type '{suffix or '(none)'}'"))
            else:
                skipped.append(Skipped(rel, f"not a regular file ({_kind(entry)})"))

    if not docs_dir.is_dir():
        raise folder_not_found(docs_dir)
    walk(docs_dir, "", "")
    return found, skipped


def _kind(entry: os.DirEntry) -> str:
    try:
        return kind_of(entry.stat().st_mode)
    except OSError:
        return "cannot be read"


def _valid_name(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes of the name, kept by Python as lone surrogates
        return False
    return True


def _printable(name: str) -> str:
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


# ---------------------------------------------------------------- chunking


def chunk_document(doc: Document, chunk_chars: int, overlap_chars: int) -> list[Chunk]:
    """Pack whole sentences into chunks of at most chunk_chars, repeating up to overlap_chars of trailing
    sentences at the start of the next chunk. A heading starts a new chunk, and chunks never cross a page
    boundary; each chunk records the section path it sits under."""
    regions = doc.pages or [(0, len(doc.text))]
    path: list[tuple[int, str]] = []  # (level, heading) from the outermost
    chunks: list[Chunk] = []
    for page_no, (a, b) in enumerate(regions, start=1):
        for section, spans in _sections(doc.text, segment(doc.text, a, b), path):
            pieces = [piece for s in spans for piece in split_long(doc.text, s.start, s.end, chunk_chars)]
            for s, e in _pack(pieces, chunk_chars, overlap_chars):
                chunks.append(Chunk(doc.source, doc.title, doc.text[s:e], s, e, page_no if doc.pages else None,
                                    len(chunks), section, a if doc.pages else 0))
    return chunks


def _sections(text: str, spans: list[Span], path: list[tuple[int, str]]) -> list[tuple[str, list[Span]]]:
    """Split spans at headings into (section path, spans): each part is a run of headings and the text under
    them. `path` is updated as headings pass, so it carries over from one page to the next."""
    parts: list[list] = []  # [section path, or None until the part's first span that is not a heading; spans]
    for span in spans:
        if span.kind == HEADING:
            if not parts or parts[-1][0] is not None:
                parts.append([None, []])
            while path and path[-1][0] >= span.level:
                path.pop()
            path.append((span.level, heading_text(text, span)))
        elif not parts:
            parts.append([None, []])
        if span.kind not in (HEADING, MARK) and parts[-1][0] is None:  # a heading's underline is not text under it
            parts[-1][0] = SECTION_SEPARATOR.join(name for _, name in path if name)
        parts[-1][1].append(span)
    if len(parts) > 1 and parts[-1][0] is None:  # headings with nothing under them (a signature) stay above
        parts[-2][1].extend(parts.pop()[1])
    if parts and parts[-1][0] is None:
        parts[-1][0] = SECTION_SEPARATOR.join(name for _, name in path if name)
    return [(section, part) for section, part in parts]


def indexed_text(title: str, section: str, text: str) -> str:
    """What retrieval reads of a chunk (embedding and BM25): its title and section path, then its text."""
    context = [title] if title else []
    context += [name for name in section.split(SECTION_SEPARATOR) if name and name not in context]
    heading = SECTION_SEPARATOR.join(context)
    return text if not heading or text.startswith(heading) else f"{heading}\n{text}"
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
