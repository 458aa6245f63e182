"""Syncs under faults, made from outside citechat: killed (SIGKILL) at every stage (`tests/fault_sync.py` runs the
real command line and patches one of citechat's functions to kill its own process at the chosen moment), two
syncs in two processes, a full disk. Each leaves the previous consistent index, and the next sync completes.
Nothing in citechat knows about the faults."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import citechat
from citechat.index.stores import local as store
from conftest import (
    assert_consistent,
    by_source,
    citechat_command,
    copy_tree,
    subprocess_env,
)

from reliability_helpers import (  # noqa: F401 - base, base_layout, clean_added, clean_removed: fixtures
    FERRY_PHRASE,
    FERRY_Q,
    FERRY_SOURCE,
    base,
    base_layout,
    clean_added,
    clean_removed,
    copy_base,
    no_leftovers,
    retrieval,
    run_fault,
    wait_for,
    write_ledgers,
)


# ---------------------------------------------------------------- killed at every stage of a sync

# point -> (the change the sync makes, what the wrapper prints just before it kills)
KILL_POINTS = {
    "embedding": ("add", "killed while embedding"),
    "sqlite-write": ("add", "killed inside the transaction"),
    "after-commit": ("add", "killed before the FAISS write"),
    "faiss-write": ("remove", "killed while writing vectors.faiss"),
    "faiss-stamp": ("remove", "killed before the stamp"),
}


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_a_sync_killed_at_any_point_loses_nothing(point, base, base_layout, clean_added, clean_removed, tmp_path):
    killed_sync_loses_nothing(point, base, base_layout, clean_added, clean_removed, tmp_path)


@pytest.mark.parametrize("point", ["sqlite-write", "faiss-write", "faiss-stamp"])
def test_a_sync_of_the_approximate_index_killed_loses_nothing(point, base, base_layout, clean_added, clean_removed,
                                                              tmp_path):
    """The same, the sync writing the approximate vector index that large indexes get."""
    killed_sync_loses_nothing(point, base, base_layout, clean_added, clean_removed, tmp_path,
                              CITECHAT_EXACT_SEARCH_BELOW="10")


def killed_sync_loses_nothing(point, base, base_layout, clean_added, clean_removed, tmp_path, **env) -> None:
    change, marker = KILL_POINTS[point]
    docs, index = copy_base(base, tmp_path)
    if change == "add":
        added = write_ledgers(docs / "ledgers")
        final_layout, final_retrieval = clean_added
    else:
        (docs / "guide.md").unlink()
        final_layout, final_retrieval = clean_removed

    result = run_fault(point, docs, index, **env)
    assert result.returncode == -signal.SIGKILL, result.stdout + result.stderr
    assert marker in result.stdout and "finished" not in result.stdout

    # The index opens at a committed state and still answers.
    bot = citechat.open_index(index)
    assert_consistent(bot)
    layout = by_source(bot)
    if change == "add":
        assert set(base_layout) <= set(layout) <= set(final_layout)
        committed = set(layout) - set(base_layout)
        if point == "after-commit":
            assert committed == set(added)  # everything was committed; only vectors.faiss is stale
        else:
            assert 0 < len(committed) < len(added), "the kill should land after the first batch"
    else:
        assert layout in (base_layout, final_layout)
    assert all(layout[s] == (final_layout.get(s) or base_layout[s]) for s in layout)
    a = bot.answer(FERRY_Q)
    assert not a.refused and FERRY_PHRASE in a.text and a.sources[0].source == FERRY_SOURCE
    # Whatever vectors.faiss holds, the searches match the database (the source of truth).
    without_cache = copy_tree(index, tmp_path / "without-cache")
    (without_cache / store.FAISS_NAME).unlink(missing_ok=True)
    assert retrieval(bot) == retrieval(citechat.open_index(without_cache))

    # The next sync completes the job and ends exactly where a clean build does.
    rerun = citechat.build_index(docs, index)
    bot.reload()
    if change == "add":
        assert sorted(rerun.added) == sorted(set(added) - set(layout))
        assert rerun.embedded == sum(len(final_layout[s]) for s in rerun.added)  # nothing embedded twice
    assert by_source(bot) == final_layout
    assert retrieval(bot) == final_retrieval
    no_leftovers(index)
    assert store.load_snapshot(index, None).vectors.index.ntotal == bot.n_chunks


def test_a_rebuild_killed_after_the_swap_leaves_a_sound_index(base, clean_added, tmp_path):
    """A sync killed after its commits leaves a write-ahead log behind; a rebuild then replaces the database.
    Killed right after the swap, the old log must not be replayed into the new database."""
    docs, index = copy_base(base, tmp_path)
    write_ledgers(docs / "ledgers")
    first = run_fault("after-commit", docs, index)
    assert first.returncode == -signal.SIGKILL, first.stdout + first.stderr
    assert (index / (store.DB_NAME + "-wal")).stat().st_size > 0, "the killed sync should leave its log"

    result = run_fault("rebuild-swap", docs, index, "--rebuild")
    assert result.returncode == -signal.SIGKILL and "killed after the swap" in result.stdout, result.stderr

    conn = sqlite3.connect(index / store.DB_NAME)
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    conn.close()
    bot = citechat.open_index(index)
    assert by_source(bot) == clean_added[0]
    assert retrieval(bot) == clean_added[1]
    again = citechat.build_index(docs, index)
    assert again.embedded == 0 and again.added == again.removed == []
    no_leftovers(index)


# ---------------------------------------------------------------- two syncs in two processes


def lock_is_held(index: Path) -> bool:
    import fcntl

    if not (index / ".lock").exists():
        return False
    with open(index / ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
        return False


NO_WAIT_SYNC = r"""
import sys
from citechat.config import settings
from citechat.index.sync import SyncBusy, sync_index
try:
    sync_index(settings(docs_dir=sys.argv[1], index_dir=sys.argv[2]), wait=False)
