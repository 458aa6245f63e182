"""Looking into an index in the index tests: a file's exact text, a document's chunks, every chunk's identity."""

from __future__ import annotations

from pathlib import Path

from conftest import QUESTIONS

LIGHTHOUSE_Q = QUESTIONS[0][0]


def file_text(path: Path) -> str:
    return open(path, encoding="utf-8", newline="").read()


def chunks_of(bot, source: str):
    return [c for c in bot.snapshot.all_chunks() if c.source == source]


def layout(bot) -> list[tuple]:
    """Everything that identifies the chunks of an index, in a stable order."""
    return sorted((c.source, c.ordinal, c.start, c.end, c.page, c.text) for c in bot.snapshot.all_chunks())
