"""Constraints a question sets that a sentence can contradict: a year, a month, a number of something, an
ordinal, the part of a series (season 4, the first quarter, episode 12) or a side (men's or women's).

"Who won the title in 2021?" is not answered by "Lyon won the title in 2019", however well the rest of the
words match: the sentence names another value of the same kind. These checks need no training; the answer model
learns how much to trust them (bench/train_answerer.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from ..index.terms import stem

ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
             "eleventh", "twelfth", "thirteenth", "fourteenth", "fifteenth", "sixteenth", "seventeenth",
             "eighteenth", "nineteenth", "twentieth"]
_CARDINALS = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve",
              "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen", "twenty"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"]
_PARTS = ("season|series|edition|episode|chapter|volume|part|phase|round|stage|quarter|half|term|leg|game|"
          "week|day|act|book|film|tournament|conference|congress|olympiad|amendment|generation|wave")
_ORDINAL = r"(?:\d{1,3}(?:st|nd|rd|th)|" + "|".join(ORDINALS) + ")"
_NUMBER = r"(?:\d{1,3}|" + "|".join(_CARDINALS) + ")"

_YEAR = re.compile(r"(?<![\d.,$£€])(1[5-9]\d\d|20\d\d)(?:s\b)?(?![\d.,]\d)")
_MONTH_NAME = r"(?:" + "|".join(m.capitalize() for m in MONTHS) + r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)"
_MONTH = re.compile(r"\b(" + _MONTH_NAME + r")\b\.?")
# "from April to September", "2019-2021", "between 1990 and 1995": every value in between is named too.
_POINT = _MONTH_NAME + r"|1[5-9]\d\d|20\d\d"
_RANGE = re.compile(r"\b(?:(?:from\s+)?(" + _POINT + r")\s*(?:-|–|—|to|until|till|through)\s*|between\s+(" + _POINT
                    + r")\s+and\s+)(" + _POINT + r")\b")
_PART_AFTER = re.compile(r"\b(" + _PARTS + r")s?\s+(?:no\.?\s*)?" + _NUMBER + r"\b", re.I)  # season 4, week two
_PART_BEFORE = re.compile(r"\b" + _ORDINAL + r"\s+(" + _PARTS + r")\b", re.I)  # fourth season, 2nd quarter
_QUARTER = re.compile(r"\b([QH])([1-4])\b")
_ORDINAL_ALONE = re.compile(r"\b" + _ORDINAL + r"\b", re.I)
_QUANTITY = re.compile(r"(?<![\w.,/–-])(\d{1,3}(?:,\d{3})+|\d+(?:\.\d+)?)(?:\s*(%)|\s+(percent\b|per cent\b|[A-Za-z]+))?")
# "Channel 4 series", "Apollo 11 crew": a number after a capitalised word is part of a name, not a quantity.
_NAME_BEFORE = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w'’]*\s+$")
_SIDE = re.compile(r"\b(men|women|boys|girls)['’]s?\b|\b(male|female|mixed)\b", re.I)
_SIDE_OF = {"men": "men", "boys": "men", "male": "men", "women": "women", "girls": "women", "female": "women",
            "mixed": "mixed"}
_NOT_UNITS = {"and", "or", "to", "of", "in", "on", "at", "the", "a", "an", "by", "for", "from", "with", "was", "is",
              "were", "are", "s", "th", "st", "nd", "rd"}


@dataclass(frozen=True)
class Constraint:
    kind: str  # year, month, part:<what> (part:season), ordinal, quantity:<unit> (quantity:worker), side
    value: str


def _number(word: str) -> str:
    w = word.lower().rstrip(".")
    if w in _CARDINALS:
        return str(_CARDINALS.index(w) + 1)
    if w in ORDINALS:
        return str(ORDINALS.index(w) + 1)
    return re.sub(r"(st|nd|rd|th)$", "", w)


@lru_cache(maxsize=4096)  # a passage's sentences are read again for every question that retrieves it
def constraints(text: str) -> frozenset[Constraint]:
    """Every value of a constrainable kind that the text names."""
    found: set[Constraint] = set()
    taken: list[tuple[int, int]] = []  # spans already read, so "season 4" is not also the quantity 4

    def add(kind: str, value: str, span: tuple[int, int]) -> None:
        found.add(Constraint(kind, value))
        taken.append(span)

    for m in _PART_AFTER.finditer(text):
        add(f"part:{stem(m.group(1).lower())}", _number(m.group(0).split()[-1]), m.span())
    for m in _PART_BEFORE.finditer(text):
        add(f"part:{stem(m.group(1).lower())}", _number(m.group(0).split()[0]), m.span())
    for m in _QUARTER.finditer(text):
        add("part:quarter" if m.group(1) == "Q" else "part:half", m.group(2), m.span())
    for m in _YEAR.finditer(text):
        add("year", m.group(1), m.span())
    for m in _MONTH.finditer(text):
        if m.group(1) != "May" or re.search(r"\d", text[m.end(): m.end() + 6]):  # "May" the verb is no month
            add("month", m.group(1)[:3].lower(), m.span())
    for m in _RANGE.finditer(text):
        for value in _between(m.group(1) or m.group(2), m.group(3)):
            found.add(value)
    for m in _SIDE.finditer(text):
        add("side", _SIDE_OF[(m.group(1) or m.group(2)).lower()], m.span())
    for m in _ORDINAL_ALONE.finditer(text):
        if not any(s <= m.start() < e for s, e in taken):
            add("ordinal", _number(m.group(0)), m.span())
    for m in _QUANTITY.finditer(text):
        if any(s <= m.start() < e for s, e in taken) or _NAME_BEFORE.search(text, 0, m.start()):
            continue
        unit = (m.group(2) or m.group(3) or "").lower()
        unit = "percent" if unit in ("%", "percent", "per cent") else unit
        if unit and unit not in _NOT_UNITS:
            found.add(Constraint(f"quantity:{stem(unit)}", m.group(1).replace(",", "")))
    return frozenset(found)


def _between(first: str, last: str) -> list[Constraint]:
    """The values a range names, its ends included (years up to a century apart; months round the year)."""
    if first.isdigit() and last.isdigit():
        a, b = int(first), int(last)
        return [Constraint("year", str(y)) for y in range(a, b + 1)] if 0 < b - a <= 100 else []
    if first.isdigit() or last.isdigit():
        return []
    a, b = (MONTHS.index(next(m for m in MONTHS if m.startswith(x[:3].lower()))) for x in (first, last))
    return [Constraint("month", MONTHS[(a + i) % 12][:3]) for i in range((b - a) % 12 + 1)]


def contradicted(asked: frozenset[Constraint], sentence: str, scope: str) -> float:
    """The share of the question's constraints (asked) that the sentence names another value of, or, when it
    names no value of that kind itself, that its scope (its heading and the sentence before) does."""
    own, framing = constraints(sentence), constraints(scope)
    wrong = 0
    for c in asked:
        values = {x.value for x in own if x.kind == c.kind} or {x.value for x in framing if x.kind == c.kind}
        wrong += bool(values) and c.value not in values
    return wrong / len(asked)
