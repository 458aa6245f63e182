"""How a text reads, with exact character offsets: lines become paragraphs, headings, list items and table
rows, and paragraphs become sentences. Shared by chunking, retrieval and answer extraction.

A line break inside a paragraph only wraps it, so a sentence runs on across it and a quote that spans a wrapped
line is one span. A paragraph ends at a blank line, a heading, a list item, a table row or a field line
("Date: 3 March 2025"), and where a line was broken on purpose: the next word would have fitted on it.
Headings are Markdown ones (`#`, or underlined) or short title-like lines that stand alone; a question that
stands alone or opens a paragraph is the heading of the answer after it (an FAQ). Headings, questions and
table header lines are never quoted as an answer: `quotable_spans` leaves them out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SENTENCE = "sentence"  # may be quoted
HEADING = "heading"  # a heading, a title or an FAQ question: the section of what follows
QUESTION = "question"  # a question inside a paragraph
MARK = "mark"  # a table header line, a table or horizontal rule, a heading underline
SECTION_SEPARATOR = " › "  # between the headings of a section path: "Handbook › Expenses"

# Abbreviations that end in a period without ending a sentence.
_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "mt", "inc", "ltd", "co", "corp", "vs", "etc",
    "e.g", "i.e", "no", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec", "gen", "gov", "sen", "rep", "rev", "fig", "approx", "est", "dept", "u.s", "u.k", "u.n",
}
_END = re.compile(r"[.!?…]+[\"'”’)\]*_]*(?=\s)")
_NEXT_STARTS_SENTENCE = re.compile(r"\s+[\"'“‘(\[]?[A-Z0-9À-ÖØ-Þ#*\-•]")
_WORD_BEFORE = re.compile(r"([A-Za-z][A-Za-z.]*)$")
_ENDS_SENTENCE = re.compile(r"[.!?…][\"'”’)\]*_]*$")

# A line that is not blank: a file of millions of blank lines costs no Python work for each of them.
_LINE = re.compile(r"^[^\S\n]*\S[^\n]*", re.M)
_ATX = re.compile(r"(#{1,6})(?:[ \t]+|$)")
_UNDERLINE = re.compile(r"(={3,}|-{3,})$")
_RULE = re.compile(r"([-*_])(?:[ \t]*\1){2,}$")
_FENCE = re.compile(r"```|~~~")
_PIPE_SEPARATOR = re.compile(r"\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?$")
_MARKER = r"[-*+•▪‣◦●·–]|\d{1,3}[.)]|\(?(?:[a-zA-Z]|[ivx]{2,4}|\d{1,3})\)"  # "- ", "2. ", "(b) ", "iv) "
_ITEM = re.compile(rf"(?:{_MARKER})[ \t]+(?=\S)")
# A table row as the readers write it: "Milestone: Go-live; Due date: 3 March 2025".
_TABLE_ROW = re.compile(r"[^:;]{1,60}: [^;]*(?:; [^:;]{1,60}: [^;]*)+$")
# A field: a short capitalised label, a colon, a value ("To: All staff", "Due date: 3 March").
_FIELD = re.compile(r"[A-Z0-9][\w&/()'’.,-]*(?: [\w&/()'’.,-]+){0,4}: \S")
_QUESTION_LABEL = re.compile(r"(?:Q|Question)\s*[:.]\s*", re.I)
# What a quote leaves out at its start: a list marker, an FAQ answer label, a table's outer bar.
_LEADER = re.compile(rf"(?:{_MARKER}|(?:A|Answer)\s*:|\|)[ \t]+")
# Words a wrapped line may end with but a line broken on purpose never does.
_JOINERS = frozenset(
    "a an the of to and or but nor in on at by for with from as into onto than that which who whose whom our "
    "their its his her my your this these those is are was were be been has have had will would can could may "
    "must shall should not per via about after before between during including".split()
)
_MAX_HEADING_WORDS = 12
_MAX_TITLE_WORDS = 30  # the first line of a document may be a long title


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    kind: str = SENTENCE
    level: int = 0  # headings: a Markdown heading's level; a title-like line one below the last one, a question two


@dataclass
class _Line:
    start: int
    end: int
    kind: str  # text, heading, mark, item, field, row, code
    gap: bool  # a blank line (or the start of the text) comes before it
    text: str
    level: int = 0


@dataclass
class _Unit:
    kind: str
    first: int  # index of its first and last line
    last: int


def segment(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """The headings, sentences and marks of text[start:end] in reading order, offsets into text."""
    end = len(text) if end is None else end
    part = text[start:end]
    lines = _lines(part)
    spans: list[Span] = []
    units = _units(lines)
    explicit = 1  # level of the last Markdown heading: a title-like line is one below it
    for i, unit in enumerate(units):
        first, last = lines[unit.first], lines[unit.last]
        if unit.kind == "heading":
            explicit = first.level
            spans.append(Span(first.start, first.end, HEADING, first.level))
        elif unit.kind in ("mark", "row", "code"):
            spans.append(Span(first.start, first.end, MARK if unit.kind == "mark" else SENTENCE))
        else:
            is_text = unit.kind == "text"
            title_field = unit.kind == "field" and i == 0 and start == 0  # "Project Atlas: meeting notes"
            candidate = is_text or title_field or _numbered_heading(units, i)
            level = _heading_level(lines, units, i, explicit, start == 0) if candidate else 0
            if level:
                spans.append(Span(first.start, last.end, HEADING, level))
            else:
                faq = is_text and _opens_block(lines, units, i)
                marker = _ITEM.match(part, first.start) if unit.kind == "item" else None
                body = marker.end() if marker else first.start  # "1. Tom to call." is one sentence
                spans.extend(_paragraph(part, first.start, last.end, body, faq, explicit))
    return [Span(s.start + start, s.end + start, s.kind, s.level) for s in spans]


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Every span of text[start:end] (sentences, headings, marks), as (start, end) offsets into text."""
    return [(s.start, s.end) for s in segment(text, start, end)]


