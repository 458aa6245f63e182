"""Connections to Milvus, one per address and process, and the one-line errors for what can go wrong with them.
The only module that imports pymilvus (the optional `[milvus]` extra)."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Iterator

from ..base import StoreUnavailable

os.environ.setdefault("GRPC_VERBOSITY", "NONE")  # grpc's C core would print keepalive chatter to stderr
try:
    import grpc
    from pymilvus import AnnSearchRequest, DataType, Function, FunctionType, MilvusClient, RRFRanker  # noqa: F401
    from pymilvus.exceptions import ConnectionConfigException, MilvusException
except ImportError as exc:  # the optional [milvus] extra is not installed
    raise StoreUnavailable(
        "The Milvus store needs pymilvus and milvus-lite: pip install 'citechat[milvus]' (or unset CITECHAT_STORE "
        "to use the local index)."
    ) from exc

# pymilvus logs a traceback for every failed call, and milvus_lite one when its file is locked; the one-line
# errors below say it all. (Set after the import: importing pymilvus configures its logger.)
# grpc._server: Milvus Lite's in-process server logs calls it does not implement (query iterators ask for a
# timestamp, then do without).
for _name in ("pymilvus", "milvus_lite", "grpc._server"):
    logging.getLogger(_name).setLevel(logging.CRITICAL + 1)

ERRORS = (MilvusException, grpc.RpcError)


def failure(address: str, exc: BaseException) -> StoreUnavailable:
    """The one-line error for a Milvus exception, saying what to do."""
    where = f"milvus:{address}"
    if _grpc_status(exc) == grpc.StatusCode.UNAUTHENTICATED:
        return StoreUnavailable(f"Milvus at {where} refused the credentials: set CITECHAT_MILVUS_TOKEN to "
                                "USER:PASSWORD (or the server's API key).")
    if isinstance(exc, ConnectionConfigException):
        return StoreUnavailable(f"Cannot open Milvus at {where} ({exc.message}). Use milvus:PATH.db for Milvus Lite "
                                "or milvus:http://HOST:19530 for a server.")
    if getattr(exc, "code", None) == 2 or isinstance(exc, grpc.RpcError):
        return StoreUnavailable(f"Cannot reach Milvus at {where}: check that the server is running and the address "
                                "is right (MILVUS_CONN_TIMEOUT sets how many seconds to wait, default 10).")
    return StoreUnavailable(f"Milvus at {where} failed: {getattr(exc, 'message', None) or exc}")


def _grpc_status(exc: BaseException | None):
    """The gRPC status code somewhere in the exception's causes (pymilvus wraps it), if any."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, grpc.RpcError) and hasattr(exc, "code"):
            return exc.code()
        exc = exc.__cause__ or exc.__context__
    return None


def translated(method):
    """Decorator for methods of objects with an `address`: Milvus errors become one-line StoreUnavailable."""

    @wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except ERRORS as exc:
            raise failure(self.address, exc) from exc

    return call


@contextmanager
def translating(address: str) -> Iterator[None]:
    try:
        yield
    except ERRORS as exc:
        raise failure(address, exc) from exc


# ---------------------------------------------------------------- connections


_clients: dict[str, list] = {}  # address -> [client, users]
_clients_lock = threading.Lock()


def is_lite(address: str) -> bool:
    return not re.match(r"^(https?|tcp|unix)://", address)


def connect(address: str) -> MilvusClient:
    """The process's client for this address (`milvus:` stripped), opened on first use; `disconnect` once
    per call."""
    with _clients_lock:
        entry = _clients.get(address)
        if entry is None:
            try:
                entry = _clients[address] = [_open(address), 0]
            except ERRORS as exc:
                raise failure(address, exc) from exc
        entry[1] += 1
        return entry[0]


def disconnect(address: str) -> None:
    with _clients_lock:
        entry = _clients[address]
        entry[1] -= 1
        if entry[1]:
            return
        del _clients[address]
        entry[0].close()
        if is_lite(address):  # closing the client leaves Milvus Lite's server, and its file lock, in place
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(str(Path(address).resolve()))


def _open(address: str) -> MilvusClient:
    if not is_lite(address):
        # Connecting waits MILVUS_CONN_TIMEOUT seconds (pymilvus' own setting, default 10) for the server.
        return MilvusClient(uri=address, token=os.environ.get("CITECHAT_MILVUS_TOKEN", ""))
    path = Path(address)
    if path.suffix != ".db":
        raise StoreUnavailable(f"milvus:{address} is not a Milvus address: use milvus:PATH.db for Milvus Lite (a "
                               "path ending in .db) or milvus:http://HOST:19530 for a server.")
    if not path.parent.is_dir():
        raise StoreUnavailable(f"Cannot create the Milvus Lite database {path}: the folder {path.parent} does not "
                               "exist. Create it, or choose another path in CITECHAT_STORE or --store.")
    if path.exists() and not path.is_dir():
        raise StoreUnavailable(f"{path} is not a Milvus Lite database (Milvus Lite keeps a folder there). Choose "
                               "another path in CITECHAT_STORE or --store.")
    if _lite_in_use(path):
        raise StoreUnavailable(f"The Milvus Lite database {path} is open in another process, and Milvus Lite allows "
                               "one process per file: stop that process (e.g. `citechat serve`, whose Documents "
                               "tab can sync), or serve the index from a Milvus server (see the README).")
    return MilvusClient(str(path))


def _lite_in_use(path: Path) -> bool:
    """Does another process hold Milvus Lite's lock on this database?"""
    from milvus_lite.server_manager import server_manager_instance

    if str(path.resolve()) in server_manager_instance._servers:  # this process has it open already
        return False
    try:
        fd = os.open(path / "LOCK", os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
