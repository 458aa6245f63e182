"""Which index serves which folder, and what a person sees when something is wrong: the real command line in
its own process, the real model and index, real files, a real read-only mount."""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import citechat
from citechat.index.stores import local as store
from citechat.index.which import folder_key
from conftest import NOTES_PARAGRAPHS, citechat_command, copy_tree, run_cli, subprocess_env

QUESTION = "When was the lamp converted to electricity?"
ANSWER = "converted to electricity"


def notes_folder(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("\n\n".join(NOTES_PARAGRAPHS) + "\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def notes_index(tmp_path_factory, embedder):
    """(docs, index) of one text file, built once. Copy before changing."""
    root = tmp_path_factory.mktemp("notes")
    docs = notes_folder(root / "docs")
    citechat.build_index(docs, root / "index")
    return docs, root / "index"


def copy_notes(notes_index, tmp_path: Path) -> tuple[Path, Path]:
    """A writable copy of the documents and their index, the index told about its new folder."""
    docs, index = copy_tree(notes_index[0], tmp_path / "docs"), copy_tree(notes_index[1], tmp_path / "index")
    conn = sqlite3.connect(index / store.DB_NAME)
    with conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'docs_dir'", (str(docs.resolve()),))
    conn.close()
    return docs, index


def state(index: Path) -> tuple:
    """Everything a failed command must leave as it was: the documents, their chunks, the generation."""
    bot = citechat.open_index(index)
    return bot.snapshot.generation, [(d.source, d.hash, d.n_chunks) for d in bot.documents]


def one_clean_line(result: subprocess.CompletedProcess) -> str:
    """The single `citechat: ...` line of a refused command (exit 2, no traceback)."""
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if "citechat: " in line]  # beside progress bars
    assert len(lines) == 1, result.stderr
    return "citechat: " + lines[0].split("citechat: ", 1)[1]


# ---------------------------------------------------------------- the index follows its folder


def test_an_index_refuses_another_folder_on_every_surface(notes_index, tmp_path):
    docs, index = notes_index
    other = notes_folder(tmp_path / "docs2")
    for command in (["ask", QUESTION], ["status"], ["serve", "--port", "0"], ["index"]):
        line = one_clean_line(run_cli(*command, "--docs", str(other), "--index", str(index)))
        assert f"was built from {docs.resolve()}" in line and str(other) in line, command
    with pytest.raises(citechat.IndexMismatch, match="was built from"):
        citechat.open_index(index, other)
    with pytest.raises(citechat.IndexMismatch):
        citechat.Bot(citechat.Settings(docs_dir=other, index_dir=index))
    assert (other / "notes.txt").exists()
    # Leaving out --docs uses the folder the index was built from.
    result = run_cli("ask", QUESTION, "--index", str(index))
    assert result.returncode == 0 and ANSWER in result.stdout


def test_a_folder_without_an_index_gets_its_own_for_every_command(tmp_path, embedder, monkeypatch):
    from gradio_client import Client

    from ui_helpers import free_port, server_process

    docs = notes_folder(tmp_path / "my docs")
    cache = tmp_path / "cache"
    own = cache / "indexes" / folder_key(docs)
    built = run_cli("index", "--docs", str(docs), CITECHAT_CACHE=str(cache))
    assert built.returncode == 0, built.stderr
    assert f"into {own}" in built.stderr and (own / store.DB_NAME).exists()

    asked = run_cli("ask", QUESTION, "--docs", str(docs), CITECHAT_CACHE=str(cache))
    assert asked.returncode == 0 and ANSWER in asked.stdout
    status = run_cli("status", "--docs", str(docs), CITECHAT_CACHE=str(cache))
    assert status.returncode == 0 and str(own) in status.stdout and "notes.txt" in status.stdout
    # Only CITECHAT_DOCS set (as `make run` is used): the same index.
    by_env = run_cli("status", CITECHAT_CACHE=str(cache), CITECHAT_DOCS=str(docs))
    assert by_env.returncode == 0 and str(own) in by_env.stdout
    # The Python API and the server decide the same way.
    monkeypatch.setenv("CITECHAT_CACHE", str(cache))
    assert citechat.open_index(docs_dir=docs).settings.index_dir == own
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    with server_process([*citechat_command(), "serve", "--docs", str(docs), "--port", str(port), "--no-watch"],
                        url, tmp_path / "serve.log"):
        text, info = Client(url, verbose=False).predict(QUESTION, api_name="/ask")
    assert ANSWER in text and info["sources"][0]["source"] == "notes.txt"
    # Another folder gets another index; nothing was written to the project's index/.
    assert folder_key(tmp_path / "other") != folder_key(docs)
    assert sorted(p.name for p in (cache / "indexes").iterdir()) == [own.name]


def test_the_index_remembers_its_model(tmp_path, embedder):
    from citechat.index.model import model_path

    model = shutil.copytree(model_path("all-MiniLM-L6-v2"), tmp_path / "my-model")
    docs = notes_folder(tmp_path / "docs")
    index = tmp_path / "index"
    built = run_cli("index", "--docs", str(docs), "--index", str(index), CITECHAT_MODEL=str(model))
    assert built.returncode == 0, built.stderr
    # Opened without CITECHAT_MODEL, from another directory: the recorded model is used.
    result = subprocess.run([*citechat_command(), "ask", QUESTION, "--index", str(index)], capture_output=True,
                            text=True, timeout=180, env=subprocess_env(), cwd=tmp_path.parent)
    assert result.returncode == 0 and ANSWER in result.stdout, result.stderr
    assert str(model) in run_cli("status", "--index", str(index)).stdout
    assert citechat.open_index(index).settings.model == str(model)


def test_rebuild_hints_name_the_index_they_are_about(notes_index, tmp_path):
    docs, index = copy_notes(notes_index, tmp_path)
    (index / store.DB_NAME).write_bytes(b"not a database" * 600)
    for command in (["ask", QUESTION], ["status"]):
        line = one_clean_line(run_cli(*command, "--docs", str(docs), "--index", str(index)))
        assert f"citechat index --docs {docs} --index {index} --rebuild" in line
        # Given only the index, whose record is unreadable, the hint cannot know the folder and invents none.
        line = one_clean_line(run_cli(*command, "--index", str(index)))
        assert f"citechat index --docs FOLDER --index {index} --rebuild" in line and "seeds" not in line
    fixed = run_cli("index", "--docs", str(docs), "--index", str(index), "--rebuild")
    assert fixed.returncode == 0, fixed.stderr


def test_leftovers_of_a_killed_rebuild_are_removed_at_the_next_sync(notes_index, tmp_path):
    docs, index = copy_notes(notes_index, tmp_path)
    leftovers = [index / (store.DB_NAME + suffix) for suffix in (".new", ".new-wal", ".new-shm")]
    for path in leftovers:
        path.write_bytes(b"\0" * 100_000)
    report = citechat.build_index(docs, index)
    assert report.embedded == 0 and report.unchanged == ["notes.txt"]
    assert not any(path.exists() for path in leftovers)


# ---------------------------------------------------------------- errors a person can act on


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    "variables, phrase",
    [
        ({"CITECHAT_LLM": "bogus"}, "Unknown CITECHAT_LLM value 'bogus'"),
        ({"CITECHAT_LLM": "gguf:/missing.gguf"}, "GGUF model file not found: /missing.gguf"),
        ({"CITECHAT_LLM": "openai:x", "CITECHAT_LLM_API_KEY": "sk-secret-7f3a9",
          "CITECHAT_LLM_BASE_URL": "http://127.0.0.1:{port}/v1"}, "did not answer"),
        ({"CITECHAT_PRECISION": "fast"}, "CITECHAT_PRECISION"),
        ({"CITECHAT_MAX_FILE_MB": "abc"}, "CITECHAT_MAX_FILE_MB must be a number of megabytes above 0"),
        ({"CITECHAT_MAX_FILE_MB": "0"}, "CITECHAT_MAX_FILE_MB must be a number of megabytes above 0"),
        ({"CITECHAT_MAX_FILE_MB": "-5"}, "CITECHAT_MAX_FILE_MB must be a number of megabytes above 0"),
    ],
    ids=["llm-bogus", "gguf-missing", "openai-unreachable", "precision", "max-mb-abc", "max-mb-0", "max-mb-negative"],
)
def test_a_bad_setting_is_one_line_exit_2_and_the_index_unchanged(notes_index, tmp_path, variables, phrase):
    docs, index = copy_notes(notes_index, tmp_path)
    (docs / "new.txt").write_text("A new file that a failed sync must not add.\n", encoding="utf-8")
    before = state(index)
    env = {k: v.format(port=closed_port()) for k, v in variables.items()}
    commands = [["ask", QUESTION]]
    if "CITECHAT_LLM" not in variables:  # the settings that indexing reads too
        commands.append(["index"])
    for command in commands:
        line = one_clean_line(run_cli(*command, "--docs", str(docs), "--index", str(index), **env))
        assert phrase in line, line
        assert "sk-secret-7f3a9" not in line
    assert state(index) == before


