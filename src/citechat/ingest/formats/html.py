"""HTML (.html, .htm): the text a browser shows of the page, as blocks (headings, paragraphs, list items and
table rows), written out in Markdown's shape (`ingest/blocks.py`)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from typing import BinaryIO

from ..blocks import render_blocks, table_rows
from ..document import Document, UnreadableFile, decode_text, first_line_title
from ..limits import Budget

SUFFIXES = (".html", ".htm")


class _HtmlBlocks(HTMLParser):
    """Collects the blocks a browser would show: headings, paragraphs, list items and table rows."""

    HIDDEN = {"script", "style", "noscript", "template", "head", "svg", "iframe", "object"}
    BLOCKS = {
        "p", "div", "li", "ul", "ol", "table", "section", "article", "header", "footer", "h1", "h2", "h3", "h4",
        "h5", "h6", "blockquote", "pre", "main", "aside", "nav", "dd", "dt", "figcaption", "caption",
        "figure", "form", "fieldset", "address", "details", "summary", "dl",
    }  # <br> and <hr> are void: they break the line or the block without opening one

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[tuple[str, str]] = []
        self.buffer: list[str] = []
        self.kinds: list[str] = ["p"]  # the innermost block element's kind
        self.tables: list[dict] = []  # open tables: {"rows": [[cells]], "cell": [text] | None, "header": bool}
        self.title_parts: list[str] = []
        self.hidden_depth = 0
        self.in_title = False

    def _flush(self) -> None:
        text = "".join(self.buffer)
        self.buffer = []
        if text.strip():
            self.blocks.append((self.kinds[-1], text))

    def handle_starttag(self, tag, attrs):
        if tag == "title":
            self.in_title = True
        elif tag == "body":  # </head> is optional in HTML: the body is always visible
            self.hidden_depth = 0
        elif tag in self.HIDDEN:
            self.hidden_depth += 1
        elif self.tables and self.tables[-1]["cell"] is not None and tag not in ("table", "td", "th", "tr"):
            self.tables[-1]["cell"].append("\n" if tag == "br" else " ")
        elif tag == "table":
            self._flush()
            self.tables.append({"rows": [], "cell": None, "header": False})
        elif tag in ("tr", "td", "th") and self.tables:
            self._table_tag(tag)
        elif tag == "br":
            self.buffer.append("\n")
        elif tag == "hr":
            self._flush()
        elif tag in self.BLOCKS:
            self._flush()
            kind = tag if tag in ("li", "pre") or tag[0] == "h" and tag[1:].isdigit() else "p"
            self.kinds.append(self.kinds[-1] if kind == "p" and self.kinds[-1] in ("li", "pre") else kind)

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        elif tag in self.HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag == "table" and self.tables:
            table = self.tables.pop()
            self._close_cell(table)
            self.blocks.extend(("row", line) for line in table_rows(table["rows"], table["header"] or None))
        elif tag in ("td", "th") and self.tables:
            self._close_cell(self.tables[-1])
        elif tag in self.BLOCKS and not (self.tables and self.tables[-1]["cell"] is not None):
            self._flush()
            if len(self.kinds) > 1:
                self.kinds.pop()

    def _table_tag(self, tag: str) -> None:
        table = self.tables[-1]
        self._close_cell(table)
        if tag == "tr" or not table["rows"]:
            table["rows"].append([])
        if tag in ("td", "th"):
            table["cell"] = []
            if tag == "th" and len(table["rows"]) == 1:
                table["header"] = True

    @staticmethod
    def _close_cell(table: dict) -> None:
        if table["cell"] is not None:
            table["rows"][-1].append("".join(table["cell"]))
            table["cell"] = None

    def handle_data(self, data):
        if self.in_title:
            self.title_parts.append(data)
            return
        if self.hidden_depth:
            return
        if self.kinds[-1] != "pre":
            data = re.sub(r"[ \t\n\r\f\v]+", " ", data)  # line breaks in the source are spaces in a browser
        if self.tables and self.tables[-1]["cell"] is not None:
            self.tables[-1]["cell"].append(data)
        else:  # outside tables, or a table's caption: it comes out before the table's rows
            self.buffer.append(data)

    def close(self):
        super().close()
        while self.tables:
            self.handle_endtag("table")
        self._flush()


def html_blocks(html: str) -> tuple[list[tuple[str, str]], str]:
    """The (kind, text) blocks a browser shows of the page (see `blocks.render_blocks`), and its title."""
    parser = _HtmlBlocks()
    parser.feed(_defuse_unclosed(html))
    parser.close()
    return parser.blocks, re.sub(r"\s+", " ", "".join(parser.title_parts)).strip()


def _defuse_unclosed(html: str) -> str:
    """Escape the "<" of constructs that can never close: Python's HTMLParser rescans to the end of the input
    for each of them, so a malformed file full of them takes quadratic time. Escaped, they are the same text."""
    for opener, closer in _UNCLOSED:
        cut = 0
        for cut_match in closer.finditer(html):
            cut = cut_match.end()
        if opener.search(html, cut):
            html = html[:cut] + opener.sub(lambda m: "&lt;" + m.group()[1:], html[cut:])
    return html


# (opener, what closes it) as Python's HTMLParser reads them; "<" last, as it covers every construct.
_UNCLOSED = [
    (re.compile(r"<!--"), re.compile(r"-->")),
    (re.compile(r"<!\[(?i:temp|cdata|ignore|include|rcdata)(?![-_.a-zA-Z0-9])"), re.compile(r"\]\s*\]\s*>")),
    (re.compile(r"<!\[(?i:if|else|endif)(?![-_.a-zA-Z0-9])"), re.compile(r"\]\s*>")),
    (re.compile(r"<"), re.compile(r">")),
]


def read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    data = f.read()
    if not data.strip():
        raise UnreadableFile("empty file")
    blocks, title = html_blocks(decode_text(data))
    text = render_blocks(blocks)
    return Document(source, title[:200] or first_line_title(text, stem), text)
