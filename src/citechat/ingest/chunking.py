"""Cutting a document into chunks: whole sentences of one section (the headings above them, kept as the chunk's
section path) and of one page, each with its exact offsets into the document's text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from .document import Document
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
