"""`Bot.document`: an indexed document's text as the index read it (what MCP's read_document serves), in every
format, from inside the documents folder only. The real model and index, real files."""

from __future__ import annotations

import os

import pytest

import citechat
from citechat.bot import DocumentUnavailable
from citechat.ingest.files import UnsafeFile
from citechat.ingest.folder import find_file
from citechat.mcp_server.tools import CitechatTools
from citechat.web.service import ChatService
from conftest import COLLECTION_SOURCES, copy_tree


def test_every_chunk_is_the_documents_text_at_its_offsets_in_every_format(built_bot):
    documents = {source: built_bot.document(source) for source in COLLECTION_SOURCES}
    chunks = built_bot.snapshot.all_chunks()
    assert {c.source for c in chunks} == set(COLLECTION_SOURCES)
    for c in chunks:
        assert documents[c.source].text[c.start : c.end] == c.text
    answer = built_bot.answer("When was the lighthouse on Grey Point built?")
    for s in answer.sources:
        assert built_bot.document(s.source).text[s.start : s.end] == s.text


def test_a_range_names_the_pages_it_spans(built_bot):
    tools = CitechatTools(lambda: ChatService(built_bot))
    pages = built_bot.document("report.pdf").pages
    assert len(pages) == 2
    second = pages[1][0]
    assert tools.read_document("report.pdf", 0, 10).pages == [1]
    assert tools.read_document("report.pdf", second - 5, second + 5).pages == [1, 2]
    assert tools.read_document("report.pdf", second, second).pages == [2]
    assert tools.read_document("notes.txt").pages == []


@pytest.fixture
def own_copy(built, tmp_path, embedder):
    """A bot over a copy of the collection and its index, to change the files under it."""
    docs = copy_tree(built[0], tmp_path / "docs")
    citechat.build_index(docs, tmp_path / "index")
    bot = citechat.open_index(tmp_path / "index")
    yield docs, bot
    bot.close()


def test_a_file_changed_since_it_was_indexed_is_refused_not_misquoted(own_copy):
    docs, bot = own_copy
    (docs / "notes.txt").write_text("Entirely different words now.\n", encoding="utf-8")
    with pytest.raises(DocumentUnavailable, match="has changed since it was indexed; sync the index"):
        bot.document("notes.txt")


def test_a_file_swapped_for_a_link_out_of_the_folder_is_not_read(own_copy, tmp_path):
    docs, bot = own_copy
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0\n")
    os.unlink(docs / "notes.txt")
    os.symlink(secret, docs / "notes.txt")
    with pytest.raises(DocumentUnavailable, match="leads outside the documents folder") as refused:
        bot.document("notes.txt")
    assert "root:" not in str(refused.value)
    os.unlink(docs / "guide.md")
    with pytest.raises(DocumentUnavailable, match="cannot be read"):
        bot.document("guide.md")


@pytest.mark.parametrize("name", ["../etc/passwd", "/etc/passwd", "a//b.txt", "./notes.txt", "a\\..\\b.txt", ""])
def test_find_file_takes_plain_names_inside_the_folder_only(built, name):
    with pytest.raises(UnsafeFile):
        find_file(built[0], name)