def quotable_spans(text: str) -> list[tuple[int, tuple[int, int]]]:
    """The sentences of a passage that may be quoted as an answer, as (position, (start, end)): headings,
    titles, questions and table header lines are left out, and so are list markers at a sentence's start.
    `position` counts every span of the passage, so sentences either side of one left out are not neighbours."""
    out = []
    for position, s in enumerate(segment(text)):
        if s.kind == SENTENCE:
            a = s.start
            leader = _LEADER.match(text, a, s.end)
            if leader and leader.end() < s.end:
                a = leader.end()
            b = s.end - 1 if text[s.start] == "|" and text[s.end - 1] == "|" else s.end
            a, b = _trim(text, a, b)
            if a < b:
                out.append((position, (a, b)))
    return out


def heading_text(text: str, span: Span) -> str:
    """A heading as it reads in a section path: no Markdown marks, label colon or "Q:"."""
    words = text[span.start : span.end].strip().lstrip("#").rstrip("#").strip()
    words = _QUESTION_LABEL.sub("", words, count=1) if _QUESTION_LABEL.match(words) else words
    words = re.sub(r"\s+", " ", words.replace("**", "").replace("__", "")).strip()
    return words.rstrip(":").strip()[:120]


# ---------------------------------------------------------------- lines and units


