"""Hybrid retrieval over one index snapshot: dense and lexical (BM25) search by the store, their fusion, and the
best-sentence order."""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from ..index.embeddings import Embedder
from ..index.stores.base import RRF_K, Hit, Snapshot
from ..index.terms import tokenize
from ..ingest.chunking import Chunk
from ..ingest.text import sentence_spans

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
    row: int  # the chunk's id in the snapshot, unique per chunk
    section: str = ""  # headings the passage sits under: "Handbook › Expenses"
    page_start: int = 0  # where its page starts in the document text (0 when not paged)
    # How each search ranked it (rank -1: not among that search's candidates); read by the answerer.
    dense_score: float = 0.0
    lexical_score: float = 0.0
    dense_rank: int = -1
    lexical_rank: int = -1


# Chunks whose sentences' tokens are kept per retriever (an index on a server may be far larger than memory).
SENTENCE_CACHE = 20_000


class Retriever:
    """Searches one snapshot of the index; the store does the dense and lexical searches."""

    def __init__(self, snapshot: Snapshot, embedder: Embedder) -> None:
        self.snapshot = snapshot
        self.embedder = embedder
        self._sentence_tokens: OrderedDict[int, list[frozenset[str]]] = OrderedDict()
        self._chunks: OrderedDict[int, Chunk] = OrderedDict()  # the chunks searches returned, by row

    def document_frequency(self, token: str) -> int:
        """In how many chunks the (tokenized) term occurs."""
        return self.snapshot.term_stats([token]).counts[token]

    def idf(self, token: str) -> float:
        stats = self.snapshot.term_stats([token])
        df = stats.counts[token]
        return math.log(1 + (stats.n_chunks - df + 0.5) / (df + 0.5))

    def _vector(self, question: str):
        return self.embedder.encode([question], cache=True)[0]

    def dense(self, question: str, n: int = CANDIDATES) -> list[tuple[int, float]]:
        return self._rows(self.snapshot.dense(self._vector(question), n))

    def lexical(self, question: str, n: int = CANDIDATES) -> list[tuple[int, float]]:
        return self._rows(self.snapshot.lexical(tokenize(question), n))

    def _rows(self, hits: list[Hit]) -> list[tuple[int, float]]:
        for h in hits:
            self._remember(self._chunks, h.id, h.chunk)
        return [(h.id, h.score) for h in hits]

    def _rankings(self, question: str, mode: str) -> tuple[list, list, list]:
        """(dense, lexical, fused) rankings of rows for the question; only the mode's own are computed."""
        if mode == "hybrid":
            hits = self.snapshot.hybrid(self._vector(question), tokenize(question), CANDIDATES)
            if hits is not None:  # the store fused them: each search's ranking is read from the exact scores
                fused = self._rows(hits)
                dense = [(h.id, h.dense) for h in sorted(hits, key=lambda h: -h.dense)]
                lexical = [(h.id, h.lexical) for h in sorted(hits, key=lambda h: -h.lexical) if h.lexical > 0]
                return dense, lexical, fused
        dense = self.dense(question) if mode != "lexical" else []
        lexical = self.lexical(question) if mode != "dense" else []
        return dense, lexical, fuse([dense, lexical]) if mode == "hybrid" else []

    def search(self, question: str, k: int = 5, mode: str = "hybrid") -> list[Passage]:
        """The k best passages for the question, best first. mode: "hybrid", "dense" or "lexical"."""
        self.snapshot.term_stats(tokenize(question))  # one look-up of the question's terms for what follows
        dense, lexical, fused = self._rankings(question, mode)
        if mode == "dense":
            ranked = dense
        elif mode == "lexical":
            ranked = lexical
        else:
            ranked = self.by_best_sentence(question, fused[:RERANK])
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
            text = self._chunks[row].text
            cached = [frozenset(tokenize(text[a:b])) for a, b in sentence_spans(text)]
            self._remember(self._sentence_tokens, row, cached)
        return cached

    @staticmethod
    def _remember(cache: OrderedDict, key, value) -> None:
        cache[key] = value
        if len(cache) > SENTENCE_CACHE:
            cache.popitem(last=False)

    def chunk(self, row: int) -> Chunk:
        """The chunk of a row that a search of this retriever returned."""
        return self._chunks[row]

    def passage(self, row: int, score: float) -> Passage:
        """The passage of a row that a search of this retriever returned."""
        c = self.chunk(row)
        return Passage(c.text, c.source, c.title, c.start, c.end, c.page, round(score, 6), c.ordinal, row, c.section,
                       c.page_start)


def fuse(rankings: list[list[tuple[int, float]]], k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion of several rankings of rows."""
    fused: dict[int, float] = {}
    for ranking in rankings:
        for rank, (row, _) in enumerate(ranking):
            fused[row] = fused.get(row, 0.0) + 1.0 / (k + rank + 1)
    return sorted(fused.items(), key=lambda item: -item[1])
