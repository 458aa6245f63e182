"""The documents of a served index, through the real app on a loopback port, Debian's chromium (Playwright) and
plain HTTP: removing from the index versus deleting a file, uploads that never overwrite, a folder watched for
changes, and errors shown as one line."""

from __future__ import annotations

import fcntl
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from gradio.utils import get_upload_folder

from citechat.bot import Bot
from citechat.config import settings
from citechat.index.sync import sync_index
from citechat.web.service import ChatService, UploadRefused
from conftest import SOURDOUGH_MD, citechat_command, write_collection
from ui_helpers import chromium, open_page, serving, server_process, show_documents, upload

pytestmark = pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")

WAIT_MS = 60_000


def wait_for(condition, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@pytest.fixture(scope="module")
def served(tmp_path_factory, embedder):
    """(running server, its Bot) over a copy of the five-format collection (not the seed article)."""
    root = tmp_path_factory.mktemp("served")
    docs = write_collection(root / "docs")
    s = settings(docs_dir=docs, index_dir=root / "index")
    sync_index(s, embedder=embedder)
    bot = Bot(s, embedder=embedder)
    with serving(bot) as (running, _):
        yield running, bot


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser, served):
    page = open_page(browser, served[0].url)
    yield page
    page.context.close()


def pick(page, choice: str, name: str) -> None:
    page.locator(f"#{choice} input").click()
    page.get_by_role("option", name=name, exact=True).click()


def sources_of(bot) -> set[str]:
    return {d.source for d in bot.documents}


def test_remove_from_index_keeps_the_file_until_it_is_added_back(page, served):
    from playwright.sync_api import expect

    running, bot = served
    notes = bot.settings.docs_dir / "notes.txt"
    before = notes.read_bytes()
    show_documents(page)
    expect(page.locator("#add-back-row")).to_be_hidden()  # nothing has been removed
    pick(page, "remove-choice", "notes.txt")
    page.locator("#remove").click()
    expect(page.locator("#sync-message")).to_contain_text("Removed: notes.txt", timeout=WAIT_MS)
    expect(page.locator("#sync-message")).not_to_contain_text("earlier")
    expect(page.locator("#excluded")).to_contain_text("notes.txt")
    expect(page.locator("#add-back-row")).to_be_visible()
    assert notes.read_bytes() == before  # the file is untouched
    assert "notes.txt" not in sources_of(bot)

    # Later syncs keep it out, even though it is still in the folder.
    page.locator("#sync").click()
    expect(page.locator("#sync-message")).to_contain_text("1 kept out of the index by choice", timeout=WAIT_MS)
    assert "notes.txt" not in sources_of(bot) and notes.exists()

    pick(page, "add-back-choice", "notes.txt")
    page.locator("#add-back").click()
    expect(page.locator("#sync-message")).to_contain_text("Added: notes.txt", timeout=WAIT_MS)
    assert "notes.txt" in sources_of(bot)
    expect(page.locator("#excluded")).to_have_count(0)
    expect(page.locator("#add-back-row")).to_be_hidden()


def test_delete_file_asks_first_and_deletes_only_the_indexed_file(page, served, tmp_path):
    from playwright.sync_api import expect

    running, bot = served
    guide = bot.settings.docs_dir / "guide.md"
    show_documents(page)
    pick(page, "remove-choice", "guide.md")
    page.locator("#delete").click()
    expect(page.locator("#confirm-text")).to_contain_text(f"Delete the file {guide}")
    page.locator("#cancel-delete").click()
    expect(page.locator("#confirm-delete")).to_be_hidden()
    assert guide.exists() and "guide.md" in sources_of(bot)

    page.locator("#delete").click()
    page.locator("#confirm-delete").click()
    expect(page.locator("#sync-message")).to_contain_text("Removed: guide.md", timeout=WAIT_MS)
    assert not guide.exists() and "guide.md" not in sources_of(bot)


def test_only_the_indexed_file_is_ever_deleted(tmp_path, embedder):
    docs = write_collection(tmp_path / "docs")
    s = settings(docs_dir=docs, index_dir=tmp_path / "index")
    sync_index(s, embedder=embedder)
    service = ChatService(Bot(s, embedder=embedder))
    guide = docs / "guide.md"
    guide.write_text(SOURDOUGH_MD + "\nA line added after indexing.\n", encoding="utf-8")
    with pytest.raises(UploadRefused, match="has changed since it was indexed"):
        service.delete_file("guide.md")
    assert guide.exists()
    # A link put in the document's place is removed itself, never what it points to.
    outside = tmp_path / "precious.md"
    outside.write_text("precious\n")
    (docs / "notes.txt").unlink()
    os.symlink(outside, docs / "notes.txt")
    service.delete_file("notes.txt")
    assert outside.read_text() == "precious\n" and not os.path.lexists(docs / "notes.txt")
    for name in ("../precious.md", "never-indexed.txt"):
        with pytest.raises(UploadRefused):
            service.delete_file(name)
    # Removing from the index never touches a file.
    service.remove_from_index("ferry.html")
    assert (docs / "ferry.html").exists() and "ferry.html" in service.bot.snapshot.excluded


