"""One server on one port: the OpenAI-compatible API under /v1 and the chat window (Gradio) on every other
path, in one FastAPI app run by uvicorn, both over one `ChatService`.

    citechat serve                      # http://127.0.0.1:7860 and http://127.0.0.1:7860/v1
    citechat serve --host 0.0.0.0 --auth alice:secret

`create_app` is the one place the app is put together, and `launch` the one place it is served: checks that
concern the whole server (the loopback rule here; host and origin checks, request limits) belong here.
"""

from __future__ import annotations

import errno
import os
import socket
import threading
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI

from ..bot import Bot
from ..config import Settings
from ..errors import log_line
from .openai_api import create_api
from .security import RefuseToServe, api_key_for, check_exposure
from .service import ChatService, open_bot
from .watch import FolderWatcher

# Requests still running this long after Ctrl+C are cancelled.
SHUTDOWN_GRACE_SECONDS = 5


def create_app(service: ChatService, credentials: tuple[str, str] | None = None, api_key: str | None = None) -> FastAPI:
    """The API at /v1, then the chat window at / (it answers every path the API does not)."""
    from .gradio_app import mount_chat_window  # Gradio is slow to import; the CLI's other commands never need it

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    app.mount("/v1", create_api(service, api_key))
    app.state.stop_streams = mount_chat_window(app, service, credentials)
    app.state.service = service
    return app


class _Server(uvicorn.Server):
    async def shutdown(self, sockets=None) -> None:
        # Gradio keeps a stream open to every browser tab and client until told to stop; tell it from the
        # server's own event loop (its stop event is not thread-safe), then stop as usual.
        self.config.app.state.stop_streams()
        await super().shutdown(sockets)


@dataclass
class RunningServer:
    """A server started by `launch(block=False)`: stop it with close()."""

    url: str
    app: FastAPI
    server: uvicorn.Server
    thread: threading.Thread | None = field(default=None, repr=False)
    watcher: FolderWatcher | None = field(default=None, repr=False)
    started_sync: threading.Thread | None = field(default=None, repr=False)

    @property
    def service(self) -> ChatService:
        return self.app.state.service

    def close(self) -> None:
        self.server.should_exit = True
        if self.watcher is not None:
            self.watcher.stop()
        if self.thread is not None:
            self.thread.join(timeout=SHUTDOWN_GRACE_SECONDS + 10)


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free one), or a message that says what to do."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        if getattr(exc, "errno", None) == errno.EADDRINUSE:
            raise RefuseToServe(f"Port {port} on {host} is already in use (by another citechat, or another "
                                "program): choose another with --port, e.g. --port 7861.") from None
        raise RefuseToServe(f"Cannot listen on {host}:{port} ({exc.strerror or exc}). Check the address given "
                            "with --host (e.g. 127.0.0.1 or ::1), or choose another port with --port.") from None
    return sock


def _sync_at_start(service: ChatService, say) -> None:
    """Pick up what changed while no server was watching (files added, or an upload cut short by a crash)."""
    try:
        report = service.sync()
    except Exception as exc:
        say(f"citechat: the index could not be synced with {service.docs_dir}: {log_line(exc)}")
        return
    if report.added or report.updated or report.removed:
        say(f"citechat: synced with the folder: {report.summary()}")


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def launch(
    settings: Settings | Bot,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: str | tuple[str, str] | None = None,
    insecure: bool = False,
    *,
    watch: bool = True,
    block: bool = True,
    quiet: bool = False,
) -> RunningServer:
    """Serve the chat window and the API (building the index first if there is none). Once serving, the
    index is synced with the folder in the background (answers come from the last complete index meanwhile),
    and with watch=True again whenever files in the folder change. With block=False the server runs in a
    background thread; stop it with close(). The API's key comes from $CITECHAT_API_KEY, else the --auth
    password (see security.py)."""
    if auth is None:
        auth = os.environ.get("CITECHAT_AUTH") or None
    credentials = check_exposure(host, auth, insecure)
    api_key = api_key_for(credentials, os.environ.get("CITECHAT_API_KEY"))
    sock = listen(host, port)
    say = (lambda message: None) if quiet else (lambda message: print(message, flush=True))
    service = ChatService(open_bot(settings, notify=say))
    app = create_app(service, credentials, api_key)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS)
    running = RunningServer(url_of(sock), app, _Server(config))
    say(f"citechat: the chat window is on {running.url} and the OpenAI-compatible API on {running.url}v1 "
        f"(model \"citechat\"{', key required' if api_key else ''}), for the documents in "
        f"{service.docs_dir}{' (watched for changes)' if watch else ''}. Press Ctrl+C to stop.")
    running.started_sync = threading.Thread(target=_sync_at_start, args=(service, say), daemon=True)
    running.started_sync.start()
    if watch:
        running.watcher = FolderWatcher(service, say).start()
    if block:
        try:
            running.server.run(sockets=[sock])
        except KeyboardInterrupt:  # uvicorn stops on Ctrl+C, then raises it again
            pass
        if running.watcher is not None:
            running.watcher.stop()
        return running
    running.thread = threading.Thread(target=running.server.run, kwargs={"sockets": [sock]}, daemon=True)
    running.thread.start()
    while not running.server.started:
        if not running.thread.is_alive():
            raise RuntimeError("citechat: the server stopped while starting; see the messages above.")
        running.thread.join(timeout=0.05)
    return running
