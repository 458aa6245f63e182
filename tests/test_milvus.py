"""What only the Milvus store has: Milvus' own BM25 and hybrid search, rebuilds behind an alias, steps readers
see whole, a server shared by several processes (`milvus-lite server` on loopback), and one-line errors for
every way of pointing at the wrong place. The index tests shared with the local store are in test_index.py."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

import citechat
from citechat.index.terms import tokenize
from citechat.index.stores.milvus import client as milvus_client, writer as milvus_writer
from conftest import COLLECTION_SOURCES, QUESTIONS, assert_consistent, run_cli, store_spec, write_collection

LIGHTHOUSE_Q = QUESTIONS[0][0]


@pytest.fixture
def lite_client(lite):
    """A client of the test's Milvus Lite database, shared with citechat's own in this process."""
    address = lite[2].partition(":")[2]
    yield milvus_client.connect(address)
    milvus_client.disconnect(address)


def layout(bot) -> list[tuple]:
    return sorted((c.source, c.ordinal, c.start, c.end, c.page, c.text) for c in bot.snapshot.all_chunks())


@pytest.fixture
def lite(tmp_path, embedder):
    """(docs_dir, index_dir, store spec) of the collection built into Milvus Lite."""
    docs = write_collection(tmp_path / "docs")
    spec = store_spec("milvus", tmp_path)
    citechat.build_index(docs, tmp_path / "index", store=spec)
    return docs, tmp_path / "index", spec


def test_lexical_search_is_milvus_bm25_and_hybrid_fuses_in_milvus(lite, lite_client):
    docs, index, spec = lite
    bot = citechat.open_index(index, store=spec)
    client = lite_client
    described = client.describe_collection("index")
    assert [(f["type"].name, f["input_field_names"], f["output_field_names"]) for f in described["functions"]] == [
        ("BM25", ["terms"], ["sparse"])
    ]
    terms = tokenize("whale oil keeper wicks")
    hits = bot.snapshot.lexical(terms, 5)
    assert hits and hits[0].chunk.source == "notes.txt" and "whale oil" in hits[0].chunk.text
    assert all(h.score > 0 for h in hits) and [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    # The candidates are Milvus' full-text search results over the same terms.
    found = client.search("index", data=[" ".join(terms)], anns_field="sparse", limit=5,
                          search_params={"metric_type": "BM25", "params": {}})
    assert {h.id for h in hits} <= {h["id"] for h in found[0]}

    fused = bot.snapshot.hybrid(bot.embedder.encode([LIGHTHOUSE_Q])[0], tokenize(LIGHTHOUSE_Q), 10)
    assert fused and fused[0].chunk.source == "notes.txt"
    assert all(h.dense is not None and h.lexical is not None for h in fused)
    assert [h.score for h in fused] == sorted((h.score for h in fused), reverse=True)


def test_a_rebuild_is_swapped_in_by_the_alias_and_readers_keep_their_build(lite, lite_client):
    docs, index, spec = lite
    client = lite_client
    assert client.describe_alias("index")["collection_name"] == "index_b1"
    reader = citechat.open_index(index, store=spec)
    before = layout(reader)

    (docs / "notes.txt").unlink()
    citechat.build_index(docs, index, store=spec, rebuild=True)
    assert client.describe_alias("index")["collection_name"] == "index_b2"
    # The reader opened before the rebuild still answers from the build it opened, whole.
    assert layout(reader) == before
    assert reader.retrieve(LIGHTHOUSE_Q, k=3)[0].source == "notes.txt"
    fresh = citechat.open_index(index, store=spec)
    assert "notes.txt" not in {d.source for d in fresh.documents}
    assert_consistent(fresh)

    citechat.build_index(docs, index, store=spec, rebuild=True)
    assert client.describe_alias("index")["collection_name"] == "index_b3"
    kept = {c for c in client.list_collections() if not c.endswith("_meta")}
    assert kept == {"index_b2", "index_b3"}  # the build before the previous one is dropped


def test_a_step_cut_short_is_never_seen_and_the_next_sync_finishes_it(lite, monkeypatch):
    docs, index, spec = lite
    bot = citechat.open_index(index, store=spec)
    before = layout(bot)
    (docs / "notes.txt").write_text("Grey Point Lighthouse Notes\n\nThe lamp now runs on solar panels.\n",
                                    encoding="utf-8")
    (docs / "guide.md").unlink()

    def cut_short(self, changes, generation):  # the new chunks are written, the commit never comes
        raise RuntimeError("cut short")

    monkeypatch.setattr(milvus_writer.MilvusWriter, "_count_terms", cut_short)
    with pytest.raises(RuntimeError, match="cut short"):
        citechat.build_index(docs, index, store=spec)
    bot.reload()
    assert layout(bot) == before
    assert_consistent(bot)

    monkeypatch.undo()
    report = citechat.build_index(docs, index, store=spec)
    assert report.removed == ["guide.md"] and report.updated == ["notes.txt"]
    bot.reload()
    assert {d.source for d in bot.documents} == set(COLLECTION_SOURCES) - {"guide.md"}
    assert any("solar panels" in c.text for c in bot.snapshot.all_chunks())
    assert not any("whale oil" in c.text for c in bot.snapshot.all_chunks())
    assert_consistent(bot)


def test_the_same_citations_as_the_local_store(lite, built_bot):
    docs, index, spec = lite
    bot = citechat.open_index(index, store=spec)
    for question, *_ in QUESTIONS:
        here, there = bot.answer(question), built_bot.answer(question)
        assert [(s.source, s.start, s.end) for s in here.sources] == [(s.source, s.start, s.end) for s in there.sources]
        for s in here.sources:
            assert (docs / s.source).suffix not in (".txt", ".md") or \
                open(docs / s.source, encoding="utf-8", newline="").read()[s.start : s.end] == s.text


def test_another_model_or_chunking_is_refused_with_the_rebuild_hint(lite, tmp_path):
    docs, index, spec = lite
    with pytest.raises(citechat.IndexMismatch, match="model=.*citechat index .*--rebuild"):
        citechat.open_index(index, store=spec, model=str(tmp_path / "some-other-model"))
    with pytest.raises(citechat.IndexMismatch, match="chunk_chars.*citechat index .*--rebuild"):
        citechat.build_index(docs, index, store=spec, chunk_chars=500)
    result = run_cli("ask", "--index", str(index), "--store", spec, LIGHTHOUSE_Q, CITECHAT_MODEL=str(tmp_path / "m"))
    assert result.returncode == 2, result.stderr
    assert_one_line(result.stderr, "--rebuild` to rebuild it")


def assert_one_line(stderr: str, phrase: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and phrase in lines[0] and "Traceback" not in stderr, stderr


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_bad_addresses_give_one_line_errors(tmp_path, embedder):
    docs = write_collection(tmp_path / "docs")
    black_hole = socket.socket()  # accepts connections and never answers
    black_hole.bind(("127.0.0.1", 0))
    black_hole.listen()
    cases = [
        ("bogus:x", "Unknown store"),
        ("milvus:", "needs an address"),
        ("milvus:index", "not a Milvus address"),
        (f"milvus:{tmp_path}/missing/x.db", "does not exist"),
        (f"milvus:{docs}/notes.txt.db", None),  # set below: a file, not a Milvus Lite folder
        ("milvus:http://127.0.0.1:1", "Cannot reach Milvus"),
        (f"milvus:http://127.0.0.1:{black_hole.getsockname()[1]}", "Cannot reach Milvus"),
    ]
    (docs / "notes.txt.db").write_text("not a database\n", encoding="utf-8")
    cases[4] = (cases[4][0], "is not a Milvus Lite database")
    for spec, phrase in cases:
        result = run_cli("index", "--docs", str(docs), "--index", str(tmp_path / "index"), "--store", spec,
                         MILVUS_CONN_TIMEOUT="2")
        assert result.returncode == 2, (spec, result.stdout, result.stderr)
        assert_one_line(result.stderr.replace(f"Indexing {docs} into {spec}\n", ""), phrase)
    black_hole.close()


def test_a_lite_database_is_used_by_one_process_at_a_time(lite):
    docs, index, spec = lite
    bot = citechat.open_index(index, store=spec)
    assert bot.retrieve(LIGHTHOUSE_Q, k=1)
    result = run_cli("ask", "--index", str(index), "--store", spec, LIGHTHOUSE_Q)
    assert result.returncode == 2
    assert_one_line(result.stderr, "open in another process")
    bot.close()
    result = run_cli("ask", "--index", str(index), "--store", spec, LIGHTHOUSE_Q)
    assert result.returncode == 0, result.stderr
    assert "notes.txt" in result.stdout


@pytest.fixture
def server(tmp_path):
    """A Milvus server on loopback (`milvus-lite server`: the Milvus Lite engine behind Milvus' gRPC API)."""
    port = free_port()
    command = Path(sys.executable).with_name("milvus-lite")
    proc = subprocess.Popen([str(command), "server", "--data-dir", str(tmp_path / "server.db"), "--host",
                             "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail("milvus-lite server did not start")
            time.sleep(0.2)
    yield f"milvus:http://127.0.0.1:{port}"
    proc.kill()
    proc.wait()


def test_a_server_is_shared_by_processes_and_readers_follow_new_syncs(tmp_path, server, embedder):
    docs = write_collection(tmp_path / "docs")
    result = run_cli("index", "--docs", str(docs), "--store", server, "--collection", "team_docs")
    assert result.returncode == 0, result.stderr
    bot = citechat.open_index(tmp_path / "anything", store=server, collection="team_docs")
    assert bot.store.shared and {d.source for d in bot.documents} == set(COLLECTION_SOURCES)
    assert bot.retrieve(LIGHTHOUSE_Q, k=3)[0].source == "notes.txt"
    assert bot.settings.docs_dir.resolve() == docs.resolve()  # the folder recorded with the index

    # Another process syncs a change; this reader serves it without being told.
    (docs / "guide.md").unlink()
    result = run_cli("index", "--store", server, "--collection", "team_docs", "--index", str(tmp_path / "x"))
    assert result.returncode == 0, result.stderr
    assert "removed: guide.md" in result.stdout
    time.sleep(1.1)  # a reader checks for a new generation at most once a second
    assert all(p.source != "guide.md" for p in bot.retrieve("How often should I feed my sourdough starter?", k=10))
    assert "guide.md" not in {d.source for d in bot.documents}
    assert_consistent(bot)

    result = run_cli("ask", "--store", server, "--collection", "team_docs", "--index", str(tmp_path / "x"),
                     LIGHTHOUSE_Q)
    assert result.returncode == 0, result.stderr
    assert "notes.txt" in result.stdout
