"""The local store as it works on large indexes, tried on small ones: the approximate vector index (chosen above
CITECHAT_EXACT_SEARCH_BELOW chunks, here set to 10) finds what exact search finds, follows adds, changes and
deletes with exact spans, and every snapshot keeps reading its own generation while newer ones are committed
and loaded in the same process."""

from __future__ import annotations

import pytest

import citechat
from citechat.config import settings
from citechat.index.sync import sync_index
from conftest import QUESTIONS, write_collection
from index_helpers import file_text

APPROXIMATE = "10"


@pytest.fixture
def approximate(monkeypatch):
    monkeypatch.setenv("CITECHAT_EXACT_SEARCH_BELOW", APPROXIMATE)


def build(tmp_path, name: str, embedder):
    docs = write_collection(tmp_path / name / "docs")
    for i in range(40):  # enough chunks for several lists in the approximate index
        (docs / f"log-{i:02d}.txt").write_text(
            f"Harbour log {i}\n\nOn day {i} the harbour of Pellinore counted {100 + i} barrels of herring and "
            f"{i + 3} storms.\n\nThe quay scales weighed wool and tar for ledger entry {i}.\n", encoding="utf-8")
    s = settings(docs_dir=docs, index_dir=tmp_path / name / "index")
    sync_index(s, embedder=embedder)
    return docs, s


def test_the_approximate_index_finds_the_top_hit_of_exact_search(tmp_path, embedder, monkeypatch):
    docs, exact = build(tmp_path, "exact", embedder)
    monkeypatch.setenv("CITECHAT_EXACT_SEARCH_BELOW", APPROXIMATE)
    _, approx = build(tmp_path, "approximate", embedder)
    exact_bot, approx_bot = citechat.open_index(exact.index_dir), citechat.open_index(approx.index_dir)
    assert approx_bot.snapshot.vectors.kind == "ivf" and exact_bot.snapshot.vectors.kind == "flat"
    for question, *_ in QUESTIONS:
        top = exact_bot.retrieve(question, k=1, mode="dense")[0]
        found = approx_bot.retrieve(question, k=1, mode="dense")[0]
        assert (found.source, found.start, found.score) == (top.source, top.start, pytest.approx(top.score, abs=1e-4))


def test_a_sync_above_the_threshold_adds_changes_and_deletes_exactly(tmp_path, embedder, approximate):
    docs, s = build(tmp_path, "index", embedder)
    bot = citechat.open_index(s.index_dir)
    (docs / "notes.txt").write_text("The lighthouse was painted green in 2024 by the keeper Ada Lovell.\n",
                                    encoding="utf-8")
    (docs / "guide.md").unlink()
    (docs / "ferry-news.md").write_text("# Ferry news\n\nThe new ferry to Kessel is called the Marten.\n",
                                        encoding="utf-8")
    report = bot.sync()
    assert report.added == ["ferry-news.md"] and report.updated == ["notes.txt"] and report.removed == ["guide.md"]
    assert bot.snapshot.vectors.kind == "ivf"
    for question, source, phrase in (("Who painted the lighthouse green?", "notes.txt", "Ada Lovell"),
                                     ("What is the new ferry called?", "ferry-news.md", "Marten")):
        for mode in ("dense", "lexical", "hybrid"):
            hit = bot.retrieve(question, k=1, mode=mode)[0]
            assert hit.source == source and phrase in hit.text, (mode, hit)
            assert file_text(docs / source)[hit.start : hit.end] == hit.text
    sourdough = "How often should I feed my sourdough starter?"
    assert all(p.source != "guide.md" for mode in ("dense", "lexical") for p in bot.retrieve(sourdough, k=50, mode=mode))
    assert bot.n_chunks == sum(d.n_chunks for d in bot.documents)


def test_an_older_snapshot_keeps_its_generation_while_newer_ones_are_loaded(tmp_path, embedder, approximate):
    docs, s = build(tmp_path, "index", embedder)
    bot = citechat.open_index(s.index_dir)
    older = bot.snapshot
    sourdough = "How often should I feed my sourdough starter?"
    vector = bot.embedder.encode([sourdough])[0]
    before = [(h.chunk.source, h.chunk.start) for h in older.dense(vector, 5)]
    assert before[0][0] == "guide.md"
    (docs / "guide.md").unlink()
    (docs / "more.txt").write_text("Feed the starter with rye flour twice a day, said the baker.\n", encoding="utf-8")
    bot.sync()  # a newer generation, loaded in this process beside the older snapshot still held here
    assert [(h.chunk.source, h.chunk.start) for h in older.dense(vector, 5)] == before  # its own generation
    assert {h.chunk.source for h in older.lexical(["sourdough"], 5)} == {"guide.md"}
    newer = [h.chunk.source for h in bot.snapshot.dense(vector, 5)]
    assert "guide.md" not in newer and "more.txt" in newer and len(newer) == 5  # the removed ones made up for
    del older  # once no snapshot reads the removed vectors, they leave the shared index
    bot.reload()
    assert bot.snapshot.vectors.index.ntotal == bot.n_chunks
