"""What citechat never exposes: a server beyond loopback without a password, and an LLM key in any message,
log or page."""
from __future__ import annotations

import json
import signal
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import (
    citechat_command,
    subprocess_env,
)

from reliability_helpers import FERRY_Q, base, wait_for  # noqa: F401 - base: a fixture


# ---------------------------------------------------------------- serving


def test_serving_beyond_loopback_without_a_password_is_refused(tmp_path):
    env = subprocess_env()
    env.pop("CITECHAT_AUTH", None)
    result = subprocess.run([*citechat_command(), "serve", "--host", "0.0.0.0", "--port", "1", "--index",
                             str(tmp_path / "none"), "--docs", str(tmp_path)], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode != 0
    assert "refusing to serve on 0.0.0.0" in result.stderr + result.stdout
    assert "--auth" in result.stderr + result.stdout and "Traceback" not in result.stderr
    assert not (tmp_path / "none").exists()  # refused before anything was built


class _EchoingLLMServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that refuses every key and quotes it back, as some servers do."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {self.headers.get('Authorization')}",
                                     "type": "invalid_request_error", "code": "invalid_api_key"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_an_llm_key_is_never_shown_or_logged(base, tmp_path):
    import httpx
    from gradio_client import Client

    from ui_helpers import chromium, free_port, open_page

    key = "sk-test-NEVER-SHOW-4242"
    llm = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingLLMServer)
    threading.Thread(target=llm.serve_forever, daemon=True).start()
    env = subprocess_env(CITECHAT_LLM="openai:some-model", CITECHAT_LLM_API_KEY=key,
                         CITECHAT_LLM_BASE_URL=f"http://127.0.0.1:{llm.server_address[1]}/v1")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        server = subprocess.Popen([*citechat_command(), "serve", "--docs", str(base[0]), "--index", str(base[1]),
                                   "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        def up() -> bool:
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, "the app serves", proc=server)
        # The LLM refuses the key: the answer is quoted from the documents, with a notice that quotes the
        # server's message, the key hidden.
        text, info = Client(url, verbose=False).predict(FERRY_Q, api_name="/ask")
        assert "Incorrect API key provided" in info["notice"] and "***" in info["notice"]
        assert key not in text + json.dumps(info)
        assert key not in httpx.get(url + "config", timeout=10).text
        with chromium() as browser:
            page = open_page(browser, url)
            page.locator("#question textarea").fill(FERRY_Q)
            page.locator("#ask").click()
            from playwright.sync_api import expect

            expect(page.locator("#chat")).to_contain_text("did not answer", timeout=60_000)
            assert key not in page.content() and "Incorrect API key provided" in page.locator("#chat").inner_text()
            page.context.close()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert "did not answer" in log.read_text() and key not in log.read_text()
    try:
        cli = subprocess.run([*citechat_command(), "ask", FERRY_Q, "--docs", str(base[0]), "--index",
                              str(base[1])], capture_output=True, text=True, timeout=180, env=env)
    finally:
        llm.shutdown()
        llm.server_close()
    assert cli.returncode == 2 and "Incorrect API key provided" in cli.stderr
    assert key not in cli.stdout + cli.stderr and "Traceback" not in cli.stderr
