"""The OpenAI-compatible API served beside the chat window (same app, same port): driven by the official
`openai` package, by LangChain's ChatOpenAI and, for malformed requests that no client library sends, by
plain HTTP. The real model, the real index, a real server on loopback."""

from __future__ import annotations

import json
import re
from dataclasses import fields

import httpx
import pytest

import citechat
from citechat.answering.types import Answer, Source
from test_answers import SEED, file_text
from ui_helpers import serving

pytestmark = pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")

QUESTION = "What did Altman say?"
SOURCE_FIELDS = {"n", "source", "title", "page", "start", "end", "text"}


@pytest.fixture(scope="module")
def server(seed_bot):
    with serving(seed_bot) as (running, _):
        yield running


@pytest.fixture(scope="module")
def client(server):
    from openai import OpenAI

    return OpenAI(base_url=server.url + "v1", api_key="not-checked-on-this-server", max_retries=0)


def assert_sources_resolve(content: str, sources: list[dict], docs) -> None:
    """Every [n] of the content is a source, and every source quotes its file exactly."""
    assert sources and {int(n) for n in re.findall(r"\[(\d+)\]", content)} == {s["n"] for s in sources}
    for s in sources:
        assert SOURCE_FIELDS <= set(s)
        assert file_text(docs, s["source"])[s["start"] : s["end"]] == s["text"]


def test_the_wire_shape_is_every_field_of_the_answer_and_its_sources():
    src = Source(1, "a.txt", "A", None, 0, 5, "Hello", 0.5, "Hello there.", 0)
    answer = Answer(question="q", text="Hello [1]", sources=[src], related=[src])
    data = answer.to_dict()
    assert set(data) == {f.name for f in fields(Answer)} | {"low_confidence"}
    assert data["sources"] == [src.to_dict()] == data["related"]
    assert set(src.to_dict()) == {f.name for f in fields(Source)}
    assert json.loads(json.dumps(data)) == data


def test_models_lists_citechat(client):
    assert [m.id for m in client.models.list()] == ["citechat"]


def test_a_cited_answer_and_its_sources(client, seed_bot, seed_index):
    reply = client.chat.completions.create(model="citechat", messages=[{"role": "user", "content": QUESTION}])
    content = reply.choices[0].message.content
    expected = seed_bot.answer(QUESTION)
    assert content == expected.text and "Altman" in content and "[1]" in content
    assert reply.choices[0].finish_reason == "stop" and reply.model == "citechat"
    sources = reply.model_extra["sources"]
    assert_sources_resolve(content, sources, seed_index[0])
    assert [(s["source"], s["start"], s["end"]) for s in sources] == [(s.source, s.start, s.end) for s in expected.sources]
    assert sources[0]["source"] == SEED
    extra = reply.model_extra["citechat"]
    assert extra["refused"] is False and extra["answerer"] == "extractive"


def test_a_streamed_answer_ends_with_its_sources(client, seed_index):
    whole = client.chat.completions.create(model="citechat", messages=[{"role": "user", "content": QUESTION}])
    chunks = list(client.chat.completions.create(model="citechat", stream=True,
                                                 messages=[{"role": "user", "content": QUESTION}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 2  # one cited sentence at a time
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert last.model_extra["sources"] == whole.model_extra["sources"]
    assert_sources_resolve(text, last.model_extra["sources"], seed_index[0])
    assert all("sources" not in c.model_extra for c in chunks[:-1])


def test_earlier_turns_are_the_history(client):
    first = client.chat.completions.create(model="citechat", messages=[{"role": "user", "content": QUESTION}])
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},  # ignored: citechat answers from the documents
        {"role": "user", "content": QUESTION},
        {"role": "assistant", "content": first.choices[0].message.content},
        {"role": "user", "content": [{"type": "text", "text": "Who first reported it?"}]},
    ]
    reply = client.chat.completions.create(model="citechat", messages=messages)
    assert "DealBook" in reply.choices[0].message.content
    assert "Altman" in reply.model_extra["citechat"]["standalone_question"]


def test_a_question_the_documents_cannot_answer_is_refused(client):
    reply = client.chat.completions.create(model="citechat",
                                           messages=[{"role": "user", "content": "What is the capital of Peru?"}])
    assert reply.model_extra["citechat"]["refused"] is True and reply.model_extra["sources"] == []


def test_langchain_chat_openai_pointed_at_citechat(server, seed_bot):
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model="citechat", base_url=server.url + "v1", api_key="unused", max_retries=0)
    expected = seed_bot.answer(QUESTION).text
    assert model.invoke(QUESTION).content == expected
    assert "".join(chunk.content for chunk in model.stream(QUESTION)) == expected
    follow_up = model.invoke([("human", QUESTION), ("ai", expected), ("human", "Who first reported it?")])
    assert "DealBook" in follow_up.content


# ---------------------------------------------------------------- keys


