"""What a person gets back after asking: the answer text with [n] markers and the sources they point to."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable

from ..ingest.ocr import SCANNED, scanned_heading, scanned_page
from ..ingest.text import SECTION_SEPARATOR

REFUSAL = "I couldn't find that in the indexed documents."
# An answer whose confidence is under this is shown with a quiet "low confidence" note: the model found a
# sentence that may answer, but about as often as not such a sentence does not (see Answer.confidence).
LOW_CONFIDENCE = 0.5
LOW_CONFIDENCE_NOTE = "Low confidence: the documents may not say exactly this; check the sources."
MARKER = re.compile(r"\[(\d+)\]")


@dataclass
class Source:
    """One cited span. `text` is exactly `document_text[start:end]` of the file `source`."""

    n: int
    source: str
    title: str
    page: int | None
    start: int
    end: int
    text: str
    score: float
    # The retrieved passage the span was found in, for showing it in context.
    passage: str = ""
    passage_start: int = 0
    section: str = ""  # the headings the passage sits under: "Handbook › Expenses"
    page_start: int = 0  # where the page starts in the document text: start - page_start counts from the page

    @property
    def page_range(self) -> tuple[int, int]:
        """(start, end) counted from the start of the page (of the document when it has no pages)."""
        return self.start - self.page_start, self.end - self.page_start

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready: the shape sent by the HTTP APIs."""
        return asdict(self)


@dataclass
class Answer:
    question: str
    text: str
    sources: list[Source] = field(default_factory=list)
    refused: bool = False
    # When refused: the closest passages, shown only as "possibly related", never as an answer.
    related: list[Source] = field(default_factory=list)
    # Answer sentences whose cited passage does not support them (LLM answers only).
    unsupported: list[str] = field(default_factory=list)
    standalone_question: str = ""  # the question as searched, after resolving a follow-up
    answerer: str = "extractive"
    seconds: float = 0.0
    # The extractive answerer's estimate (0-1) that the quoted text answers the question; None when the answer
    # was not scored (refusals, LLM answers).
    confidence: float | None = None
    # Something the reader should know about how this answer was made: shown with it on every surface (e.g. the
    # LLM did not answer, so the answer is quoted from the documents instead).
    notice: str = ""

    @property
    def low_confidence(self) -> bool:
        """Show the answer with a "low confidence" note: it was given, but the estimate is under LOW_CONFIDENCE."""
        return not self.refused and self.confidence is not None and self.confidence < LOW_CONFIDENCE

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready, sources and related passages through `Source.to_dict`: the shape sent by
        the HTTP APIs, so that a field added here reaches their clients without further edits."""
        data = asdict(self)
        data["sources"] = [s.to_dict() for s in self.sources]
        data["related"] = [s.to_dict() for s in self.related]
        data["low_confidence"] = self.low_confidence
        return data

    def markers(self) -> list[int]:
        return [int(m) for m in MARKER.findall(self.text)]


def location(item) -> str:
    """Where a cited span or a passage is: its section (without the document's title), then "page 3,
    characters 12–80" counted from the start of the page, or "characters 160–393" in a document without pages;
    "page 3 (scanned), ..." when the page was read by OCR. item: a Source or a Passage (anything with title,
    section, page, page_start, start and end)."""
    start, end = item.start - item.page_start, item.end - item.page_start
    where = f"characters {start:,}–{end:,}"
    section = [name for name in (item.section or "").split(SECTION_SEPARATOR) if name and name != item.title]
    scanned = scanned_page(section)
    if scanned is not None:  # the page's own heading, or one a page with a text layer after it carries on
        section.remove(scanned_heading(scanned))
    if item.page or scanned is not None:
        where = f"page {item.page or scanned}{' ' + SCANNED if read_by_ocr(item) else ''}, {where}"
    return f"{SECTION_SEPARATOR.join(section)} · {where}" if section else where


def read_by_ocr(item) -> bool:
    """Was the cited span or passage read from a picture of its page (a scanned page, an image) by OCR?"""
    scanned = scanned_page((item.section or "").split(SECTION_SEPARATOR))
    return scanned is not None and (not item.page or item.page == scanned)


def final_answer(pieces) -> Answer:
    """The Answer that ends a stream of text pieces (`Bot.stream`)."""
    result = None
    for piece in pieces:
        if isinstance(piece, Answer):
            result = piece
    assert result is not None
    return result


def shorten(text: str, limit: int) -> str:
    """The text on one line, cut at a word to at most `limit` characters (with "…")."""
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[: limit] else text[:limit]
    return cut.rstrip(" ,;:") + "…"


def locate(answer: Answer, passages: Iterable) -> Answer:
    """Give every source of the answer the section and page start of the passage it was quoted from."""
    found = {(p.source, p.start): p for p in passages}
    for s in answer.sources + answer.related:
        p = found.get((s.source, s.passage_start))
        if p is not None:
            s.section, s.page_start = p.section, p.page_start
    return answer
