"""Helpers for the tests of servers: the app served on a free loopback port in a background thread, a server
run as its own process, Debian's chromium driven by Playwright, and a few steps used by several tests."""

from __future__ import annotations

import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "test-output" / "ui"  # gitignored (/test-output/)
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ANSWER_TIMEOUT_MS = 60_000


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(bot, **launch_kwargs) -> Iterator[tuple[object, str]]:
    """Serve the chat window and the API for `bot` on a free loopback port; yields (the running server, with
    its `service`, and its URL)."""
    from citechat.web.server import launch

    running = launch(bot, host="127.0.0.1", port=0, block=False, quiet=True, **launch_kwargs)
    try:
        yield running, running.url
    finally:
        running.close()


@contextmanager
def server_process(command: list[str], ready_url: str, log: Path, timeout: float = 180,
                   env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """Run a server in its own process (output to `log`) until the block ends; enters once `ready_url` answers
    200. Stopped with SIGTERM, then killed if it lingers."""
    import httpx

    with open(log, "w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout
        while True:
            assert process.poll() is None, f"{command[:3]} exited: {log.read_text()[-2000:]}"
            try:
                if httpx.get(ready_url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, f"{command[:3]} did not start: {log.read_text()[-2000:]}"
            time.sleep(0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def chromium(*extra_args: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + list(extra_args))
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser, url: str):
    """A fresh browser session (its own chat history) with the app loaded."""
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    page = context.new_page()
    page.goto(url)
    page.locator("#question textarea").wait_for(timeout=30_000)
    return page


def wait_for_answer(page, question: str) -> None:
    """Wait until the answer to `question` is complete: its sources panel names the question."""
    from playwright.sync_api import expect

    expect(page.locator("#sources .cc-question")).to_contain_text(question, timeout=ANSWER_TIMEOUT_MS)


def ask(page, question: str) -> None:
    page.locator("#question textarea").fill(question)
    page.locator("#ask").click()
    wait_for_answer(page, question)


def last_answer_text(page) -> str:
    """The text of the newest answer in the chat."""
    return page.locator("#chat .message.bot, #chat [data-testid='bot']").last.inner_text()


def show_documents(page) -> None:
    page.get_by_role("tab", name="Documents").click()
    page.locator("#documents").wait_for()


def upload(page, *paths: Path) -> None:
    show_documents(page)
    page.locator("#upload input[type=file]").set_input_files([str(p) for p in paths])
