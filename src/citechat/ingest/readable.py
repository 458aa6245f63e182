"""A document's text as a person reads it on screen: a line break that only wraps a paragraph shows as a space,
headings show without their `#` marks, and in Markdown documents the emphasis, code and link syntax is taken
out (in a plain text file, `**` and `__` are what the author typed). Offsets (`Source.start`, `end`) keep
pointing into the text as extracted; only what is shown changes.

`shown_chars` says, for every character of a text, what is shown for it (itself, a space, or nothing) and
whether it belongs to a heading, so a caller can cut the shown text at the original offsets (the sources panel
highlights a cited span inside its passage). `readable` is the whole text as shown.
"""

from __future__ import annotations

import re

_HEADING = re.compile(r"(?m)^[ \t]{0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_MARKUP = [  # (pattern, groups whose text is kept): the rest of each match is markup
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), (2,)),
    (re.compile(r"(?<![\w*])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![\w*])"), (1,)),
    (re.compile(r"(?<![\w_])_(?=\S)([^_\n]+?)(?<=\S)_(?![\w_])"), (1,)),
    (re.compile(r"`([^`\n]+)`"), (1,)),
    (re.compile(r"!?\[([^\]\n]+)\]\([^)\s]+\)"), (1,)),
]
# A line that starts a block of its own: a heading, a list item, a table row, a rule, a quote.
_BLOCK_START = re.compile(r"[ \t]*(#{1,6}[ \t]|[-*+•▪‣◦●·–][ \t]|\d{1,3}[.)][ \t]|\(?[a-zA-Z0-9]{1,3}\)[ \t]|\||>"
                          r"|[^:;\n]{1,60}: [^;\n]*(; [^:;\n]{1,60}: [^;\n]*)+$)")


def is_markdown(source: str) -> bool:
    """Is the document of this name written in Markdown (its emphasis and code marks are markup)?"""
    return source.lower().endswith((".md", ".markdown"))


def shown_chars(text: str, markdown: bool = True) -> list[tuple[str, bool]]:
    """For each character of `text`: (what is shown for it, whether it is part of a heading). markdown: take out
    emphasis, code and link syntax too."""
    shown = [(ch, False) for ch in text]
    for m in _HEADING.finditer(text):
        for i in range(m.start(), m.end()):
            shown[i] = ("", True)
        for i in range(m.start(2), m.end(2)):
            shown[i] = (text[i], True)
    for pattern, kept in _MARKUP if markdown else ():
        for m in pattern.finditer(text):
            keep = {i for g in kept for i in range(m.start(g), m.end(g))}
            for i in range(m.start(), m.end()):
                if i not in keep:
                    shown[i] = ("", shown[i][1])
    _unwrap(text, shown)
    _single_spaces(shown)
    return shown


def _unwrap(text: str, shown: list[tuple[str, bool]]) -> None:
    """Line breaks: kept at a paragraph's end and before a line that starts a block, else a space."""
    lines = text.split("\n")
    at = 0
    for i, line in enumerate(lines[:-1]):
        at += len(line)  # the position of this line's "\n"
        if line.endswith("\r"):
            shown[at - 1] = ("", shown[at - 1][1])
        following = lines[i + 1]
        ends_paragraph = not line.strip() or not following.strip()
        keeps = ends_paragraph or _HEADING.match(line) or _BLOCK_START.match(following)
        shown[at] = ("\n", False) if keeps else (" ", shown[at][1])
        at += 1


def _single_spaces(shown: list[tuple[str, bool]]) -> None:
    """No run of shown spaces longer than one, no more than one blank line in a row."""
    previous = ""
    newlines = 0
    for i, (ch, heading) in enumerate(shown):
        if not ch:
            continue
        if ch in " \t" and previous in (" ", "\t", "\n", ""):
            shown[i] = ("", heading)
            continue
        if ch == "\n":
            newlines += 1
            if newlines > 2:
                shown[i] = ("", heading)
                continue
        else:
            newlines = 0
        previous = ch


def readable(text: str, markdown: bool = True) -> str:
    """The text as shown: wrapped lines joined, markup taken out, spaces single."""
    return "".join(ch for ch, _ in shown_chars(text, markdown)).strip()
