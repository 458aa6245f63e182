"""The server's defences, each tried against a real server on loopback the way a web page or a script can:
forged Host and Origin headers (DNS rebinding, cross-site requests), a real browser led to the server under
another name, oversized questions and bodies, uploads and their leftovers, repeated wrong passwords."""

from __future__ import annotations

import http.server
import signal
import stat
import tempfile
import threading
from pathlib import Path

import httpx
import pytest

from conftest import citechat_command, copy_tree, subprocess_env
from ui_helpers import ask, chromium, free_port, open_page, server_process, serving, upload

pytestmark = pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")

SEED = "000_8ec4ed008229fa3f.txt"
QUESTION = "What did Altman say?"
PROXY_NAME = "chat.example.org"  # the name a reverse proxy serves the app under (--allowed-host)


@pytest.fixture(scope="module")
def server(seed_index, embedder, tmp_path_factory):
    from citechat.bot import Bot
    from citechat.config import settings

    cache = tmp_path_factory.mktemp("cache")
    bot = Bot(settings(docs_dir=seed_index[0], index_dir=seed_index[1], cache_dir=cache,
                       allowed_hosts=(PROXY_NAME,)), embedder=embedder)
    with serving(bot) as (running, _):
        yield running


def ask_call(url: str, question: str = QUESTION, history=None, **headers) -> httpx.Response:
    """Start /ask through Gradio's REST route, as a script or a page can."""
    return httpx.post(url + "gradio_api/call/ask", json={"data": [question, history or []]}, headers=headers,
                      timeout=60)


def chat_request(url: str, content: str = QUESTION, **headers) -> httpx.Response:
    return httpx.post(url + "v1/chat/completions", json={"messages": [{"role": "user", "content": content}]},
                      headers=headers, timeout=60)


def cache_of_its_own(tmp_path: Path) -> Path:
    """A cache folder for a server process that shares only the exported embedding model with the usual one
    (exporting it again would take a while)."""
    from citechat.index.export import cache_dir

    cache = tmp_path / "cache"
    cache.mkdir()
    (cache_dir() / "models").mkdir(parents=True, exist_ok=True)
    (cache / "models").symlink_to(cache_dir() / "models")
    return cache


def upload_folder_files(running) -> list[Path]:
    return [p for p in running.service.upload_dir.rglob("*") if p.is_file()]


# ---------------------------------------------------------------- DNS rebinding and other sites' pages


def test_a_request_under_another_host_name_gets_nothing(server):
    url, port = server.url, server.url.rstrip("/").rsplit(":", 1)[1]
    forged = {"Host": f"attacker.example:{port}", "Origin": f"http://attacker.example:{port}"}
    requests = {
        "the page": lambda **h: httpx.get(url, headers=h),
        "the document list": lambda **h: httpx.get(url + "config", headers=h),
        "the API description": lambda **h: httpx.get(url + "gradio_api/info", headers=h),
        "an answer": lambda **h: ask_call(url, **h),
        "an upload": lambda **h: httpx.post(url + "gradio_api/upload", files={"files": ("x.txt", b"x")}, headers=h),
        "a sync": lambda **h: httpx.post(url + "gradio_api/queue/join", json={"fn_index": 0, "data": []}, headers=h),
        "an API answer": lambda **h: chat_request(url, **h),
        "the API's models": lambda **h: httpx.get(url + "v1/models", headers=h),
    }
    for name, send in requests.items():
        refused = send(**forged)
        assert refused.status_code == 400, name
        assert "does not answer to the name 'attacker.example'" in refused.text and "--allowed-host" in refused.text
        assert SEED not in refused.text
    assert SEED in httpx.get(url + "config").text  # the same request under a loopback name is answered
    for host in (f"127.0.0.1.nip.io:{port}", f"localhost.:{port}", f"127.1:{port}", f"0.0.0.0:{port}"):
        assert httpx.get(url + "config", headers={"Host": host}).status_code == 400, host
    for host in (f"LOCALHOST:{port}", f"[::1]:{port}", f"{PROXY_NAME}", f"{PROXY_NAME}:443"):
        assert httpx.get(url + "config", headers={"Host": host}).status_code == 200, host


