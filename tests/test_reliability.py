"""Reliability and security under bad input and faults: a folder of bad documents among good ones, syncs
killed (SIGKILL) at every stage, two syncs in two processes, a full disk, a damaged or tampered index.

Everything is real: the embedding model, SQLite, FAISS, files, processes and signals. The faults are made
from outside citechat: `tests/fault_sync.py` runs the real command line and patches one of citechat's
functions to kill its own process (or fill the disk) at the chosen moment; `tests/audited_cli.py` runs the
command line recording every file it opens and its peak memory. Nothing in citechat knows about either.

tests/test_index.py already covers a kill between two batch commits, a kill during a rebuild, damaged
vectors.faiss and chunks.sqlite files and a second sync refused in-process; this file covers the rest.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import signal
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

import citechat
from citechat.stores import local as store
from citechat.config import settings
from citechat.documents import load_document
from citechat.sync import sync_index
from conftest import (
    QUESTIONS,
    assert_consistent,
    by_source,
    citechat_command,
    copy_tree,
    subprocess_env,
    write_collection,
)
from bad_docs import tiny_name, tiny_question, write_bad_collection

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src" / "citechat"
# A question the base collection answers (the ferry timetable), asked after every fault.
FERRY_Q, FERRY_SOURCE, FERRY_PHRASE, _ = QUESTIONS[2]


# ---------------------------------------------------------------- helpers


def retrieval(bot) -> list[list[tuple]]:
    return [[(p.source, p.start, p.end) for p in bot.retrieve(q, k=4)] for q, *_ in QUESTIONS]


def copy_base(base, tmp_path: Path, index_home: Path | None = None) -> tuple[Path, Path]:
    """A writable copy of the base documents and index; the index is told about its new documents folder."""
    docs = copy_tree(base[0], tmp_path / "docs")
    index = copy_tree(base[1], (index_home or tmp_path) / "index")
    conn = sqlite3.connect(index / store.DB_NAME)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'docs_dir'", (str(docs.resolve()),))
    conn.close()
    return docs, index


def assert_cited_exactly(answer, docs_dir: Path) -> None:
    """Every source of the answer is exactly the text at its offsets in the document it names."""
    for s in answer.sources:
        text = load_document(docs_dir / s.source, s.source).text
        assert text[s.start : s.end] == s.text, (s.source, s.start, s.end)


def run_fault(point: str, docs: Path, index: Path, *extra: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HERE / "fault_sync.py"), point, str(docs), str(index), *extra],
        capture_output=True, text=True, timeout=timeout, env=subprocess_env(),
    )


def no_leftovers(index: Path) -> None:
    assert not (index / (store.FAISS_NAME + ".tmp")).exists()
    assert not list(index.glob(store.DB_NAME + ".new*"))


# Eight small generated documents of a few chunks each: several batches at the wrapper's 8-chunk batch size.
def write_ledgers(folder: Path, n: int = 8) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = []
    for i in range(n):
        paragraphs = [f"Harbour ledger {i}"]
        for j in range(6):
            paragraphs.append(
                f"In the year {1800 + 10 * i + j} the harbour of Pellinore {i} recorded {100 + 7 * j + i} "
                f"barrels of salt herring for ledger entry {i}.{j}. The clerk that season was named "
                f"Aldous{i}x{j}, and the tide book notes {j + 2} storms. Wool, tar and rope were weighed "
                f"on the quay scales before dawn, as the harbour rules of {1790 + i} required."
            )
        name = f"ledgers/ledger-{i}.txt"
        (folder / f"ledger-{i}.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
        names.append(name)
    return names


@pytest.fixture(scope="module")
def base(tmp_path_factory, embedder):
    """(docs, index) of the five-format collection, built once. Copy before changing."""
    root = tmp_path_factory.mktemp("base")
    docs = write_collection(root / "docs")
    citechat.build_index(docs, root / "index")
    return docs, root / "index"


@pytest.fixture(scope="module")
def base_layout(base):
    return by_source(citechat.open_index(base[1]))


def clean_build(base, root: Path, change) -> tuple[dict, list]:
    """A clean build of the base collection after change(docs): what every interrupted sync must end as."""
    docs = copy_tree(base[0], root / "docs")
    change(docs)
    citechat.build_index(docs, root / "index", rebuild=True)
    bot = citechat.open_index(root / "index")
    return by_source(bot), retrieval(bot)


@pytest.fixture(scope="module")
def clean_added(base, tmp_path_factory):
    """The base collection plus the ledgers."""
    return clean_build(base, tmp_path_factory.mktemp("clean-added"), lambda docs: write_ledgers(docs / "ledgers"))


@pytest.fixture(scope="module")
def clean_removed(base, tmp_path_factory):
    """The base collection without guide.md."""
    return clean_build(base, tmp_path_factory.mktemp("clean-removed"), lambda docs: (docs / "guide.md").unlink())


# ---------------------------------------------------------------- bad documents


@pytest.fixture(scope="module")
def bad(tmp_path_factory, embedder):
    """The bad collection, indexed by the real command line in its own process (audited)."""
    root = tmp_path_factory.mktemp("bad")
    collection = write_bad_collection(root / "docs", root / "outside")
    audit = root / "audit.json"
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(HERE / "audited_cli.py"), str(audit), "--",
         "index", "--docs", str(root / "docs"), "--index", str(root / "index")],
        capture_output=True, text=True, timeout=900, env=subprocess_env(), errors="replace",
    )
    print(f"bad collection indexed in {time.perf_counter() - started:.1f}s")
    assert result.returncode == 0, result.stderr[-3000:]
    return root, collection, result, json.loads(audit.read_text())


def reported_skips(stderr: str) -> list[tuple[str, str]]:
    """(source, reason) of every "skipped SOURCE: REASON" line (progress bars share the stream)."""
    found = []
    for line in re.split(r"[\r\n]", stderr):
        m = re.search(r"skipped (.+?): (.+)$", line)
        if m:
            found.append((m.group(1), m.group(2)))
    return found


def test_bad_files_are_reported_once_each_with_the_reason(bad):
    root, collection, result, _ = bad
    skips = reported_skips(result.stderr)
    counts = Counter(source for source, _ in skips)
    expected = {b.source for b in collection.bad}
    assert set(counts) == expected, (set(counts) ^ expected)
    assert all(n == 1 for n in counts.values()), counts
    reasons = dict(skips)
    for b in collection.bad:
        assert b.reason.lower() in reasons[b.source].lower(), (b.source, reasons[b.source])
    n_good = len(collection.good) + len(collection.tiny) + 1
    assert f"{n_good} added, 0 updated, 0 removed, 0 unchanged, {len(expected)} skipped" in result.stdout
    assert "Traceback" not in result.stderr


def test_every_good_file_is_indexed_and_answerable(bad, embedder):
    root, collection, _, _ = bad
    docs = root / "docs"
    bot = citechat.open_index(root / "index")
    sources = {d.source for d in bot.documents}
    assert sources == {g.source for g in collection.good} | set(collection.tiny) | {collection.long_line}
    assert_consistent(bot)
    for g in collection.good:
        a = bot.answer(g.question)
        assert not a.refused, (g.source, a.text)
        assert g.phrase in a.text, (g.source, a.text)
        assert g.source in {s.source for s in a.sources}, (g.source, [s.source for s in a.sources])
        assert_cited_exactly(a, docs)
    for i in (0, 1234, len(collection.tiny) - 1):
        question, phrase = tiny_question(i)
        a = bot.answer(question)
        assert not a.refused and phrase in a.text, (question, a.text)
        assert a.sources[0].source == tiny_name(i)


def test_awkward_text_is_kept_exactly(bad):
    root, collection, _, _ = bad
    bot = citechat.open_index(root / "index")
    chunks = by_source(bot)
    texts = {source: " ".join(c[4] for c in items) for source, items in chunks.items()}
    assert "שלום" in texts["rtl and emoji.txt"] and "📚" in texts["rtl and emoji.txt"]
    assert "مكتبة تامسين" in texts["rtl and emoji.txt"]
    assert "Renée Müller" in texts["mixed encodings.txt"] and "Saint-Étienne" in texts["mixed encodings.txt"]
    html = texts["deep markup.html"]
    assert "Harrowgate tunnel" in html
    for marker in ("SCRIPTMARKER", "STYLEMARKER", "NOSCRIPTMARKER", "<section>", "<span>"):
        assert marker not in html
    # The 2 MB line is cut into pieces of at most 1000 characters that cover it exactly.
    line = (root / "docs" / collection.long_line).read_text(encoding="utf-8")
    pieces = chunks[collection.long_line]
    assert len(pieces) >= len(line) // 1000
    assert all(len(text) <= 1000 and line[start:end] == text for _, start, end, _, text in pieces)
    assert "".join(line[start:end] for _, start, end, _, _ in pieces).replace(" ", "") == line.replace(" ", "")
    hit = bot.retrieve(collection.long_line_marker, k=1)[0]
    assert hit.source == collection.long_line and collection.long_line_marker in hit.text


def test_nothing_outside_the_documents_folder_is_read(bad):
    root, collection, _, audit = bad
    opened = {os.path.realpath(p) for p in audit["opened"]}
    listed = {os.path.realpath(p) for p in audit["listed"]}
    outside = os.path.realpath(root / "outside")
    assert not [p for p in opened | listed if p == outside or p.startswith(outside + os.sep)]
    for path in collection.outside + collection.never_opened:
        assert os.path.realpath(path) not in opened
    assert os.path.realpath(root / "docs" / "field notes with spaces.txt") in opened  # the audit does see reads
    bot = citechat.open_index(root / "index")
    assert not [c for c in bot.snapshot.chunks if "vault code" in c.text or "Tarrow" in c.text]


# The sync's own working memory on top of the loaded model: one batch of full-length texts through the model
# (~100-150 MB of activations) plus the documents of one batch. The collection is ~200 MB on disk (a 50 MB
# text file, 128 MB of binary "text" files, 5,009 documents to index); none of that may be held at once.
MAX_ADDED_MB = 300


def test_memory_stays_bounded(bad):
    root, collection, _, audit = bad
    added_mb = (audit["peak_kb"] - audit["baseline_kb"]) / 1024
    on_disk_mb = sum(f.stat().st_size for f in (root / "docs").rglob("*") if f.is_file() and not f.is_symlink()) / 2**20
    print(f"peak memory: {audit['baseline_kb'] / 1024:.0f} MB with the model loaded, +{added_mb:.0f} MB while "
          f"indexing {on_disk_mb:.0f} MB of files")
    assert on_disk_mb > 150
    assert added_mb < MAX_ADDED_MB


def test_a_second_sync_of_the_bad_collection_changes_nothing(bad, tmp_path):
    root, collection, _, _ = bad
    index = copy_tree(root / "index", tmp_path / "index")
    notes = []
    report = sync_index(settings(docs_dir=root / "docs", index_dir=index), notify=notes.append)
    assert report.embedded == 0 and report.added == report.updated == report.removed == []
    assert len(report.unchanged) == len(collection.good) + len(collection.tiny) + 1
    assert Counter(s.source for s in report.skipped) == Counter(b.source for b in collection.bad)
    assert len([n for n in notes if n.startswith("skipped ")]) == len(collection.bad)


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
    change, marker = KILL_POINTS[point]
    docs, index = copy_base(base, tmp_path)
    if change == "add":
        added = write_ledgers(docs / "ledgers")
        final_layout, final_retrieval = clean_added
    else:
        (docs / "guide.md").unlink()
        final_layout, final_retrieval = clean_removed

    result = run_fault(point, docs, index)
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
    assert store.load_snapshot(index, None).vectors.ntotal == bot.n_chunks


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


def wait_for(condition, what: str, timeout: float = 120, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the process ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)


NO_WAIT_SYNC = r"""
import sys
from citechat.config import settings
from citechat.sync import SyncBusy, sync_index
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


