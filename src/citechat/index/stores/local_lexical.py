"""The local store's lexical index: SQLite FTS5 over each chunk's terms (`chunk_terms`: citechat's own tokens,
the words retrieval and the answerer count), kept in the same transactions as the chunks, so a sync's step
commits both or neither and a reader sees one generation of both.

FTS5 finds the candidates and ranks them by its own BM25 (k1 1.2); they are then scored on the scale of
`bm25_scores` (bm25s' k1 1.5, b 0.75), which the answer model was fitted on, from how many chunks hold each term
(`term_counts`, kept beside it: FTS5 would walk a term's whole posting list to count it) and the chunk and term
totals kept in `meta`. The FTS table is contentless: a removed chunk's terms are given back to it (`remove`),
computed again from the chunk, to take them out.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import Iterable

from ...ingest.chunking import Chunk
from .base import TermStats, bm25_scores, chunk_terms

# FTS5 ranks these many candidates (times what is asked) before they are scored as the answerer reads them.
CANDIDATES_FACTOR = 2
# FTS5 scores every chunk that holds a searched term, so the candidates come from a question's rarest terms:
# as many as hold at most this many chunks together (always the rarest one). Frequent terms weigh little in
# BM25 (idf); they still count when the candidates are scored.
POSTINGS_BUDGET = 5_000


def add(conn: sqlite3.Connection, rows: Iterable[tuple[int, Chunk]]) -> int:
    """Index the terms of each (id, chunk); returns how many terms they hold."""
    return _change(conn, rows, "INSERT INTO lexical (rowid, terms) VALUES (?, ?)", 1)


def remove(conn: sqlite3.Connection, rows: Iterable[tuple[int, Chunk]]) -> int:
    """Take the terms of each (id, chunk) out of the index; returns how many terms they held."""
    return _change(conn, rows, "INSERT INTO lexical (lexical, rowid, terms) VALUES ('delete', ?, ?)", -1)


def _change(conn: sqlite3.Connection, rows: Iterable[tuple[int, Chunk]], statement: str, sign: int) -> int:
    entries, held = [], Counter()
    for chunk_id, chunk in rows:
        terms = chunk_terms(chunk)
        entries.append((chunk_id, " ".join(terms)))
        held.update(set(terms))
    conn.executemany(statement, entries)
    conn.executemany("INSERT INTO term_counts (term, chunks) VALUES (?, ?) "
                     "ON CONFLICT (term) DO UPDATE SET chunks = chunks + excluded.chunks",
                     ((term, sign * n) for term, n in held.items()))
    return sum(len(terms.split()) for _, terms in entries)


def counts(conn: sqlite3.Connection, terms: Iterable[str]) -> dict[str, int]:
    """How many chunks hold each term (0 when none)."""
    wanted = sorted(set(terms))
    found: dict[str, int] = {}
    for start in range(0, len(wanted), 500):
        part = wanted[start : start + 500]
        found.update(conn.execute(f"SELECT term, chunks FROM term_counts WHERE term IN ({','.join('?' * len(part))})",
                                  part).fetchall())
    return {t: found.get(t, 0) for t in wanted}


def candidates(conn: sqlite3.Connection, terms: list[str], n: int, known: dict[str, int]) -> list[int]:
    """Ids of the chunks FTS5 ranks best for any of `terms` (their counts in `known`), best first."""
    present, postings = [], 0
    for term in sorted((t for t in set(terms) if known.get(t)), key=lambda t: known[t]):
        postings += known[term]
        if present and postings > POSTINGS_BUDGET:
            break
        present.append(term)
    if not present:
        return []
    query = " OR ".join(f'"{t}"' for t in present)  # tokens are word characters only: nothing to escape
    return [row[0] for row in conn.execute("SELECT rowid FROM lexical WHERE lexical MATCH ? ORDER BY rank LIMIT ?",
                                           (query, n * CANDIDATES_FACTOR))]


def rescored(query: list[str], chunks: list[tuple[int, list[str]]], stats_: TermStats, n: int
             ) -> list[tuple[int, float]]:
    """(id, score) of the n best of the (id, terms) chunks for the query on `bm25_scores`' scale, best first;
    none that match no term."""
    scores = bm25_scores(query, [terms for _, terms in chunks], stats_)
    ranked = sorted(((chunk_id, s) for (chunk_id, _), s in zip(chunks, scores) if s > 0), key=lambda item: -item[1])
    return ranked[:n]
