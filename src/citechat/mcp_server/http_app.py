"""The MCP server over streamable HTTP at /mcp of `citechat serve`, on the app's port and behind its guards
(Host names, other sites' pages, body size), with the key of the OpenAI-compatible API:

    POST http://127.0.0.1:7860/mcp    Authorization: Bearer KEY (when the server has a key)

Stateless: every request stands alone, so no session is kept for a client between its requests, and replies
come as JSON rather than as an event stream.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..web.security import WRONG_KEY, bearer_matches
from ..web.service import ChatService
from .server import create_server

PATH = "/mcp"


class Checked:
    """/mcp's own checks, after the app's: the key (401 without it), and no event stream to open (405 for GET and
    anything but POST and DELETE: this server sends nothing unasked, and an idle stream would only hold a
    connection)."""

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app = app
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.key is not None and not bearer_matches(Headers(scope=scope).get("authorization"), self.key):
            refused = JSONResponse({"error": "invalid_token", "error_description": WRONG_KEY}, status_code=401,
                                   headers={"WWW-Authenticate": "Bearer"})
        elif scope["method"] not in ("POST", "DELETE"):
            refused = PlainTextResponse("citechat's MCP server takes its requests by POST; it opens no event "
                                        "stream.", status_code=405, headers={"Allow": "POST, DELETE"})
        else:
            await self.app(scope, receive, send)
            return
        await refused(scope, receive, send)


def mount_mcp(app: FastAPI, service: ChatService, api_key: str | None) -> None:
    """Serve the MCP tools over `service` at /mcp of `app` (add it before a catch-all mount), requiring
    `api_key` when there is one."""
    server = create_server(lambda: service)
    # The app's guards check the Host of every request and the Origin of every one that reaches the SDK (POST
    # and DELETE); the SDK's own check would know only the loopback names.
    endpoint = server.streamable_http_app(streamable_http_path=PATH, stateless_http=True, json_response=True,
                                          transport_security=TransportSecuritySettings(
                                              enable_dns_rebinding_protection=False))
    app.add_route(PATH, Checked(endpoint, api_key))
    # A mounted app's own lifespan is not run: run its session manager in the app's.
    outer = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(parent):
        async with outer(parent) as state, server.session_manager.run():
            yield state

    app.router.lifespan_context = lifespan