def test_a_page_of_another_site_cannot_change_anything(server):
    url = server.url
    before = upload_folder_files(server)
    for origin in ("http://evil.example", "http://localhost:3000", url.rstrip("/") + ".evil.example", "null"):
        assert ask_call(url, Origin=origin).status_code == 403, origin
        assert chat_request(url, Origin=origin).status_code == 403, origin
        refused = httpx.post(url + "gradio_api/upload", files={"files": ("x.txt", b"x")}, headers={"Origin": origin})
        assert refused.status_code == 403 and "another site" in refused.text
    assert upload_folder_files(server) == before
    # Its own page, a script (no Origin), and a page of the name the proxy serves it under are answered.
    assert ask_call(url, Origin=url.rstrip("/")).status_code == 200
    assert ask_call(url).status_code == 200
    assert chat_request(url, Origin=f"https://{PROXY_NAME}").status_code == 200


def test_no_other_site_may_read_a_response(server):
    # Behind a real name, Gradio's own CORS layer granted any Origin, with credentials; it is off.
    for host in (PROXY_NAME, server.url.split("/")[2]):
        got = httpx.get(server.url + "config", headers={"Host": host, "Origin": "https://evil.example"})
        assert got.status_code == 200 and "access-control-allow-origin" not in got.headers
        preflight = httpx.options(server.url + "gradio_api/queue/join", headers={
            "Host": host, "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type"})
        assert "access-control-allow-origin" not in preflight.headers and preflight.status_code >= 400


class _OtherSite(http.server.BaseHTTPRequestHandler):
    page = b""

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.end_headers()
        self.wfile.write(self.page)

    def log_message(self, *args):
        pass


def test_in_a_real_browser_the_app_works_under_its_names_and_a_rebinding_page_gets_nothing(server):
    port = server.url.rstrip("/").rsplit(":", 1)[1]
    # A page on another local server that posts a file to citechat, as any site the user visits can.
    _OtherSite.page = f"""<script>
        const form = new FormData();
        form.append("files", new Blob(["planted by another site"]), "planted.txt");
        fetch("{server.url}gradio_api/upload", {{method: "POST", body: form, mode: "no-cors"}})
          .then(() => document.title = "sent", () => document.title = "failed");
    </script>""".encode()
    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _OtherSite)
    threading.Thread(target=other.serve_forever, daemon=True).start()
    before = upload_folder_files(server)
    # The browser resolves attacker.example to 127.0.0.1: what a DNS rebinding attack achieves.
    with chromium("--host-resolver-rules=MAP attacker.example 127.0.0.1") as browser:
        for name in ("127.0.0.1", "localhost"):
            page = open_page(browser, f"http://{name}:{port}/")
            ask(page, QUESTION)
            page.context.close()
        context = browser.new_context()
        page = context.new_page()
        response = page.goto(f"http://attacker.example:{port}/")
        assert response.status == 400 and "does not answer to the name" in page.content()
        page.goto(f"http://127.0.0.1:{other.server_address[1]}/")
        page.wait_for_function("document.title === 'sent' || document.title === 'failed'")
        context.close()
    other.shutdown()
    assert upload_folder_files(server) == before


# ---------------------------------------------------------------- request limits


