"""What a person gets back after asking: the answer text with [n] markers and the sources they point to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

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

    def markers(self) -> list[int]:
        return [int(m) for m in MARKER.findall(self.text)]
