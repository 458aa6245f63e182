"""Files of the index folder that are not what citechat wrote: damaged or tampered with (a FAISS file with a
matching stamp, a database), a link to /dev/zero or a named pipe in place of vectors.faiss or chunks.sqlite, a
FAISS header that claims gigabytes, links planted to be written through. Each is rebuilt from the database or
gives a one-line error saying how to recover, quickly, never a hang, a traceback or an unpickled object."""

from __future__ import annotations

import os
import pickle
import random
import re
import shutil
import sqlite3
import struct
import subprocess
import time
from pathlib import Path

import pytest

import citechat
from citechat.index.stores import local as store
from citechat.ingest.files import sha256_of
from conftest import COLLECTION_SOURCES, QUESTIONS, by_source, citechat_command, copy_tree, run_cli, subprocess_env
from index_helpers import layout
from reliability_helpers import (  # noqa: F401 - base, base_layout: fixtures
    FERRY_Q,
    FERRY_SOURCE,
    SRC,
    base,
    base_layout,
    copy_base,
    retrieval,
)

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
    at = data.index(b"IxFI")  # the flat index inside the id map
    fourcc, d, ntotal, a, b, trained, metric, floats = struct.unpack_from("<4siqqq?iQ", data, at)
    struct.pack_into("<4siqqq?iQ", data, at, fourcc, d, 2**31, a, b, trained, metric, 2**31 * d)  # 8 GB of floats
    path.write_bytes(bytes(data))
    restamp(index)  # its stamp made to match, as an attacker could
    result = run_cli("ask", QUESTION, "--index", str(index), timeout=120)
    assert result.returncode == 0 and "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    assert "[1]" in result.stdout  # answered from the vectors in the database


# ---------------------------------------------------------------- damaged files


def _answers(bot):
    return [[(p.source, p.start, p.end) for p in bot.retrieve(q, k=4)] for q, *_ in QUESTIONS[::2]]


@pytest.fixture(scope="module")
def built_answers(built_bot):
    return _answers(built_bot)


@pytest.mark.parametrize("damage", ["junk", "truncated", "deleted", "other-index"])
def test_a_damaged_faiss_file_is_rebuilt_from_the_database(built, built_bot, built_answers, tmp_path, damage):
    import faiss

    docs_dir, built_index, _ = built
    index = copy_tree(built_index, tmp_path / "index")
    cache = index / store.FAISS_NAME
    if damage == "junk":
        cache.write_bytes(os.urandom(cache.stat().st_size))
    elif damage == "truncated":
        cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])
    elif damage == "deleted":
        cache.unlink()
    else:  # a valid FAISS file, but of different vectors
        other_docs = tmp_path / "other-docs"
        other_docs.mkdir()
        (other_docs / "one.txt").write_text("A single unrelated line about tulips.", encoding="utf-8")
        citechat.build_index(other_docs, tmp_path / "other")
        shutil.copy(tmp_path / "other" / store.FAISS_NAME, cache)
    bot = citechat.open_index(index)
    assert bot.n_chunks == built_bot.n_chunks
    assert _answers(bot) == built_answers
    # The next sync writes a good cache again.
    report = citechat.build_index(docs_dir, index)
    assert report.embedded == 0
    assert faiss.read_index(str(cache)).ntotal == built_bot.n_chunks


@pytest.mark.parametrize("damage", ["junk", "garbled-pages"])
def test_a_damaged_database_gives_a_clear_error_and_rebuild_recovers(built, built_bot, tmp_path, damage):
    docs_dir, built_index, _ = built
    index = copy_tree(built_index, tmp_path / "index")
    db = index / store.DB_NAME
    size = db.stat().st_size
    if damage == "junk":
        db.write_bytes(os.urandom(size))
    else:  # valid header, every later page overwritten
        data = bytearray(db.read_bytes())
        rng = random.Random(7)
        data[4096:] = bytes(rng.randrange(256) for _ in range(len(data) - 4096))
        db.write_bytes(bytes(data))
    with pytest.raises(citechat.IndexProblem) as opened:
        citechat.open_index(index)
    assert f"--index {index} --rebuild" in str(opened.value)
    with pytest.raises(citechat.IndexProblem) as synced:
        citechat.build_index(docs_dir, index)
    assert f"--index {index} --rebuild" in str(synced.value)
    if damage == "junk":
        assert isinstance(opened.value, citechat.IndexCorrupt) and isinstance(synced.value, citechat.IndexCorrupt)

    report = citechat.build_index(docs_dir, index, rebuild=True)
    assert report.added == COLLECTION_SOURCES
    assert layout(citechat.open_index(index)) == layout(built_bot)


def test_opening_a_missing_index_says_how_to_build_it(tmp_path, on_store):
    with pytest.raises(citechat.IndexNotFound, match="citechat index"):
        citechat.open_index(tmp_path / "nothing-here")


# ---------------------------------------------------------------- a damaged or tampered index


def restamp(index: Path) -> None:
    """Record the current vectors.faiss as valid, as someone tampering with both files would."""
    path = index / store.FAISS_NAME
    info = path.stat()
    conn = sqlite3.connect(index / store.DB_NAME)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'faiss_sha256'", (sha256_of(path),))
        conn.execute("UPDATE meta SET value = ? WHERE key = 'faiss_file'", (f"{info.st_size}:{info.st_mtime_ns}",))
    conn.close()