def test_questions_over_the_limits_get_a_clear_message_on_every_surface(server):
    from gradio_client import Client
    from playwright.sync_api import expect

    long_question = "Why" + " why" * 1_124 + "?"  # 4,500 characters
    too_long = "The question is 4,500 characters long; ask in at most 4,000 characters."
    client = Client(server.url, verbose=False)
    with pytest.raises(Exception, match=too_long):
        client.predict(long_question, api_name="/ask")
    with pytest.raises(Exception, match="The conversation has 101 earlier turns; send at most the last 100"):
        client.predict(QUESTION, [["Who?", "Nobody."]] * 101, api_name="/ask")
    with pytest.raises(Exception, match="earlier turns hold 200,040 characters; send at most 200,000"):
        client.predict(QUESTION, [["Who?", "x" * 20_000]] * 10, api_name="/ask")
    text, _ = client.predict(QUESTION, [["Who?", "x" * 1_000]] * 100, api_name="/ask")  # at the limits: answered
    assert "[1]" in text

    refused = chat_request(server.url, long_question)
    assert refused.status_code == 400 and refused.json()["error"]["message"] == too_long
    history = [{"role": role, "content": "x" * 1_000} for _ in range(101) for role in ("user", "assistant")]
    refused = httpx.post(server.url + "v1/chat/completions", timeout=60,
                         json={"messages": history + [{"role": "user", "content": QUESTION}]})
    assert refused.status_code == 400 and "101 earlier turns" in refused.json()["error"]["message"]

    with chromium() as browser:
        page = open_page(browser, server.url)
        page.locator("#question textarea").fill(long_question)
        page.locator("#ask").click()
        expect(page.locator("#chat")).to_contain_text(too_long, timeout=60_000)
        assert "Traceback" not in page.locator("#chat").inner_text()
        ask(page, QUESTION)  # the window goes on working
        page.context.close()


def test_request_bodies_over_the_limit_are_refused_before_they_are_read(server):
    url, big = server.url, b" " * (3 * 1024 * 1024)

    def chunked():  # no Content-Length: the bytes are counted as they arrive
        for _ in range(30):
            yield b" " * 100_000

    json_type = {"Content-Type": "application/json"}
    for path in ("gradio_api/queue/join", "gradio_api/call/ask"):
        assert httpx.post(url + path, content=big, headers=json_type, timeout=60).status_code == 413, path
        assert httpx.post(url + path, content=chunked(), headers=json_type, timeout=60).status_code == 413, path
    for body in (big, chunked()):
        refused = httpx.post(url + "v1/chat/completions", content=body, headers=json_type, timeout=60)
        assert refused.status_code == 413 and "larger than 2 MB" in refused.json()["error"]["message"]
    sign_in = httpx.post(url + "login", data={"username": "u", "password": "p" * 100_000}, timeout=60)
    assert sign_in.status_code == 413
    assert ask_call(url, QUESTION, [["Who?", "x" * 1_000]] * 100).status_code == 200  # the largest allowed


# ---------------------------------------------------------------- uploads


def test_uploads_leave_nothing_behind_and_the_folder_is_private(seed_index, tmp_path):
    from playwright.sync_api import expect

    cache = cache_of_its_own(tmp_path)
    stale = cache / "uploads" / "tmpstale"  # left by a server that was killed: its lock is not held
    stale.mkdir(parents=True)
    (stale / "old.txt").write_text("left behind")
    Path(f"{stale}.lock").touch()
    docs, index = copy_tree(seed_index[0], tmp_path / "docs"), tmp_path / "index"  # the server builds the index
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    # Another Gradio app's upload in the shared default folder must not be served by citechat.
    foreign = Path(tempfile.mkdtemp(dir=_shared_gradio_folder())) / "foreign.txt"
    foreign.write_text("another app's upload")
    incoming = tmp_path / "incoming"
    incoming.mkdir()
    (incoming / "lagoon.txt").write_text("The Merrow lagoon is guarded by warden Ilse Brandt.\n")
    (incoming / "empty.txt").write_text("")
    with open(incoming / "big.txt", "wb") as big:  # over the 20 MB upload limit, under Gradio's own
        big.truncate(25 * 2**20)
    command = [*citechat_command(), "serve", "--docs", str(docs), "--index", str(index), "--port", str(port)]
    env = subprocess_env(CITECHAT_CACHE=str(cache))
    log = tmp_path / "serve.log"
    with server_process(command, url, log, env=env) as process:
        folders = [p for p in (cache / "uploads").iterdir() if p.is_dir()]
        assert len(folders) == 1 and folders[0].name != "tmpstale"
        folder = folders[0]
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert httpx.get(url + f"gradio_api/file={foreign}").status_code == 403
        with chromium() as browser:
            page = open_page(browser, url)
            with page.expect_response(lambda r: r.request.method == "POST" and "/gradio_api/upload?" in r.url + "?") \
                    as uploaded:
                upload(page, incoming / "lagoon.txt", incoming / "empty.txt")
            paths = uploaded.value.json()
            expect(page.locator("#sync-message")).to_contain_text("Added: lagoon.txt", timeout=120_000)
            expect(page.locator("#sync-message")).to_contain_text("“empty.txt” is empty")
            ask(page, "Who guards the Merrow lagoon?")
            upload(page, incoming / "big.txt")  # refused for its size; its copy must go too (checked below)
            expect(page.locator("#sync-message")).to_contain_text("“big.txt” is larger than the 20 MB limit",
                                                                  timeout=120_000)
            page.context.close()
        assert (docs / "lagoon.txt").exists()
        assert len(paths) == 2 and all(str(folder) in p for p in paths)
        for path in paths:  # saved or refused, the temporary copy is gone and no longer served
            assert not Path(path).exists() and httpx.get(url + f"gradio_api/file={path}").status_code == 403
        assert [p for p in folder.rglob("*") if p.is_file()] == []
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    foreign.unlink()
    foreign.parent.rmdir()
    assert list((cache / "uploads").iterdir()) == []


