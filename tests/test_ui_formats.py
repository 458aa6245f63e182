"""Uploading the new formats through the chat window, in Debian's chromium: a slide deck, a workbook, an e-mail
with an attachment, an e-book, an OpenDocument text and a scanned page (a PNG) are indexed at once and answered
from, the Documents tab lists the formats read, and a quote read by OCR says so."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from citechat.bot import Bot
from citechat.config import settings
from citechat.index.sync import sync_index
from conftest import write_collection
from format_docs import scanned_page, write_eml, write_epub, write_odt, write_pptx, write_xlsx
from ui_helpers import ask, chromium, last_answer_text, open_page, serving, show_documents, upload

pytestmark = pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")

WAIT_MS = 180_000  # the first scanned page loads the OCR engine in the reader process


def test_uploads_of_the_new_formats_are_indexed_and_answered(tmp_path, embedder):
    docs = write_collection(tmp_path / "docs")
    chosen = settings(docs_dir=docs, index_dir=tmp_path / "index", cache_dir=tmp_path / "cache")
    sync_index(chosen, embedder=embedder)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    files = [write_pptx(incoming / "festival.pptx"), write_xlsx(incoming / "budget.xlsx"),
             write_eml(incoming / "contract.eml"), write_epub(incoming / "keepers.epub"),
             write_odt(incoming / "allotment.odt"), incoming / "rota.png"]
    scanned_page(["Boat Shed Rota", "", "Kasimir Lowe locks the boat shed on Fridays."]).save(incoming / "rota.png")
    with serving(Bot(chosen, embedder=embedder)) as (running, url), chromium() as browser:
        page = open_page(browser, url)
        show_documents(page)
        expect(page.locator("#index-status")).to_contain_text(".pptx .xlsx .xlsm .csv .tsv .odt .ods .epub .rtf .eml")
        expect(page.locator("#upload")).to_contain_text(".pptx")
        upload(page, *files)
        message = page.locator("#sync-message")
        expect(message).to_contain_text("Added: ", timeout=WAIT_MS)
        for path in files:
            expect(message).to_contain_text(path.name)
        assert "Skipped" not in message.inner_text()
        expect(page.locator("#documents")).to_contain_text("Signed maintenance contract")

        ask(page, "Where will the launch party be held?")
        assert "Kelpie Boathouse" in last_answer_text(page)
        expect(page.locator("#sources")).to_contain_text("Slide 2 › Quarterly targets › Notes")
        ask(page, "What is the budget for Q3 in the marketing sheet?")
        assert "42500" in last_answer_text(page)
        ask(page, "What is the total value of the maintenance contract?")
        assert "96,000 euros" in last_answer_text(page)
        expect(page.locator("#sources")).to_contain_text("contract.eml · contract.pdf")
        ask(page, "Who locks the boat shed on Fridays?")
        assert "Kasimir Lowe" in last_answer_text(page)
        expect(page.locator("#sources")).to_contain_text("page 1 (scanned)")
        expect(page.locator("#sources .cc-ocr")).to_contain_text("Read by OCR")
        page.screenshot(path=str(tmp_path / "formats.png"))
        page.context.close()
