"""Text shown as a person reads it: a line break that only wraps a paragraph is a space, headings carry no `#`,
Markdown's emphasis and code marks are taken out; the cited span stays exact and highlighted. Checked in the
real browser on hard-wrapped notes, a Markdown how-to and a Word document with headings, and on the exact
text handling itself."""

from __future__ import annotations

import pytest

from citechat.bot import Bot
from citechat.config import settings
from citechat.index.sync import sync_index
from citechat.ingest.readable import readable, shown_chars
from conftest import write_docx
from ui_helpers import ask, chromium, last_answer_text, open_page, serving

pytestmark = pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")

NOTES = ("Warehouse meeting notes\n\nJonas confirmed that\nthe move to the Leipzig warehouse is planned for the third\n"
         "week of May, once the racking is installed.\n\nThe fork-lift training starts in June.\n")
HOWTO = ("# Tunnel manager how-to\n\n## Importing tunnels\n\nTo **import tunnel(s) from a file**, open the `Tunnels`\n"
         "menu and choose *Import*. The file must be a `.conf` file.\n")
SUPPLIER = ["Supplier handbook", "Our suppliers are reviewed every spring by the purchasing team.",
            "The main supplier of packaging is Hartmann Verpackung in Bremen, under contract until 2027."]


@pytest.fixture(scope="module")
def page_of(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("readable")
    docs = root / "docs"
    docs.mkdir()
    (docs / "warehouse-notes.txt").write_text(NOTES, encoding="utf-8")
    (docs / "tunnels.md").write_text(HOWTO, encoding="utf-8")
    write_docx(docs / "suppliers.docx", SUPPLIER)
    s = settings(docs_dir=docs, index_dir=root / "index")
    sync_index(s, embedder=embedder)
    with serving(Bot(s, embedder=embedder)) as (running, url), chromium() as browser:
        page = open_page(browser, url)
        yield page
        page.context.close()


@pytest.mark.parametrize("question, fact", [
    ("When is the move to the Leipzig warehouse planned?", "Jonas confirmed that the move to the Leipzig warehouse"),
    ("How do I import tunnels from a file?", "import tunnel(s) from a file, open the Tunnels menu"),
    ("Who is the main supplier of packaging?", "Hartmann Verpackung in Bremen"),
])
def test_answers_and_sources_read_as_text_not_as_typed(page_of, question, fact):
    ask(page_of, question)
    answer = last_answer_text(page_of)
    sources = page_of.locator("#sources").inner_text()
    for shown in (answer, sources):
        assert fact in shown, shown
        for symbol in ("##", "**", "`", "*Import*"):
            assert symbol not in shown, (symbol, shown)
    assert "that\nthe move" not in answer + sources and "third\nweek" not in answer + sources
    marked = page_of.locator("#sources mark").first.inner_text()
    assert fact.split(",")[0] in marked  # the cited span is still the one highlighted


def test_the_exact_text_handling():
    assert readable("Jonas confirmed that\nthe move\r\nis on.") == "Jonas confirmed that the move is on."
    assert readable("One.\n\n\n\nTwo.") == "One.\n\nTwo."
    assert readable("## Supplier overview 2025\n\nText.") == "Supplier overview 2025\n\nText."
    assert readable("Use **bold**, `code`, _it_ and [a link](http://x.y/z).") == "Use bold, code, it and a link."
    assert readable("Use **bold** and __init__.", markdown=False) == "Use **bold** and __init__."  # plain text
    assert readable("Items:\n- first\n- second\nRole: Chair; Name: Helen") == "Items:\n- first\n- second\nRole: Chair; Name: Helen"
    shown = shown_chars("# Title\nBody")
    assert [ch for ch, heading in shown if heading and ch] == list("Title")
    assert len(shown) == len("# Title\nBody")  # one entry per character: offsets into the text still hold
