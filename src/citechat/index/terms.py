"""The terms of a text as lexical search and the answerer count them: lower-cased words of two or more
characters, stop words left out, lightly stemmed. The stores index chunks by these terms, and retrieval and the
answerer read questions and sentences with the same function."""

from __future__ import annotations

import functools
import re

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


@functools.lru_cache(maxsize=100_000)  # the same words recur in every passage an answer reads
def stem(token: str) -> str:
    """A light English stemmer: enough to match plurals and simple verb forms."""
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("s", "")):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3 and not token.endswith("ss"):
            return token[: -len(suffix)] + replacement
    return token


STOPWORDS = frozenset(
    """a an and are as at be been but by did do does for from had has have he her his how i in is it its of on or
    our she so than that the their them then there these they this to was we were what when where which who whom
    why will with would you your about after before into over under also not no yes if can could should may might
    said says say any all some more most other such only own same too very just did does doing""".split()
)


def tokenize(text: str) -> list[str]:
    return [stem(t) for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]
