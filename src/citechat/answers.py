"""What a person gets back after asking: the answer text with [n] markers and the sources they point to."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

REFUSAL = "I couldn't find that in the indexed documents."
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

    def to_dict(self) -> dict[str, Any]:
        """Every field, JSON-ready, sources and related passages through `Source.to_dict`: the shape sent by
        the HTTP APIs, so that a field added here reaches their clients without further edits."""
        data = asdict(self)
        data["sources"] = [s.to_dict() for s in self.sources]
        data["related"] = [s.to_dict() for s in self.related]
        return data

    def markers(self) -> list[int]:
        return [int(m) for m in MARKER.findall(self.text)]