def _lines(part: str) -> list[_Line]:
    lines: list[_Line] = []
    fenced = False
    previous_end = 0
    for m in _LINE.finditer(part):
        found = m.group()
        s = m.start() + len(found) - len(found.lstrip())
        e = m.start() + len(found.rstrip())
        gap = not lines or part.count("\n", previous_end, s) >= 2
        previous_end = e
        line = part[s:e]
        kind, level = "text", 0
        if _FENCE.match(line):
            fenced, kind = not fenced, "mark"
        elif fenced:
            kind = "code"
        elif heading := _ATX.match(line):
            kind, level = ("heading", len(heading.group(1))) if heading.end() < len(line) else ("mark", 0)
        elif _UNDERLINE.match(line) and lines and not gap and lines[-1].kind == "text":
            kind = "mark"
            lines[-1].kind, lines[-1].level = "heading", 1 if line[0] == "=" else 2
        elif _RULE.match(line):
            kind = "mark"
        elif line.startswith("|"):
            kind = "row"
            if _PIPE_SEPARATOR.match(line):
                kind = "mark"
                if lines and not gap and lines[-1].kind == "row":
                    lines[-1].kind = "mark"  # the header line of a Markdown table
        elif _ITEM.match(line):
            kind = "item"
        elif _TABLE_ROW.match(line):
            kind = "row"
        elif _FIELD.match(line) and not line.endswith("?"):
            kind = "field"
        lines.append(_Line(s, e, kind, gap, line, level))
    return lines


def _units(lines: list[_Line]) -> list[_Unit]:
    """Group lines into units: a paragraph, list item or field with its wrapped lines, or a line of its own."""
    units: list[_Unit] = []
    lengths = [ln.end - ln.start if ln.kind in ("text", "item", "field") else 0 for ln in lines]
    for i, line in enumerate(lines):
        current = units[-1] if units else None
        if (
            line.kind == "text"
            and current is not None
            and current.kind in ("text", "item", "field")
            and current.last == i - 1
            and not line.gap
            and _wraps(lines[i - 1].text, line.text, max(lengths[max(0, i - 4) : i + 4]))
        ):
            current.last = i
        else:
            units.append(_Unit(line.kind, i, i))
    return units


def _wraps(left: str, right: str, width: int) -> bool:
    """Does the line break between these two lines only wrap running text?"""
    if _ENDS_SENTENCE.search(left):
        return right[:1].islower()  # "approx.⏎five": the sentence goes on
    last_word = left.rsplit(None, 1)[-1].lower()
    if right[:1].islower() or left[-1] in ",;(-–—/&" or last_word in _JOINERS:
        return True
    if left.endswith(":") or _title_case(left):
        return False
    # Broken on purpose when the next word would have fitted on the line (with slack for proportional fonts).
    return width >= 20 and len(left) + 1 + len(right.split(None, 1)[0]) > 0.85 * width


def _title_case(line: str) -> bool:
    words = [w for w in re.findall(r"[A-Za-z][\w'’-]*", line) if len(w) > 3]
    return len(words) >= 2 and all(w[0].isupper() for w in words)


# ---------------------------------------------------------------- headings


def _heading_level(lines: list[_Line], units: list[_Unit], i: int, explicit: int, at_document_start: bool) -> int:
    """The level of a unit that reads as a heading, or 0: one line standing alone, title-like, or a label
    ("Attendees:"), or a question; not one of a run of short lines (a list without markers). A title-like line
    is one level below the last Markdown heading (`explicit`), a question two."""
    unit = units[i]
    if unit.first != unit.last or not _opens_block(lines, units, i):
        return 0
    line = lines[unit.first].text.strip("*_ ")  # "**Which laptop?**"
    if unit.kind == "item":
        marker = _ITEM.match(line)
        titled = marker and _title_like(line[marker.end() :], _MAX_HEADING_WORDS) and line[-1] != ":"
        return explicit + 1 if titled else 0
    if line.endswith("?") and len(line.split()) <= 25:
        return explicit + 2
    is_title = i == 0 and at_document_start
    if is_title:
        line = re.sub(r"\s*(?:\.\.\.|…)$", "", line)  # a headline cut short: "Woman wins annual race ..."
    if is_title and ": " in line:  # a title with a subtitle, not a field with a one-word label ("To: All staff")
        label, _, rest = line.partition(": ")
        titled = len(label.split()) >= 2 and _title_like(label, _MAX_TITLE_WORDS)
        return explicit + 1 if titled and _title_like(rest.capitalize(), _MAX_TITLE_WORDS) else 0
    if not (_title_like(line, _MAX_TITLE_WORDS, whole=False) if is_title else _title_like(line, _MAX_HEADING_WORDS)):
        return 0
    if line.endswith(":"):
        return explicit + 1 if len(line.split()) <= 6 else 0
    following = units[i + 1] if i + 1 < len(units) else None
    if following and following.kind == "text" and following.first == following.last and not lines[following.first].gap:
        nxt = lines[following.first].text
        if _title_like(nxt, _MAX_HEADING_WORDS) and not nxt.endswith(("?", ":")):
            return 0  # one of a run of short lines
    return explicit + 1


