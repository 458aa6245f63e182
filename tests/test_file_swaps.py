"""A file swapped for something else between the folder listing and the reading, as an attacker who can write
to the documents folder (or a shared folder it links to) would race a sync: a symbolic link to a file outside
the folder, a folder swapped for a link, a named pipe. The window is made deterministic by doing the swap right
after the real listing returns."""

from __future__ import annotations

import os
import shutil
import time

import pytest

import citechat
from citechat.index import sync as sync_module
from citechat.config import settings
from citechat.index.sync import sync_index
from conftest import write_pdf

SECRET = "The vault code kept outside the folder is 7-4-1-9."


def swapping_listing(monkeypatch, swap) -> None:
    """Make the next listings run `swap()` just after the folder has been listed, before any file is opened."""
    real = sync_module.find_files

    def listed_then_swapped(docs_dir):
        found = real(docs_dir)
        swap()
        return found

    monkeypatch.setattr(sync_module, "find_files", listed_then_swapped)


@pytest.fixture
def folders(tmp_path):
    docs, outside = tmp_path / "docs", tmp_path / "outside"
    (docs / "sub").mkdir(parents=True)
    outside.mkdir()
    (docs / "notes.txt").write_text("The ferry leaves at noon from the north pier.\n")
    (docs / "sub" / "minutes.txt").write_text("The council met on Tuesday to discuss the bridge.\n")
    write_pdf(docs / "report.pdf", ["The orchard produced forty tonnes of apples this year."])
    (outside / "secret.txt").write_text(SECRET + "\n")
    (outside / "sub").mkdir()
    (outside / "sub" / "minutes.txt").write_text(SECRET + "\n")
    write_pdf(outside / "secret.pdf", [SECRET])
    return docs, outside


def indexed_text(index) -> str:
    return " ".join(c.text for c in citechat.open_index(index).snapshot.all_chunks())


def swap_for_link(path, target):
    def swap():
        os.unlink(path)
        os.symlink(target, path)

    return swap


@pytest.mark.parametrize("name, target", [("notes.txt", "secret.txt"), ("report.pdf", "secret.pdf")])
def test_a_file_swapped_for_a_link_outside_is_never_read(folders, tmp_path, embedder, monkeypatch, name, target):
    docs, outside = folders
    swapping_listing(monkeypatch, swap_for_link(docs / name, outside / target))
    report = sync_index(settings(docs_dir=docs, index_dir=tmp_path / "index"), embedder=embedder)
    skipped = {s.source: s.reason for s in report.skipped}
    assert "changed while it was being indexed (a symbolic link" in skipped[name]
    assert name not in report.added
    assert "vault code" not in indexed_text(tmp_path / "index")


def test_a_folder_swapped_for_a_link_outside_is_never_read(folders, tmp_path, embedder, monkeypatch):
    docs, outside = folders

    def swap():
        shutil.rmtree(docs / "sub")
        os.symlink(outside / "sub", docs / "sub")

    swapping_listing(monkeypatch, swap)
    report = sync_index(settings(docs_dir=docs, index_dir=tmp_path / "index"), embedder=embedder)
    skipped = {s.source: s.reason for s in report.skipped}
    assert "its folder 'sub' is no longer a folder" in skipped["sub/minutes.txt"]
    assert "vault code" not in indexed_text(tmp_path / "index")


def test_a_file_swapped_for_a_named_pipe_is_skipped_without_waiting(folders, tmp_path, embedder, monkeypatch):
    docs, _ = folders

    def swap():
        os.unlink(docs / "notes.txt")
        os.mkfifo(docs / "notes.txt")  # opened for reading in the usual way, it would wait for a writer for ever

    swapping_listing(monkeypatch, swap)
    started = time.monotonic()
    report = sync_index(settings(docs_dir=docs, index_dir=tmp_path / "index"), embedder=embedder)
    assert time.monotonic() - started < 60
    assert "a named pipe" in {s.source: s.reason for s in report.skipped}["notes.txt"]
    assert sorted(report.added) == ["report.pdf", "sub/minutes.txt"]


def test_an_indexed_file_swapped_for_a_link_leaves_the_index(folders, tmp_path, embedder, monkeypatch):
    docs, outside = folders
    s = settings(docs_dir=docs, index_dir=tmp_path / "index")
    sync_index(s, embedder=embedder)
    (docs / "notes.txt").write_text("The ferry now leaves at one o'clock.\n")  # changed: it will be read again
    swapping_listing(monkeypatch, swap_for_link(docs / "notes.txt", outside / "secret.txt"))
    report = sync_index(s, embedder=embedder)
    assert "notes.txt" in {s.source for s in report.skipped}
    text = indexed_text(tmp_path / "index")
    assert "vault code" not in text and "ferry" not in text