def _shared_gradio_folder() -> Path:
    shared = Path(tempfile.gettempdir()) / "gradio"
    shared.mkdir(exist_ok=True)
    return shared


# ---------------------------------------------------------------- sign-in


def sign_in(url: str, password: str, client: httpx.Client | None = None, **headers) -> httpx.Response:
    return (client or httpx).post(url + "login", data={"username": "alice", "password": password}, headers=headers,
                                  timeout=60)


def test_failed_sign_ins_slow_down_then_lock_the_address_out(seed_bot):
    with serving(seed_bot, auth="alice:right-pass") as (running, url):
        assert "locked for 5 minutes" in httpx.get(url).text  # said on the sign-in page
        # Each try claims another address: without a proxy in front, X-Forwarded-For is not believed.
        statuses = [sign_in(url, f"guess-{i}", **{"X-Forwarded-For": f"203.0.113.{i}"}).status_code
                    for i in range(5)]
        assert statuses == [400] * 5
        locked = sign_in(url, "right-pass", **{"X-Forwarded-For": "203.0.113.99"})
        assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 240
        assert "Too many failed sign-ins from your address: signing in is locked for 5 more minutes" in locked.text
        # Another client is not locked out.
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as other:
            assert sign_in(url, "right-pass", other).status_code == 200


def test_behind_a_trusted_proxy_the_forwarded_address_is_the_client(seed_index, embedder, tmp_path):
    from citechat.bot import Bot
    from citechat.config import settings

    bot = Bot(settings(docs_dir=seed_index[0], index_dir=seed_index[1], cache_dir=tmp_path,
                       trusted_proxies=("127.0.0.1",)), embedder=embedder)
    with serving(bot, auth="alice:right-pass") as (running, url):
        proxied = {"X-Forwarded-For": "198.51.100.7"}
        assert [sign_in(url, f"guess-{i}", **proxied).status_code for i in range(5)] == [400] * 5
        assert sign_in(url, "right-pass", **proxied).status_code == 429
        assert sign_in(url, "right-pass", **{"X-Forwarded-For": "198.51.100.8"}).status_code == 200


def test_the_password_comes_from_a_file_and_one_on_the_command_line_is_warned_about(seed_index, tmp_path):
    password_file = tmp_path / "password"
    password_file.write_text("alice:from-the-file\n")
    password_file.chmod(0o644)
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    common = [*citechat_command(), "serve", "--docs", str(seed_index[0]), "--index", str(seed_index[1]),
              "--port", str(port)]
    env = subprocess_env(CITECHAT_CACHE=str(cache_of_its_own(tmp_path)))
    with server_process(common + ["--auth-file", str(password_file)], url, tmp_path / "a.log", env=env):
        assert sign_in(url, "from-the-file").status_code == 200
    log = (tmp_path / "a.log").read_text()
    assert f"other users of this machine may read the password file {password_file}" in log
    assert f"chmod 600 {password_file}" in log and "from-the-file" not in log
    with server_process(common + ["--auth", "alice:typed-in"], url, tmp_path / "b.log", env=env):
        assert sign_in(url, "typed-in").status_code == 200
    assert "visible to every user of this machine" in (tmp_path / "b.log").read_text()
