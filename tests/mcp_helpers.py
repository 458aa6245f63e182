"""The official MCP client (the `mcp` SDK's `ClientSession`) for synchronous tests: the session runs on an event
loop of its own thread, so that one server and one session can serve a whole module of tests."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, AsyncContextManager, Callable, Iterator

from conftest import citechat_command, subprocess_env

CALL_TIMEOUT = 180  # seconds; the first call may wait for the index to be opened


class Session:
    """Calls on an initialized `ClientSession`, made from the test's thread."""

    def __init__(self, session, loop: asyncio.AbstractEventLoop) -> None:
        self.session, self.loop = session, loop

    def run(self, coroutine) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(CALL_TIMEOUT)

    def tools(self) -> list:
        return self.run(self.session.list_tools()).tools

    def call(self, tool: str, /, **arguments):
        """The tool's CallToolResult (`structured_content`, `is_error`, `content`)."""
        return self.run(self.session.call_tool(tool, arguments))

    def call_at_once(self, calls: list[tuple[str, dict]]) -> list:
        """The results of calls sent all at once, in order."""

        async def together():
            return await asyncio.gather(*(self.session.call_tool(name, args) for name, args in calls))

        return self.run(together())


@contextmanager
def mcp_session(transport: Callable[[], AsyncContextManager]) -> Iterator[Session]:
    """An initialized session over `transport()` (the SDK's stdio_client or streamable_http_client), closed
    at the end of the block."""
    from mcp import ClientSession

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    opened: concurrent.futures.Future = concurrent.futures.Future()
    closing: list[asyncio.Event] = []

    async def hold() -> None:
        closing.append(asyncio.Event())
        async with transport() as (read, write), ClientSession(read, write) as session:
            await session.initialize()
            opened.set_result(session)
            await closing[0].wait()

    held = asyncio.run_coroutine_threadsafe(hold(), loop)
    try:
        concurrent.futures.wait([opened, held], timeout=CALL_TIMEOUT, return_when=concurrent.futures.FIRST_COMPLETED)
        if held.done():
            held.result()  # raises what went wrong
        yield Session(opened.result(timeout=0), loop)
    finally:
        if closing:
            loop.call_soon_threadsafe(closing[0].set)
        try:
            held.result(timeout=30)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)


@contextmanager
def stdio_session(*args: str, log: Path, **env: str) -> Iterator[Session]:
    """A session with `citechat mcp ARGS` run as its own process; its stderr goes to `log`."""
    from mcp import StdioServerParameters
    from mcp.client.stdio import stdio_client

    command = citechat_command()
    params = StdioServerParameters(command=command[0], args=[*command[1:], "mcp", *args], env=subprocess_env(**env))
    with open(log, "w") as errlog:
        with mcp_session(lambda: stdio_client(params, errlog=errlog)) as session:
            yield session


def http_transport(url: str, key: str | None = None) -> Callable[[], AsyncContextManager]:
    """The SDK's streamable HTTP client for `url`, sending `key` as the bearer token."""
    from contextlib import asynccontextmanager

    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    @asynccontextmanager
    async def connect():
        headers = {"Authorization": f"Bearer {key}"} if key else None
        async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=CALL_TIMEOUT)) as client:
            async with streamable_http_client(url, http_client=client) as streams:
                yield streams

    return connect
