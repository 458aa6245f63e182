"""A document and a file name full of terminal escape sequences, through the real command line: `index`, `ask`
and `status` print them as visible text, never as sequences the terminal would obey (a new title, a cleared
screen, colours, a hidden link) nor as forged output lines."""

from __future__ import annotations

from citechat.terminal import shown, shown_json, shown_name
from conftest import run_cli

TITLE = "\x1b]0;owned\x07"  # sets the terminal's title
CLEAR = "\x1b[2J\x1b[H"  # clears the screen
LINK = "\x1b]8;;http://evil.example/\x1b\\click here\x1b]8;;\x1b\\"  # a hidden hyperlink
C1 = "\x9b31m"  # CSI as one 8-bit character
NAME = "minutes\nforged: everything is fine\x1b[31m.txt"
# What the document holds, raw. (The progress bars' own cursor movements, ESC [ A, are citechat's.)
RAW = ("\x1b]", "\x1b[2J", "\x1b[31m", "\x07", "\x9b")


def assert_visible(output: str) -> None:
    for sequence in RAW:
        assert sequence not in output, repr(output)
    assert not any(line.startswith("forged:") for line in output.splitlines()), output


def test_escape_sequences_print_as_visible_text(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / NAME).write_text(
        f"Harbour Council Minutes{TITLE}\n\nThe harbour master{CLEAR} said the breakwater will be repaired in "
        f"May{C1}. Details are on the council's page {LINK}.\n", encoding="utf-8")
    index = tmp_path / "index"
    indexed = run_cli("index", "--docs", str(docs), "--index", str(index))
    assert indexed.returncode == 0, indexed.stderr
    assert_visible(indexed.stdout + indexed.stderr)
    assert "added: minutes\\nforged: everything is fine\\x1b[31m.txt" in indexed.stdout

    asked = run_cli("ask", "When will the breakwater be repaired?", "--index", str(index))
    assert asked.returncode == 0, asked.stderr
    assert_visible(asked.stdout + asked.stderr)
    assert "\\x1b[2J" in asked.stdout and "repaired in May\\x9b31m" in asked.stdout
    passages = run_cli("ask", "council page link", "--passages", "--index", str(index))
    assert_visible(passages.stdout)
    assert "\\x1b]8;;http://evil.example/" in passages.stdout

    for args in (["status"], ["status", "--json"]):
        status = run_cli(*args, "--index", str(index))
        assert status.returncode == 0, status.stderr
        assert_visible(status.stdout)
    assert "minutes\\nforged" in run_cli("status", "--index", str(index)).stdout


def test_the_escaping_functions():
    assert shown("line one\r\nline two\tend\x1b[0m\x07") == "line one\nline two\tend\\x1b[0m\\x07"
    assert shown("a\rb\u202ec") == "a\\rb\\u202ec"
    assert shown_name("a\nb\tc\x9b") == "a\\nb\\tc\\x9b"
    assert shown_json({"name": "x\x1by\x9bz"}) == '{\n  "name": "x\\u001by\\u009bz"\n}'
    assert shown("plain text, “quotes” and ünïcödé 📚") == "plain text, “quotes” and ünïcödé 📚"
