"""The chat window: rendering and safety rules without a server, then the real app (real model, real index)
served on a loopback port and driven with Debian's chromium through Playwright, and through gradio_client."""

from __future__ import annotations

import shutil
import threading

import pytest

from citechat.answering.types import Answer, Source
from citechat.web.render import md_text, render_answer, render_sources
from citechat.web.security import RefuseToServe, check_exposure
from citechat.web.service import ChatService, UploadRefused, safe_name
from citechat.web.upload_folder import UploadLedger
from ui_helpers import (
    OUTPUT,
    REPO,
    ask,
    chromium,
    last_answer_text,
    open_page,
    serving,
    show_documents,
    upload,
    wait_for_answer,
)

# gradio's queue uses pandas options that pandas 3 deprecates; not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")

SEEDS = sorted((REPO / "seeds").glob("*.txt"))
SEED = SEEDS[0].name
ZORBLAT = "The Zorblat bridge was completed in 1987 by engineer Mara Quint. It spans the river Tessel at Ovrin."
EVIL_TITLE = 'Festival notes <img src=x onerror="window.__pwned=2">'
EVIL_SENTENCE = (
    "The Quibbleflax festival <script>window.__pwned=1</script> is held every June in Port Varnel "
    "<img src=x onerror=window.__pwned=3> with lantern boats on the harbour."
)


# ---------------------------------------------------------------- without a server


def _source(**kw) -> Source:
    passage = kw.pop("passage", "Intro sentence. The quoted <b>span</b> here. Outro & more.")
    quote = kw.pop("text", "The quoted <b>span</b> here.")
    start = passage.index(quote)
    values = dict(n=1, source="a<x>.txt", title="T <script>alert(1)</script>", page=None, start=start,
                  end=start + len(quote), text=quote, score=0.5, passage=passage, passage_start=0)
    values.update(kw)
    return Source(**values)


def test_sources_panel_escapes_and_highlights():
    html = render_sources(Answer(question="q <i>", text="The quoted span here. [1]", sources=[_source()]))
    assert "<mark>The quoted &lt;b&gt;span&lt;/b&gt; here.</mark>" in html
    assert "a&lt;x&gt;.txt" in html and "T &lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    assert "characters" in html


def test_refused_answer_shows_possibly_related_passages_as_such():
    answer = Answer(question="q", text="I couldn't find that.", refused=True, related=[_source()])
    html = render_sources(answer)
    assert "do not answer" in html and "Possibly related" in html and "possibly related" in html
    assert "<mark>" not in html  # nothing is presented as a quoted answer
    assert "Possibly related (not an answer)" in render_answer(answer.text, answer)


def test_a_low_confidence_answer_carries_a_quiet_note_and_a_sure_one_none():
    unsure = Answer(question="q", text="The quoted span here. [1]", sources=[_source()], confidence=0.3)
    sure = Answer(question="q", text="The quoted span here. [1]", sources=[_source()], confidence=0.9)
    assert 'class="cc-low-confidence"' in render_answer(unsure.text, unsure)
    assert "cc-low-confidence" not in render_answer(sure.text, sure)
    assert unsure.to_dict()["low_confidence"] and not sure.to_dict()["low_confidence"]


def test_chat_markdown_is_neutralised():
    text = "**bold** <img src=x onerror=alert(1)> [link](javascript:alert(1)) $x$ `code`\n    indented [1]"
    shown = render_answer(text)
    for raw in ("**", "<img", "[link]", "](", "`", "$"):
        assert raw not in shown
    assert 'class="cc-cite"' in shown and "&#91;1&#93;" in shown
    assert md_text("<script>") == "&#60;script&#62;"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\win.ini.md", "win.ini.md"),
        (".hidden.txt", "hidden.txt"),
        ("My Notes (v2).DOCX", "My Notes (v2).docx"),
        ("a<b>c.html", "a_b_c.html"),
        ("x" * 300 + ".txt", "x" * 116 + ".txt"),
        ("🙂.txt", "🙂.txt"),
        ("Ünïcødé notes.markdown", "Ünïcødé notes.markdown"),
    ],
)
def test_safe_name(name, expected):
    assert safe_name(name) == expected


@pytest.mark.parametrize("name", ["run.exe", "noext", ".txt", "..", "archive.tar.gz", "....txt", "/"])
def test_safe_name_refuses(name):
    with pytest.raises(UploadRefused):
        safe_name(name)


