"""Files of the index folder that are not what citechat wrote: a link to /dev/zero or a named pipe in place of
vectors.faiss or chunks.sqlite, a FAISS header that claims gigabytes. Each gives a one-line error (or is
rebuilt from the database) quickly, through the real command line, never a hang or a traceback."""

from __future__ import annotations

import os
import sqlite3
import struct
import time

import pytest

from citechat.files import sha256_of
from conftest import copy_tree, run_cli

QUESTION = "What did Altman say?"


@pytest.fixture
def index(seed_index, tmp_path):
    return copy_tree(seed_index[1], tmp_path / "index")


def replace_with(path, kind: str) -> None:
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")


def assert_one_line_error(result, *words: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("citechat: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0]


@pytest.mark.parametrize("kind, words", [("fifo", ["a named pipe", "rm "]), ("zero", ["a symbolic link", "rm "])])
def test_vectors_file_replaced_by_a_pipe_or_a_link_is_refused_at_once(index, kind, words):
    replace_with(index / "vectors.faiss", kind)
    for command in (["ask", QUESTION], ["status"]):
        started = time.monotonic()
        result = run_cli(*command, "--index", str(index), timeout=60)
        assert time.monotonic() - started < 20  # the command's own start-up; the check itself is instant
        assert_one_line_error(result, "vectors.faiss", *words)


@pytest.mark.parametrize("kind, word", [("fifo", "a named pipe"), ("zero", "a symbolic link")])
def test_database_replaced_by_a_pipe_or_a_link_is_refused_at_once(index, kind, word):
    replace_with(index / "chunks.sqlite", kind)
    result = run_cli("status", "--index", str(index), timeout=60)
    assert_one_line_error(result, "chunks.sqlite", word, "--rebuild")


def test_a_faiss_header_claiming_gigabytes_is_not_believed(index):
    path = index / "vectors.faiss"
    data = bytearray(path.read_bytes())
    fourcc, d, ntotal, a, b, trained, metric, floats = struct.unpack_from("<4siqqq?iQ", data)
    struct.pack_into("<4siqqq?iQ", data, 0, fourcc, d, 2**31, a, b, trained, metric, 2**31 * d)  # 8 GB of floats
    path.write_bytes(bytes(data))
    with sqlite3.connect(index / "chunks.sqlite") as conn:  # its stamp made to match, as an attacker could
        generation = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
        conn.execute("UPDATE meta SET value = ? WHERE key = 'faiss_stamp'", (f"{generation}:{sha256_of(path)}",))
    result = run_cli("ask", QUESTION, "--index", str(index), timeout=120)
    assert result.returncode == 0 and "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    assert "[1]" in result.stdout  # answered from the vectors in the database