# ---------------------------------------------------------------- a damaged or tampered index


def restamp(index: Path) -> None:
    """Record the current vectors.faiss as valid, as someone tampering with both files would."""
    conn = sqlite3.connect(index / store.DB_NAME)
    generation = conn.execute("SELECT value FROM meta WHERE key = 'generation'").fetchone()[0]
    digest = store.sha256_of(index / store.FAISS_NAME)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'faiss_stamp'", (f"{generation}:{digest}",))
    conn.close()


def _faiss_ntotal_huge(data: bytearray) -> None:
    data[8:16] = struct.pack("<q", 10**15)


def _faiss_codes_size(data: bytearray) -> None:
    data[37:45] = struct.pack("<Q", 2**62)


def _faiss_other_type(data: bytearray) -> None:
    data[0:4] = b"IHNf"  # an HNSW index header over flat data


def _faiss_half(data: bytearray) -> None:
    del data[len(data) // 2 :]


@pytest.mark.parametrize("tamper", [_faiss_ntotal_huge, _faiss_codes_size, _faiss_other_type, _faiss_half],
                         ids=["ntotal", "codes-size", "index-type", "truncated"])
def test_a_tampered_faiss_file_with_a_matching_stamp_is_rebuilt_from_the_database(tamper, base, tmp_path):
    index = copy_tree(base[1], tmp_path / "index")
    expected = retrieval(citechat.open_index(base[1]))
    data = bytearray((index / store.FAISS_NAME).read_bytes())
    assert data[:4] == b"IxFI"
    tamper(data)
    (index / store.FAISS_NAME).write_bytes(bytes(data))
    restamp(index)
    bot = citechat.open_index(index)
    assert retrieval(bot) == expected
    report = citechat.build_index(base[0], index)
    assert report.embedded == 0
    assert store.load_snapshot(index, None).vectors.ntotal == bot.n_chunks


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


# ---------------------------------------------------------------- serving


def test_serving_beyond_loopback_without_a_password_is_refused(tmp_path):
    env = subprocess_env()
    env.pop("CITECHAT_AUTH", None)
    result = subprocess.run([*citechat_command(), "serve", "--host", "0.0.0.0", "--port", "1", "--index",
                             str(tmp_path / "none"), "--docs", str(tmp_path)], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode != 0
    assert "refusing to serve on 0.0.0.0" in result.stderr + result.stdout
    assert "--auth" in result.stderr + result.stdout and "Traceback" not in result.stderr
    assert not (tmp_path / "none").exists()  # refused before anything was built


class _EchoingLLMServer(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that refuses every key and quotes it back, as some servers do."""

    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"error": {"message": f"Incorrect API key provided: {self.headers.get('Authorization')}",
                                     "type": "invalid_request_error", "code": "invalid_api_key"}}).encode()
        self.send_response(401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def test_an_llm_key_is_never_shown_or_logged(base, tmp_path):
    import httpx
    from gradio_client import Client

    from ui_helpers import chromium, free_port, open_page

    key = "sk-test-NEVER-SHOW-4242"
    llm = ThreadingHTTPServer(("127.0.0.1", 0), _EchoingLLMServer)
    threading.Thread(target=llm.serve_forever, daemon=True).start()
    env = subprocess_env(CITECHAT_LLM="openai:some-model", CITECHAT_LLM_API_KEY=key,
                         CITECHAT_LLM_BASE_URL=f"http://127.0.0.1:{llm.server_address[1]}/v1")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        server = subprocess.Popen([*citechat_command(), "serve", "--docs", str(base[0]), "--index", str(base[1]),
                                   "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        def up() -> bool:
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, "the app serves", proc=server)
        with pytest.raises(Exception) as failed:
            Client(url, verbose=False).predict(FERRY_Q, api_name="/ask")
        assert "Incorrect API key provided" in str(failed.value) and "***" in str(failed.value)
        assert key not in str(failed.value)
        assert key not in httpx.get(url + "config", timeout=10).text
        with chromium() as browser:
            page = open_page(browser, url)
            page.locator("#question textarea").fill(FERRY_Q)
            page.locator("#ask").click()
            from playwright.sync_api import expect

            expect(page.locator("#chat")).to_contain_text("did not answer", timeout=60_000)
            assert key not in page.content() and "Incorrect API key provided" in page.locator("#chat").inner_text()
            page.context.close()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert "/ask failed" in log.read_text() and key not in log.read_text()
    try:
        cli = subprocess.run([*citechat_command(), "ask", FERRY_Q, "--docs", str(base[0]), "--index",
                              str(base[1])], capture_output=True, text=True, timeout=180, env=env)
    finally:
        llm.shutdown()
        llm.server_close()
    assert cli.returncode == 2 and "Incorrect API key provided" in cli.stderr
    assert key not in cli.stdout + cli.stderr and "Traceback" not in cli.stderr
