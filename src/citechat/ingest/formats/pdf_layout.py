"""The text of PDF pages as a person reads them.

pypdf's plain extraction keeps the order in which a page draws its text, which for generated documents is the
reading order: a two-column page comes out column by column, each line of a narrow column on a line of its
own. Its "layout" mode sets the columns side by side instead, mixing their lines, so it is not used. Plain
extraction leaves no blank lines, though: paragraphs and headings run together. From the size, weight and
position of each line's font this module puts a blank line where the page shows a gap between paragraphs and
around headings (lines in a larger or bold font), and leaves out page numbers and the running header or footer
repeated on the pages.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

_BOLD = re.compile(r"bold|black|heavy|semibold|demi", re.I)
_PAGE_NUMBER = re.compile(r"(?:page|p\.)?\s*[-–]?\s*#\s*[-–]?\s*(?:(?:of|/)\s*#)?", re.I)
HEADING_SIZE = 1.15  # a line in a font this much larger than the body text is a heading
PARAGRAPH_GAP = 1.3  # a gap this much larger than the usual line spacing ends a paragraph


@dataclass
class _Line:
    text: str
    size: float = 0.0  # the largest font size on the line, in points as drawn
    bold: bool = False  # every visible character is in a bold font
    y: float | None = None  # baseline of its first visible character
    chars: int = 0  # visible characters


def page_texts(pages, budget=None) -> list[str]:
    """The text of each page, in reading order, with blank lines between paragraphs and around headings.
    A `limits.Budget` counts the text as pypdf produces it, and stops the reading past its limits."""
    lines = []
    for page in pages:
        if budget is not None:
            budget.new_page()
        lines.append(_page_lines(page, budget))
    _drop_running_lines(lines)
    everything = [line for page in lines for line in page]
    body = _main_size(everything)
    body_bold = sum(line.chars for line in everything if line.bold) * 2 > sum(line.chars for line in everything)
    return [_layout(page, body, body_bold) for page in lines]


def _main_size(lines: list[_Line]) -> float:
    """The font size most of the characters are in (0 when nothing is known)."""
    sizes: Counter = Counter()
    for line in lines:
        sizes[round(line.size, 1)] += line.chars
    return sizes.most_common(1)[0][0] if sizes else 0.0


def _page_lines(page, budget=None) -> list[_Line]:
    pieces: list[tuple] = []  # (text, cm, tm, font, size) of each piece of text the page draws

    def visit(*piece) -> None:
        pieces.append(piece)
        if budget is not None:
            budget.spend(len(piece[0]))

    raw = page.extract_text(visitor_text=visit) or ""
    if "".join(p[0] for p in pieces) != raw:  # no way to tell which piece is which: the text alone
        return [_Line(text.strip()) for text in raw.split("\n")]
    lines = [_Line("")]
    for text, cm, tm, font, size in pieces:
        for k, part in enumerate(text.split("\n")):
            if k:
                lines.append(_Line(""))
            line = lines[-1]
            line.text += part
            visible = len(part.strip())
            if not visible:
                continue
            c, d, f = _rendering(tm, cm)
            name = str(font.get("/BaseFont", "")) if font else ""
            is_bold = bool(_BOLD.search(name))
            line.bold = is_bold if not line.chars else line.bold and is_bold
            line.size = max(line.size, (size or 0.0) * math.hypot(c, d))
            line.y = f if line.y is None else line.y
            line.chars += visible
    for line in lines:
        line.text = line.text.strip()
    return lines


def _rendering(tm, cm) -> tuple[float, float, float]:
    """(c, d, f) of the text matrix times the transformation matrix: the vertical scale and the baseline."""
    c = tm[2] * cm[0] + tm[3] * cm[2]
    d = tm[2] * cm[1] + tm[3] * cm[3]
    f = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
    return c, d, f


def _drop_running_lines(pages: list[list[_Line]]) -> None:
    """Blank out page numbers and the lines repeated at the top or bottom of most pages."""
    if len(pages) < 2:
        return
    edges = []  # (page, line index, key)
    for p, lines in enumerate(pages):
        visible = [i for i, line in enumerate(lines) if line.text]
        for i in visible[:1] + visible[-1:]:
            edges.append((p, i, re.sub(r"\d+", "#", lines[i].text.lower()).strip()))
    counts = Counter(key for _, key in {(p, key) for p, _, key in edges})  # pages it is on
    for p, i, key in edges:
        if _PAGE_NUMBER.fullmatch(key) or counts[key] >= max(2, len(pages) / 2):
            pages[p][i] = _Line("")


def _layout(lines: list[_Line], body: float, body_bold: bool) -> str:
    pitch = _line_pitch(lines)
    out: list[str] = []
    previous: _Line | None = None
    blank = False
    for line in lines:
        if not line.text:
            blank = previous is not None
            continue
        if previous is not None:
            out.append("\n\n" if blank or _new_block(previous, line, body, body_bold, pitch) else "\n")
        out.append(line.text)
        previous, blank = line, False
    return "".join(out)


def _heading(line: _Line, body: float, body_bold: bool) -> bool:
    if not line.chars or len(line.text) > 150 or not body:
        return False
    return line.size >= body * HEADING_SIZE or (line.bold and not body_bold)


def _new_block(previous: _Line, line: _Line, body: float, body_bold: bool, pitch: float | None) -> bool:
    if _heading(previous, body, body_bold) != _heading(line, body, body_bold):
        return True
    if previous.size and line.size and max(previous.size, line.size) / min(previous.size, line.size) >= HEADING_SIZE:
        return True
    if pitch and previous.y is not None and line.y is not None:
        return previous.y - line.y > PARAGRAPH_GAP * pitch  # a jump up (the next column) is not a gap
    return False


def _line_pitch(lines: list[_Line]) -> float | None:
    """The distance between two lines of the page's main text inside a paragraph: the smallest one, as a page
    may have as many paragraph gaps as line breaks."""
    body = _main_size(lines)
    gaps = [
        a.y - b.y
        for a, b in zip(lines, lines[1:])
        if a.y is not None and b.y is not None and abs(a.size - body) < 0.5 and abs(b.size - body) < 0.5
        and 0.8 * body < a.y - b.y < 3 * body
    ]
    return min(gaps) if gaps else None
