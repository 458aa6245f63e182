"""citechat as an MCP server over stdio: `citechat mcp` run as its own process and driven by the official MCP
client, as Claude Desktop, VS Code or Cursor would run it. The real model, the real index, the seed article."""

from __future__ import annotations

import shutil
import time
from dataclasses import fields
from datetime import datetime

import pytest

from citechat.answering.types import Answer
from citechat.mcp_server.tools import MAX_READ_CHARS, CitedAnswer
from conftest import PROJECT
from mcp_helpers import stdio_session
from test_answers import SEED, file_text

QUESTION = "What did Altman say?"
TOOLS = ["search", "ask", "list_documents", "read_document"]
LAGOON = "The Merrow lagoon is guarded by warden Ilse Brandt, who rows out at dawn.\n"


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mcp") / "docs"
    shutil.copytree(PROJECT / "seeds", folder)
    return folder


@pytest.fixture(scope="module")
def mcp(docs, embedder):
    """One `citechat mcp` for the module, on a folder with no index yet: it builds one at start."""
    with stdio_session("--docs", str(docs), "--index", str(docs.parent / "index"), log=docs.parent / "mcp.log") as s:
        yield s


def error_text(result) -> str:
    assert result.is_error and result.structured_content is None
    return result.content[0].text


def test_an_assistant_sees_four_read_only_tools_with_typed_results(mcp):
    tools = {t.name: t for t in mcp.tools()}
    assert list(tools) == TOOLS
    for tool in tools.values():
        assert len(tool.description) > 200 and tool.output_schema["type"] == "object"
        assert tool.annotations.read_only_hint and not tool.annotations.open_world_hint
    assert "`ask`" in tools["search"].description and "`search`" in tools["ask"].description
    assert tools["ask"].input_schema["required"] == ["question"]
    assert tools["search"].input_schema["properties"]["k"]["maximum"] == 20
    assert set(tools["read_document"].input_schema["properties"]) == {"name", "start", "end"}


def test_ask_gives_a_cited_answer_whose_spans_are_exact(mcp, docs, seed_bot):
    result = mcp.call("ask", question=QUESTION)
    assert not result.is_error
    answer = result.structured_content
    expected = seed_bot.answer(QUESTION)
    assert answer["text"] == expected.text and "Altman" in answer["text"] and "[1]" in answer["text"]
    assert not answer["refused"] and answer["low_confidence"] is False and answer["answerer"] == "extractive"
    assert answer["sources"] and answer["sources"][0]["source"] == SEED
    for s, e in zip(answer["sources"], expected.sources, strict=True):
        assert s == e.to_dict()
        assert file_text(docs, s["source"])[s["start"] : s["end"]] == s["text"]
    # Every field of the one wire shape, as /v1 sends it.
    assert {f.name for f in fields(CitedAnswer)} == set(Answer(question="", text="").to_dict())


def test_search_gives_passages_with_exact_offsets_best_first(mcp, docs):
    found = mcp.call("search", query="Altman's message to OpenAI employees", k=3).structured_content
    passages = found["passages"]
    assert 1 <= len(passages) <= 3 and passages[0]["source"] == SEED
    assert [p["score"] for p in passages] == sorted((p["score"] for p in passages), reverse=True)
    for p in passages:
        assert file_text(docs, p["source"])[p["start"] : p["end"]] == p["text"]
        assert set(p) == {"source", "title", "section", "page", "start", "end", "text", "score"}


def test_list_documents_gives_names_titles_sizes_and_times(mcp, docs):
    listed = mcp.call("list_documents").structured_content["documents"]
    assert [d["source"] for d in listed] == [SEED]
    assert listed[0]["size"] == (docs / SEED).stat().st_size and listed[0]["passages"] >= 1
    assert listed[0]["title"].startswith("OpenAI CEO Sam Altman")
    assert abs(datetime.fromisoformat(listed[0]["indexed_at"]).timestamp() - time.time()) < 3600


