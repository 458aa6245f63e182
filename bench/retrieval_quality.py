"""Retrieval quality of each step on a QA data set, next to the LangChain tutorial pipeline.

    .venv/bin/python bench/retrieval_quality.py [DATASET_DIR]   (default: ../shared/eval/multihop_rag_lite)

Prints hit@1, hit@5 and MRR@10 (a gold document among the passages) for dense only, BM25 only, their
reciprocal rank fusion, fusion followed by the best-sentence ordering, and the baseline.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import citechat
from citechat.eval import doc_id, load_questions
from citechat.retrieval import fuse

ROOT = Path(__file__).resolve().parents[1]
DATASET = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT.parent / "shared" / "eval" / "multihop_rag_lite"


def score(ranked_ids: list[list[str]], golds: list[set[str]]) -> tuple[float, float, float]:
    h1 = h5 = rr = 0.0
    for ids, gold in zip(ranked_ids, golds):
        first = next((i for i, d in enumerate(ids[:10], start=1) if d in gold), None)
        h1 += first == 1
        h5 += first is not None and first <= 5
        rr += 1 / first if first else 0
    n = len(golds)
    return h1 / n, h5 / n, rr / n


def baseline_rankings(questions, corpus: Path) -> list[list[str]]:
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    from citechat.embeddings import model_path

    docs = [Document(page_content=p.read_text(encoding="utf-8"), metadata={"source": p.name}) for p in sorted(corpus.glob("*.txt"))]
    chunks = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200).split_documents(docs)
    store = FAISS.from_documents(chunks, HuggingFaceEmbeddings(model_name=model_path("all-MiniLM-L6-v2")))
    return [[doc_id(d.metadata["source"]) for d in store.similarity_search(q.question, k=10)] for q in questions]


def main() -> None:
    questions = [q for q in load_questions(DATASET) if q.answerable]
    golds = [set(q.gold_doc_ids) for q in questions]
    with tempfile.TemporaryDirectory() as tmp:
        citechat.build_index(DATASET / "corpus", Path(tmp) / "index")
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
        runs["LangChain tutorial baseline"] = baseline_rankings(questions, DATASET / "corpus")
    print(f"{'method':<30} {'hit@1':>6} {'hit@5':>6} {'MRR@10':>7}")
    for name, ranked in runs.items():
        h1, h5, mrr = score(ranked, golds)
        print(f"{name:<30} {h1:6.3f} {h5:6.3f} {mrr:7.3f}")


if __name__ == "__main__":
    main()
