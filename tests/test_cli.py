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
