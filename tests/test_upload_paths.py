"""An upload event may take only files that Gradio's upload route wrote into the server's private upload folder.
Tried against a real server the way any local process (or signed-in user) can: the chat window's upload event,
posted through Gradio's queue, naming a file elsewhere on the machine, or a link planted in the upload folder."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from citechat.index.sync import sync_index
from conftest import copy_tree
from ui_helpers import serving

SECRET = "The vault combination is PELICAN-4471."


@pytest.fixture
def server(seed_index, embedder, tmp_path):
    from citechat.bot import Bot
    from citechat.config import settings

    chosen = settings(docs_dir=copy_tree(seed_index[0], tmp_path / "docs"), index_dir=tmp_path / "index",
                      cache_dir=tmp_path / "cache")
    sync_index(chosen, embedder=embedder)
    bot = Bot(chosen, embedder=embedder)
    with serving(bot) as (running, _):
        yield running


def upload_event(url: str) -> int:
    """The fn_index of the chat window's upload event, read from the app's config as a script would."""
    config = httpx.get(url + "config").json()
    upload = next(c["id"] for c in config["components"] if c.get("props", {}).get("elem_id") == "upload")
    return next(i for i, d in enumerate(config["dependencies"]) if [upload, "upload"] in d["targets"])


def post_upload_event(url: str, path: Path) -> dict:
    """Run the upload event with a FileData naming `path`; returns Gradio's final message for it."""
    session = uuid.uuid4().hex
    file_data = {"path": str(path), "meta": {"_type": "gradio.FileData"}, "orig_name": path.name}
    joined = httpx.post(url + "gradio_api/queue/join", json={
        "fn_index": upload_event(url), "data": [[file_data]], "session_hash": session, "trigger_id": None})
    assert joined.status_code == 200
    with httpx.stream("GET", url + f"gradio_api/queue/data?session_hash={session}", timeout=120) as events:
        for line in events.iter_lines():
            if line.startswith("data:") and json.loads(line[5:]).get("msg") == "process_completed":
                return json.loads(line[5:])
    raise AssertionError("the event never completed")


def assert_not_taken(running, before: list[str]) -> None:
    docs = running.service.docs_dir
    assert sorted(p.name for p in docs.iterdir()) == before
    answer = httpx.post(running.url + "v1/chat/completions", timeout=60, json={
        "messages": [{"role": "user", "content": "What is the vault combination?"}]}).json()
    assert "PELICAN" not in json.dumps(answer)
    assert [p for p in running.service.upload_dir.rglob("*") if p.is_file() or p.is_symlink()] == []


def test_an_upload_event_naming_a_file_elsewhere_takes_nothing(server, tmp_path):
    secret = tmp_path / "home" / "notes" / "secret.txt"
    secret.parent.mkdir(parents=True)
    secret.write_text(SECRET + "\n")
    before = sorted(p.name for p in server.service.docs_dir.iterdir())
    result = post_upload_event(server.url, secret)
    assert result["success"] is False
    assert_not_taken(server, before)


def test_a_link_in_the_upload_folder_pointing_out_is_refused(server, tmp_path):
    secret = tmp_path / "secret.md"
    secret.write_text(SECRET + "\n")
    planted = server.service.upload_dir / "0123abcd" / "notes.md"
    planted.parent.mkdir()
    planted.symlink_to(secret)
    before = sorted(p.name for p in server.service.docs_dir.iterdir())
    post_upload_event(server.url, planted)
    planted.unlink(missing_ok=True)  # Gradio refused the event before citechat saw it
    assert_not_taken(server, before)


def test_the_service_takes_only_what_the_upload_route_wrote(tmp_path):
    """Whatever Gradio checks: a file it copied into the upload folder itself (as it does for any path an event
    names when its check is off), a link there, or a file elsewhere, never reaches the documents folder."""
    from citechat.web.service import ChatService
    from citechat.web.upload_folder import UploadLedger

    class Settings:
        docs_dir = tmp_path / "docs"
        max_file_mb = 50.0

    class FakeBot:
        settings = Settings

    folder = tmp_path / "uploads"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    uploaded = folder / "a" / "report.txt"
    uploaded.write_text("Uploaded through the window.\n")
    copied = folder / "b" / "passwd.txt"  # in the folder, but not written by the upload route
    copied.write_text(SECRET + "\n")
    outside = tmp_path / "secret.txt"
    outside.write_text(SECRET + "\n")
    link = folder / "a" / "link.txt"
    link.symlink_to(outside)
    ledger = UploadLedger(folder)
    ledger.record([str(uploaded), str(link), str(outside)])  # only the first is a file the route could write
    service = ChatService(FakeBot(), uploads=ledger)
    result = service.save_uploads([str(p) for p in (uploaded, copied, outside, link)])
    assert result.saved == ["report.txt"]
    assert len(result.refused) == 3 and all("was not uploaded through the chat window" in m for m in result.refused)
    assert sorted(p.name for p in Settings.docs_dir.iterdir()) == ["report.txt"]
    assert outside.read_text() == SECRET + "\n"  # never deleted: it is not in the upload folder
    assert not copied.exists() and not link.is_symlink()  # the folder's own copies are cleaned up
    assert ChatService(FakeBot()).save_uploads([str(outside)]).saved == []  # no upload folder: nothing taken
