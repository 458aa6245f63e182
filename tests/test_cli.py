"""The `citechat` command line, run as the installed console script and through `main()`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import citechat
from citechat.index.stores import local as store
from citechat.cli import main
from citechat.config import settings
from conftest import NOTES_PARAGRAPHS, run_cli

QUESTION = "When was the lamp converted to electricity?"


def one_file_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("\n\n".join(NOTES_PARAGRAPHS) + "\n", encoding="utf-8")
    return folder


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_index_twice_then_ask_with_the_console_script(tmp_path):
    docs = one_file_docs(tmp_path / "docs")
    index = tmp_path / "index"

    first = run_cli("index", "--docs", str(docs), "--index", str(index))
    assert first.returncode == 0, first.stderr
    assert "added: notes.txt" in first.stdout.splitlines()
    assert "1 added, 0 updated, 0 removed, 0 unchanged, 0 skipped" in first.stdout
    assert "Traceback" not in first.stderr

    second = run_cli("index", "--docs", str(docs), "--index", str(index))
    assert second.returncode == 0, second.stderr
    assert "0 added, 0 updated, 0 removed, 1 unchanged, 0 skipped" in second.stdout
    assert "0 chunks embedded" in second.stdout
    assert "added:" not in second.stdout

    ask = run_cli("ask", QUESTION, "--docs", str(docs), "--index", str(index))
    assert ask.returncode == 0, ask.stderr
    assert "converted to electricity" in ask.stdout
    assert "notes.txt" in ask.stdout


def test_status_update_remove_and_rebuild(tmp_path, capsys, embedder):
    docs = one_file_docs(tmp_path / "docs")
    index = str(tmp_path / "index")
    code, out, _ = cli(capsys, "index", "--docs", str(docs), "--index", index)
    assert code == 0 and "added: notes.txt" in out
    n_chunks = citechat.open_index(index).n_chunks

    code, out, _ = cli(capsys, "status", "--docs", str(docs), "--index", index)
    assert code == 0
    assert f"1 document in {n_chunks} chunks" in out
    assert "notes.txt" in out and "Grey Point Lighthouse Notes" in out
    assert "all-MiniLM-L6-v2" in out and "{" not in out

    (docs / "notes.txt").write_text("Lamp log\n\nThe lamp now runs on solar power.\n", encoding="utf-8")
    code, out, _ = cli(capsys, "index", "--docs", str(docs), "--index", index)
    assert code == 0
    assert "updated: notes.txt" in out and "0 added, 1 updated, 0 removed, 0 unchanged" in out
    code, out, _ = cli(capsys, "ask", "What powers the lamp?", "--docs", str(docs), "--index", index)
    assert code == 0 and "solar power" in out and "whale oil" not in out

    code, out, _ = cli(capsys, "index", "--rebuild", "--docs", str(docs), "--index", index)
    assert code == 0 and "added: notes.txt" in out and "1 added" in out

    (docs / "notes.txt").unlink()
    code, out, _ = cli(capsys, "index", "--docs", str(docs), "--index", index)
    assert code == 0
    assert "removed: notes.txt" in out and "0 added, 0 updated, 1 removed, 0 unchanged" in out
    assert "index holds 0 documents in 0 chunks" in out


def test_a_missing_index_is_a_clear_error_with_exit_code_2(tmp_path):
    missing = tmp_path / "no-index"
    for command in (["ask", QUESTION], ["status"]):
        result = run_cli(*command, "--index", str(missing), "--docs", str(tmp_path))
        assert result.returncode == 2, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert f"No index in {missing}" in result.stderr
        assert "citechat index" in result.stderr
    assert not missing.exists()


def test_a_missing_documents_folder_is_a_clear_error_and_creates_no_index(tmp_path, capsys):
    index = tmp_path / "index"
    code, _, err = cli(capsys, "index", "--docs", str(tmp_path / "nope"), "--index", str(index))
    assert code == 2
    assert "Documents folder not found" in err and "--docs" in err
    assert not (index / store.DB_NAME).exists()
    # ... so asking afterwards still says that there is no index, instead of answering from an empty one.
    code, _, err = cli(capsys, "ask", QUESTION, "--index", str(index))
    assert code == 2 and "No index" in err


def test_a_damaged_or_mismatched_index_is_a_clear_error(tmp_path, capsys, monkeypatch):
    docs = one_file_docs(tmp_path / "docs")
    index = tmp_path / "index"
    assert cli(capsys, "index", "--docs", str(docs), "--index", str(index))[0] == 0

    monkeypatch.setenv("CITECHAT_MODEL", "another-model")
    code, _, err = cli(capsys, "status", "--index", str(index))
    assert code == 2 and f"--index {index} --rebuild" in err and "model" in err
    monkeypatch.delenv("CITECHAT_MODEL")

    (index / store.DB_NAME).write_bytes(os.urandom(8192))
    for command in (["status"], ["ask", QUESTION], ["index", "--docs", str(docs)]):
        code, _, err = cli(capsys, *command, "--index", str(index))
        assert code == 2, command
        assert "unreadable" in err and f"--index {index} --rebuild" in err
    code, out, _ = cli(capsys, "index", "--rebuild", "--docs", str(docs), "--index", str(index))
    assert code == 0 and "added: notes.txt" in out


def test_environment_variables_choose_the_folders(tmp_path, capsys, monkeypatch, embedder):
    docs = one_file_docs(tmp_path / "env-docs")
    index = tmp_path / "env-index"
    monkeypatch.setenv("CITECHAT_DOCS", str(docs))
    monkeypatch.setenv("CITECHAT_INDEX", str(index))
    assert settings().docs_dir == docs and settings().index_dir == index

    report = citechat.build_index()
    assert report.added == ["notes.txt"]
    assert (index / store.DB_NAME).exists()
    bot = citechat.open_index()
    assert bot.settings.docs_dir == docs and bot.n_documents == 1

    code, out, err = cli(capsys, "index")
    assert code == 0 and "0 added, 0 updated, 0 removed, 1 unchanged" in out
    assert str(docs) in err and str(index) in err
    code, out, _ = cli(capsys, "ask", QUESTION)
    assert code == 0 and "converted to electricity" in out

    # Arguments win over the environment.
    other = tmp_path / "other-index"
    code, _, err = cli(capsys, "status", "--index", str(other))
    assert code == 2 and str(other) in err
    # ... but an index never serves another folder than its own.
    with pytest.raises(citechat.IndexMismatch, match="was built from"):
        citechat.open_index(index_dir=index, docs_dir=tmp_path)


def test_usage_errors_exit_with_argparse_code(capsys):
    with pytest.raises(SystemExit) as info:
        main([])
    assert info.value.code == 2
    with pytest.raises(SystemExit):
        main(["ask"])  # the question is required


# ---------------------------------------------------------------- what a new user meets first


def checkout_copy(root: Path) -> Path:
    """The package, pyproject.toml and seeds/ of this checkout copied to root, so that its default folder and
    index (seeds/, index/) are root's own, not this checkout's."""
    import shutil

    from conftest import PROJECT

    shutil.copytree(PROJECT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(PROJECT / "seeds", root / "seeds")
    shutil.copy(PROJECT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_commands_say_which_folder_they_search_when_none_was_named(tmp_path):
    import subprocess
    import sys

    from conftest import subprocess_env

    root = checkout_copy(tmp_path / "checkout")

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "citechat.cli", *args], capture_output=True, text=True,
                              timeout=300, cwd=root, env=subprocess_env(PYTHONPATH=str(root / "src")))

    note = "seeds/ (the default folder; pass --docs DIR for yours)"
    indexed = run("index")
    assert indexed.returncode == 0 and f"Indexing {note} into {root / 'index'}" in indexed.stderr, indexed.stderr
    asked = run("ask", "What did Altman say?")
    assert asked.returncode == 0 and asked.stderr.splitlines()[0] == f"citechat: searching {note}", asked.stderr
    assert f"Documents: {note}" in run("status").stdout
    # Named by the user: nothing more is said.
    named = run("ask", "What did Altman say?", "--docs", str(root / "seeds"))
    assert "searching" not in named.stderr


@pytest.mark.parametrize("command", [["ask", QUESTION], ["status"], ["index"], ["serve", "--port", "0"]])
def test_a_folder_that_does_not_exist_is_said_first_on_every_command(tmp_path, command):
    typo = tmp_path / "mydcos"
    result = run_cli(*command, "--docs", str(typo))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [f"citechat: Documents folder not found: {typo}. Create it or pass "
                                                  "--docs DIR."]


def test_the_question_limit_is_the_same_as_on_the_other_surfaces(tmp_path):
    result = run_cli("ask", "why " * 2_500, "--docs", str(one_file_docs(tmp_path / "docs")))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == "citechat: The question is 10,000 characters long; ask in at most 4,000 characters."


def on_a_terminal(args: list[str], columns: int = 120, rows: int = 60) -> list[str]:
    """Run the command line in a pseudo-terminal, as a user's terminal runs it (progress bars drawn and
    cleared), and return the screen's lines as a terminal shows them at the end."""
    import pty
    import subprocess

    import pyte

    from conftest import citechat_command, subprocess_env

    ours, theirs = pty.openpty()
    env = subprocess_env(COLUMNS=str(columns), LINES=str(rows), TERM="xterm")
    process = subprocess.Popen([*citechat_command(), *args], stdin=theirs, stdout=theirs, stderr=theirs, env=env)
    os.close(theirs)
    screen = pyte.Screen(columns, rows)
    stream = pyte.ByteStream(screen)
    while True:
        try:
            data = os.read(ours, 65536)
        except OSError:  # the command ended and closed the terminal
            break
        if not data:
            break
        stream.feed(data)
    process.wait(timeout=300)
    os.close(ours)
    return [line.rstrip() for line in screen.display if line.strip()]