def test_serving_on_a_port_in_use_names_the_port_option(notes_index):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        line = one_clean_line(run_cli("serve", "--index", str(notes_index[1]), "--port", str(port)))
    assert f"Port {port}" in line and "--port" in line and "GRADIO_SERVER_PORT" not in line


def test_serving_on_ipv6_loopback(notes_index, tmp_path):
    import httpx
    from gradio_client import Client

    from ui_helpers import server_process

    with socket.socket(socket.AF_INET6) as s:
        s.bind(("::1", 0))
        port = s.getsockname()[1]
    url = f"http://[::1]:{port}/"
    command = [*citechat_command(), "serve", "--index", str(notes_index[1]), "--host", "::1", "--port", str(port),
               "--no-watch"]
    with server_process(command, url, tmp_path / "serve.log"):
        text, info = Client(url, verbose=False).predict(QUESTION, api_name="/ask")
        assert ANSWER in text and info["sources"][0]["source"] == "notes.txt"
        assert httpx.get(url + "v1/models").json()["data"][0]["id"] == "citechat"
    assert "Traceback" not in (tmp_path / "serve.log").read_text()


@pytest.fixture
def read_only(tmp_path):
    """make(folder): the folder made read-only for this process: a read-only bind mount for root (which
    ignores file modes), else its write permissions taken away."""
    mounts = []

    def make(folder: Path) -> Path:
        if os.geteuid() != 0:
            for path in [folder, *folder.iterdir()]:
                path.chmod(path.stat().st_mode & ~0o222)
            return folder
        target = folder.with_name(folder.name + "-ro")
        target.mkdir()
        subprocess.run(["mount", "--bind", str(folder), str(target)], check=True)
        mounts.append(target)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
        return target

    yield make
    for target in mounts:  # lazily: the test's own open index may still hold a file there
        subprocess.run(["umount", "--lazy", str(target)], check=False)


