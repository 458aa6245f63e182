"""An index written in the store's older layout (chunks and vectors, no lexical index, no log of changes): opening
it says which command brings it up to date; that command does it in place, embedding nothing again, and a kill
in the middle of it leaves the older index as it was."""

from __future__ import annotations

import signal
import sqlite3

import pytest

import citechat
from citechat.index.stores import local as store
from conftest import copy_tree
from reliability_helpers import base, copy_base, retrieval, run_fault  # noqa: F401 - base: a fixture

OLDER = """
DROP TABLE lexical; DROP TABLE term_counts; DROP TABLE changes;
DELETE FROM meta WHERE key IN ('layout', 'next_chunk_id', 'n_chunks', 'total_terms', 'log_from',
                               'faiss_generation', 'faiss_sha256', 'faiss_file', 'faiss_kind');
"""


@pytest.fixture
def older(base, tmp_path):
    docs, index = copy_base(base, tmp_path)
    with sqlite3.connect(index / store.DB_NAME) as conn:
        conn.executescript(OLDER)
    (index / store.FAISS_NAME).unlink()
    return docs, index


def layout(index) -> str | None:
    with sqlite3.connect(index / store.DB_NAME) as conn:
        row = conn.execute("SELECT value FROM meta WHERE key = 'layout'").fetchone()
    return row and row[0]


def test_an_older_index_says_how_to_bring_it_up_to_date(older):
    docs, index = older
    with pytest.raises(citechat.IndexMismatch) as refused:
        citechat.open_index(index)
    assert f"`citechat index --index {index}` brings it up to date in place" in str(refused.value)


def test_the_upgrade_is_in_place_and_a_kill_during_it_loses_nothing(older, base, tmp_path):
    docs, index = older
    killed = run_fault("upgrade", docs, index)
    assert killed.returncode == -signal.SIGKILL and "killed inside the upgrade" in killed.stdout
    assert layout(index) in (None, "2")  # as it was: the older layout
    with pytest.raises(citechat.IndexMismatch):
        citechat.open_index(index)

    report = citechat.build_index(docs, index)
    assert report.embedded == 0 and report.added == [] and report.removed == []
    assert layout(index) == "3"
    upgraded = citechat.open_index(index)
    assert retrieval(upgraded) == retrieval(citechat.open_index(copy_tree(base[1], tmp_path / "current")))
    assert upgraded.snapshot.lexical(["ferry"], 3)  # the lexical index holds the old chunks' terms