def test_read_document_reads_around_a_citation_in_the_same_offsets(mcp, docs):
    text = file_text(docs, SEED)
    cited = mcp.call("ask", question=QUESTION).structured_content["sources"][0]
    start, end = max(0, cited["start"] - 200), cited["end"] + 200
    around = mcp.call("read_document", name=SEED, start=start, end=end).structured_content
    assert around["text"] == text[start:end] and cited["text"] in around["text"]
    assert (around["start"], around["end"], around["length"], around["pages"]) == (start, end, len(text), [])
    whole = mcp.call("read_document", name=SEED).structured_content
    assert whole["text"] == text and whole["end"] == len(text) < MAX_READ_CHARS
    tail = mcp.call("read_document", name=SEED, start=len(text) - 10, end=len(text) + 500).structured_content
    assert tail["text"] == text[-10:] and tail["end"] == len(text)
    assert "past the end" in error_text(mcp.call("read_document", name=SEED, start=len(text) + 1))
    assert "before start" in error_text(mcp.call("read_document", name=SEED, start=50, end=10))


@pytest.mark.parametrize("name", ["unknown.txt", "../../etc/passwd", "/etc/passwd", f"./{SEED}", f"x/../{SEED}"])
def test_names_not_in_the_index_are_refused_as_tool_errors(mcp, name):
    message = error_text(mcp.call("read_document", name=name))
    assert f"“{name}” is not an indexed document" in message and "list_documents" in message
    assert "root:" not in message


def test_questions_empty_or_over_the_limit_are_tool_errors_and_the_server_goes_on(mcp, docs):
    assert "The question is empty" in error_text(mcp.call("ask", question="  \n"))
    assert "The query is empty" in error_text(mcp.call("search", query=""))
    long_question = "Why" + " why" * 1_124 + "?"  # 4,500 characters
    too_long = "The question is 4,500 characters long; ask in at most 4,000 characters."
    assert too_long in error_text(mcp.call("ask", question=long_question))
    assert too_long in error_text(mcp.call("search", query=long_question))
    assert "less than or equal to 20" in error_text(mcp.call("search", query=QUESTION, k=500))
    assert not mcp.call("ask", question=QUESTION).is_error
    log = (docs.parent / "mcp.log").read_text()
    assert "Traceback" not in log and "MCP server on stdin/stdout" in log


def test_a_document_added_to_the_folder_is_found_without_a_restart(mcp, docs):
    def sources() -> set[str]:
        passages = mcp.call("search", query="Who guards the Merrow lagoon?").structured_content["passages"]
        return {p["source"] for p in passages}

    (docs / "lagoon.txt").write_text(LAGOON, encoding="utf-8")
    wait_until(lambda: "lagoon.txt" in sources())
    answer = mcp.call("ask", question="Who guards the Merrow lagoon?").structured_content
    assert "Ilse Brandt" in answer["text"] and answer["sources"][0]["source"] == "lagoon.txt"
    (docs / "lagoon.txt").unlink()
    wait_until(lambda: "lagoon.txt" not in sources())
    assert "is not an indexed document" in error_text(mcp.call("read_document", name="lagoon.txt"))


def test_without_a_folder_every_tool_says_what_to_do_until_there_is_one(tmp_path, embedder):
    docs = tmp_path / "docs"
    with stdio_session("--docs", str(docs), log=tmp_path / "mcp.log") as session:
        message = error_text(session.call("ask", question=QUESTION))
        assert f"Documents folder not found: {docs}. Create it or pass --docs DIR." in message
        assert "not found" in error_text(session.call("list_documents"))
        docs.mkdir()
        (docs / "lagoon.txt").write_text(LAGOON, encoding="utf-8")
        answer = session.call("ask", question="Who guards the Merrow lagoon?").structured_content
        assert "Ilse Brandt" in answer["text"]
    assert "Traceback" not in (tmp_path / "mcp.log").read_text()


def wait_until(condition, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time limit"
        time.sleep(0.5)