def _faiss_ntotal_huge(data: bytearray) -> None:
    at = data.index(b"IxFI")
    data[at + 8 : at + 16] = struct.pack("<q", 10**15)


def _faiss_codes_size(data: bytearray) -> None:
    at = data.index(b"IxFI")
    data[at + 37 : at + 45] = struct.pack("<Q", 2**62)


def _faiss_other_type(data: bytearray) -> None:
    data[0:4] = b"IHNf"  # an HNSW index header over the id map's data


def _faiss_half(data: bytearray) -> None:
    del data[len(data) // 2 :]


@pytest.mark.parametrize("tamper", [_faiss_ntotal_huge, _faiss_codes_size, _faiss_other_type, _faiss_half],
                         ids=["ntotal", "codes-size", "index-type", "truncated"])
def test_a_tampered_faiss_file_with_a_matching_stamp_is_rebuilt_from_the_database(tamper, base, tmp_path):
    index = copy_tree(base[1], tmp_path / "index")
    expected = retrieval(citechat.open_index(base[1]))
    data = bytearray((index / store.FAISS_NAME).read_bytes())
    assert data[:4] == b"IxM2"  # exact search (an id map over a flat index) below the approximate index's size
    tamper(data)
    (index / store.FAISS_NAME).write_bytes(bytes(data))
    restamp(index)
    bot = citechat.open_index(index)
    assert retrieval(bot) == expected
    report = citechat.build_index(base[0], index)
    assert report.embedded == 0
    assert store.load_snapshot(index, None).vectors.index.ntotal == bot.n_chunks


DB_TAMPERING = {
    "dimension-not-a-number": "UPDATE meta SET value = 'abc' WHERE key = 'dimension'",
    "generation-missing": "DELETE FROM meta WHERE key = 'generation'",
    "text-as-blob": "UPDATE chunks SET text = CAST(text AS BLOB) WHERE id = (SELECT MIN(id) FROM chunks)",
    "offset-as-text": "UPDATE chunks SET start = 'abc' WHERE id = (SELECT MAX(id) FROM chunks)",
    "short-vector": "UPDATE chunks SET vector = substr(vector, 1, 10)",
    "truncated-file": None,
}


@pytest.mark.parametrize("damage", list(DB_TAMPERING))
def test_a_tampered_database_gives_a_clear_error_and_rebuild_recovers(damage, base, base_layout, tmp_path):
    index = copy_tree(base[1], tmp_path / "index")
    db = index / store.DB_NAME
    if DB_TAMPERING[damage] is None:
        db.write_bytes(db.read_bytes()[: db.stat().st_size // 2])
    else:
        conn = sqlite3.connect(db)
        with conn:
            conn.execute(DB_TAMPERING[damage])
        conn.close()
    if damage == "short-vector":
        (index / store.FAISS_NAME).unlink()  # else the (valid) cache answers and the vectors are not read

    with pytest.raises(citechat.IndexProblem) as info:
        citechat.open_index(index)
    assert f"--index {index} --rebuild" in str(info.value)
    cli = subprocess.run([*citechat_command(), "ask", "What did the council decide?", "--index", str(index),
                          "--docs", str(base[0])], capture_output=True, text=True, timeout=120, env=subprocess_env())
    assert cli.returncode == 2, cli.stdout + cli.stderr
    assert f"--index {index} --rebuild" in cli.stderr and "Traceback" not in cli.stderr

    citechat.build_index(base[0], index, rebuild=True)
    assert by_source(citechat.open_index(index)) == base_layout


class _Trap:
    """Unpickling this creates a file: proof that something was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_nothing_in_an_index_folder_is_ever_unpickled(base, tmp_path):
    index = copy_tree(base[1], tmp_path / "index")
    marker = tmp_path / "code-ran"
    payload = pickle.dumps(_Trap(marker))
    # Where a pickle-based tool would look: LangChain's FAISS.save_local files, and our own cache file
    # (with a matching stamp, so that it is not simply ignored).
    for name in ("index.pkl", "index.faiss", "docstore.pkl"):
        (index / name).write_bytes(payload)
    (index / store.FAISS_NAME).write_bytes(payload)
    restamp(index)
    bot = citechat.open_index(index)
    assert bot.answer(FERRY_Q).sources[0].source == FERRY_SOURCE
    citechat.build_index(base[0], index)
    citechat.build_index(base[0], index, rebuild=True)
    assert not marker.exists()
    # ... and the code never deserialises with pickle or evaluates text at all.
    for path in SRC.glob("*.py"):
        code = path.read_text(encoding="utf-8")
        for risky in (r"\bpickle\b", r"\bmarshal\b", r"\bshelve\b", r"torch\.load", r"(?<![\w.])eval\(", r"(?<![\w.])exec\(",
                      r"allow_dangerous_deserialization"):
            assert not re.search(risky, code), f"{path.name} uses {risky}"


def test_links_planted_in_the_index_folder_are_not_written_through(base, tmp_path):
    docs, index = copy_base(base, tmp_path)
    victims = {name: tmp_path / f"victim-{name}" for name in (".lock", "vectors.faiss.tmp")}
    for name, victim in victims.items():
        victim.write_text("precious\n")
        (index / name).unlink(missing_ok=True)
        os.symlink(victim, index / name)
    (docs / "guide.md").unlink()  # a change, so that vectors.faiss is written
    citechat.build_index(docs, index)
    for victim in victims.values():
        assert victim.read_text() == "precious\n"
