"""What the fault, bad-document and tampering tests share: the five-format collection built once, clean builds
to compare an interrupted sync with, and helpers that run the real command line under a fault."""
from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import citechat
from citechat.index.stores import local as store
from citechat.ingest.reading import load_document
from conftest import (
    QUESTIONS,
    by_source,
    copy_tree,
    subprocess_env,
    write_collection,
)

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src" / "citechat"
# A question the base collection answers (the ferry timetable), asked after every fault.
FERRY_Q, FERRY_SOURCE, FERRY_PHRASE, _ = QUESTIONS[2]


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


def run_fault(point: str, docs: Path, index: Path, *extra: str, timeout: float = 300,
              **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(HERE / "fault_sync.py"), point, str(docs), str(index), *extra],
        capture_output=True, text=True, timeout=timeout, env=subprocess_env(**env),
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


def wait_for(condition, what: str, timeout: float = 120, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"the process ended (exit {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.05)
