"""Retrieval and answer quality on QA data sets, next to the LangChain tutorial pipeline, in one run.

    .venv/bin/python bench/quality.py [DATASET_DIR ...]   (default: the three collections in ../shared/eval)

Per collection: retrieval hit@1, hit@5 and MRR@10 (a gold document among the passages) for dense only, BM25
only, their reciprocal rank fusion, what citechat uses (`bot.retrieve`), and the baseline; then `citechat
eval`'s table beside the baseline's. The baseline has no answerer without an LLM: its "answer" is its top
chunk, which never refuses and cites nothing exactly.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import citechat
from citechat.eval import cache_dir, doc_id, evaluate, evaluate_baseline, load_questions, rank_metrics, table
from citechat.answering.retrieval import fuse

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"
DEFAULT = [EVAL / name for name in ("squad2_train", "realtimeqa_dev", "multihop_rag_lite")]


def retrieval_by_step(bot, questions) -> dict[str, list[list[str]]]:
    r = bot.retriever
    ids = lambda rows: [doc_id(r.chunk(row).source) for row, _ in rows]  # noqa: E731
    runs: dict[str, list[list[str]]] = {"dense": [], "bm25": [], "fusion (RRF)": [], "citechat (bot.retrieve)": []}
    for q in questions:
        dense, lexical = r.dense(q.question), r.lexical(q.question)
        runs["dense"].append(ids(dense))
        runs["bm25"].append(ids(lexical))
        runs["fusion (RRF)"].append(ids(fuse([dense, lexical])))
        runs["citechat (bot.retrieve)"].append([doc_id(p.source) for p in bot.retrieve(q.question, k=10)])
    return runs


def measure(dataset: Path) -> None:
    everything = load_questions(dataset)
    answerable = [q for q in everything if q.answerable]
    golds = [set(q.gold_doc_ids) for q in answerable]
    index = cache_dir(dataset)  # shared with `citechat eval`: an unchanged corpus is not indexed again
    started = time.perf_counter()
    citechat.build_index(dataset / "corpus", index)
    bot = citechat.open_index(index)
    print(f"\n## {dataset.name}: {len(everything)} questions, {len(answerable)} answerable, {bot.n_chunks} chunks "
          f"(index synced in {time.perf_counter() - started:.0f} s)")
    runs = retrieval_by_step(bot, answerable)
    ours = evaluate(bot, everything, k=5)
    base = evaluate_baseline(dataset / "corpus", everything, k=5, cache=index.with_name(f"{index.name}-baseline.json"))
    print(f"\n{'retrieval':<30} {'hit@1':>6} {'hit@5':>6} {'MRR@10':>7}")
    for name, ranked in runs.items():
        h1, h5, mrr = rank_metrics(ranked, golds, 5)
        print(f"{name:<30} {h1:6.3f} {h5:6.3f} {mrr:7.3f}")
    print(f"{'LangChain tutorial baseline':<30} {base.hit_at_1:6.3f} {base.hit_at_k:6.3f} {base.mrr_at_10:7.3f}")
    print()
    print(table(ours, base, title=dataset.name))


def main() -> None:
    for dataset in [Path(a) for a in sys.argv[1:]] or DEFAULT:
        measure(dataset)


if __name__ == "__main__":
    main()