def test_uploads_are_checked_before_they_reach_the_documents_folder(tmp_path):
    class FakeBot:
        class settings:
            docs_dir = tmp_path / "docs"
            max_file_mb = 50.0

    incoming = tmp_path / "uploads"
    incoming.mkdir()
    ledger = UploadLedger(incoming)
    service = ChatService(FakeBot(), max_upload_mb=0.001, uploads=ledger)  # ~1 KB
    (incoming / "ok.txt").write_text("fine")
    (incoming / "big.txt").write_text("x" * 5000)
    (incoming / "tool.exe").write_text("MZ")
    (incoming / ".env.txt").write_text("secret")  # hidden name: saved without the leading dot
    ledger.record([str(incoming / n) for n in ("ok.txt", "big.txt", "tool.exe", ".env.txt")])
    result = service.save_uploads([str(incoming / n) for n in ("ok.txt", "big.txt", "tool.exe", ".env.txt")])
    assert result.saved == ["ok.txt", "env.txt"]
    assert any("big.txt" in m and "MB limit" in m for m in result.refused)
    assert any("tool.exe" in m and "not a supported type" in m for m in result.refused)
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == ["env.txt", "ok.txt"]


def test_exposure_rules():
    assert check_exposure("127.0.0.1", None, False) is None
    assert check_exposure("localhost", None, False) is None
    assert check_exposure("::1", "u:p:w", False) == ("u", "p:w")
    assert check_exposure("0.0.0.0", "alice:secret", False) == ("alice", "secret")
    assert check_exposure("0.0.0.0", None, True) is None
    with pytest.raises(RefuseToServe, match="--auth"):
        check_exposure("0.0.0.0", None, False)
    with pytest.raises(RefuseToServe, match="user:password"):
        check_exposure("127.0.0.1", "nopassword", False)


def test_launch_refuses_public_host_without_auth(monkeypatch):
    from citechat.config import settings
    from citechat.web.server import launch

    monkeypatch.delenv("CITECHAT_AUTH", raising=False)
    with pytest.raises(RefuseToServe, match="refusing to serve on 0.0.0.0"):
        launch(settings(), host="0.0.0.0", port=1)


# ---------------------------------------------------------------- the real app


@pytest.fixture(scope="module")
def ui_bot(tmp_path_factory, embedder):
    from citechat.bot import Bot
    from citechat.config import settings
    from citechat.index.sync import sync_index

    root = tmp_path_factory.mktemp("ui")
    docs = root / "docs"
    docs.mkdir()
    for seed in SEEDS:
        shutil.copy(seed, docs / seed.name)
    s = settings(docs_dir=docs, index_dir=root / "index", model="all-MiniLM-L6-v2")
    sync_index(s, embedder=embedder)
    return Bot(s, embedder=embedder)


@pytest.fixture(scope="module")
def server(ui_bot):
    with serving(ui_bot) as (running, _):
        yield running


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser, server):
    page = open_page(browser, server.url)
    yield page
    page.context.close()


def test_ask_shows_a_cited_answer_and_its_sources(page):
    ask(page, "What did Altman say?")
    answer = last_answer_text(page)
    assert "Altman" in answer and "[1]" in answer
    sources = page.locator("#sources")
    assert SEED in sources.inner_text()
    assert sources.locator("mark").count() >= 1  # the quoted sentence is highlighted in its passage
    OUTPUT.mkdir(parents=True, exist_ok=True)
    shot = OUTPUT / "answered.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000

    # A follow-up in the same session is asked with the history of the conversation.
    ask(page, "Who first reported it?")
    assert "DealBook" in last_answer_text(page)


def test_a_new_answer_arrives_in_view_after_an_earlier_one_was_clicked(page):
    for question in ("What did Altman say?", "What did Khosla Ventures do?", "What happened in Minneapolis?"):
        ask(page, question)
    page.locator("#chat .bubble-wrap").hover()
    page.mouse.wheel(0, -5000)  # the reader scrolls up to the first answer and clicks it to see its sources
    page.wait_for_timeout(500)
    page.locator("#chat .message.bot, #chat [data-testid='bot']").first.click()
    ask(page, "Who first reported Altman's message?")
    chat = page.locator("#chat .bubble-wrap").bounding_box()
    newest = page.locator("#chat .message.bot, #chat [data-testid='bot']").last.bounding_box()
    assert newest["y"] + newest["height"] <= chat["y"] + chat["height"] + 2, (newest, chat)  # its end is in view
    assert newest["y"] + newest["height"] > chat["y"]


