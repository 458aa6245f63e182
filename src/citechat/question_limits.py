"""The limits of a question and its conversation, the same on every surface: the command line, the chat window,
the OpenAI-compatible API and the MCP server. A request over them is refused with a message that says what to
send instead."""

from __future__ import annotations

from .errors import BadRequest

# The largest request any surface accepts. Only a question's first 2,000 characters are searched, and only the
# latest turns of a conversation are read (the one with names in it, or the last three for an LLM); beyond
# these a request is a mistake, or an attempt to make the server read and keep megabytes.
MAX_QUESTION_CHARS = 4_000
MAX_HISTORY_TURNS = 100
MAX_HISTORY_CHARS = 200_000


class RequestTooLarge(BadRequest):
    """A question or conversation over the limits; the message says which and what to send instead."""


def check_limits(question: str, history: list[tuple[str, str]] | None) -> None:
    """Raise RequestTooLarge when the question or the conversation is over the limits."""
    if len(question) > MAX_QUESTION_CHARS:
        raise RequestTooLarge(f"The question is {len(question):,} characters long; ask in at most "
                              f"{MAX_QUESTION_CHARS:,} characters.")
    turns = history or []
    if len(turns) > MAX_HISTORY_TURNS:
        raise RequestTooLarge(f"The conversation has {len(turns):,} earlier turns; send at most the last "
                              f"{MAX_HISTORY_TURNS:,}, or start a new conversation.")
    chars = sum(len(q) + len(a) for q, a in turns)
    if chars > MAX_HISTORY_CHARS:
        raise RequestTooLarge(f"The conversation's earlier turns hold {chars:,} characters; send at most "
                              f"{MAX_HISTORY_CHARS:,} (leave out the oldest turns), or start a new conversation.")


def recent_history(history: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The latest turns that fit the limits, for a surface whose user cannot shorten the conversation."""
    kept, chars = [], 0
    for q, a in reversed(history[-MAX_HISTORY_TURNS:]):
        chars += len(q) + len(a)
        if chars > MAX_HISTORY_CHARS:
            break
        kept.append((q, a))
    return kept[::-1]
