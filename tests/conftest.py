"""Shared fixtures: a small real document collection written into tmp_path, the real embedding model
(loaded once per test session) and helpers to run the real CLI.

Every test runs with the CITECHAT_* variables that choose folders and the model removed from the
environment, so a developer's own settings can never make a test read or overwrite their index.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections import defaultdict
from contextlib import closing
from pathlib import Path

import pytest

# The model must come from the installed package; never try the hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

MODEL = "all-MiniLM-L6-v2"
ISOLATED_VARIABLES = ("CITECHAT_DOCS", "CITECHAT_INDEX", "CITECHAT_MODEL", "CITECHAT_MAX_FILE_MB", "CITECHAT_LLM")
PROJECT = Path(__file__).resolve().parents[1]
# Removed for the session too, but passed on to subprocesses once a test sets them (see `on_store`).
STORE_VARIABLES = ("CITECHAT_STORE", "CITECHAT_COLLECTION", "CITECHAT_MILVUS_TOKEN")


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory):
    # Session-scoped so that it also covers the session fixtures below (they are set up before any
    # function-scoped fixture). Tests may still monkeypatch.setenv these names; the change is undone after.
    # The indexes that folders get of their own (and the exported model) go to a cache folder of this test run.
    with pytest.MonkeyPatch.context() as patch:
        for name in ISOLATED_VARIABLES + STORE_VARIABLES:
            patch.delenv(name, raising=False)
        patch.setenv("CITECHAT_CACHE", str(tmp_path_factory.mktemp("cache")))
        yield


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2 embedder, loaded once. citechat caches the model per process, so every
    Embedder, Bot and build_index in this session reuses it."""
    from citechat.index.embeddings import Embedder

    e = Embedder(MODEL)
    e.model  # load now, so that the first test does not pay for it inside its own timing
    return e


# ---------------------------------------------------------------- the collection

# Each file carries facts found nowhere else, so a question can only be answered from one file.
NOTES_PARAGRAPHS = [
    "Grey Point Lighthouse Notes",
    "The lighthouse on Grey Point was built in 1874 from granite quarried on the island itself. "
    "Its tower is thirty-one metres tall and painted with red and white bands.",
    "For its first fifty years the lamp burned whale oil. The keeper, Tomás Ørsted, climbed the 148 steps "
    "four times each night to trim the wicks — a job he did for twenty-two years.",
    "In 1931 the lamp was converted to electricity, and a diesel generator was installed in the stone shed "
    "beside the tower. The beam can now be seen from forty kilometres away on a clear night.",
    "The keeper's cottage became a small museum in 1998. Visitors can see the original brass lens, "
    "the logbooks from the great storm of 1953, and a collection of ship's bells.",
    "Seabirds nest on the cliffs below the tower every spring. Puffins arrive in April and leave in August; "
    "the museum closes the cliff path while the chicks are fledging.",
    "A fog horn was added in 1902 after the schooner Margaret Hale ran aground on the reef. "
    "It sounded two long blasts every minute whenever visibility fell below one nautical mile.",
]

SOURDOUGH_MD = """# Sourdough Starter Guide

A healthy starter needs only flour, water and patience.

## Feeding

Feed the starter twice a day with equal weights of rye flour and lukewarm water.
Discard all but fifty grams before each feeding, so the jar never overflows.

## Signs of health

A ripe starter doubles in volume within six hours and smells pleasantly sour, like yoghurt.
If a grey liquid called hooch forms on top, the starter is hungry: stir it in and feed it sooner.
"""

FERRY_HTML = """<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>Kessel Island Ferry Timetable</title>
  <style>body { color: plumcolor; } .hidden-css-marker { display: none; }</style>
  <script>var secretToken = "XYZZY-SCRIPT-MARKER"; document.write("<p>not text</p>");</script>
</head>
<body>
  <h1>Ferry services</h1>
  <p>The ferry to Kessel Island departs from Pier&nbsp;9 at 6:15 every morning and returns at 18:40.</p>
  <p>Bicycles travel free of charge, but cars must be booked at least two days in advance.</p>
  <script>console.log("ANOTHER-SCRIPT-MARKER");</script>
  <p>Fish &amp; chips are sold on board during the crossing, which takes fifty minutes.</p>
</body>
</html>
"""

PDF_PAGE_1 = (
    "The apple orchard in Valdoria produced forty-two tonnes of fruit in 2021. "
    "Farmers there prune the trees every March, before the buds open."
)
PDF_PAGE_2 = (
    "The copper mine near Brastow closed in 1987 after a flood filled the lower tunnels. "
    "Two hundred miners lost their jobs when the pumps failed."
)

DOCX_PARAGRAPHS = [
    "Elm Street Council Minutes",
    "The town council voted seven to two to build a new public library on Elm Street.",
    "Construction is expected to begin next spring and to cost 3.4 million euros.",
]

# (question, source that answers it, a phrase of the answering passage, page or None)
QUESTIONS = [
    ("When did the Grey Point light switch to electric power?", "notes.txt", "converted to electricity", None),
    ("How often should I feed my sourdough starter?", "guide.md", "twice a day", None),
    ("What time does the boat to Kessel leave in the morning?", "ferry.html", "6:15", None),
    ("Why did the Brastow mine shut down?", "report.pdf", "flood filled the lower tunnels", 2),
    ("How much fruit did the Valdoria orchard harvest?", "report.pdf", "forty-two tonnes", 1),
    ("What did the council decide about a library?", "minutes.docx", "new public library", None),
]

