"""Checks every request passes before the chat window or the API sees it (ASGI middleware on the one app):

- `HostGuard`: the Host header must be a name the server answers to (loopback names, and those given with
  --allowed-host), so that a web page whose own name was made to resolve to 127.0.0.1 (DNS rebinding) gets
  nothing from it.
- `OriginGuard`: a request that changes something (any method but GET/HEAD/OPTIONS) sent by a page of
  another site is refused. Browsers send Origin with every such request; scripts (gradio_client, the openai
  package, curl) send none and are let through, as a web page cannot leave it out.
- `PathBodyLimit`: the largest request body per path, refused (413) before it is read, chunked or not.
- `SignInThrottle`: failed sign-ins slow down, then lock the client's address out for a while.
- `QuietDisconnects`: a client gone before its request was read is logged in one line, not a traceback.

`install_guards` puts them on the app in the right order.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
# Sign-in: failures in a row before the address is locked out, and for how long.
LOCK_AFTER = 5
LOCK_SECONDS = 300.0
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
_HOST_NAME = re.compile(r"[a-z0-9.\-\[\]:]{1,255}")


def host_name(host: str) -> str:
    """The name part of a Host header or netloc, lower-cased, IPv6 literals kept in brackets."""
    host = host.strip().lower()
    if host.startswith("["):
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if host.count(":") == 1 else host


class HostGuard:
    """Answer only requests whose Host is one of the allowed names (the port is not checked)."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        self.app = app
        self.allowed = {host_name(h) for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            name = host_name(Headers(scope=scope).get("host", ""))
            if name not in self.allowed:
                await _refuse(scope, receive, send, 400, self.message(name))
                return
        await self.app(scope, receive, send)

    def message(self, name: str) -> str:
        if not name or not _HOST_NAME.fullmatch(name):
            return "citechat: this request has no usable Host header."
        return (f"citechat does not answer to the name {name!r}, only to {', '.join(sorted(self.allowed))}. If "
                f"you reach it by this name on purpose (a reverse proxy, the machine's name on your network), "
                f"restart it with --allowed-host {name} (or add the name to CITECHAT_ALLOWED_HOSTS).")


class OriginGuard:
    """Refuse state-changing requests that a page of another site sent."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        self.app = app
        # Names given with --allowed-host: a reverse proxy may rewrite Host, so a page of the public name is
        # accepted by name. Loopback names must match Host exactly, port included: a page of another local
        # server (http://localhost:3000) is another site.
        self.named = {host_name(h) for h in allowed_hosts} - set(LOOPBACK_HOSTS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" or (scope["type"] == "http" and scope["method"] not in SAFE_METHODS):
            headers = Headers(scope=scope)
            origin = headers.get("origin")
            if origin is not None and not self.same_site(origin, headers.get("host", "")):
                await _refuse(scope, receive, send, 403, "citechat: refused a request sent by a page of another "
                              "site. Use citechat from its own page, or from a script (which sends no Origin).")
                return
        await self.app(scope, receive, send)

    def same_site(self, origin: str, host: str) -> bool:
        parts = urlsplit(origin)  # "null" (sandboxed frames, file: pages) has no scheme: refused
        try:
            parts.port  # a port that is not a number raises: no browser sends such an Origin
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        return parts.netloc.lower() == host.strip().lower() or name in self.named


class PathBodyLimit:
    """Starlette's request body limit with the limit chosen by the longest matching path prefix (None: the app
    behind checks its own). It refuses a body whose Content-Length is over the limit before reading it, and
    counts the bytes of a chunked one."""

    def __init__(self, app: ASGIApp, limits: dict[str, int | None], default: int) -> None:
        self.default = RequestBodyLimitMiddleware(app, default)
        self.by_prefix = [(prefix, app if limit is None else RequestBodyLimitMiddleware(app, limit))
                          for prefix, limit in sorted(limits.items(), key=lambda item: -len(item[0]))]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        limited = next((app for prefix, app in self.by_prefix if path.startswith(prefix)), self.default)
        await limited(scope, receive, send)


class SignInThrottle:
    """Failed sign-ins (POST /login answered 400) per client address: each next attempt waits
    base_delay, doubling; after `lock_after` failures in a row the address is refused (429) for
    `lock_seconds`. One attempt at a time per address, so parallel guesses gain nothing. A success clears it."""

    def __init__(self, app: ASGIApp, base_delay: float = 0.5, lock_after: int = LOCK_AFTER,
                 lock_seconds: float = LOCK_SECONDS, forget_after: float = 900.0, max_clients: int = 10_000) -> None:
        self.app = app
        self.base_delay, self.lock_after, self.lock_seconds = base_delay, lock_after, lock_seconds
        self.forget_after, self.max_clients = forget_after, max_clients
        self.failures: OrderedDict[str, tuple[int, float]] = OrderedDict()  # client -> (in a row, not before)
        self.in_flight: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") != "/login":
            await self.app(scope, receive, send)
            return
        client = (scope.get("client") or ("unknown", 0))[0]
        if client in self.in_flight:
            await self.refuse(scope, receive, send, "Another sign-in from your address is under way; wait for it.", 1)
            return
        self.in_flight.add(client)
        try:
            await self.attempt(client, scope, receive, send)
        finally:
            self.in_flight.discard(client)

    async def attempt(self, client: str, scope: Scope, receive: Receive, send: Send) -> None:
        count, not_before = self.failures.get(client, (0, 0.0))
        wait = not_before - time.monotonic()
        if count >= self.lock_after and wait > 0:
            minutes = max(1, round(wait / 60))
            await self.refuse(scope, receive, send, f"Too many failed sign-ins from your address: signing in is "
                              f"locked for {minutes} more minute{'s' * (minutes != 1)}. Try again then.", wait)
            return
        if wait > 0:
            await asyncio.sleep(wait)  # a growing delay, without holding up anyone else
        status = 0

        async def watching_send(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await self.app(scope, receive, watching_send)
        if status == 200:
            self.failures.pop(client, None)
        elif status == 400:  # Gradio's "Incorrect credentials."
            self.failed(client)

    def failed(self, client: str) -> None:
        now = time.monotonic()
        count, not_before = self.failures.pop(client, (0, 0.0))
        if now - not_before > self.forget_after:  # an old run of failures is forgiven
            count = 0
        count += 1
        delay = self.lock_seconds if count >= self.lock_after else self.base_delay * 2 ** (count - 1)
        self.failures[client] = (count, now + delay)
        while len(self.failures) > self.max_clients:
            self.failures.popitem(last=False)  # the oldest

    @staticmethod
    async def refuse(scope: Scope, receive: Receive, send: Send, message: str, wait: float) -> None:
        response = JSONResponse({"detail": message}, status_code=429, headers={"Retry-After": str(int(wait) + 1)})
        await response(scope, receive, send)


class QuietDisconnects:
    """A client that goes away before its request has been read is one log line, not a traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self.app(scope, receive, send)
        except ClientDisconnect:
            if scope["type"] == "http":
                print(f"citechat: {scope['method']} {scope['path'][:200]}: the client went away before sending its "
                      "whole request", flush=True)


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, message: str) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
        return
    await PlainTextResponse(message, status_code=status)(scope, receive, send)


def install_guards(app, allowed_hosts: list[str], body_limits: dict[str, int | None], default_body_limit: int,
                   throttle_sign_in: bool) -> None:
    """Add the guards to a Starlette/FastAPI app. The last added runs first: disconnects, Host, then CORS,
    Origin, body size, sign-in."""
    if throttle_sign_in:
        app.add_middleware(SignInThrottle)
    app.add_middleware(PathBodyLimit, limits=body_limits, default=default_body_limit)
    app.add_middleware(OriginGuard, allowed_hosts=allowed_hosts)
    # No cross-origin reads at all. Configuring CORS on the parent app also makes Gradio drop its own CORS
    # layer, which grants any Origin (with credentials) whenever Host is not a loopback name.
    app.add_middleware(CORSMiddleware, allow_origins=[])
    app.add_middleware(HostGuard, allowed_hosts=allowed_hosts)
    app.add_middleware(QuietDisconnects)
