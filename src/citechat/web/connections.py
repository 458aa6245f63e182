"""Connections that hold the server without asking it anything: clients that open a connection and drip their
request head a byte at a time, or never send one. uvicorn times out only idle keep-alive connections, so
enough such clients reach the process's file limit and every real request waits.

`GuardedH11Protocol` (uvicorn's HTTP/1.1 protocol) closes a connection whose request head has not arrived
within HEAD_SECONDS of its opening (or of the end of its previous response), and answers 503 to connections
beyond uvicorn's `limit_concurrency` (set to `max_connections()`), so the process stays far from its file
limit. `quiet_accept_errors` turns the
traceback asyncio logs for each refused accept (out of file descriptors) into one line, at most every
ACCEPT_LOG_SECONDS.
"""

from __future__ import annotations

import asyncio
import resource
import time

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD_SECONDS = 10.0
KEEP_ALIVE_SECONDS = 5
ACCEPT_LOG_SECONDS = 10.0
# Connections kept for the files the process needs besides them (the index, the model, the reader process...).
RESERVED_FILES = 512
MOST_CONNECTIONS = 4096

BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nConnection: close\r\nRetry-After: 5\r\n"
        b"Content-Length: 46\r\n\r\ncitechat: too many connections; try again soon.")


def max_connections() -> int:
    """Raise this process's open-file limit to what it may have, and allow at most this many connections."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return max(64, min(MOST_CONNECTIONS, soft - RESERVED_FILES))


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline for each request head, and connections beyond
    `limit_concurrency` refused as they open."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._head_timer: asyncio.TimerHandle | None = None
        limit = self.limit_concurrency
        self._refused = limit is not None and len(self.server_state.connections) >= limit
        if self._refused:
            transport.write(BUSY)
            transport.close()
            return
        super().connection_made(transport)
        self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._refused:
            return
        self._stop_waiting()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:  # a whole request head has arrived (or an upgrade took over)
            self._stop_waiting()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self._await_head()  # the next request on this connection gets its own deadline

    def _await_head(self) -> None:
        self._stop_waiting()
        self._head_timer = self.loop.call_later(HEAD_SECONDS, self._head_overdue)

    def _stop_waiting(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_overdue(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self.transport.close()


def quiet_accept_errors(say) -> None:
    """In the running event loop, report a refused accept (the process is out of file descriptors) as one line
    at most every ACCEPT_LOG_SECONDS instead of a traceback each time; other errors as before."""
    loop = asyncio.get_running_loop()
    last = [0.0]

    def handle(loop: asyncio.AbstractEventLoop, context: dict) -> None:
        if "socket.accept() out of system resource" not in context.get("message", ""):
            loop.default_exception_handler(context)
            return
        if time.monotonic() - last[0] >= ACCEPT_LOG_SECONDS:
            last[0] = time.monotonic()
            say(f"citechat: cannot accept more connections ({context.get('exception')}); new ones wait until "
                "others close.")

    loop.set_exception_handler(handle)
