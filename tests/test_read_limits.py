"""What reading one file may cost: files built to be costly (tests/bombs.py, built here) are skipped with a
reason that says which limit they hit and which setting raises it, and the good files beside them are still
indexed; through the command line and through the chat window's upload box of a real server."""

from __future__ import annotations

import pytest

from bombs import docx_bomb, pdf_bomb, pdf_form_bomb
from conftest import COLLECTION_SOURCES, run_cli, write_collection

# file name -> (how it is built, a phrase of the reason it is skipped for)
COSTLY = {
    # 16,000 paragraphs: 3.2 MB of XML (4.0 MB with the rest of the package) in a 25 KB file, over a 2 MB
    # limit; found from the ZIP directory alone.
    "inflates.docx": (lambda p: docx_bomb(p, 16_000), "unpacks to 4.0 MB, more than the limit of 2 MB"),
    # 2,000 paragraphs: 352,000 characters, under the size limit but over the characters limit.
    "wordy.docx": (lambda p: docx_bomb(p, 2_000), "more than 300,000 characters of text"),
    "wordy.txt": (lambda p: p.write_text("All work and no play makes Jack a dull boy.\n" * 8_000),
                  "more than 300,000 characters of text"),
    # A 4 MB content stream in a 12 KB file.
    "inflates.pdf": (lambda p: pdf_bomb(p, 4_000_000), "a compressed part unpacks to more than 2 MB"),
    # 4 pages drawing one 800 KB stream of text (700,000 characters each), 3 KB on disk: each page is
    # quadratic to read in pypdf (seconds a page without the limits; a 5 MB stream, minutes).
    "shared-stream.pdf": (lambda p: pdf_bomb(p, 800_000, pages=4), "page 1 holds more than 200,000 characters"),
    # One page calling a 20 KB form 200 times: 3.5 million characters from 1 KB.
    "form.pdf": (lambda p: pdf_form_bomb(p, 20_000, 200), "page 1 holds more than 200,000 characters"),
}


@pytest.fixture(scope="module")
def costly_folder(tmp_path_factory):
    docs = write_collection(tmp_path_factory.mktemp("costly") / "docs")
    for name, (build, _) in COSTLY.items():
        build(docs / name)
    return docs


def test_costly_files_are_skipped_with_their_reason_and_the_rest_is_indexed(costly_folder, tmp_path, embedder):
    from citechat.config import settings
    from citechat.index.sync import sync_index

    limited = settings(docs_dir=costly_folder, index_dir=tmp_path / "index", max_file_chars=300_000,
                       max_unpacked_mb=2)
    report = sync_index(limited, embedder=embedder)
    reasons = {s.source: s.reason for s in report.skipped}
    assert set(reasons) == set(COSTLY)
    for name, (_, phrase) in COSTLY.items():
        assert phrase in reasons[name], (name, reasons[name])
    assert "CITECHAT_MAX_UNPACKED_MB" in reasons["inflates.docx"]
    assert "CITECHAT_MAX_FILE_CHARS" in reasons["wordy.txt"]
    assert sorted(report.added) == COLLECTION_SOURCES

    # Nothing changed: a second sync skips them again for the same reasons (a server does it at once).
    again = sync_index(limited, embedder=embedder)
    assert {s.source: s.reason for s in again.skipped} == reasons and sorted(again.unchanged) == COLLECTION_SOURCES


def test_a_file_that_takes_too_long_to_parse_is_stopped_and_the_next_one_is_read(tmp_path, embedder):
    from citechat.config import settings
    from citechat.index.sync import sync_index

    docs = tmp_path / "docs"
    docs.mkdir()
    # One page whose 20 MB content stream pypdf parses whole before it reads any text: nothing inside the
    # parse can stop it, so the reading process is killed at the time limit. Read first (names are sorted).
    pdf_bomb(docs / "a-slow.pdf", 20_000_000)
    write_collection(docs)
    report = sync_index(settings(docs_dir=docs, index_dir=tmp_path / "index", parse_seconds=1), embedder=embedder)
    assert [(s.source, s.reason) for s in report.skipped] == [
        ("a-slow.pdf", "reading took longer than 1 s (set CITECHAT_PARSE_SECONDS to raise the limit)")]
    assert sorted(report.added) == COLLECTION_SOURCES  # read by a fresh reader after the kill


def test_the_command_line_lists_costly_files_and_how_to_raise_the_limit(tmp_path):
    docs = write_collection(tmp_path / "docs")
    docx_bomb(docs / "inflates.docx", 16_000)
    result = run_cli("index", "--docs", str(docs), "--index", str(tmp_path / "index"), CITECHAT_MAX_UNPACKED_MB="2")
    assert result.returncode == 0, result.stderr
    assert "skipped inflates.docx: unpacks to 4.0 MB, more than the limit of 2 MB" in result.stderr
    assert "CITECHAT_MAX_UNPACKED_MB" in result.stderr and "Traceback" not in result.stderr
    assert "5 added" in result.stdout and "1 skipped" in result.stdout


def test_costly_uploads_are_skipped_by_the_server_which_keeps_answering(tmp_path, embedder):
    from playwright.sync_api import expect

    from citechat.bot import Bot
    from citechat.config import settings
    from citechat.index.sync import sync_index
    from ui_helpers import ask, chromium, last_answer_text, open_page, serving, upload

    docs = write_collection(tmp_path / "docs")
    limited = settings(docs_dir=docs, index_dir=tmp_path / "index", cache_dir=tmp_path / "cache",
                       max_file_chars=300_000, max_unpacked_mb=2)
    sync_index(limited, embedder=embedder)
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    files = [docx_bomb(incoming / "inflates.docx", 16_000), pdf_bomb(incoming / "shared-stream.pdf", 800_000, 4),
             pdf_form_bomb(incoming / "form.pdf", 20_000, 200)]
    (incoming / "harbour.txt").write_text("The Quillon harbour master is Edda Varn. She opens the locks at dawn.\n")
    with serving(Bot(limited, embedder=embedder)) as (running, url), chromium() as browser:
        page = open_page(browser, url)
        upload(page, *files, incoming / "harbour.txt")
        message = page.locator("#sync-message")
        expect(message).to_contain_text("Added: harbour.txt", timeout=120_000)
        for name in ("inflates.docx", "shared-stream.pdf", "form.pdf"):
            expect(message).to_contain_text(f"Skipped {name}: ")
        assert "unpacks to 4.0 MB" in message.inner_text() and "200,000 characters" in message.inner_text()
        ask(page, "Who is the Quillon harbour master?")
        assert "Edda Varn" in last_answer_text(page)
        page.context.close()
