"""citechat as an MCP server over streamable HTTP, at /mcp of a real `citechat serve` run as its own process:
the official MCP client with the server's key, and the attacks the app's guards and the key must stop, sent
as plain HTTP. The real model, the real index, the seed article."""

from __future__ import annotations

import json

import httpx
import pytest

from conftest import citechat_command, copy_tree, subprocess_env
from mcp_helpers import http_transport, mcp_session
from test_answers import SEED, file_text
from test_mcp import QUESTION, TOOLS, error_text
from ui_helpers import free_port, server_process, serving

KEY = "mcp-test-key-7f3a"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
              "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                         "clientInfo": {"name": "attacker", "version": "1"}}}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


@pytest.fixture(scope="module")
def served(seed_index, tmp_path_factory):
    """(URL, documents folder) of `citechat serve` with an API key, on a copy of the seed folder."""
    root = tmp_path_factory.mktemp("mcp-http")
    docs = copy_tree(seed_index[0], root / "docs")
    port = free_port()
    url = f"http://127.0.0.1:{port}/"
    command = [*citechat_command(), "serve", "--docs", str(docs), "--index", str(root / "index"), "--port", str(port)]
    with server_process(command, url, root / "serve.log", env=subprocess_env(CITECHAT_API_KEY=KEY)):
        yield url, docs
    assert "Traceback" not in (root / "serve.log").read_text()


@pytest.fixture(scope="module")
def mcp(served):
    with mcp_session(http_transport(served[0] + "mcp", KEY)) as session:
        yield session


def post(url: str, body: object = INITIALIZE, **headers: str) -> httpx.Response:
    return httpx.post(url + "mcp", content=json.dumps(body), headers={**MCP_HEADERS, **headers}, timeout=60)


def test_with_the_key_an_assistant_gets_the_tools_and_exact_citations(mcp, served):
    assert [t.name for t in mcp.tools()] == TOOLS
    answer = mcp.call("ask", question=QUESTION).structured_content
    assert "Altman" in answer["text"] and "[1]" in answer["text"] and answer["sources"][0]["source"] == SEED
    for s in answer["sources"]:
        assert file_text(served[1], s["source"])[s["start"] : s["end"]] == s["text"]
    cited = answer["sources"][0]
    around = mcp.call("read_document", name=SEED, start=cited["start"], end=cited["end"]).structured_content
    assert around["text"] == cited["text"]


def test_ten_tool_calls_at_once_are_all_answered(mcp):
    calls = [("ask", {"question": QUESTION})] * 6 + [("search", {"query": QUESTION, "k": 3})] * 4
    results = mcp.call_at_once(calls)
    assert not any(r.is_error for r in results)
    assert len({r.structured_content["text"] for r in results[:6]}) == 1
    assert all(r.structured_content["passages"][0]["source"] == SEED for r in results[6:])


def test_errors_are_tool_errors_that_say_what_to_do(mcp):
    too_long = "The question is 4,500 characters long; ask in at most 4,000 characters."
    assert too_long in error_text(mcp.call("ask", question="Why" + " why" * 1_124 + "?"))
    assert "is not an indexed document" in error_text(mcp.call("read_document", name="../../etc/passwd"))
    assert not mcp.call("list_documents").is_error


def test_a_missing_or_wrong_key_gets_401(served):
    url = served[0]
    for headers in ({}, {"Authorization": "Bearer wrong-key"}, {"Authorization": f"Basic {KEY}"}):
        refused = post(url, **headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert "Authorization: Bearer KEY" in refused.json()["error_description"]
    with pytest.raises(Exception):  # the official client cannot even start a session
        with mcp_session(http_transport(url + "mcp", "wrong-key")):
            pass
    assert post(url, Authorization=f"Bearer {KEY}").status_code == 200


def test_the_app_guards_stand_in_front_of_mcp(served):
    url, key = served[0], {"Authorization": f"Bearer {KEY}"}
    forged = post(url, Host="rebound.example", **key)
    assert forged.status_code == 400 and "does not answer to the name 'rebound.example'" in forged.text
    assert post(url, Origin="https://evil.example", **key).status_code == 403
    assert post(url, {"padding": "x" * 100_000}, **key).status_code == 413
    assert httpx.get(url + "mcp", headers=key, timeout=60).status_code == 405  # no event stream to hold open


def test_on_loopback_without_a_key_the_client_needs_none(seed_bot):
    with serving(seed_bot) as (_, url), mcp_session(http_transport(url + "mcp")) as session:
        assert not session.call("ask", question=QUESTION).is_error
