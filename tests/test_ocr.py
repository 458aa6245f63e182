"""Scanned pages read by OCR (RapidOCR's bundled models, no network): a PDF whose pages are pictures only and a
PNG, both drawn by Pillow, read line for line into paragraphs; a fact that exists only as pixels answered with
an exact citation at "page 1 (scanned)"; progress per page; the per-page time limit; CITECHAT_OCR=0."""

from __future__ import annotations

import socket

import pytest

import citechat
from citechat.answering.types import location, read_by_ocr
from citechat.ingest.reading import load_document
from conftest import run_cli
from format_docs import SCANNED_LINES, scanned_page, write_scanned_pdf

SECOND_PAGE = ["Harbour Office", "", "The harbour master signs off every repair in the green ledger."]
EXPECTED_PAGE_1 = ("# Page 1 (scanned)\n\nPier Inspection Notes\n\nThe inspection of the north pier took place on "
                   "14 May.\nThree cracked bollards were found on the east side\nand must be replaced before winter."
                   "\n\nThe repair budget approved by the council is 18,400 euros.")


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    docs = tmp_path_factory.mktemp("scans") / "docs"
    docs.mkdir()
    write_scanned_pdf(docs / "pier-scan.pdf", [SCANNED_LINES, SECOND_PAGE])
    scanned_page(["Boat Shed Rota", "", "Kasimir Lowe locks the boat shed on Fridays."]).save(docs / "rota.png")
    return docs


def test_a_page_without_a_text_layer_is_read_line_for_line_without_the_network(scans, monkeypatch):
    def no_network(*args, **kwargs):
        raise OSError("no network in this test")

    monkeypatch.setattr(socket.socket, "connect", no_network)  # a download attempt would fail here
    doc = load_document(scans / "pier-scan.pdf", "pier-scan.pdf")
    assert doc.text[doc.pages[0][0] : doc.pages[0][1]] == EXPECTED_PAGE_1
    assert doc.text[doc.pages[1][0] : doc.pages[1][1]].startswith("# Page 2 (scanned)\n\nHarbour Office\n\n")
    image = load_document(scans / "rota.png", "rota.png")
    assert image.title == "rota" and image.pages == [(0, len(image.text))]
    assert image.text == "# Page 1 (scanned)\n\nBoat Shed Rota\n\nKasimir Lowe locks the boat shed on Fridays."


def test_a_fact_only_on_a_scanned_page_is_answered_with_its_place(scans, tmp_path, embedder):
    report = citechat.build_index(scans, tmp_path / "index")
    assert sorted(report.added) == ["pier-scan.pdf", "rota.png"] and not report.skipped
    bot = citechat.open_index(tmp_path / "index")
    asked = [("What is the repair budget approved by the council?", "18,400 euros", "pier-scan.pdf"),
             ("Who locks the boat shed on Fridays?", "Kasimir Lowe", "rota.png")]
    for question, fact, name in asked:
        answer = bot.answer(question)
        assert not answer.refused and fact in answer.text, (question, answer.text)
        source = next(s for s in answer.sources if fact in s.text)
        doc = load_document(scans / name, name)
        assert source.source == name and doc.text[source.start : source.end] == source.text
        start, end = source.page_range
        assert location(source).endswith(f"page 1 (scanned), characters {start:,}–{end:,}") and read_by_ocr(source)
        assert "Page 1 (scanned)" not in source.text  # the page's heading is never quoted


def test_progress_is_reported_per_scanned_page(scans):
    from citechat.ingest.files import open_regular
    from citechat.ingest.limits import ReadLimits
    from citechat.ingest.process import FileReader

    seen = []
    with FileReader(ReadLimits()) as reader, open_regular(scans / "pier-scan.pdf") as handle:
        doc = reader.read(handle, "pier-scan.pdf", "pier-scan.pdf", lambda done, total: seen.append((done, total)))
    assert seen == [(0, 2), (1, 2), (2, 2)]
    assert doc.text.startswith(EXPECTED_PAGE_1)


def test_a_scanned_page_over_its_time_limit_is_skipped_with_the_setting_to_raise(scans, tmp_path, embedder,
                                                                                  monkeypatch):
    from citechat.config import settings
    from citechat.index.sync import sync_index
    from citechat.ingest import process

    # The reader is stopped GRACE_SECONDS after a page's limit; without them, a page's OCR (well over 0.05 s on
    # any machine) is past it whatever the machine's speed.
    monkeypatch.setattr(process, "GRACE_SECONDS", 0.0)
    slow = settings(docs_dir=scans, index_dir=tmp_path / "index", ocr_page_seconds=0.05)
    report = sync_index(slow, embedder=embedder)
    reasons = {s.source: s.reason for s in report.skipped}
    assert set(reasons) == {"pier-scan.pdf", "rota.png"}
    assert all("a scanned page took longer than 0.05 s to read by OCR" in reason and "CITECHAT_OCR_PAGE_SECONDS"
               in reason for reason in reasons.values()), reasons


def test_ocr_turned_off_skips_scans_with_the_setting_that_turns_it_on(scans, tmp_path):
    result = run_cli("index", "--docs", str(scans), "--index", str(tmp_path / "index"), CITECHAT_OCR="0")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert "skipped rota.png: it is read only by OCR, which is turned off (CITECHAT_OCR=0" in result.stderr
    assert "skipped pier-scan.pdf: no text found: a scanned PDF without a text layer" in result.stderr
    status = run_cli("status", "--index", str(tmp_path / "index"), CITECHAT_OCR="0")
    assert "Reads:     .txt .md" in status.stdout and "(OCR of scanned pages and images turned off" in status.stdout


def test_the_command_line_shows_the_scanned_pages_as_they_are_read(scans, tmp_path):
    result = run_cli("index", "--docs", str(scans), "--index", str(tmp_path / "index"))
    assert result.returncode == 0, result.stderr
    assert "reading scanned pages" in result.stderr and "2/2" in result.stderr
    assert "added: pier-scan.pdf" in result.stdout and "added: rota.png" in result.stdout
    status = run_cli("status", "--index", str(tmp_path / "index"))
    assert "scanned PDF pages and images (.png .jpg .jpeg .tif .tiff .webp) by OCR" in status.stdout


def test_only_the_pages_without_a_text_layer_of_a_pdf_are_read_by_ocr(tmp_path, embedder):
    from pypdf import PdfWriter

    from conftest import write_pdf

    text_pages = write_pdf(tmp_path / "text.pdf", ["Pier Report\n\nThe harbour board met on 2 May to plan repairs.",
                                                   "The board will meet again on 9 June to approve the bill."])
    scan = write_scanned_pdf(tmp_path / "scan.pdf", [SCANNED_LINES])
    merged = PdfWriter()
    merged.append(str(text_pages), pages=(0, 1))
    merged.append(str(scan))
    merged.append(str(text_pages), pages=(1, 2))
    docs = tmp_path / "docs"
    docs.mkdir()
    merged.write(docs / "mixed.pdf")
    doc = load_document(docs / "mixed.pdf", "mixed.pdf")
    first, second, third = (doc.text[a:b] for a, b in doc.pages)
    assert "harbour board met on 2 May" in first and "(scanned)" not in first
    assert second == EXPECTED_PAGE_1.replace("Page 1", "Page 2")
    assert third.startswith("The board will meet again on 9 June")
    citechat.build_index(docs, tmp_path / "index")
    answer = citechat.open_index(tmp_path / "index").answer("When will the board meet again to approve the bill?")
    source = next(s for s in answer.sources if "9 June" in s.text)
    assert source.page == 3 and not read_by_ocr(source) and "(scanned)" not in location(source)
