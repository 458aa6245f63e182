"""The index on each store, side by side in one run: the local store (SQLite + FAISS), Milvus Lite, and the
LangChain tutorial pipeline (FAISS.from_documents, similarity_search) as the baseline.

For one development collection (default: ../shared/eval/squad2_train), each measurement runs in a fresh
process, the three kinds one after another: a full index build (seconds, chunks/s), then every question
retrieved once (p50/p95 ms, hit@5 of the gold documents), peak memory and disk. Real embeddings throughout.

    .venv/bin/python bench/store.py [--dataset DIR] [--repeats N] [--kinds local,milvus-lite,langchain] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "eval" / "squad2_train"
KINDS = ["local", "milvus-lite", "langchain"]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def p50_p95(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def disk_mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 1e6


def measure(kind: str, dataset: Path, work: Path) -> dict:
    """One kind, in this (fresh) process: build, then retrieve every question."""
    from citechat.eval import doc_id, load_questions, rank_metrics

    questions = load_questions(dataset)
    docs = dataset / "corpus"
    if kind == "langchain":
        from citechat import baseline

        embeddings = baseline.embeddings()
        embeddings.embed_query("warm up")  # the model load is kept out of the timing, as for citechat
        started = time.perf_counter()
        index, chunks = baseline.build(docs, embeddings)
        build = time.perf_counter() - started
        n_chunks = len(chunks)
        search = lambda q: [d.metadata["source"] for d in index.similarity_search(q, k=5)]  # noqa: E731
        disk = None
    else:
        import citechat
        from citechat.index.embeddings import Embedder

        store = "local" if kind == "local" else f"milvus:{work / 'milvus.db'}"
        Embedder("all-MiniLM-L6-v2").encode(["warm up"])
        started = time.perf_counter()
        report = citechat.build_index(docs, work / "index", store=store)
        build = time.perf_counter() - started
        n_chunks = report.chunks
        bot = citechat.open_index(work / "index", store=store)
        bot.retrieve("warm up")
        search = lambda q: [p.source for p in bot.retrieve(q, k=5)]  # noqa: E731
        disk = disk_mb(work)
    latencies, ranked = [], []
    for q in questions:
        started = time.perf_counter()
        sources = search(q.question)
        latencies.append((time.perf_counter() - started) * 1000)
        ranked.append([doc_id(s) for s in sources])
    p50, p95 = p50_p95(latencies)
    hit5 = rank_metrics(ranked, [set(q.gold_doc_ids) for q in questions], 5)[1]
    return {"kind": kind, "chunks": n_chunks, "build_s": round(build, 2), "chunks_per_s": round(n_chunks / build, 1),
            "retrieve_p50_ms": round(p50, 1), "retrieve_p95_ms": round(p95, 1), "hit@5": round(hit5, 3),
            "questions": len(questions), "peak_rss_mb": round(peak_rss_mb()), "disk_mb": disk and round(disk, 1)}


def run_worker(kind: str, dataset: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="citechat-store-bench-") as work:
        proc = subprocess.run([sys.executable, __file__, "_worker", kind, str(dataset), work], cwd=ROOT,
                              capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        if proc.returncode != 0:
            raise RuntimeError(f"{kind} failed:\n{proc.stderr[-3000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def table(results: list[dict]) -> str:
    columns = ["kind", "chunks", "build_s", "chunks_per_s", "retrieve_p50_ms", "retrieve_p95_ms", "hit@5",
               "peak_rss_mb", "disk_mb"]
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for r in results:
        lines.append("| " + " | ".join("" if r[c] is None else str(r[c]) for c in columns) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_worker":
        print(json.dumps(measure(argv[1], Path(argv[2]), Path(argv[3]))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, default=DEFAULT)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--kinds", default=",".join(KINDS), help="which of local, milvus-lite, langchain to run")
    args = parser.parse_args(argv)
    results = []
    for _ in range(args.repeats):
        for kind in args.kinds.split(","):  # interleaved: each repeat measures every kind once
            results.append(run_worker(kind, args.dataset.resolve()))
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(f"{args.dataset.name}; load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; "
          f"{os.cpu_count()} cores\n")
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
