"""Clients that misbehave at the connection, against a real `citechat serve`: connections that drip their
request heads (slowloris) do not hold up a normal question, the log stays small, and they are closed once their
request head is overdue; connections beyond the cap get 503; a client that goes away mid-request is one line
in the log."""

from __future__ import annotations

import json
import resource
import socket
import struct
import threading
import time

import httpx
import pytest

from conftest import citechat_command, subprocess_env
from test_security import cache_of_its_own
from ui_helpers import free_port, server_process

DRIPPERS = 2_000
QUESTION = {"messages": [{"role": "user", "content": "What did Altman say?"}]}


@pytest.fixture
def many_files():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if hard < DRIPPERS + 500:
        pytest.fail(f"this test opens {DRIPPERS:,} connections; the open-file limit is {hard:,}")
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def drip(sockets: list[socket.socket], stop: threading.Event) -> None:
    """Send each connection one more byte of a never-ending header every half second."""
    while not stop.wait(0.5):
        for s in sockets:
            try:
                s.send(b"a")
            except OSError:
                pass


def closed_by_server(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1024) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_dripping_connections_do_not_stop_questions_and_are_closed(seed_index, tmp_path, many_files):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "serve.log"
    command = [*citechat_command(), "serve", "--docs", str(seed_index[0]), "--index", str(seed_index[1]),
               "--port", str(port), "--no-watch"]
    env = subprocess_env(CITECHAT_CACHE=str(cache_of_its_own(tmp_path)))
    with server_process(command, url, log, env=env):
        assert httpx.post(url + "v1/chat/completions", json=QUESTION, timeout=60).status_code == 200  # warm
        sockets = []
        for _ in range(DRIPPERS):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            sockets.append(s)
        stop = threading.Event()
        dripper = threading.Thread(target=drip, args=(sockets, stop), daemon=True)
        dripper.start()
        try:
            time.sleep(2)
            started = time.monotonic()
            answered = httpx.post(url + "v1/chat/completions", json=QUESTION, timeout=30)
            seconds = time.monotonic() - started
            assert answered.status_code == 200 and "[1]" in answered.json()["choices"][0]["message"]["content"]
            assert seconds < 1.0, f"a question took {seconds:.2f} s beside {DRIPPERS:,} dripping connections"
            time.sleep(12)  # past the 10 s deadline for a request head
            open_left = sum(not closed_by_server(s) for s in sockets)
            assert open_left == 0, f"{open_left:,} dripping connections are still open"
        finally:
            stop.set()
            dripper.join()
            for s in sockets:
                s.close()
        assert httpx.post(url + "v1/chat/completions", json=QUESTION, timeout=30).status_code == 200
    assert log.stat().st_size < 1_000_000
    assert "Traceback" not in log.read_text()


def test_connections_beyond_the_cap_get_503(seed_index, tmp_path, many_files):
    from citechat.web.connections import max_connections

    cap = max_connections()  # the server process inherits this process's limits
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [*citechat_command(), "serve", "--docs", str(seed_index[0]), "--index", str(seed_index[1]),
               "--port", str(port), "--no-watch"]
    env = subprocess_env(CITECHAT_CACHE=str(cache_of_its_own(tmp_path)))
    with server_process(command, url, tmp_path / "serve.log", env=env):
        held = [socket.create_connection(("127.0.0.1", port)) for _ in range(cap)]
        try:
            time.sleep(1)
            refused = httpx.get(url + "v1/models", timeout=30)
            assert refused.status_code == 503 and "too many connections" in refused.text
        finally:
            for s in held:
                s.close()
        time.sleep(1)
        assert httpx.get(url + "v1/models", timeout=30).status_code == 200


def test_a_client_gone_mid_request_is_one_log_line(seed_index, tmp_path):
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "serve.log"
    command = [*citechat_command(), "serve", "--docs", str(seed_index[0]), "--index", str(seed_index[1]),
               "--port", str(port), "--no-watch"]
    env = subprocess_env(CITECHAT_CACHE=str(cache_of_its_own(tmp_path)))
    body = json.dumps({**QUESTION, "stream": True}).encode()
    with server_process(command, url, log, env=env):
        for _ in range(5):
            s = socket.create_connection(("127.0.0.1", port))
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % (len(body) + 100) + body)  # promises more than it sends
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # reset, as a killed client
            s.close()
        time.sleep(2)
        assert httpx.post(url + "v1/chat/completions", json=QUESTION, timeout=30).status_code == 200
    text = log.read_text()
    assert "Traceback" not in text
    assert text.count("the client went away before sending its whole request") == 5
