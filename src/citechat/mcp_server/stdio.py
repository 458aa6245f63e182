"""`citechat mcp`: the MCP server over stdin and stdout, started by one assistant or editor (Claude Desktop,
VS Code, Cursor). stdout carries the protocol only: every message goes to stderr, which such clients log.

The server answers the client's handshake at once; the index is opened meanwhile (built first when there is
none), synced once with the folder and then kept in step with it as `citechat serve` does.
"""

from __future__ import annotations

import sys
import threading
from contextlib import asynccontextmanager

from ..config import Settings
from ..errors import CitechatError, log_line, user_message
from ..terminal import shown_name
from ..web.service import ChatService, open_bot
from ..web.watch import FolderWatcher, follow_folder
from .server import create_server


def say(message: str) -> None:
    print(shown_name(message), file=sys.stderr, flush=True)


class ServiceOpener:
    """The service the tools call, opened in the background and waited for by the first tool call. When the
    index cannot be opened (no documents folder, an index of another folder), the tool call answers with the
    reason and what to do, and the next call tries again: the user can fix it without restarting the client."""

    def __init__(self, settings: Settings, watch: bool = True) -> None:
        self.settings = settings
        self.watch = watch
        self.watcher: FolderWatcher | None = None
        self._service: ChatService | None = None
        self._lock = threading.Lock()

    def __call__(self) -> ChatService:
        with self._lock:
            if self._service is None:
                self._service = self._open()
            return self._service

    def _open(self) -> ChatService:
        service = ChatService(open_bot(self.settings, notify=say))
        _, self.watcher = follow_folder(service, say, self.watch)
        return service

    def start(self) -> None:
        """Open the index in the background now."""
        threading.Thread(target=self._open_now, daemon=True).start()

    def _open_now(self) -> None:
        try:
            self()
        except Exception as exc:  # said again to the first tool call; the details of a surprise only here
            say(f"citechat: {user_message(exc) if isinstance(exc, CitechatError) else log_line(exc)}")

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()


def run_stdio(settings: Settings, watch: bool = True) -> None:
    """Serve the MCP tools over stdin and stdout until the client closes stdin."""
    opener = ServiceOpener(settings, watch)

    @asynccontextmanager
    async def opening(server):
        # Entered once the transport has taken over stdout (anything else written there now goes to stderr).
        opener.start()
        yield {}

    server = create_server(opener, lifespan=opening)
    say(f"citechat: MCP server on stdin/stdout for the documents in {settings.docs_dir}"
        f"{' (watched for changes)' if watch else ''}.")
    try:
        server.run("stdio")
    finally:
        opener.close()
