"""The index end to end: real files, the real embedding model, real FAISS and SQLite, real crashes."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections import Counter
from pathlib import Path

import pytest

import citechat
from citechat.index.stores import local as store
from citechat.config import settings
from citechat.index import sync as sync_module
from citechat.index.sync import TRUST_AFTER_NS, SyncBusy, file_signature, sync_index, sync_lock
from index_helpers import LIGHTHOUSE_Q, chunks_of, file_text, layout
from conftest import (
    COLLECTION_SOURCES,
    QUESTIONS,
    STORES,
    TEXT_SOURCES,
    assert_consistent,
    copy_tree,
    store_spec,
    write_collection,
)



@pytest.fixture(scope="module", params=STORES)
def indexed(request, tmp_path_factory, embedder):
    """(docs_dir, index_dir, report, bot) of the collection indexed once per store. Read-only."""
    if request.param == "local":
        return (*request.getfixturevalue("built"), request.getfixturevalue("built_bot"))
    root = tmp_path_factory.mktemp("built-milvus")
    docs_dir = write_collection(root / "docs")
    spec = store_spec("milvus", root)
    report = citechat.build_index(docs_dir, root / "index", store=spec)
    return docs_dir, root / "index", report, citechat.open_index(root / "index", store=spec)


@pytest.fixture
def indexed_bot(indexed):
    return indexed[3]


# ---------------------------------------------------------------- a fresh build


def test_build_reports_every_document(indexed, indexed_bot):
    _, _, report, _ = indexed
    assert report.added == COLLECTION_SOURCES
    assert report.updated == report.removed == report.unchanged == report.skipped == []
    assert report.documents == len(COLLECTION_SOURCES) == indexed_bot.n_documents
    assert report.chunks == indexed_bot.n_chunks
    assert report.embedded == report.chunks  # every chunk embedded exactly once
    assert len(chunks_of(indexed_bot, "notes.txt")) >= 2  # the long file really is split
    assert_consistent(indexed_bot)


@pytest.mark.parametrize("question, source, phrase, page", QUESTIONS, ids=[q[1] + ":" + q[2] for q in QUESTIONS])
def test_paraphrased_question_finds_the_right_passage(indexed_bot, question, source, phrase, page):
    passages = indexed_bot.retrieve(question, k=3)
    assert passages, "no passage retrieved"
    assert passages[0].source == source, [(p.source, p.text[:60]) for p in passages]
    hits = [p for p in passages if p.source == source and phrase in p.text]
    assert hits, f"no top-3 passage from {source} contains {phrase!r}"
    assert hits[0].page == page
    scores = [p.score for p in passages]
    assert scores == sorted(scores, reverse=True)


def test_text_passages_point_at_the_exact_characters_of_the_file(indexed, indexed_bot):
    docs_dir = indexed[0]
    checked = 0
    for source in TEXT_SOURCES:
        content = file_text(docs_dir / source)
        for c in chunks_of(indexed_bot, source):
            assert content[c.start : c.end] == c.text
            checked += 1
    for question in (QUESTIONS[0][0], QUESTIONS[1][0]):
        for p in indexed_bot.retrieve(question, k=indexed_bot.n_chunks):
            if p.source in TEXT_SOURCES:
                assert file_text(docs_dir / p.source)[p.start : p.end] == p.text
                checked += 1
    assert checked > len(TEXT_SOURCES)


def test_titles_come_from_each_format(indexed_bot):
    titles = {d.source: d.title for d in indexed_bot.documents}
    assert titles == {
        "notes.txt": "Grey Point Lighthouse Notes",
        "guide.md": "Sourdough Starter Guide",
        "ferry.html": "Kessel Island Ferry Timetable",
        "report.pdf": "Regional Industry Report",
        "minutes.docx": "Elm Street Council Minutes",
    }
    for p in indexed_bot.retrieve("ferry timetable and lighthouse history", k=10):
        assert p.title == titles[p.source]


def test_pdf_passages_carry_page_numbers(indexed_bot):
    pages = {c.page for c in chunks_of(indexed_bot, "report.pdf")}
    assert pages == {1, 2}
    assert all(c.page is None for c in indexed_bot.snapshot.all_chunks() if c.source != "report.pdf")
    for c in chunks_of(indexed_bot, "report.pdf"):
        assert ("Brastow" in c.text) == (c.page == 2)
        assert ("Valdoria" in c.text) == (c.page == 1)


def test_html_scripts_and_styles_are_not_indexed(indexed_bot):
    for c in indexed_bot.snapshot.all_chunks():
        for marker in ("XYZZY", "SCRIPT-MARKER", "secretToken", "plumcolor", "document.write", "<p>"):
            assert marker not in c.text
    for p in indexed_bot.retrieve("XYZZY-SCRIPT-MARKER secretToken plumcolor", k=10):
        assert "XYZZY" not in p.text


# ---------------------------------------------------------------- incremental sync


def test_incremental_sync_embeds_only_what_changed(docs, tmp_path, embedder, on_store):
    index = tmp_path / "index"
    s = settings(docs_dir=docs, index_dir=index)
    stages = []
    first = sync_index(s, embedder=embedder, progress=lambda stage, done, total: stages.append(stage))
    assert {"reading", "embedding"} <= set(stages)
    assert first.embedded == first.chunks > 0

    # Nothing changed (a touched file has the same content): nothing is embedded.
    os.utime(docs / "guide.md", (time.time() + 10, time.time() + 10))
    second = sync_index(s, embedder=embedder)
    assert second.embedded == 0
    assert second.unchanged == COLLECTION_SOURCES
    assert second.added == second.updated == second.removed == second.skipped == []
    assert (second.chunks, second.documents) == (first.chunks, first.documents)

    bot = citechat.open_index(index, docs)
    before = layout(bot)

    # Add one file: only its chunks are embedded.
    (docs / "extra").mkdir()
    (docs / "extra" / "beekeeping.md").write_text(
        "# Beekeeping Diary\n\nOur three hives produced eleven kilograms of heather honey this August.\n\n"
        + "The queen in the second hive was replaced in June after the colony swarmed twice. " * 12,
        encoding="utf-8",
    )
    third = sync_index(s, embedder=embedder)
    assert third.added == ["extra/beekeeping.md"]
    assert third.updated == third.removed == []
    assert len(third.unchanged) == len(COLLECTION_SOURCES)

    assert bot.n_chunks == first.chunks  # an open bot keeps serving its generation until reloaded
    bot.reload()
    new_chunks = chunks_of(bot, "extra/beekeeping.md")
    assert len(new_chunks) >= 2
    assert third.embedded == len(new_chunks)
    assert third.chunks == first.chunks + len(new_chunks) == bot.n_chunks
    assert {d.source: d.n_chunks for d in bot.documents}["extra/beekeeping.md"] == len(new_chunks)
    assert [row for row in layout(bot) if row[0] != "extra/beekeeping.md"] == before
    top = bot.retrieve("How much honey did the hives make?", k=3)
    assert top[0].source == "extra/beekeeping.md" and "eleven kilograms" in top[0].text

    # Change one file: the old text is gone from every passage, the new text is found.
    old_sentence = "For its first fifty years the lamp burned whale oil."
    notes = (docs / "notes.txt").read_bytes()
    assert old_sentence.encode() in notes
    (docs / "notes.txt").write_bytes(
        notes.replace(old_sentence.encode(), b"Since 2019 the lamp has been powered by solar panels on the gallery roof.")
    )
    fourth = sync_index(s, embedder=embedder)
    assert fourth.updated == ["notes.txt"] and fourth.added == fourth.removed == []
    bot.reload()
    assert fourth.embedded == len(chunks_of(bot, "notes.txt"))
    assert not any("whale oil" in c.text for c in bot.snapshot.all_chunks())
    for p in bot.retrieve("What fuel did the lighthouse lamp burn in its early years? whale oil", k=bot.n_chunks):
        assert "whale oil" not in p.text
    top = bot.retrieve("What powers the lighthouse lamp today?", k=3)
    assert any(p.source == "notes.txt" and "solar panels" in p.text for p in top)
    content = file_text(docs / "notes.txt")
    for c in chunks_of(bot, "notes.txt"):
        assert content[c.start : c.end] == c.text  # offsets refer to the new version
    assert_consistent(bot)

    # Delete one file through the bot: its chunks are gone and the bot serves the new generation at once.
    n_docs, n_chunks = bot.n_documents, bot.n_chunks
    guide_chunks = len(chunks_of(bot, "guide.md"))
    (docs / "guide.md").unlink()
    fifth = bot.sync()
    assert fifth.removed == ["guide.md"] and fifth.embedded == 0
    assert bot.n_documents == n_docs - 1 == fifth.documents
    assert bot.n_chunks == n_chunks - guide_chunks == fifth.chunks
    assert "guide.md" not in {d.source for d in bot.documents}
    assert not chunks_of(bot, "guide.md")
    assert all(p.source != "guide.md" for p in bot.retrieve("How often should I feed my sourdough starter?", k=10))
    assert_consistent(bot)

    # A renamed file is removed under its old name and added under the new one.
    (docs / "minutes.docx").rename(docs / "council.docx")
    sixth = bot.sync()
    assert sixth.removed == ["minutes.docx"] and sixth.added == ["council.docx"]
    assert sixth.embedded == len(chunks_of(bot, "council.docx"))


def test_unchanged_files_are_not_read_again_and_same_size_edits_are_still_found(docs, tmp_path, embedder, monkeypatch):
    index = tmp_path / "index"
    s = settings(docs_dir=docs, index_dir=index)
    time.sleep(TRUST_AFTER_NS / 1e9 + 0.1)  # the collection was just written: let its file times become trustworthy
    sync_index(s, embedder=embedder)
    faiss_written = (index / store.FAISS_NAME).stat().st_mtime_ns

    hashed: list[str] = []
    real_sha = sync_module.sha256_of_handle

    def sha(handle):
        hashed.append(Path(os.readlink(f"/proc/self/fd/{handle.fileno()}")).name)
        return real_sha(handle)

    monkeypatch.setattr(sync_module, "sha256_of_handle", sha)
    again = sync_index(s, embedder=embedder)
    assert again.unchanged == COLLECTION_SOURCES and again.embedded == 0
    assert hashed == []  # no document was read
    assert (index / store.FAISS_NAME).stat().st_mtime_ns == faiss_written  # nor the FAISS file rewritten

    # A touched file (same content, new times) is read and found unchanged: nothing is embedded.
    notes = docs / "notes.txt"
    an_hour_ago = time.time() - 3600
    os.utime(notes, (an_hour_ago, an_hour_ago))
    touched = sync_index(s, embedder=embedder)
    assert "notes.txt" in hashed and touched.embedded == 0 and touched.unchanged == COLLECTION_SOURCES

    # A same-size edit whose modification time is put back (as `touch -r` or `cp -p` would) is still found:
    # the change time, which no tool sets back, differs.
    stamp = notes.stat().st_mtime_ns
    original = notes.read_bytes()
    notes.write_bytes(original.replace(b"e", b"E", 1))
    os.utime(notes, ns=(stamp, stamp))
    edited = sync_index(s, embedder=embedder)
    assert edited.updated == ["notes.txt"] and edited.embedded > 0
    stored = chunks_of(citechat.open_index(index, docs), "notes.txt")
    assert stored and all(c.text == file_text(notes)[c.start : c.end] for c in stored)


def test_file_times_too_recent_are_not_trusted(tmp_path):
    path = tmp_path / "fresh.txt"
    path.write_text("Just written.", encoding="utf-8")
    stat = path.stat()
    assert file_signature(stat, time.time_ns() - TRUST_AFTER_NS) is None  # hashed again at the next sync
    assert file_signature(stat, time.time_ns() + 1) == f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ctime_ns}:{stat.st_ino}"


def test_an_index_made_before_file_times_were_kept_opens_and_is_upgraded_in_place(docs, tmp_path, embedder):
    index = tmp_path / "index"
    s = settings(docs_dir=docs, index_dir=index)
    first = sync_index(s, embedder=embedder)
    conn = sqlite3.connect(index / store.DB_NAME)
    conn.execute("ALTER TABLE documents DROP COLUMN file_stat")
    conn.commit()
    conn.close()
    assert citechat.open_index(index, docs).retrieve(LIGHTHOUSE_Q)[0].source == QUESTIONS[0][1]  # read as it is
    again = sync_index(s, embedder=embedder)
    assert again.embedded == 0 and again.unchanged == COLLECTION_SOURCES and again.chunks == first.chunks
    conn = sqlite3.connect(index / store.DB_NAME)
    assert "file_stat" in {row[1] for row in conn.execute("PRAGMA table_info(documents)")}
    conn.close()


def test_a_sync_never_runs_twice_at_once(docs, tmp_path):
    s = settings(docs_dir=docs, index_dir=tmp_path / "index")
    with sync_lock(s.index_dir, wait=False, notify=print):
        with pytest.raises(SyncBusy, match="Another sync"):
            sync_index(s, wait=False)
    assert not (s.index_dir / store.DB_NAME).exists()


# ---------------------------------------------------------------- bad files among good ones

LATIN_TEXT = "Café Müller on the Rue Saint-Honoré serves crème brûlée every Sunday; a slice costs 4 €.\n"


def test_bad_files_are_skipped_once_each_and_good_ones_indexed(docs, tmp_path):
    (docs / "empty.txt").write_bytes(b"")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 16)
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ngarbage\n")
    (docs / "data.xyz").write_text("a format nobody reads", encoding="utf-8")
    (docs / "junk.docx").write_bytes(os.urandom(2048))
    (docs / "latin.txt").write_bytes(LATIN_TEXT.encode("cp1252"))
    index = tmp_path / "index"

    report = citechat.build_index(docs, index)
    reasons = {s.source: s.reason.lower() for s in report.skipped}
    assert Counter(s.source for s in report.skipped) == Counter(
        ["empty.txt", "binary.txt", "broken.pdf", "data.xyz", "junk.docx"]
    )
    assert "empty" in reasons["empty.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "corrupt" in reasons["broken.pdf"] and "pdf" in reasons["broken.pdf"]
    assert "unsupported" in reasons["data.xyz"] and ".xyz" in reasons["data.xyz"]
    assert "corrupt" in reasons["junk.docx"] and "docx" in reasons["junk.docx"]
    assert report.added == sorted(COLLECTION_SOURCES + ["latin.txt"])

    bot = citechat.open_index(index)
    assert bot.n_documents == len(COLLECTION_SOURCES) + 1
    (latin,) = chunks_of(bot, "latin.txt")
    assert latin.text == LATIN_TEXT.strip()
    top = bot.retrieve("Which café serves crème brûlée?", k=3)
    assert top[0].source == "latin.txt"

    again = citechat.build_index(docs, index)
    assert again.embedded == 0
    assert sorted(s.source for s in again.skipped) == sorted(reasons)
    assert len(again.unchanged) == bot.n_documents


def test_a_file_that_turns_bad_leaves_the_index(docs, tmp_path):
    index = tmp_path / "index"
    citechat.build_index(docs, index)
    (docs / "guide.md").write_bytes(b"\x00\x01\x02" * 100)
    report = citechat.build_index(docs, index)
    assert [s.source for s in report.skipped] == ["guide.md"]
    bot = citechat.open_index(index)
    assert not chunks_of(bot, "guide.md") and bot.n_documents == len(COLLECTION_SOURCES) - 1
    assert_consistent(bot)


# ---------------------------------------------------------------- settings that do not match the index


def test_other_chunk_settings_are_refused_with_the_rebuild_hint(built, tmp_path):
    docs_dir, built_index, report = built
    index = copy_tree(built_index, tmp_path / "index")
    for override in ({"chunk_chars": 500}, {"overlap_chars": 0}):
        with pytest.raises(citechat.IndexMismatch) as info:
            citechat.open_index(index, **override)
        assert f"--index {index} --rebuild" in str(info.value)
        assert next(iter(override)) in str(info.value)
        with pytest.raises(citechat.IndexMismatch, match=re.escape(f"--index {index} --rebuild")):
            sync_index(settings(docs_dir=docs_dir, index_dir=index, **override))
    with pytest.raises(citechat.IndexMismatch, match=re.escape(f"--index {index} --rebuild")):
        citechat.open_index(index, model=str(tmp_path / "some-other-model"))
    # The refused syncs left the index as it was.
    assert layout(citechat.open_index(index)) == layout(citechat.open_index(built_index))

    # Rebuilding with the new settings is the way out.
    rebuilt = citechat.build_index(docs_dir, index, rebuild=True, chunk_chars=200)
    assert rebuilt.chunks > report.chunks
    assert citechat.open_index(index, chunk_chars=200).n_chunks == rebuilt.chunks
    with pytest.raises(citechat.IndexMismatch):
        citechat.open_index(index)


def test_an_index_from_another_format_version_is_refused(built, tmp_path):
    index = copy_tree(built[1], tmp_path / "index")
    conn = sqlite3.connect(index / store.DB_NAME)
    with conn:
        conn.execute("UPDATE meta SET value = '999' WHERE key = 'format_version'")
    conn.close()
    with pytest.raises(citechat.IndexMismatch, match=re.escape(f"--index {index} --rebuild")):
        citechat.open_index(index)