def test_example_question_gets_an_answer(page):
    page.get_by_role("button", name="What did Altman say?").click()
    wait_for_answer(page, "What did Altman say?")
    assert "[1]" in last_answer_text(page)
    assert SEED in page.locator("#sources").inner_text()


def test_uploaded_document_can_be_asked_about_then_removed(page, tmp_path, ui_bot):
    from playwright.sync_api import expect

    new = tmp_path / "zorblat.txt"
    new.write_text(ZORBLAT + "\n")
    upload(page, new)
    expect(page.locator("#documents")).to_contain_text("zorblat.txt", timeout=60_000)
    expect(page.locator("#sync-message")).to_contain_text("Added: zorblat.txt")
    assert (ui_bot.settings.docs_dir / "zorblat.txt").read_text() == ZORBLAT + "\n"

    ask(page, "Who built the Zorblat bridge?")
    assert "Mara Quint" in last_answer_text(page)
    assert "zorblat.txt" in page.locator("#sources").inner_text()

    show_documents(page)
    page.locator("#remove-choice input").click()
    page.get_by_role("option", name="zorblat.txt").click()
    page.locator("#remove").click()
    expect(page.locator("#sync-message")).to_contain_text("Removed: zorblat.txt", timeout=60_000)
    expect(page.locator("#documents table")).not_to_contain_text("zorblat.txt")
    assert (ui_bot.settings.docs_dir / "zorblat.txt").exists()  # removed from the index, not deleted
    assert "zorblat.txt" not in {d.source for d in ui_bot.documents}


def test_document_markup_is_shown_as_text_and_never_runs(page, tmp_path):
    from playwright.sync_api import expect

    evil = tmp_path / "quibbleflax.txt"
    evil.write_text(f"{EVIL_TITLE}\n\n{EVIL_SENTENCE}\n")
    upload(page, evil)
    documents = page.locator("#documents")
    expect(documents).to_contain_text("quibbleflax.txt", timeout=60_000)
    expect(documents).to_contain_text('<img src=x onerror="window.__pwned=2">')  # the title, as text

    ask(page, "When is the Quibbleflax festival held?")
    assert "<script>window.__pwned=1</script>" in last_answer_text(page)
    sources = page.locator("#sources").inner_text()
    assert "<script>window.__pwned=1</script>" in sources and "<img src=x onerror=window.__pwned=3>" in sources
    page.wait_for_timeout(500)  # give any injected handler the chance to fire
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.locator("img[src='x']").count() == 0
    assert page.locator("#chat script, #sources script, #documents script").count() == 0


def test_api_ask_through_gradio_client(server, ui_bot):
    from gradio_client import Client

    client = Client(server.url, verbose=False)
    assert "/ask" in client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    text, info = client.predict("What did Altman say?", api_name="/ask")
    assert "Altman" in text and "[1]" in text and not info["refused"]
    first = info["sources"][0]
    assert first["source"] == SEED and first["n"] == 1
    document = (ui_bot.settings.docs_dir / SEED).read_text(encoding="utf-8")
    assert document[first["start"] : first["end"]] == first["text"]

    text, info = client.predict("Who first reported it?", [["What did Altman say?", text]], api_name="/ask")
    assert "DealBook" in text and "Altman" in info["standalone_question"]

    # Questions are answered while a rebuild runs; UI syncs never overlap.
    service = server.service
    running, peak = [], []
    real_sync = ui_bot.sync

    def watched_sync(*args, **kwargs):
        running.append(1)
        peak.append(len(running))
        try:
            return real_sync(*args, **kwargs)
        finally:
            running.pop()

    ui_bot.sync = watched_sync
    try:
        threads = [threading.Thread(target=service.sync, kwargs={"rebuild": True}) for _ in range(2)]
        for t in threads:
            t.start()
        text, info = client.predict("What did Altman say?", api_name="/ask")
        for t in threads:
            t.join(timeout=120)
    finally:
        del ui_bot.sync
    assert "Altman" in text and info["sources"]
    # Both rebuilds ran (the folder watcher may add one of its own), never two at once.
    assert len(peak) >= 2 and max(peak) == 1, f"syncs overlapped: {peak}"
    assert SEED in {d.source for d in ui_bot.documents}


def test_auth_is_required_when_set(ui_bot):
    from gradio_client import Client

    with serving(ui_bot, auth="alice:s3cret") as (running, _):
        with pytest.raises(Exception):
            Client(running.url, verbose=False)
        text, info = Client(running.url, auth=("alice", "s3cret"), verbose=False).predict("What did Altman say?",
                                                                                        api_name="/ask")
        assert "Altman" in text