except SyncBusy as exc:
    print("refused:", exc)
    sys.exit(3)
print("ran")
"""


def test_two_sync_processes_one_waits_and_the_index_stays_consistent(base, clean_added, tmp_path):
    docs, index = copy_base(base, tmp_path)
    write_ledgers(docs / "ledgers")
    command = [*citechat_command(), "index", "--docs", str(docs), "--index", str(index)]
    logs = {name: open(tmp_path / f"{name}.log", "w+") for name in ("first", "second")}
    first = subprocess.Popen(command, stdout=logs["first"], stderr=subprocess.STDOUT, env=subprocess_env())
    second = None
    try:
        # Observed from outside: the first sync holds the index lock. Freeze it there (SIGSTOP), so that the
        # second one certainly meets it, whatever the speed of the machine.
        wait_for(lambda: lock_is_held(index), "the first sync holds the lock", proc=first)
        os.kill(first.pid, signal.SIGSTOP)
        second = subprocess.Popen(command, stdout=logs["second"], stderr=subprocess.STDOUT, env=subprocess_env())
        wait_for(lambda: "waiting for it to finish" in (tmp_path / "second.log").read_text(), "the second sync waits",
                 proc=second)
        refused = subprocess.run([sys.executable, "-c", NO_WAIT_SYNC, str(docs), str(index)], capture_output=True,
                                 text=True, timeout=120, env=subprocess_env())
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "refused: Another sync is updating" in refused.stdout and "try again" in refused.stdout
        assert second.poll() is None  # still waiting
        os.kill(first.pid, signal.SIGCONT)
        assert first.wait(timeout=300) == 0
        assert second.wait(timeout=300) == 0
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait()
    out_first, out_second = ((tmp_path / f"{n}.log").read_text() for n in ("first", "second"))
    assert "8 added" in out_first
    assert "0 added, 0 updated, 0 removed" in out_second and "(0 chunks embedded" in out_second
    bot = citechat.open_index(index)
    assert_consistent(bot)
    assert by_source(bot) == clean_added[0]
    assert retrieval(bot) == clean_added[1]


# ---------------------------------------------------------------- a full disk


@pytest.fixture
def small_disk(tmp_path):
    """A real 16 MB filesystem (tmpfs) when this user may mount one, else None (the wrapper then injects the
    error a full disk gives)."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    if os.environ.get("CITECHAT_TEST_NO_MOUNT"):  # to exercise the fallback where mounting is not allowed
        yield None
        return
    try:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True,
                              timeout=30)
        mounted = done.returncode == 0
    except (OSError, subprocess.TimeoutExpired):  # no mount command, or not allowed
        mounted = False
    if not mounted:
        yield None
        return
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


@pytest.mark.parametrize("stage", ["sqlite", "faiss"])
def test_a_full_disk_gives_a_clear_error_and_keeps_the_index(stage, small_disk, base, base_layout, clean_added,
                                                             tmp_path):
    docs, index = copy_base(base, tmp_path, small_disk)
    added = write_ledgers(docs / "ledgers")
    fill = ["--fill", str(small_disk)] if small_disk else []

    result = run_fault(f"full-{stage}", docs, index, *fill)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "citechat: The disk is full" in result.stderr and "free some disk space" in result.stderr
    assert "Traceback" not in result.stderr and "--rebuild" not in result.stderr
    if small_disk:
        assert "disk filled" in result.stdout
    no_leftovers(index)

    # While the disk is still full, the index opens and answers from what was committed.
    bot = citechat.open_index(index)
    assert_consistent(bot)
    layout = by_source(bot)
    assert set(base_layout) <= set(layout) <= set(clean_added[0])
    assert all(layout[s] == clean_added[0][s] for s in layout)
    if stage == "faiss":
        assert set(layout) - set(base_layout) == set(added)  # committed; only the FAISS cache is behind
    a = bot.answer(FERRY_Q)
    assert not a.refused and FERRY_PHRASE in a.text

    # Space freed, the sync finishes the job.
    if small_disk:
        (small_disk / "filler.bin").unlink()
    citechat.build_index(docs, index)
    bot.reload()
    assert by_source(bot) == clean_added[0]
    assert retrieval(bot) == clean_added[1]
    no_leftovers(index)
