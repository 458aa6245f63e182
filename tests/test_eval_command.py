"""`citechat eval` on data sets that are not what they should be: a malformed questions file is one line saying
where, and the LangChain baseline reads only the corpus's own regular files, never through a link."""

from __future__ import annotations

import json
import os

import pytest

from citechat import baseline
from conftest import run_cli


def dataset(root, lines: list[str]):
    (root / "corpus").mkdir(parents=True)
    (root / "corpus" / "d1.txt").write_text("The lighthouse was built in 1874.\n")
    (root / "questions.jsonl").write_text("\n".join(lines) + "\n")
    return root


GOOD = json.dumps({"id": "q1", "question": "When was the lighthouse built?", "answers": ["1874"],
                   "gold_doc_ids": ["d1"], "answerable": True})


@pytest.mark.parametrize("bad, phrase", [
    ("{not json", "line 2 of"),
    ('["a list"]', 'an object with a "question" string'),
    ('{"question": "Why?", "answers": [1, 2]}', "lists of strings"),
    ("[" * 50_000, "line 2 of"),
])
def test_a_malformed_questions_file_is_one_line_saying_where(tmp_path, bad, phrase):
    data = dataset(tmp_path / "set", [GOOD, bad])
    result = run_cli("eval", str(data), "--no-baseline", "--index", str(tmp_path / "index"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("citechat: ") and phrase in lines[0]
    assert "Traceback" not in result.stderr


def test_a_folder_without_questions_says_what_it_needs(tmp_path):
    result = run_cli("eval", str(tmp_path), "--no-baseline")
    assert result.returncode == 2 and "No questions.jsonl in" in result.stderr and "Traceback" not in result.stderr


def test_the_baseline_reads_only_the_corpus_own_regular_files(tmp_path):
    corpus, outside = tmp_path / "corpus", tmp_path / "outside"
    (corpus / "sub").mkdir(parents=True)
    outside.mkdir()
    (corpus / "d1.txt").write_text("The lighthouse was built in 1874.\n")
    (corpus / "sub" / "d2.md").write_text("The ferry leaves at noon.\n")
    (outside / "secret.txt").write_text("The vault code is 7-4-1-9.\n")
    os.symlink(outside / "secret.txt", corpus / "linked.txt")
    os.symlink(outside, corpus / "linked folder")
    os.mkfifo(corpus / "pipe.txt")
    assert [p.relative_to(corpus).as_posix() for p in baseline.regular_files(corpus)] == ["d1.txt", "sub/d2.md"]
    texts = " ".join(d.page_content for d in baseline.load(corpus))
    assert "lighthouse" in texts and "ferry" in texts and "vault" not in texts
