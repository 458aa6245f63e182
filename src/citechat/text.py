"""Sentence spans with exact character offsets, shared by chunking and answer extraction."""

from __future__ import annotations

import re

# Abbreviations that end in a period without ending a sentence.
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "inc", "ltd", "co", "corp", "vs", "etc",
    "e.g", "i.e", "no", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec", "gen", "gov", "sen", "rep", "rev", "fig", "approx", "est", "dept", "u.s", "u.k", "u.n",
}
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_NEXT_STARTS_SENTENCE = re.compile(r"\s+[\"'“‘(\[]?[A-Z0-9À-ÖØ-Þ#*\-•]")
# A line break and the whitespace after it: one cut is enough (the spans between blank lines are empty
# anyway), and a file of millions of blank lines must not cost a cut for each of them.
_LINE_BREAK = re.compile(r"\n\s*")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")


def _is_abbreviation(text: str, dot: int) -> bool:
    m = _WORD_BEFORE.search(text, max(0, dot - 12), dot)
    if not m:
        return False
    word = m.group(1).lower()
    # "J." or "U.S." style initials.
    return word in _ABBREVIATIONS or len(word) == 1 or bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))


def _line_break_is_boundary(text: str, pos: int) -> bool:
    """A single newline ends a sentence unless it only wraps a long line of running prose."""
    line_start = text.rfind("\n", 0, pos) + 1
    previous = text[line_start:pos].rstrip()
    following = text[pos + 1 : pos + 2]
    if not previous or not following.strip():
        return True
    wrapped_prose = len(previous) > 60 and previous[-1] not in ".!?:;…\"”’" and following.islower()
    return not wrapped_prose


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Split text[start:end] into sentences; returns (start, end) offsets into text, whitespace trimmed."""
    end = len(text) if end is None else end
    cuts = {start, end}
    for m in _END.finditer(text, start, end):
        stop = m.end()
        if not _NEXT_STARTS_SENTENCE.match(text, stop, end):
            continue
        if text[m.start()] == "." and m.end() - m.start() == 1 and _is_abbreviation(text, m.start()):
            continue
        cuts.add(stop)
    for m in _LINE_BREAK.finditer(text, start, end):
        if _line_break_is_boundary(text, m.start()):
            cuts.add(m.start())
    spans = []
    ordered = sorted(cuts)
    for a, b in zip(ordered, ordered[1:]):
        a, b = _trim(text, a, b)
        if a < b:
            spans.append((a, b))
    return spans


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def split_long(text: str, a: int, b: int, limit: int) -> list[tuple[int, int]]:
    """Cut a span longer than `limit` at whitespace (or hard, if there is none) into pieces of at most `limit`."""
    pieces = []
    while b - a > limit:
        cut = text.rfind(" ", a + limit // 2, a + limit)
        cut = cut if cut > a else a + limit
        pieces.append(_trim(text, a, cut))
        a = cut
        while a < b and text[a].isspace():
            a += 1
    if a < b:
        pieces.append((a, b))
    return [p for p in pieces if p[0] < p[1]]