@pytest.mark.parametrize("setting", ["api_key", "auth_password"])
def test_with_a_key_the_api_refuses_requests_without_it(seed_bot, monkeypatch, setting):
    from openai import AuthenticationError, OpenAI

    if setting == "api_key":
        monkeypatch.setenv("CITECHAT_API_KEY", "ck-right-key-123")
        key, launch = "ck-right-key-123", {}
    else:  # no key of its own: the API takes the window's password
        monkeypatch.delenv("CITECHAT_API_KEY", raising=False)
        key, launch = "s3cret-pass", {"auth": "alice:s3cret-pass"}
    with serving(seed_bot, **launch) as (running, _):
        base = running.url + "v1"
        for wrong in ("wrong-key", "ck-right-key-12", "alice:s3cret-pass"):
            with pytest.raises(AuthenticationError) as refused:
                OpenAI(base_url=base, api_key=wrong, max_retries=0).models.list()
            assert refused.value.status_code == 401 and refused.value.code == "invalid_api_key"
            assert key not in str(refused.value.body)
        bare = httpx.post(base + "/chat/completions", json={"messages": [{"role": "user", "content": QUESTION}]})
        assert bare.status_code == 401 and bare.json()["error"]["code"] == "invalid_api_key"
        assert bare.headers["www-authenticate"] == "Bearer"
        reply = OpenAI(base_url=base, api_key=key, max_retries=0).chat.completions.create(
            model="citechat", messages=[{"role": "user", "content": QUESTION}])
        assert "[1]" in reply.choices[0].message.content and reply.model_extra["sources"]


# ---------------------------------------------------------------- bad requests


def user(content) -> dict:
    return {"model": "citechat", "messages": [{"role": "user", "content": content}]}


BAD_REQUESTS = [
    ("no messages", {"model": "citechat"}, 400, "non-empty list"),
    ("empty messages", {"model": "citechat", "messages": []}, 400, "non-empty list"),
    ("an image", user([{"type": "text", "text": "What is this?"},
                       {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]), 400, "text only"),
    ("a 1 MB message", user("why " * 250_000), 400, "1,000,000 characters"),
    ("the last message is not the user's", {"messages": [{"role": "user", "content": "Hi"},
                                                         {"role": "assistant", "content": "Hello"}]}, 400, "last message"),
    ("a message without a role", {"messages": [{"content": "Hi"}]}, 400, "role"),
    ("an unknown role", {"messages": [{"role": "wizard", "content": "Hi"}]}, 400, "unknown role"),
    ("stream is not a boolean", {**user("Hi"), "stream": "yes"}, 400, "stream"),
    ("several choices", {**user("Hi"), "n": 3}, 400, "one answer"),
    ("another model", {**user("Hi"), "model": "gpt-4o"}, 404, "does not exist"),
    ("a JSON array", [user("Hi")], 400, "JSON object"),
]


@pytest.mark.parametrize("name, body, status, phrase", BAD_REQUESTS, ids=[b[0] for b in BAD_REQUESTS])
def test_a_bad_request_gets_a_clear_error_and_no_traceback(server, name, body, status, phrase):
    response = httpx.post(server.url + "v1/chat/completions", json=body, timeout=60)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert phrase in error["message"] and error["type"] == "invalid_request_error"
    assert "Traceback" not in response.text


def test_malformed_json_oversized_bodies_and_unknown_paths(server):
    api = server.url + "v1"
    broken = httpx.post(api + "/chat/completions", content=b'{"messages": [', timeout=60,
                        headers={"Content-Type": "application/json"})
    assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]["message"]
    huge = httpx.post(api + "/chat/completions", content=b" " * (5 * 1024 * 1024), timeout=60)
    assert huge.status_code == 413 and "larger than" in huge.json()["error"]["message"]
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"n": ' + b"9" * 100_000 + b"}"):  # nesting, a huge number
        refused = httpx.post(api + "/chat/completions", content=body, timeout=60,
                             headers={"Content-Type": "application/json"})
        assert refused.status_code == 400 and refused.json()["error"]["type"] == "invalid_request_error"
        assert "Traceback" not in refused.text
    missing = httpx.get(api + "/embeddings", timeout=60)
    assert missing.status_code == 404 and "error" in missing.json()
    # The window is still served beside the API, on the same port.
    assert httpx.get(server.url, timeout=60).status_code == 200


def test_an_llm_that_does_not_answer_falls_back_to_quotes_with_a_notice(seed_index, monkeypatch):
    from openai import OpenAI
    from playwright.sync_api import expect

    from ui_helpers import ask, chromium, free_port, open_page

    # An OpenAI-compatible LLM server that is not running: the answerer's request fails for real.
    monkeypatch.setenv("CITECHAT_LLM_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")
    monkeypatch.setenv("CITECHAT_LLM_API_KEY", "sk-never-shown-9876")
    bot = citechat.open_index(seed_index[1], llm="openai:absent-model")
    with serving(bot) as (running, url):
        assert running.service.llm_problem and "did not answer" in running.service.llm_problem  # found at start
        client = OpenAI(base_url=url + "v1", api_key="x", max_retries=0)
        reply = client.chat.completions.create(model="citechat", messages=[{"role": "user", "content": QUESTION}])
        extra = reply.model_extra
        assert "[1]" in reply.choices[0].message.content and extra["sources"]
        assert extra["citechat"]["answerer"] == "extractive" and "quoted from the documents instead" in \
            extra["citechat"]["notice"]
        assert "sk-never-shown-9876" not in json.dumps(extra) and ".." not in extra["citechat"]["notice"]
        with chromium() as browser:
            page = open_page(browser, url)
            expect(page.locator("#llm-problem")).to_contain_text("did not answer")
            ask(page, QUESTION)
            expect(page.locator("#chat .cc-notice").last).to_contain_text("quoted from the documents instead")
            page.context.close()


def test_serve_can_require_its_llm(seed_index, tmp_path):
    from conftest import run_cli
    from ui_helpers import free_port

    result = run_cli("serve", "--index", str(seed_index[1]), "--port", "0", "--require-llm",
                     CITECHAT_LLM="openai:absent-model", CITECHAT_LLM_BASE_URL=f"http://127.0.0.1:{free_port()}/v1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "did not answer" in result.stderr and "--require-llm" in result.stderr