def test_a_read_only_index_is_read_and_never_called_damaged(notes_index, tmp_path, read_only):
    docs, writable = copy_notes(notes_index, tmp_path)
    (writable / ".lock").unlink(missing_ok=True)
    index = read_only(writable)
    (docs / "new.txt").write_text("A new file that cannot be indexed into a read-only index.\n", encoding="utf-8")

    line = one_clean_line(run_cli("index", "--docs", str(docs), "--index", str(index)))
    assert f"Cannot write the index in {index}" in line and "--rebuild" not in line
    asked = run_cli("ask", QUESTION, "--index", str(index))
    assert asked.returncode == 0 and ANSWER in asked.stdout, asked.stderr
    status = run_cli("status", "--index", str(index))
    assert status.returncode == 0 and "notes.txt" in status.stdout and "--rebuild" not in status.stderr
    assert citechat.open_index(index).documents[0].source == "notes.txt"


# ---------------------------------------------------------------- small things


def test_status_is_a_short_summary_and_json_on_request(notes_index):
    docs, index = notes_index
    out = run_cli("status", "--index", str(index)).stdout
    bot = citechat.open_index(index)
    assert f"1 document in {bot.n_chunks} chunks" in out and "1 documents" not in out
    assert str(docs.resolve()) in out and str(index) in out and "{" not in out
    assert len(out.splitlines()) <= 8
    data = json.loads(run_cli("status", "--index", str(index), "--json").stdout)
    assert data["model"] == "all-MiniLM-L6-v2" and data["docs_dir"] == str(docs.resolve())
    assert [d["source"] for d in data["documents"]] == ["notes.txt"]


def test_counts_are_written_in_the_singular_for_one(tmp_path, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "one.txt").write_text("Short note.\n\nThe kettle is in the second cupboard.\n", encoding="utf-8")
    out = run_cli("index", "--docs", str(docs), "--index", str(tmp_path / "index")).stdout
    assert "index holds 1 document in 1 chunk (1 chunk embedded" in out


