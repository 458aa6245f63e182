"""A sync or a rebuild killed mid-way, in a real process on each store: nothing is lost, the old index stays
usable, and the next sync completes; an index remembers its documents folder."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import citechat
from citechat.index.stores import local as store
from conftest import (
    assert_consistent,
    citechat_command,
    subprocess_env,
)
from index_helpers import LIGHTHOUSE_Q, chunks_of, layout


# ---------------------------------------------------------------- killed in the middle of a sync

# The real sync with a small batch, so that it commits every few documents and a kill lands between
# commits. It announces each batch before embedding it: the second announcement means the first batch
# is committed.
SYNC_SCRIPT = r"""
import sys
from citechat.index import sync
from citechat.config import settings
sync.BATCH_CHUNKS = 16
def progress(stage, done, total):
    if stage == "embedding" and done == 0:
        print("embedding a batch of", total, flush=True)
report = sync.sync_index(settings(docs_dir=sys.argv[1], index_dir=sys.argv[2]), progress=progress)
print("finished:", report.summary(), flush=True)
"""

N_GENERATED_FILES = 30
PARAGRAPHS_PER_FILE = 10

_PLACES = ["Arden", "Bexley", "Corrin", "Dunmore", "Elsworth", "Farrow", "Glenmoor", "Holt", "Ivybridge", "Jarrow"]
_THINGS = ["grain store", "wool market", "tannery", "mill race", "toll bridge", "salt works", "brewery", "quarry"]
_VERBS = ["recorded", "reported", "shipped", "lost", "repaired", "taxed", "counted", "sold"]


def write_generated(folder: Path) -> int:
    """A few hundred distinct generated paragraphs in N_GENERATED_FILES files; returns the paragraph count."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(N_GENERATED_FILES):
        rng = random.Random(i)
        paragraphs = [f"Parish ledger {i}"]
        for j in range(PARAGRAPHS_PER_FILE):
            paragraphs.append(" ".join(
                f"In year {1700 + 10 * i + j} the {rng.choice(_THINGS)} of {rng.choice(_PLACES)} "
                f"{rng.choice(_VERBS)} {rng.randint(2, 999)} loads for entry {i}.{j}.{k}."
                for k in range(3)
            ))
        (folder / f"ledger-{i:02d}.txt").write_text("\n\n".join(paragraphs) + "\n", encoding="utf-8")
    return N_GENERATED_FILES * PARAGRAPHS_PER_FILE


def run_and_kill(cmd: list[str], log: Path, ready, timeout: float = 150) -> str:
    """Start cmd, wait until ready(output) is true, then kill -9 it; returns its output."""
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=subprocess_env())
    try:
        deadline = time.monotonic() + timeout
        while not ready(log.read_text(errors="replace")):
            if proc.poll() is not None:
                pytest.fail(f"the sync ended (exit {proc.returncode}) before it could be killed:\n{log.read_text()}")
            if time.monotonic() > deadline:
                pytest.fail(f"the sync did not reach the point to kill it in {timeout}s:\n{log.read_text()}")
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    output = log.read_text(errors="replace")
    assert proc.returncode == -signal.SIGKILL, f"the sync was not killed mid-way:\n{output}"
    assert "finished" not in output
    return output


def test_a_sync_killed_mid_way_loses_nothing(docs, tmp_path, embedder, on_store):
    index = tmp_path / "index"
    base = citechat.build_index(docs, index)
    assert write_generated(docs / "ledgers") >= 200

    run_and_kill(
        [sys.executable, "-c", SYNC_SCRIPT, str(docs), str(index)],
        tmp_path / "sync.log",
        ready=lambda output: output.count("embedding a batch") >= 2,
    )

    # The index opens at the last committed batch and still answers the old question.
    bot = citechat.open_index(index)
    committed = bot.n_documents - base.documents
    assert 0 < committed < N_GENERATED_FILES, "the kill should land between the first and the last batch"
    assert bot.retrieve(LIGHTHOUSE_Q, k=3)[0].source == "notes.txt"
    assert_consistent(bot)

    # Running the sync again finishes the job, embedding only the documents that were not committed.
    rerun = citechat.build_index(docs, index)
    assert len(rerun.added) == N_GENERATED_FILES - committed
    assert len(rerun.unchanged) == base.documents + committed
    assert rerun.updated == rerun.removed == []
    bot.reload()
    assert rerun.embedded == sum(len(chunks_of(bot, source)) for source in rerun.added)
    assert_consistent(bot)

    # Same chunks as a clean rebuild into another folder: none lost, none doubled.
    clean = citechat.build_index(docs, tmp_path / "clean", rebuild=True)
    assert rerun.chunks == clean.chunks == bot.n_chunks
    assert rerun.documents == clean.documents == base.documents + N_GENERATED_FILES
    assert layout(bot) == layout(citechat.open_index(tmp_path / "clean"))
    hit = bot.retrieve("In year 1735 what happened for entry 3.5.0?", k=5)
    assert any("entry 3.5.0" in p.text for p in hit)


def test_a_rebuild_killed_mid_way_leaves_the_old_index_usable(docs, tmp_path, embedder, on_store):
    index = tmp_path / "index"
    write_generated(docs / "ledgers")
    first = citechat.build_index(docs, index)
    reader = citechat.open_index(index)
    before = layout(reader)
    reader.close()  # Milvus Lite: one process at a time

    output = run_and_kill(
        [*citechat_command(), "index", "--rebuild", "--docs", str(docs), "--index", str(index)],
        tmp_path / "rebuild.log",
        ready=lambda output: "embedding:" in output,  # the progress bar of the embedding stage
    )
    assert "Indexing" in output
    assert rebuild_unfinished(index, on_store), "the kill should land while the new index is written"

    bot = citechat.open_index(index)
    assert layout(bot) == before
    assert bot.retrieve(LIGHTHOUSE_Q, k=3)[0].source == "notes.txt"
    again = citechat.build_index(docs, index)  # an ordinary sync still works and has nothing to do
    assert again.embedded == 0 and again.chunks == first.chunks

    redo = citechat.build_index(docs, index, rebuild=True)
    assert redo.chunks == first.chunks and redo.embedded == first.chunks
    assert not rebuild_unfinished(index, on_store)
    assert layout(citechat.open_index(index)) == before


def rebuild_unfinished(index: Path, spec: str) -> bool:
    """Is a rebuild's new index written beside the one in use?"""
    if spec == "local":
        return bool(list(index.glob(store.DB_NAME + ".new*")))
    from citechat.index.stores.milvus.client import connect, disconnect

    address = spec.partition(":")[2]
    client = connect(address)
    try:
        served = client.describe_alias(index.name)["collection_name"]
        return any(c > served and not c.endswith("_meta") for c in client.list_collections())
    finally:
        disconnect(address)


def test_an_index_remembers_its_documents_folder(docs, tmp_path, embedder, on_store):
    index = tmp_path / "index"
    citechat.build_index(docs, index)
    before = citechat.open_index(index)
    assert before.settings.docs_dir.resolve() == docs.resolve()

    other = tmp_path / "other"
    other.mkdir()
    (other / "lone.txt").write_text("A lone file about lighthouses.\n", encoding="utf-8")
    with pytest.raises(citechat.IndexMismatch, match="--rebuild"):
        citechat.build_index(other, index)
    # Syncing without naming a folder uses the one the index was built from; nothing is removed.
    report = citechat.build_index(index_dir=index)
    assert report.removed == [] and report.documents == before.n_documents
