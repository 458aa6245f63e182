"""What a person gets back after asking: the answer text with [n] markers and the sources they point to."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

REFUSAL = "I couldn't find that in the indexed documents."
# An answer whose confidence is under this is shown with a quiet "low confidence" note: the model found a
# sentence that may answer, but about as often as not such a sentence does not (see Answer.confidence).
LOW_CONFIDENCE = 0.5
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
    # The extractive answerer's estimate (0-1) that the quoted text answers the question; None when the answer
    # was not scored (refusals, LLM answers).
    confidence: float | None = None

    @property
    def low_confidence(self) -> bool:
        """Show the answer with a "low confidence" note: it was given, but the estimate is under LOW_CONFIDENCE."""
        return not self.refused and self.confidence is not None and self.confidence < LOW_CONFIDENCE

    def markers(self) -> list[int]:
        return [int(m) for m in MARKER.findall(self.text)]
