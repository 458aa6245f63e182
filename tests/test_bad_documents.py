"""A folder of bad documents among good ones, through the real command line (tests/audited_cli.py records what
it opens and its memory): each bad file reported once with its reason, every good one indexed and answerable,
awkward text kept exactly, nothing outside the folder read, memory bounded."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter

import pytest

import citechat
from citechat.config import settings
from citechat.index.sync import sync_index
from conftest import (
    assert_consistent,
    by_source,
    copy_tree,
    subprocess_env,
)
from bad_docs import tiny_name, tiny_question, write_bad_collection

from reliability_helpers import HERE, assert_cited_exactly


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
    assert not [c for c in bot.snapshot.all_chunks() if "vault code" in c.text or "Tarrow" in c.text]


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
    assert all(s.reason for s in report.skipped) and notes == []  # the caller says what was skipped, once
