"""What the MCP tools do, over the one `ChatService`, and the results they return (dataclasses, sent as the
tools' structured output). No MCP here: `server.py` registers these methods as tools."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timezone
from typing import Annotated, Callable

from pydantic import Field

from ..answering.types import Answer, Source
from ..errors import CitechatError
from ..index.stores.base import DocumentRecord
from ..question_limits import MAX_QUESTION_CHARS
from ..web.service import ChatService

MAX_K = 20
# One read_document call returns at most this much text (about five pages): enough to read around a citation,
# and no document floods the assistant's context at once.
MAX_READ_CHARS = 20_000


class ToolRefused(CitechatError, ValueError):
    """A tool call that cannot be answered as asked; the message says what to send instead."""


@dataclass
class FoundPassage:
    """A passage of an indexed document: `text` is exactly the document's text[start:end]."""

    source: str
    title: str
    section: str
    page: int | None
    start: int
    end: int
    text: str
    score: float


@dataclass
class SearchResults:
    query: str
    passages: list[FoundPassage]


@dataclass
class CitedAnswer:
    """Every field of `Answer.to_dict()`, the answer's one wire shape (the /v1 API sends the same)."""

    text: str
    sources: list[Source]
    refused: bool
    low_confidence: bool
    confidence: float | None
    related: list[Source]
    unsupported: list[str]
    question: str
    standalone_question: str
    answerer: str
    seconds: float
    notice: str  # how this answer was made, when the reader should know (e.g. quoted because the LLM is down)

    @classmethod
    def of(cls, answer: Answer) -> "CitedAnswer":
        data = answer.to_dict()
        return cls(**{f.name: data[f.name] for f in fields(cls)})


@dataclass
class IndexedDocument:
    source: str  # its name in the index: what read_document takes
    title: str
    size: int  # bytes of the file
    passages: int
    indexed_at: str  # ISO 8601, UTC

    @classmethod
    def of(cls, record: DocumentRecord) -> "IndexedDocument":
        when = datetime.fromtimestamp(record.indexed_at, timezone.utc).isoformat(timespec="seconds")
        return cls(record.source, record.title, record.size, record.n_chunks, when)


@dataclass
class DocumentList:
    documents: list[IndexedDocument]


@dataclass
class DocumentText:
    """The text of a document from `start` to `end`, in the offsets of search and ask results."""

    source: str
    title: str
    start: int
    end: int
    length: int  # of the whole document's text: end < length means there is more
    text: str
    pages: list[int]  # the pages the range spans (empty for a document without pages)


Query = Annotated[str, Field(description=f"What to look for, in words (at most {MAX_QUESTION_CHARS:,} characters).")]
Question = Annotated[str, Field(description="One standalone question, e.g. \"What did Altman say about ICE?\" "
                                            f"(at most {MAX_QUESTION_CHARS:,} characters).")]
Count = Annotated[int, Field(ge=1, le=MAX_K, description=f"How many passages (1-{MAX_K}).")]
Name = Annotated[str, Field(description="The document's `source` name, exactly as list_documents, search or ask "
                                        "give it, e.g. \"reports/2024.pdf\".")]
Start = Annotated[int, Field(ge=0, description="The first character to read (default 0, the start).")]
End = Annotated[int | None, Field(ge=0, description=f"The character after the last one to read (default: "
                                                    f"{MAX_READ_CHARS:,} characters after start, or the end).")]


class CitechatTools:
    """The tools over the service that `service()` returns (it raises a CitechatError, with what to do, when
    there is no index to serve)."""

    def __init__(self, service: Callable[[], ChatService]) -> None:
        self.service = service

    def search(self, query: Query, k: Count = 5) -> SearchResults:
        _require_text(query, "query")
        passages = self.service().search(query, k=k)
        return SearchResults(query, [FoundPassage(p.source, p.title, p.section, p.page, p.start, p.end, p.text,
                                                  round(p.score, 4)) for p in passages])

    def ask(self, question: Question) -> CitedAnswer:
        _require_text(question, "question")
        return CitedAnswer.of(self.service().answer(question))

    def list_documents(self) -> DocumentList:
        return DocumentList([IndexedDocument.of(d) for d in self.service().bot.documents])

    def read_document(self, name: Name, start: Start = 0, end: End = None) -> DocumentText:
        bot = self.service().bot
        if name not in {d.source for d in bot.documents}:  # checked here to name the tool that lists them
            raise ToolRefused(f"“{name}” is not an indexed document. Pass a `source` name exactly as "
                              "list_documents, search or ask give it.")
        document = bot.document(name)
        length = len(document.text)
        if start > length:
            raise ToolRefused(f"start={start:,} is past the end of “{name}”, which has {length:,} characters.")
        if end is not None and end < start:
            raise ToolRefused(f"end={end:,} is before start={start:,}: pass end > start, or leave end out.")
        end = min(length, start + MAX_READ_CHARS, length if end is None else end)
        pages = [n for n, (a, b) in enumerate(document.pages or [], start=1) if a < max(end, start + 1) and b > start]
        return DocumentText(name, document.title, start, end, length, document.text[start:end], pages)


def _require_text(value: str, what: str) -> None:
    if not value.strip():
        raise ToolRefused(f"The {what} is empty: pass it as text, e.g. \"What did Altman say?\".")
