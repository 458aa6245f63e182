"""One server on one port: the OpenAI-compatible API under /v1, the MCP server at /mcp and the chat window
(Gradio) on every other path, in one FastAPI app run by uvicorn, all over one `ChatService`.

    citechat serve                      # http://127.0.0.1:7860, http://127.0.0.1:7860/v1 and .../mcp
    citechat serve --host 0.0.0.0 --auth alice:secret

`create_app` is the one place the app is put together, and `launch` the one place it is served: checks that
concern the whole server (the loopback rule, host and origin checks, request body limits, the sign-in
throttle: guards.py) are installed here.
"""

from __future__ import annotations

import errno
import os
import signal
import socket
import threading
from dataclasses import dataclass, field

import uvicorn
from fastapi import FastAPI

from ..answering.llm import unreachable
from ..bot import Bot
from ..config import Settings
from ..index.which import folder_note
from ..terminal import shown_name
from . import upload_folder
from .connections import KEEP_ALIVE_SECONDS, GuardedH11Protocol, max_connections, quiet_accept_errors
from .guards import LOOPBACK_HOSTS, install_guards
from .openai_api import create_api
from .security import RefuseToServe, allowed_hosts, api_key_for, check_exposure, is_loopback
from .service import MAX_REQUEST_BYTES, ChatService, open_bot
from .watch import FolderWatcher, follow_folder

# Requests still running this long after Ctrl+C are cancelled.
SHUTDOWN_GRACE_SECONDS = 5
# The largest request bodies, checked before anything is parsed: questions (with the conversation; the chat
# window also sends the conversation it shows, about 800 bytes a turn) as the service allows, uploads up to
# ten files of the largest size at once, anything else (the sign-in form, Gradio's small calls) 64 KB. The API
# checks its own bodies to answer in OpenAI's format.
BODY_LIMIT = 64 * 1024
UPLOADS_AT_ONCE = 10


def body_limits(max_upload_mb: float) -> dict[str, int | None]:
    return {
        "/gradio_api/upload": int(UPLOADS_AT_ONCE * 2 * max_upload_mb * 2**20),  # Gradio's own limit: 2x, per file
        "/gradio_api/": MAX_REQUEST_BYTES,
        "/v1/": None,
    }


def create_app(service: ChatService, credentials: tuple[str, str] | None = None, api_key: str | None = None,
               hosts: list[str] | None = None) -> FastAPI:
    """The API at /v1, the MCP server at /mcp, then the chat window at / (it answers every other path), behind
    the guards; `hosts`: the Host names to answer to (default: loopback names)."""
    from ..mcp_server.http_app import mount_mcp  # as slow: the MCP SDK imports its whole protocol
    from .gradio_app import mount_chat_window  # Gradio is slow to import; the CLI's other commands never need it

    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    if service.uploads is not None:  # innermost: sees the upload route's own response
        app.add_middleware(upload_folder.RecordUploads, ledger=service.uploads)
    install_guards(app, hosts or list(LOOPBACK_HOSTS), body_limits(service.max_upload_mb), BODY_LIMIT,
                   throttle_sign_in=credentials is not None)
    app.mount("/v1", create_api(service, api_key))
    mount_mcp(app, service, api_key)
    app.state.stop_streams = mount_chat_window(app, service, credentials)
    app.state.service = service
    return app


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, say) -> None:
        super().__init__(config)
        self.say = say

    async def startup(self, sockets=None) -> None:
        quiet_accept_errors(self.say)
        await super().startup(sockets)

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
    _uploads_held: bool = field(default=True, repr=False)  # this server's use of the upload folder
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
        self.release_uploads()

    def release_uploads(self) -> None:
        if self._uploads_held:
            self._uploads_held = False
            upload_folder.release()


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


def _exit(signum, frame) -> None:
    raise SystemExit(0)


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
    require_llm: bool = False,
) -> RunningServer:
    """Serve the chat window and the API (building the index first if there is none). Once serving, the
    index is synced with the folder in the background (answers come from the last complete index meanwhile),
    and with watch=True again whenever files in the folder change. With block=False the server runs in a
    background thread; stop it with close(). The API's key comes from $CITECHAT_API_KEY, else the sign-in
    password (see security.py). The names the server answers to and the proxies it trusts are the settings'
    `allowed_hosts` and `trusted_proxies`. An LLM server that does not answer is reported, and answers are
    quoted from the documents until it does; require_llm: refuse to start instead."""
    if auth is None:
        auth = os.environ.get("CITECHAT_AUTH") or None
    credentials = check_exposure(host, auth, insecure)
    api_key = api_key_for(credentials, os.environ.get("CITECHAT_API_KEY"))
    sock = listen(host, port)
    say = (lambda message: None) if quiet else (lambda message: print(shown_name(message), flush=True))
    bot = open_bot(settings, notify=say)
    problem = unreachable(bot.llm_spec)
    if problem and require_llm:
        raise RefuseToServe(f"{problem} (--require-llm: not serving without it)")
    if problem:
        say(f"citechat: warning: {problem} Until it answers, answers are quoted from the documents.")
    hosts = allowed_hosts(host, bot.settings.allowed_hosts)
    uploads = upload_folder.acquire(bot.settings.cache_dir)  # before Gradio is imported (by create_app)
    service = ChatService(bot, uploads=upload_folder.UploadLedger(uploads))
    service.llm_problem = problem
    try:
        app = create_app(service, credentials, api_key, hosts)
    except BaseException:
        upload_folder.release()
        raise
    # X-Forwarded-For is believed only from the proxies named: uvicorn's default believes any local process,
    # which could then pick the address the sign-in throttle counts failures for.
    proxies = ",".join(bot.settings.trusted_proxies)
    # Slow or silent clients are timed out, and connections capped below the file limit (connections.py).
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
                            proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None,
                            http=GuardedH11Protocol, timeout_keep_alive=KEEP_ALIVE_SECONDS,
                            limit_concurrency=max_connections())
    running = RunningServer(url_of(sock), app, _Server(config, say))
    say(f"citechat: the chat window is on {running.url}, the OpenAI-compatible API on {running.url}v1 "
        f"(model \"citechat\") and the MCP server on {running.url}mcp{' (key required)' if api_key else ''}, "
        f"for the documents in {folder_note(bot.settings) or service.docs_dir}"
        f"{' (watched for changes)' if watch else ''}. Press Ctrl+C to stop.")
    if not is_loopback(host):
        say(f"citechat: answering to the names {', '.join(hosts)}; add the names browsers use to reach this machine "
            "with --allowed-host NAME. Beyond this machine, serve it behind a reverse proxy with TLS (see README).")
    running.started_sync, running.watcher = follow_folder(service, say, watch)
    if block:
        # uvicorn stops on Ctrl+C or SIGTERM, then raises the signal again: make SIGTERM end the process the
        # way Ctrl+C does, through the finally blocks, so that the upload folder is removed.
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _exit) if main else None
        try:
            running.server.run(sockets=[sock])
        except KeyboardInterrupt:
            pass
        finally:
            running.release_uploads()
            if main:
                signal.signal(signal.SIGTERM, previous)
        if running.watcher is not None:
            running.watcher.stop()
        return running
    running.thread = threading.Thread(target=running.server.run, kwargs={"sockets": [sock]}, daemon=True)
    running.thread.start()
    while not running.server.started:
        if not running.thread.is_alive():
            running.release_uploads()
            raise RuntimeError("citechat: the server stopped while starting; see the messages above.")
        running.thread.join(timeout=0.05)
    return running
