"""Conversation handling: cleaning questions and turning follow-ups into stand-alone questions."""

from __future__ import annotations

import re
import unicodedata

from .extractive import question_entities
from ..index.terms import STOPWORDS, tokenize

MAX_QUESTION_CHARS = 2000
History = list[tuple[str, str]]  # earlier (question, answer text) turns, oldest first

_REFERS_BACK = re.compile(r"\b(it|its|he|she|him|his|her|they|them|their|this|that|these|those|there)\b", re.I)


def clean_question(question: str) -> str:
    """Drop control characters, collapse whitespace, and cut questions that are far too long."""
    kept = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in question or "")
    return re.sub(r"\s+", " ", kept).strip()[:MAX_QUESTION_CHARS]


def is_follow_up(question: str) -> bool:
    return bool(_REFERS_BACK.search(question)) or len(tokenize(question)) < 2


def condense(question: str, history: History | None) -> str:
    """Without an LLM: a follow-up borrows the names (or else the content words) of the latest earlier
    question that had some, e.g. "Who first reported it?" after "What did Altman say?" becomes
    "Who first reported it? (Altman)"."""
    if not history or not is_follow_up(question):
        return question
    for earlier, _ in reversed(history):
        earlier = clean_question(earlier)
        context = question_entities(earlier) or [w for w in re.findall(r"\w+", earlier) if w.lower() not in STOPWORDS]
        context = [c for c in context if c.lower() not in question.lower()]
        if context:
            return f"{question} ({', '.join(context)})"
    return question
