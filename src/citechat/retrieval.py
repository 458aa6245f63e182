"""Hybrid retrieval over one index snapshot: dense (FAISS), lexical (BM25) and their fusion."""

from __future__ import annotations

import functools
import math
import re
import threading
from dataclasses import dataclass

from .documents import indexed_text
from .embeddings import Embedder
from .store import Snapshot
from .text import sentence_spans

_TOKEN = re.compile(r"(?u)\b\w\w+\b")
# Reciprocal rank fusion constant (Cormack et al. use 60; smaller favours the top of each list).
RRF_K = 60
CANDIDATES = 50
# The best-sentence ordering reranks this many fused candidates. Its weight is six times the RRF score of a
# first rank (1/61), so it leads and fusion breaks ties: measured best on the development set
# (bench/quality.py).
RERANK = 20
SENTENCE_WEIGHT = 0.1


@dataclass
class Passage:
    text: str
    source: str
    title: str
    start: int
    end: int
    page: int | None
    score: float
    ordinal: int
    row: int  # position in the snapshot, unique per chunk
    section: str = ""  # headings the passage sits under: "Handbook › Expenses"
    page_start: int = 0  # where its page starts in the document text (0 when not paged)
    # How each search ranked it (rank -1: not among that search's candidates); read by the answerer.
    dense_score: float = 0.0
    lexical_score: float = 0.0
    dense_rank: int = -1
    lexical_rank: int = -1


@functools.lru_cache(maxsize=100_000)  # the same words recur in every passage an answer reads
def stem(token: str) -> str:
    """A light English stemmer: enough to match plurals and simple verb forms."""
    for suffix, replacement in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("s", "")):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3 and not token.endswith("ss"):
            return token[: -len(suffix)] + replacement
    return token


STOPWORDS = frozenset(
    """a an and are as at be been but by did do does for from had has have he her his how i in is it its of on or
    our she so than that the their them then there these they this to was we were what when where which who whom
    why will with would you your about after before into over under also not no yes if can could should may might
    said says say any all some more most other such only own same too very just did does doing""".split()
)


def tokenize(text: str) -> list[str]:
    return [stem(t) for t in _TOKEN.findall(text.lower()) if t not in STOPWORDS]


class Retriever:
    def __init__(self, snapshot: Snapshot, embedder: Embedder) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        self._bm25 = None
        self._df: dict[str, int] = {}
        self._bm25_lock = threading.Lock()
        self._sentence_tokens: dict[int, list[frozenset[str]]] = {}

    @property
    def bm25(self):
        with self._bm25_lock:
            if self._bm25 is None:
                self._bm25 = self._build_bm25()
        return self._bm25

    def _build_bm25(self):
        import bm25s

        model = bm25s.BM25()
        corpus = [tokenize(indexed_text(c.title, c.section, c.text)) for c in self.snapshot.chunks]
        for tokens in corpus:
            for token in set(tokens):
                self._df[token] = self._df.get(token, 0) + 1
        if corpus:
            model.index(corpus, show_progress=False)
        return model

    def document_frequency(self, token: str) -> int:
        """In how many chunks the (tokenized) term occurs."""
        self.bm25
        return self._df.get(token, 0)

    def idf(self, token: str) -> float:
        n = len(self.snapshot.chunks)
        df = self.document_frequency(token)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def dense(self, question: str, n: int = CANDIDATES) -> list[tuple[int, float]]:
        if not self.snapshot.chunks:
            return []
        query = self.embedder.encode([question], cache=True)
        scores, rows = self.snapshot.vectors.search(query, min(n, len(self.snapshot.chunks)))
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if r >= 0]

    def lexical(self, question: str, n: int = CANDIDATES) -> list[tuple[int, float]]:
        if not self.snapshot.chunks:
            return []
        model = self.bm25
        tokens = [t for t in tokenize(question) if t in model.vocab_dict]
        if not tokens:
            return []
        rows, scores = model.retrieve([tokens], k=min(n, len(self.snapshot.chunks)), show_progress=False, n_threads=1)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0]) if s > 0]

    def search(self, question: str, k: int = 5, mode: str = "hybrid") -> list[Passage]:
        """The k best passages for the question, best first. mode: "hybrid", "dense" or "lexical"."""
        dense = self.dense(question) if mode != "lexical" else []
        lexical = self.lexical(question) if mode != "dense" else []
        if mode == "dense":
            ranked = dense
        elif mode == "lexical":
            ranked = lexical
        else:
            ranked = self.by_best_sentence(question, fuse([dense, lexical])[:RERANK])
        passages = [self.passage(row, score) for row, score in ranked[:k]]
        for results, kind in ((dense, "dense"), (lexical, "lexical")):
            where = {row: (rank, score) for rank, (row, score) in enumerate(results)}
            for p in passages:
                if p.row in where:
                    setattr(p, f"{kind}_rank", where[p.row][0])
                    setattr(p, f"{kind}_score", where[p.row][1])
        return passages

    def by_best_sentence(self, question: str, ranked: list[tuple[int, float]]) -> list[tuple[int, float]]:
        """Reorder fused candidates, adding how much of the question (idf-weighted) the passage's best
        sentence contains: a passage that answers in one sentence beats one that scatters the words."""
        weights = {t: self.idf(t) for t in set(tokenize(question))}
        total = sum(weights.values())
        if not total:
            return ranked
        rescored = []
        for row, score in ranked:
            best = max((sum(w for t, w in weights.items() if t in sentence) for sentence in self._sentences(row)), default=0.0)
            rescored.append((row, score + SENTENCE_WEIGHT * best / total))
        return sorted(rescored, key=lambda item: -item[1])

    def _sentences(self, row: int) -> list[frozenset[str]]:
        """The token sets of a chunk's sentences, computed once per chunk."""
        cached = self._sentence_tokens.get(row)
        if cached is None:
            text = self.snapshot.chunks[row].text
            cached = self._sentence_tokens[row] = [frozenset(tokenize(text[a:b])) for a, b in sentence_spans(text)]
        return cached

    def passage(self, row: int, score: float) -> Passage:
        c = self.snapshot.chunks[row]
        return Passage(c.text, c.source, c.title, c.start, c.end, c.page, round(score, 6), c.ordinal, row, c.section,
                       c.page_start)


def fuse(rankings: list[list[tuple[int, float]]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of several rankings of rows."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (row, _) in enumerate(ranking):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank + 1)
    return sorted(fused.items(), key=lambda item: -item[1])