def _numbered_heading(units: list[_Unit], i: int) -> bool:
    """A numbered line alone, not in a list, with a paragraph under it: "2. Budget"."""
    unit = units[i]
    alone = (i == 0 or units[i - 1].kind != "item") and i + 1 < len(units) and units[i + 1].kind == "text"
    return unit.kind == "item" and unit.first == unit.last and alone


def _opens_block(lines: list[_Line], units: list[_Unit], i: int) -> bool:
    """Does the unit start after a blank line, a structural line or a finished sentence?"""
    first = lines[units[i].first]
    if first.gap or i == 0:
        return True
    before = units[i - 1]
    if before.kind in ("heading", "mark", "row", "field"):
        return True
    return bool(_ENDS_SENTENCE.search(lines[before.last].text))


def _title_like(line: str, max_words: int, whole: bool = True) -> bool:
    """Short, not ending as a sentence does, no label or list inside; whole: one sentence (a document's first
    line may hold two: "Mirage casino closing in July. Here's what's next")."""
    if len(line) > 12 * max_words:
        return False
    words = line.split()
    if not words or len(words) > max_words or not re.search(r"[^\W\d_]", line):
        return False
    if line[-1] in ".,;!…" or line[0].islower() or "; " in line or ": " in line:
        return False
    return not whole or len(_sentences(line, 0, len(line))) == 1


# ---------------------------------------------------------------- sentences


def _paragraph(part: str, a: int, b: int, body: int, faq: bool, base: int) -> list[Span]:
    spans = []
    for k, (s, e) in enumerate(_sentences(part, a, b, body)):
        question = part[s:e].rstrip("\"'”’)]*_").endswith("?")
        if question and k == 0 and faq and len(part[s:e].split()) <= 25 and e < b:
            spans.append(Span(s, e, HEADING, base + 2))  # "Question? Answer." in one paragraph
        else:
            spans.append(Span(s, e, QUESTION if question else SENTENCE))
    return spans


def _is_abbreviation(text: str, dot: int) -> bool:
    m = _WORD_BEFORE.search(text, max(0, dot - 12), dot)
    if not m:
        return False
    word = m.group(1).lower()
    # "J." or "U.S." style initials.
    return word in _ABBREVIATIONS or len(word) == 1 or bool(re.fullmatch(r"(?:[a-z]\.)+[a-z]", word))


def _sentences(text: str, a: int, b: int, body: int | None = None) -> list[tuple[int, int]]:
    """Sentences of one paragraph, looking for sentence ends from `body` on (after a list marker); line breaks
    inside the paragraph are only spaces."""
    cuts = [a]
    for m in _END.finditer(text, a if body is None else body, b):
        stop = m.end()
        if not _NEXT_STARTS_SENTENCE.match(text, stop, b):
            continue
        if text[m.start()] == "." and m.end() - m.start() == 1 and _is_abbreviation(text, m.start()):
            continue
        cuts.append(stop)
    cuts.append(b)
    spans = []
    for s, e in zip(cuts, cuts[1:]):
        s, e = _trim(text, s, e)
        if s < e:
            spans.append((s, e))
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