TEXT_SOURCES = ("notes.txt", "guide.md")


def write_pdf(path: Path, pages: list[str], title: str | None = None) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    if title:
        pdf.set_title(title)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def write_docx(path: Path, paragraphs: list[str], title: str | None = None) -> Path:
    import docx

    document = docx.Document()
    if title:
        document.core_properties.title = title
    document.add_heading(paragraphs[0], level=1)
    for text in paragraphs[1:]:
        document.add_paragraph(text)
    document.save(str(path))
    return path


def write_collection(folder: Path) -> Path:
    """Write the five-format collection used throughout the tests; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    # CRLF line endings and non-ASCII letters: offsets must still be exact character offsets.
    (folder / "notes.txt").write_bytes("\r\n\r\n".join(NOTES_PARAGRAPHS).encode("utf-8") + b"\r\n")
    (folder / "guide.md").write_text(SOURDOUGH_MD, encoding="utf-8", newline="")
    (folder / "ferry.html").write_text(FERRY_HTML, encoding="utf-8")
    write_pdf(folder / "report.pdf", [PDF_PAGE_1, PDF_PAGE_2], title="Regional Industry Report")
    write_docx(folder / "minutes.docx", DOCX_PARAGRAPHS)
    return folder


COLLECTION_SOURCES = sorted(["notes.txt", "guide.md", "ferry.html", "report.pdf", "minutes.docx"])


@pytest.fixture
def docs(tmp_path) -> Path:
    """A fresh, writable copy of the collection for tests that change it."""
    return write_collection(tmp_path / "docs")


@pytest.fixture(scope="session")
def built(tmp_path_factory, embedder):
    """(docs_dir, index_dir, report) of the collection indexed once per session. Read-only: do not modify."""
    import citechat

    root = tmp_path_factory.mktemp("built")
    docs_dir = write_collection(root / "docs")
    report = citechat.build_index(docs_dir, root / "index")
    return docs_dir, root / "index", report


@pytest.fixture(scope="session")
def built_bot(built):
    import citechat

    return citechat.open_index(built[1])


@pytest.fixture(scope="session")
def seed_index(tmp_path_factory, embedder):
    """(docs_dir, index_dir) of a copy of the project's seeds/ indexed once per session. Read-only."""
    import shutil

    import citechat

    root = tmp_path_factory.mktemp("seed")
    shutil.copytree(PROJECT / "seeds", root / "docs")
    citechat.build_index(root / "docs", root / "index")
    return root / "docs", root / "index"


@pytest.fixture(scope="session")
def seed_bot(seed_index):
    import citechat

    return citechat.open_index(seed_index[1])


# ---------------------------------------------------------------- running the command line


STORES = ["local", "milvus"]


def store_spec(kind: str, folder: Path) -> str:
    """The CITECHAT_STORE value of a store kind, with a Milvus Lite database in `folder`."""
    return "local" if kind == "local" else f"milvus:{folder / 'milvus.db'}"


@pytest.fixture(params=STORES)
def on_store(request, tmp_path, monkeypatch) -> str:
    """Runs the test once per store: CITECHAT_STORE (seen by settings, build_index, open_index and the
    command line in subprocesses) names it."""
    spec = store_spec(request.param, tmp_path)
    monkeypatch.setenv("CITECHAT_STORE", spec)
    return spec


def citechat_command() -> list[str]:
    """The installed `citechat` console script of this virtualenv (or the module, if it is missing)."""
    script = Path(sys.executable).with_name("citechat")
    return [str(script)] if script.exists() else [sys.executable, "-m", "citechat.cli"]


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ISOLATED_VARIABLES}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def run_cli(*args: str, timeout: float = 180, **extra_env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*citechat_command(), *args], capture_output=True, text=True, timeout=timeout, env=subprocess_env(**extra_env)
    )


def copy_tree(src: Path, dst: Path) -> Path:
    """A copy of a documents folder or an index (without its lock file). An index database is copied through
    SQLite: reading its file here would drop the locks this process holds on it through an open index (POSIX
    locks belong to the process, and closing any descriptor of the file releases them all), and another
    process's connection would then take itself for the last one and remove the write-ahead log in use."""
    shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns(".lock", "*.sqlite", "*.sqlite-wal",
                                                                          "*.sqlite-shm"))
    for database in src.rglob("*.sqlite"):
        with closing(sqlite3.connect(database)) as original:
            with closing(sqlite3.connect(dst / database.relative_to(src))) as copy:
                original.backup(copy)
    return dst


def by_source(bot) -> dict[str, list[tuple]]:
    """Each document's chunks, as everything that identifies them, in order."""
    chunks: dict[str, list[tuple]] = defaultdict(list)
    for c in bot.snapshot.all_chunks():
        chunks[c.source].append((c.ordinal, c.start, c.end, c.page, c.text))
    return {source: sorted(items) for source, items in chunks.items()}


def assert_consistent(bot) -> None:
    """No chunk lost or doubled: per-document counts match and ordinals run 0..n-1 without repeats."""
    chunks = by_source(bot)
    assert {d.source: d.n_chunks for d in bot.documents} == {s: len(c) for s, c in chunks.items()}
    for items in chunks.values():
        assert [i[0] for i in items] == list(range(len(items)))
