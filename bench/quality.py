"""Retrieval and answer quality on a QA data set, next to the LangChain tutorial pipeline, in one run.

    .venv/bin/python bench/quality.py [DATASET_DIR [DOCS_DIR]]   (default: ../shared/eval/multihop_rag_lite)

Retrieval: hit@1, hit@5 and MRR@10 (a gold document among the passages) for dense only, BM25 only, their
reciprocal rank fusion, fusion followed by the best-sentence ordering (what citechat uses), and the baseline.
Answers: `citechat eval`'s figures, and for the baseline, which has no answerer without an LLM, what its
tutorial shows a user: the top 4 chunks. That "answer" never refuses and cites nothing exactly. Beside them,
how often the first chunk alone contains the gold answer, for citechat's first passage and the baseline's.
Files of every supported format are read, the baseline's with LangChain's loaders (`baseline.load`).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import baseline
import citechat
from citechat.eval import YES_NO, doc_id, evaluate, load_questions, normalise, rank_metrics
from citechat.retrieval import fuse
from corpus import DEV

DATASET = Path(sys.argv[1]) if len(sys.argv) > 1 else DEV
DOCS = Path(sys.argv[2]) if len(sys.argv) > 2 else DATASET / "corpus"


def contains_gold(texts: list[str], questions) -> float:
    """Share of the answerable questions (with a gold answer other than yes/no) whose text contains it."""
    golds = [[g for g in q.answers if normalise(g) not in YES_NO] for q in questions]
    scored = [(t, g) for t, g, q in zip(texts, golds, questions) if q.answerable and g]
    return sum(any(normalise(x) in normalise(t) for x in g) for t, g in scored) / len(scored) if scored else 0.0


def baseline_answers(store, questions) -> dict[str, float]:
    found = [store.similarity_search(q.question, k=4) for q in questions]
    texts = ["\n\n".join(d.page_content for d in docs) for docs in found]
    return {
        "answer_contains_gold": contains_gold(texts, questions),
        "top_chunk_contains_gold": contains_gold([docs[0].page_content if docs else "" for docs in found], questions),
        "refusal_rate_unanswerable": 0.0,
        "median_answer_chars": statistics.median(len(t) for t in texts),
    }


def main() -> None:
    everything = load_questions(DATASET)
    questions = [q for q in everything if q.answerable]
    golds = [set(q.gold_doc_ids) for q in questions]
    with tempfile.TemporaryDirectory() as tmp:
        citechat.build_index(DOCS, Path(tmp) / "index")
        bot = citechat.open_index(Path(tmp) / "index")
        r = bot.retriever
        ids = lambda rows: [doc_id(r.snapshot.chunks[row].source) for row, _ in rows]  # noqa: E731
        runs = {"dense": [], "bm25": [], "fusion (RRF)": [], "final (bot.retrieve)": []}
        started = time.perf_counter()
        for q in questions:
            dense, lexical = r.dense(q.question), r.lexical(q.question)
            runs["dense"].append(ids(dense))
            runs["bm25"].append(ids(lexical))
            runs["fusion (RRF)"].append(ids(fuse([dense, lexical])))
            runs["final (bot.retrieve)"].append([doc_id(p.source) for p in bot.retrieve(q.question, k=10)])
        print(f"{len(questions)} answerable questions, {bot.n_chunks} chunks ({time.perf_counter() - started:.1f}s)")
        report = evaluate(bot, everything, k=5)
        first = [bot.retrieve(q.question, k=1) for q in everything]
        top_passage = contains_gold([p[0].text if p else "" for p in first], everything)
    store, _ = baseline.build(DOCS, baseline.embeddings())
    runs["LangChain tutorial baseline"] = [
        [doc_id(d.metadata["source"]) for d in store.similarity_search(q.question, k=10)] for q in questions
    ]
    print(f"\n{'retrieval':<30} {'hit@1':>6} {'hit@5':>6} {'MRR@10':>7}")
    for name, ranked in runs.items():
        h1, h5, mrr = rank_metrics(ranked, golds, 5)
        print(f"{name:<30} {h1:6.3f} {h5:6.3f} {mrr:7.3f}")
    base = baseline_answers(store, everything)
    print(f"\n{'answers':<34} {'citechat':>9} {'baseline':>9}")
    for key in ("answer_contains_gold", "refusal_rate_unanswerable", "median_answer_chars"):
        print(f"{key:<34} {getattr(report, key):9.3f} {base[key]:9.3f}")
    print(f"{'top_chunk_contains_gold':<34} {top_passage:9.3f} {base['top_chunk_contains_gold']:9.3f}")
    print(f"{'false_refusal_rate':<34} {report.false_refusal_rate:9.3f} {0.0:9.3f}")
    print(f"{'citation_validity':<34} {report.citation_validity:9.3f} {'n/a':>9}")
    print(f"\ncitechat eval:\n{report.table()}")


if __name__ == "__main__":
    main()
