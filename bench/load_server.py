"""The server side of bench/load.py: `citechat serve` in its own process on a free loopback port, what it listens
on and its memory, and its "Sync with folder" button clicked in a real browser."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def listening_addresses(port: int) -> set[str]:
    """The local addresses of the sockets listening on `port` (from /proc/net/tcp and tcp6)."""
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            address, hex_port = parts[1].split(":")
            if parts[3] == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                if width == 8:
                    found.add(".".join(str(b) for b in reversed(bytes.fromhex(address))))
                else:
                    words = [bytes.fromhex(address[k : k + 8])[::-1].hex() for k in range(0, 32, 8)]
                    found.add(":".join("".join(words)[k : k + 4] for k in range(0, 32, 4)))
    return found


def is_loopback(address: str) -> bool:
    return address.startswith("127.") or address == "0000:0000:0000:0000:0000:0000:0000:0001"


class Server:
    """`citechat serve` in its own process on a free loopback port (the default host)."""

    def __init__(self, docs: Path, index: Path, log: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        # --no-watch: the sync measured is the one the app's button starts, not the folder watcher's
        command = [str(Path(sys.executable).with_name("citechat")), "serve", "--docs", str(docs), "--index",
                   str(index), "--port", str(self.port), "--no-watch"]
        self.log = open(log, "w")
        self.proc = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self, timeout: float = 180) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"citechat serve exited with {self.proc.returncode}")
            try:
                if httpx.get(self.url, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        raise TimeoutError("citechat serve did not start")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def sync_in_browser(browser, url: str, expect_added: str, timeout_ms: int = 300_000) -> str:
    """Click "Sync with folder" in the app's Documents tab; wait until the sync reports the document
    `expect_added` as added; returns the sync's message."""
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 950})
    try:
        page.goto(url)
        page.locator("#question textarea").wait_for(timeout=60_000)
        page.get_by_role("tab", name="Documents").click()
        page.locator("#sync").click()
        expect(page.locator("#sync-message")).to_contain_text(expect_added, timeout=timeout_ms)
        message = page.locator("#sync-message").inner_text()
        if "Added:" not in message:
            raise RuntimeError(f"the sync did not add {expect_added}: {message}")
        return message
    finally:
        page.close()


def subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITECHAT_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    return env