def write_dataset(folder: Path) -> Path:
    notes_folder(folder / "corpus")
    rows = [{"id": "q1", "question": QUESTION, "answers": ["1931"], "gold_doc_ids": ["notes"], "answerable": True},
            {"id": "q2", "question": "Who won the 1998 chess olympiad?", "answers": [], "gold_doc_ids": [],
             "answerable": False}]
    (folder / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def test_eval_with_k_1_shows_hit_at_1_once_and_counts_questions(tmp_path, embedder):
    dataset = write_dataset(tmp_path / "set")
    for spelling in ("-k", "--k"):
        result = run_cli("eval", str(dataset), spelling, "1")
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("hit@1") == 1, result.stdout
    assert "questions/s" in result.stderr
    assert run_cli("index", "--docs", str(dataset / "corpus")).returncode == 0
    for spelling in ("-k", "--k"):
        asked = run_cli("ask", QUESTION, "--docs", str(dataset / "corpus"), spelling, "1", "--passages")
        assert asked.returncode == 0 and asked.stdout.count("[1]") == 1 and "[2]" not in asked.stdout


def test_version_and_serve_help():
    version = run_cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"citechat {citechat.__version__}"
    helped = run_cli("serve", "--help").stdout
    assert "default: 7860" in helped and "--no-watch" in helped
    assert "opens a browser" not in helped and "open the printed address in a browser" in " ".join(helped.split())


@pytest.mark.parametrize("content", ["empty", "unsupported"])
def test_a_folder_with_nothing_to_index_warns(tmp_path, content, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    if content == "unsupported":
        (docs / "photo.jpg").write_bytes(b"\xff\xd8\xff" + b"\0" * 100)
        (docs / "data.xyz").write_text("a,b\n1,2\n")
    result = run_cli("index", "--docs", str(docs), "--index", str(tmp_path / "index"))
    assert result.returncode == 0  # not an error: the folder can be filled from the chat window
    assert "citechat: warning:" in result.stderr and "the index is empty" in result.stderr
    assert ".markdown" in result.stderr and "Traceback" not in result.stderr


def test_docs_pointing_at_a_file_says_so(tmp_path):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("text\n")
    line = one_clean_line(run_cli("index", "--docs", str(a_file), "--index", str(tmp_path / "index")))
    assert f"{a_file} is a file, not a folder" in line
    assert not (tmp_path / "index" / store.DB_NAME).exists()


def test_a_refusal_on_the_command_line_shows_short_passages(notes_index):
    result = run_cli("ask", "Who won the 1998 chess olympiad in Elista?", "--index", str(notes_index[1]))
    assert result.returncode == 0 and "Possibly related" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) <= 260, result.stdout


def test_markdown_markup_is_taken_out_of_command_line_answers(tmp_path, embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "policy.md").write_text(
        "# Returns policy\n\nCustomers may return any item within **28 days** of delivery for a full refund.\n\n"
        "Refunds are paid to the `original card` within five working days.\n", encoding="utf-8")
    citechat.build_index(docs, tmp_path / "index")
    result = run_cli("ask", "How long do customers have to return an item?", "--index", str(tmp_path / "index"))
    assert result.returncode == 0 and "28 days" in result.stdout, result.stdout
    assert "**" not in result.stdout and "`" not in result.stdout
    # The API keeps the document's exact text: only the terminal's display is plain.
    assert "**28 days**" in citechat.open_index(tmp_path / "index").answer(
        "How long do customers have to return an item?").sources[0].text


def test_scores_are_on_one_scale_in_retrieve_as_retriever_and_the_command_line(notes_index):
    bot = citechat.open_index(notes_index[1])
    passages = bot.retrieve(QUESTION, k=2)
    documents = bot.as_retriever(k=2).invoke(QUESTION)
    assert [p.score for p in passages] == [d.metadata["score"] for d in documents]
    out = run_cli("ask", QUESTION, "--index", str(notes_index[1]), "-k", "2", "--passages").stdout
    assert [f"score {p.score:.4f}" in out for p in passages] == [True, True]


def test_special_files_are_listed_as_skipped(tmp_path, embedder):
    docs = notes_folder(tmp_path / "docs")
    os.mkfifo(docs / "pipe.txt")
    result = run_cli("index", "--docs", str(docs), "--index", str(tmp_path / "index"), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "skipped pipe.txt: not a regular file (a named pipe)" in result.stderr
    assert "1 skipped" in result.stdout and "added: notes.txt" in result.stdout


def test_the_readme_documents_markdown_files_and_the_folder_rules():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    usage = readme.split("## How it works")[0]
    for phrase in (".markdown", "Remove from index", "Delete file", "--no-watch", "CITECHAT_CACHE/indexes",
                   "citechat status --json"):
        assert phrase in usage, phrase
    assert "| answer contains gold |" in readme  # the answer-level figures `citechat eval` prints
