"""Run one real sync in this process and make it fail at a chosen point (used by tests/test_reliability.py).

    python tests/fault_sync.py POINT DOCS INDEX [--rebuild] [--fill MOUNT]

Nothing here is part of citechat: the wrapper patches citechat's functions from the outside, so that the
real sync dies (SIGKILL, as from `kill -9` or a power cut) or meets a full disk at exactly one place:

  embedding        in the middle of embedding the second batch (the first batch is committed)
  sqlite-write     after the second batch's rows are written, before its transaction commits
  after-commit     after every SQLite commit, before vectors.faiss is written
  faiss-write      half way through writing the new vectors.faiss (a partial temporary file)
  faiss-stamp      after the new vectors.faiss is in place, before its stamp is recorded
  upgrade          inside the transaction that brings an index of the older layout up to date
  rebuild-swap     (with --rebuild) right after the new database replaced the old one
  full-sqlite      (with --fill MOUNT) the disk fills up just before the second batch is committed
  full-faiss       (with --fill MOUNT) the disk fills up just before vectors.faiss is written
  none             no fault: a plain sync

With --fill the disk is really filled (a file on MOUNT grows until the filesystem refuses); without it,
full-* points raise the error a full disk gives (an injected ENOSPC) instead.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import sqlite3
import sys
import types

from citechat.index import sync
from citechat.index.stores import local as store
from citechat.index.stores import local_db, local_vectors
from citechat.index.embeddings import Embedder

FILLER = "filler.bin"


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def die_when_meta_set(module, key: str, message: str) -> None:
    """Kill the process as `module` records `key` in the index's meta table."""
    real_set_meta = module.set_meta

    def set_meta(conn, name, value):
        if name == key:
            print(message, flush=True)
            die()
        return real_set_meta(conn, name, value)

    module.set_meta = set_meta


def fill_disk(mount: str) -> None:
    """Grow a file on the filesystem until it is full."""
    fd = os.open(os.path.join(mount, FILLER), os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (65536, 4096, 512, 1):  # big pieces first, then what is left
            try:
                while os.write(fd, b"\0" * size) == size:
                    pass
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    finally:
        os.close(fd)
    print("disk filled", flush=True)


def no_space(kind: str):
    if kind == "sqlite":
        exc = sqlite3.OperationalError("database or disk is full")
        exc.sqlite_errorcode = sqlite3.SQLITE_FULL
        return exc
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def patch(point: str, fill: str | None) -> None:
    calls = {"encode": 0, "generation": 0}

    if point == "embedding":
        real_encode = Embedder.encode

        def encode(self, texts, *args, **kwargs):
            calls["encode"] += 1
            if calls["encode"] == 2:
                real_encode(self, texts[: max(1, len(texts) // 2)], *args, **kwargs)
                print("killed while embedding", flush=True)
                die()
            return real_encode(self, texts, *args, **kwargs)

        Embedder.encode = encode

    elif point in ("sqlite-write", "full-sqlite"):
        real_bump = store.bump_generation

        def bump_generation(conn):
            calls["generation"] += 1
            if calls["generation"] == 2:
                if point == "sqlite-write":
                    print("killed inside the transaction", flush=True)
                    die()
                if fill:
                    fill_disk(fill)
                else:
                    raise no_space("sqlite")
            return real_bump(conn)

        store.bump_generation = bump_generation

    elif point in ("after-commit", "full-faiss"):
        real_save = store.save_if_due

        def save_if_due(*args):
            if point == "after-commit":
                print("killed before the FAISS write", flush=True)
                die()
            if fill:
                fill_disk(fill)
                return real_save(*args)
            raise no_space("faiss")

        store.save_if_due = save_if_due
        rewrite_every_sync()

    elif point == "faiss-write":
        import faiss

        real_write_index = faiss.write_index

        def write_index(index, path):
            real_write_index(index, path)
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
            print("killed while writing vectors.faiss", flush=True)
            die()

        faiss.write_index = write_index
        rewrite_every_sync()

    elif point == "faiss-stamp":
        die_when_meta_set(local_vectors, "faiss_generation", "killed before the stamp")  # the FAISS file's stamp
        rewrite_every_sync()

    elif point == "upgrade":
        die_when_meta_set(local_db, "layout", "killed inside the upgrade")

    elif point == "rebuild-swap":
        real_replace = os.replace

        def replace(src, dst, *args, **kwargs):
            real_replace(src, dst, *args, **kwargs)
            if str(dst).endswith(store.DB_NAME):
                print("killed after the swap", flush=True)
                die()

        store.os = types.SimpleNamespace(**{name: getattr(os, name) for name in dir(os) if not name.startswith("__")})
        store.os.replace = replace

    elif point != "none":
        raise SystemExit(f"unknown point {point}")


def rewrite_every_sync() -> None:
    """Write vectors.faiss at this sync whatever the log holds (it is written only when the log has grown long),
    so that a fault while writing it is met."""
    local_vectors.REWRITE_SHARE = 0.0
    local_vectors.REWRITE_MIN = -1


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("point")
    parser.add_argument("docs")
    parser.add_argument("index")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--fill")
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    sync.BATCH_CHUNKS = args.batch
    patch(args.point, args.fill)
    from citechat.cli import main as citechat_main

    code = citechat_main(["index", "--docs", args.docs, "--index", args.index] + ["--rebuild"] * args.rebuild)
    print("finished with exit code", code, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