def test_skipped_files_are_listed_on_lines_of_their_own_after_the_progress(tmp_path):
    docs = one_file_docs(tmp_path / "docs")
    (docs / "budget.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    (docs / "empty.txt").write_text("")
    lines = on_a_terminal(["index", "--docs", str(docs), "--index", str(tmp_path / "index")])
    assert "skipped empty.txt: empty file" in lines, lines
    assert any(line.startswith("skipped budget.xlsx: ") for line in lines), lines
    glued = [line for line in lines if "%|" in line or ("skipped " in line and not line.startswith("skipped ")
                                                           and " added, " not in line)]
    assert not glued, lines


def test_status_json_into_a_program_that_stops_reading_ends_quietly(tmp_path):
    import subprocess

    from conftest import citechat_command, subprocess_env

    docs = one_file_docs(tmp_path / "docs")
    assert run_cli("index", "--docs", str(docs)).returncode == 0
    command = " ".join(f"'{part}'" for part in [*citechat_command(), "status", "--json", "--docs", str(docs)])
    result = subprocess.run(f"{command} | head -1", shell=True, capture_output=True, text=True, timeout=120,
                            env=subprocess_env())
    assert result.stdout == "{\n" and result.stderr == "", result.stderr


def test_the_first_use_says_the_model_is_being_prepared(tmp_path):
    docs = one_file_docs(tmp_path / "docs")
    first = run_cli("index", "--docs", str(docs), CITECHAT_CACHE=str(tmp_path / "fresh-cache"))
    assert first.returncode == 0, first.stderr
    assert "Preparing the embedding model for this CPU (first use only; about 20 s)..." in first.stderr
    assert "deprecated" not in first.stderr and "Warning" not in first.stderr
    again = run_cli("index", "--docs", str(docs), "--rebuild", CITECHAT_CACHE=str(tmp_path / "fresh-cache"))
    assert "Preparing" not in again.stderr