def test_an_upload_never_replaces_a_file_and_says_when_it_waits(page, served, tmp_path):
    from playwright.sync_api import expect

    running, bot = served
    docs = bot.settings.docs_dir
    original = (docs / "ferry.html").read_bytes()
    incoming = tmp_path / "ferry.html"
    incoming.write_text("<h1>Ferry notes</h1><p>The Zorblat ferry was painted green in 1987.</p>\n")
    smiley = tmp_path / "🙂.txt"
    smiley.write_text("The Quibbleflax lantern festival is held every June.\n", encoding="utf-8")

    # Another process is syncing this index: the upload says it waits, then goes on.
    with open(bot.settings.index_dir / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        upload(page, incoming, smiley)
        expect(page.locator("#sync-message")).to_contain_text("Waiting for another sync", timeout=WAIT_MS)
        assert (docs / "ferry (2).html").exists()  # saved already; indexed once the other sync is done
    expect(page.locator("#sync-message")).to_contain_text("ferry (2).html", timeout=WAIT_MS)
    expect(page.locator("#sync-message")).to_contain_text("ferry.html already exists with other content")
    assert (docs / "ferry.html").read_bytes() == original
    assert {"ferry.html", "ferry (2).html", "🙂.txt"} <= sources_of(bot)
    # Gradio's own copies of the uploads are gone once they are saved.
    uploaded = {incoming.read_bytes(), smiley.read_bytes()}
    sizes = {len(content) for content in uploaded}
    left = [p for p in Path(get_upload_folder()).rglob("*")
            if p.is_file() and p.stat().st_size in sizes and p.read_bytes() in uploaded]
    assert not left, left

    # The same file again is not copied twice.
    upload(page, incoming)
    expect(page.locator("#sync-message")).to_contain_text("0 added, 0 updated", timeout=WAIT_MS)
    assert not (docs / "ferry (3).html").exists()


def test_a_window_opened_before_an_upload_can_remove_the_new_document(browser, served, tmp_path):
    from playwright.sync_api import expect

    running, bot = served
    earlier = open_page(browser, running.url)
    later = open_page(browser, running.url)
    new = tmp_path / "lantern.txt"
    new.write_text("Lantern notes\n\nThe harbour lanterns are lit at dusk by the ferry crew.\n")
    upload(later, new)
    expect(later.locator("#sync-message")).to_contain_text("Added: lantern.txt", timeout=WAIT_MS)

    show_documents(earlier)  # never reloaded
    expect(earlier.locator("#documents")).to_contain_text("lantern.txt", timeout=WAIT_MS)
    pick(earlier, "remove-choice", "lantern.txt")
    earlier.locator("#remove").click()
    expect(earlier.locator("#sync-message")).to_contain_text("Removed: lantern.txt", timeout=WAIT_MS)
    assert "lantern.txt" not in sources_of(bot) and (bot.settings.docs_dir / "lantern.txt").exists()
    for p in (earlier, later):
        p.context.close()


def test_the_documents_tab_shows_its_folder_and_examples_come_from_the_documents(page, served):
    from playwright.sync_api import expect

    running, bot = served
    show_documents(page)
    expect(page.locator("#index-status")).to_contain_text(str(bot.settings.docs_dir))
    examples = page.locator(".cc-example:visible")
    expect(examples.first).to_be_visible()
    texts = examples.all_inner_texts()
    assert texts and not any("Altman" in t or "Minneapolis" in t for t in texts), texts
    # Asked as a person would: short, about a heading or a title of the documents, no quotes or list numbers.
    topics = {name.lower() for c in bot.snapshot.all_chunks() for name in [c.title, *c.section.split(" › ")] if name}
    for text in texts:
        assert text.endswith("?") and len(text.split()) <= 14 and not re.search(r"[“”\"]|\b\d+\.\s", text), text
        topic = re.sub(r"^(what about |what is )(the )?|( about)?\?$", "", text.lower())
        assert topic in topics, (text, topics)
    examples.first.click()
    expect(page.locator("#sources .cc-question")).to_contain_text(texts[0], timeout=WAIT_MS)


def test_the_server_follows_the_folder_and_indexes_written_by_other_processes(served, tmp_path):
    running, bot = served
    docs = bot.settings.docs_dir
    (docs / "tides.txt").write_text("Tide tables\n\nHigh tide at Pier 9 comes at 7:42 this Sunday.\n")
    wait_for(lambda: "tides.txt" in sources_of(bot), "the new file to be indexed")
    (docs / "tides.txt").unlink()
    wait_for(lambda: "tides.txt" not in sources_of(bot), "the deleted file to leave the index")

    # Another process changes the index without touching the folder: the server serves its version.
    script = ("import sys; from citechat.config import settings; from citechat.index.sync import sync_index; "
              "sync_index(settings(docs_dir=sys.argv[1], index_dir=sys.argv[2]), exclude=['report.pdf'])")
    done = subprocess.run([sys.executable, "-c", script, str(docs), str(bot.settings.index_dir)],
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    wait_for(lambda: "report.pdf" not in sources_of(bot), "the other process's index to be served")
    running.service.add_back("report.pdf")


def raw_ask(url: str, data: list) -> tuple[str, str]:
    """/ask through Gradio's HTTP interface with any JSON as its inputs: (event kind, data)."""
    base = url.rstrip("/") + "/gradio_api/call/ask"
    event = httpx.post(base, json={"data": data}, timeout=60).json()["event_id"]
    stream = httpx.get(f"{base}/{event}", timeout=60).text
    return re.findall(r"^event: (\w+)", stream, re.M)[-1], re.findall(r"^data: (.*)$", stream, re.M)[-1]


def test_a_question_or_history_of_the_wrong_type_gets_a_clean_error(served, capfd):
    running, _ = served
    capfd.readouterr()
    cases = [([42, None], "The question must be text"), (["What time is the ferry?", "yesterday"], "history must be"),
             (["What time is the ferry?", [["only a question"]]], "history must be"),
             (["What time is the ferry?", [[1, 2]]], "history must be")]
    for data, phrase in cases:
        kind, message = raw_ask(running.url, data)
        assert kind == "error" and phrase in message, (data, message)
    out, err = capfd.readouterr()
    logged = [line for line in (out + err).splitlines() if "/ask failed" in line]
    assert len(logged) == len(cases) and all(line.startswith("citechat: /ask failed: BadRequest:") for line in logged), logged
    assert "Traceback" not in out + err


def test_serve_syncs_at_start_what_changed_while_it_was_down(tmp_path, embedder):
    from gradio_client import Client

    from ui_helpers import free_port

    docs = write_collection(tmp_path / "docs")
    index = tmp_path / "index"
    sync_index(settings(docs_dir=docs, index_dir=index), embedder=embedder)
    # A file saved by an upload whose sync was cut short (the server killed): in the folder, not indexed.
    (docs / "zorblat.txt").write_text("The Zorblat bridge was completed in 1987 by engineer Mara Quint.\n")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [*citechat_command(), "serve", "--index", str(index), "--port", str(port), "--no-watch"]
    with server_process(command, url, tmp_path / "serve.log"):
        client = Client(url, verbose=False)
        wait_for(lambda: "Mara Quint" in client.predict("Who built the Zorblat bridge?", api_name="/ask")[0],
                 "the startup sync to index the file", timeout=120)
    assert "synced with the folder: 1 added" in (tmp_path / "serve.log").read_text()


def test_a_file_name_with_markup_is_shown_as_text(page, served, tmp_path):
    from playwright.sync_api import expect

    tricky = [tmp_path / '<img src="x" onerror="document.title=1">.exe', tmp_path / "<b>bold<b>.zip"]
    for path in tricky:
        path.write_text("not a document")
    upload(page, *tricky)
    expect(page.locator("#sync-message")).to_contain_text("is not a supported type", timeout=WAIT_MS)
    assert page.locator('img[src="x"]').count() == 0 and page.locator("[data-testid=toast-body] b").count() == 0
    assert page.title() == "citechat"
    assert not {path.name for path in tricky} & {d.source for d in served[1].documents}


def test_files_a_watched_folder_cannot_use_are_listed_and_logged_once(browser, tmp_path, embedder):
    from playwright.sync_api import expect

    from ui_helpers import free_port

    docs = write_collection(tmp_path / "docs")
    sync_index(settings(docs_dir=docs, index_dir=tmp_path / "index"), embedder=embedder)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "serve.log"
    command = [*citechat_command(), "serve", "--docs", str(docs), "--index", str(tmp_path / "index"), "--port",
               str(port)]
    with server_process(command, url, log):
        page = open_page(browser, url)
        show_documents(page)
        (docs / "drawing.xyz").write_bytes(b"\x00\x01 not a document")
        (docs / "empty.txt").write_text("")
        skipped = page.locator("#skipped")  # shown by the window's own refresh: nothing is clicked
        expect(skipped).to_contain_text("drawing.xyz", timeout=WAIT_MS)
        expect(skipped).to_contain_text("empty.txt: empty file")
        (docs / "more.txt").write_text("The Quillmoor ferry runs on Sundays only.\n")  # a second sync
        expect(page.locator("#documents")).to_contain_text("more.txt", timeout=WAIT_MS)
        expect(skipped).to_contain_text("drawing.xyz")
        page.context.close()
    text = log.read_text()
    assert text.count("skipped drawing.xyz: unsupported file type '.xyz'") == 1, text
    assert text.count("skipped empty.txt: empty file") == 1, text
