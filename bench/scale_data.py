"""Generated collections for bench/scale.py: Markdown documents whose every part is one chunk, of words drawn
from a Zipf distribution (so lexical search sees realistic posting lists), and an embedder that gives each text
a deterministic vector near its document's topic (so dense search sees clustered vectors, as real embeddings
are) without running a model. Questions are words of one chunk, with a vector near that chunk's."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DIMENSION = 384
PARTS_PER_DOCUMENT = 10
PART_CHARS = 850  # one part, under its own heading, is one chunk of at most 1,000 characters
FILES_PER_FOLDER = 1_000
VOCABULARY = 40_000
TOPICS = 4_096
SPREAD = 0.55  # how far a chunk's vector lies from its topic's centre (cosine to it about 0.88)


def _words(seed: int) -> list[str]:
    rng = random.Random(seed)
    letters = "abcdefghijklmnoprstuvwyz"
    words = set()
    while len(words) < VOCABULARY:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(4, 9))))
    return sorted(words)


WORDS = _words(7)
_WEIGHTS = 1.0 / np.arange(1, VOCABULARY + 1) ** 1.07  # Zipf
_CUMULATIVE = np.cumsum(_WEIGHTS / _WEIGHTS.sum())


def document_name(i: int) -> str:
    return f"d{i // FILES_PER_FOLDER:04d}/doc{i:07d}.md"


def document_text(i: int, version: int = 0) -> str:
    """Document i (of version `version`: a changed file has other words): PARTS_PER_DOCUMENT parts."""
    rng = np.random.default_rng([i, version])
    parts = [f"# Report {i}\n"]
    for part in range(PARTS_PER_DOCUMENT):
        words = [WORDS[k] for k in np.searchsorted(_CUMULATIVE, rng.random(PART_CHARS // 7))]
        sentences, at = [], 0
        while at < len(words):
            n = int(rng.integers(8, 18))
            sentences.append(" ".join(words[at:at + n]).capitalize() + ".")
            at += n
        body = " ".join(sentences)[:PART_CHARS].rsplit(" ", 1)[0] + "."
        parts.append(f"## Part {part} of report {i}\n\n{body}\n")
    return "\n".join(parts)


def write_collection(folder: Path, documents: int) -> None:
    for i in range(documents):
        path = folder / document_name(i)
        if i % FILES_PER_FOLDER == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document_text(i), encoding="utf-8")


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.linalg.norm(v, axis=-1, keepdims=True)).astype(np.float32)


_CENTRES = _unit(np.random.default_rng(11).standard_normal((TOPICS, DIMENSION)))


def _seed(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def vector_of(text: str) -> np.ndarray:
    """A text's vector: its report's topic centre plus noise of its own, both fixed by the text."""
    seed = _seed(text)
    report = text.split("Report ", 1)[1].split(None, 1)[0] if "Report " in text else str(seed)
    centre = _CENTRES[_seed(report) % TOPICS]
    noise = _unit(np.random.default_rng(seed).standard_normal(DIMENSION))
    return _unit(centre + SPREAD * noise)


class GeneratedEmbedder:
    """Stands in for citechat's Embedder in a sync or a retriever: deterministic vectors, no model. Questions
    made by `questions` get the vector planned for them."""

    name = "generated"
    dimension = DIMENSION

    def __init__(self) -> None:
        self.texts_embedded = 0
        self.planned: dict[str, np.ndarray] = {}

    def prepared(self) -> bool:
        return True

    def encode(self, texts: list[str], batch_size: int | None = None, cache: bool = False) -> np.ndarray:
        self.texts_embedded += len(texts)
        if not texts:
            return np.zeros((0, DIMENSION), dtype=np.float32)
        return np.stack([self.planned[t] if t in self.planned else vector_of(t) for t in texts])


@dataclass
class Question:
    text: str
    vector: np.ndarray


def questions(texts: list[str], n: int, seed: int = 3) -> list[Question]:
    """n questions, each some words of one of `texts` (chunk texts as indexed), its vector near that chunk's."""
    rng = random.Random(seed)
    out = []
    for text in rng.sample(texts, min(n, len(texts))):
        words = [w for w in text.replace(".", " ").split() if len(w) > 3]
        asked = " ".join(rng.sample(words, min(6, len(words))))
        noise = np.random.default_rng(_seed(asked)).standard_normal(DIMENSION).astype(np.float32)
        out.append(Question(asked, _unit(vector_of(text) + 0.02 * noise)))
    return out
