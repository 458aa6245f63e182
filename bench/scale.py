"""The index at scale: build, open, search and sync an index of N generated chunks, each step measured in a
fresh process (so that its memory and its start are its own).

    .venv/bin/python bench/scale.py --chunks 100000 --json /tmp/scale-100k.json [--store local|milvus:PATH.db]
                                    [--work DIR] [--questions 200]

The documents are generated (bench/scale_data.py: Markdown files whose every part is one chunk, Zipf-distributed
words) and written, chunked and stored by citechat's real sync; only the vectors come from a deterministic
generator instead of the model, so that the run measures the store. An index built once is reused from --work
(default ~/.cache/citechat/scale). One JSON object is written, with at least: chunks, build_s, open_s (cold),
open_warm_s, rss_mb (a process that has opened the index and answered one question; the embedding model, about
150 MB more in a server, is not loaded), disk_mb, retrieve_p50_ms, retrieve_p95_ms, recall_at_10 (of the dense
search against exact search over every stored vector), sync_added_s, sync_changed_s, sync_deleted_s (one file
each), first_question_after_sync_ms (a process that has answered, syncs one changed file and answers again).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale_data import PARTS_PER_DOCUMENT, GeneratedEmbedder, Question, document_name, document_text, questions, write_collection  # noqa: E402,E501

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def settings_of(work: Path, store: str):
    from citechat.config import settings

    return settings(docs_dir=work / "docs", index_dir=work / "index", store=store)


def open_bot(work: Path, store: str, embedder: GeneratedEmbedder):
    from citechat.bot import Bot

    return Bot(settings_of(work, store), embedder=embedder)


def planned(work: Path) -> tuple[GeneratedEmbedder, list[Question]]:
    saved = json.loads((work / "questions.json").read_text())
    asked = [Question(q["text"], np.asarray(q["vector"], dtype=np.float32)) for q in saved]
    embedder = GeneratedEmbedder()
    embedder.planned = {q.text: q.vector for q in asked}
    return embedder, asked


# ---------------------------------------------------------------- steps, each in a process of its own


def step_build(work: str, store: str) -> dict:
    from citechat.index.sync import sync_index

    started = time.perf_counter()
    report = sync_index(settings_of(Path(work), store), embedder=GeneratedEmbedder())
    return {"build_s": time.perf_counter() - started, "chunks": report.chunks, "peak_rss_mb": _rss()}


def step_open(work: str, store: str) -> dict:
    embedder, asked = planned(Path(work))
    started = time.perf_counter()
    bot = open_bot(Path(work), store, embedder)
    opened = time.perf_counter() - started
    started = time.perf_counter()
    bot.retrieve(asked[0].text)
    return {"open_s": opened, "first_question_ms": (time.perf_counter() - started) * 1000, "rss_mb": _rss()}


def step_serve(work: str, store: str) -> dict:
    """Answer a few questions to warm up, then time every other planned question, each asked for the first time
    (nothing about its words cached yet); then the dense search's top 10 of each."""
    embedder, asked = planned(Path(work))
    bot = open_bot(Path(work), store, embedder)
    for q in asked[:WARM_UP]:
        bot.retrieve(q.text)
    times = []
    for q in asked[WARM_UP:]:
        started = time.perf_counter()
        bot.retrieve(q.text)
        times.append((time.perf_counter() - started) * 1000)
    top = [[h.chunk.source + f"#{h.chunk.ordinal}" for h in bot.snapshot.dense(q.vector, 10)] for q in asked]
    return {"retrieve_p50_ms": float(np.percentile(times, 50)), "retrieve_p95_ms": float(np.percentile(times, 95)),
            "rss_mb": _rss(), "dense_top10": top}


def step_sync(work: str, store: str) -> dict:
    """One file added, one changed, one deleted (each its own sync), then a process that has answered syncs a
    changed file and answers again."""
    from citechat.index.sync import sync_index

    root = Path(work)
    docs = root / "docs"
    n = _documents(root)
    out = {}
    for kind, change in (("added", lambda: _write(docs, n, 0)), ("changed", lambda: _write(docs, 0, 1)),
                         ("deleted", lambda: (docs / document_name(n)).unlink())):
        change()
        started = time.perf_counter()
        sync_index(settings_of(root, store), embedder=GeneratedEmbedder())
        out[f"sync_{kind}_s"] = time.perf_counter() - started
    embedder, asked = planned(root)
    bot = open_bot(root, store, embedder)
    bot.retrieve(asked[1].text)
    _write(docs, 1, 1)
    bot.sync()
    started = time.perf_counter()
    bot.retrieve(asked[2].text)
    out["first_question_after_sync_ms"] = (time.perf_counter() - started) * 1000
    _write(docs, 0, 0)  # put the collection back as built
    _write(docs, 1, 0)
    sync_index(settings_of(root, store), embedder=GeneratedEmbedder())
    return out


WARM_UP = 10  # questions asked before the timed ones

STEPS = {"build": step_build, "open": step_open, "serve": step_serve, "sync": step_sync}


def _rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _documents(root: Path) -> int:
    return json.loads((root / "built.json").read_text())["documents"]


def _write(docs: Path, i: int, version: int) -> None:
    path = docs / document_name(i)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(document_text(i, version), encoding="utf-8")


def run_step(name: str, work: Path, store: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "_step", name, str(work), store], capture_output=True,
                          text=True)
    if proc.returncode:
        raise RuntimeError(f"step {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the run


def exact_top10(work: Path, asked: list[Question]) -> list[list[str]]:
    """The 10 nearest stored vectors of each question, over every vector in the database, in batches."""
    conn = sqlite3.connect(f"file:{work / 'index' / 'chunks.sqlite'}?mode=ro", uri=True)
    queries = np.stack([q.vector for q in asked])
    best = [[] for _ in asked]
    rows = conn.execute("SELECT source, ordinal, vector FROM chunks")
    while batch := rows.fetchmany(50_000):
        vectors = np.frombuffer(b"".join(r[2] for r in batch), dtype=np.float32).reshape(len(batch), -1)
        scores = queries @ vectors.T
        for qi in range(len(asked)):
            top = np.argpartition(-scores[qi], min(10, len(batch) - 1))[:10]
            best[qi] = sorted(best[qi] + [(float(scores[qi, t]), f"{batch[t][0]}#{batch[t][1]}") for t in top])[-10:]
    conn.close()
    return [[name for _, name in reversed(b)] for b in best]


def plan_questions(work: Path, n: int) -> None:
    from citechat.ingest.chunking import indexed_text

    conn = sqlite3.connect(f"file:{work / 'index' / 'chunks.sqlite'}?mode=ro", uri=True)
    top = conn.execute("SELECT MAX(id) FROM chunks").fetchone()[0]
    ids = np.random.default_rng(5).choice(np.arange(1, top + 1), size=min(4 * n, top), replace=False)
    rows = conn.execute(f"SELECT title, section, text FROM chunks WHERE id IN ({','.join(map(str, ids))})").fetchall()
    conn.close()
    asked = questions([indexed_text(*r) for r in rows], n)
    (work / "questions.json").write_text(json.dumps([{"text": q.text, "vector": q.vector.tolist()} for q in asked]))


def build(work: Path, chunks: int, store: str) -> dict:
    built = work / "built.json"
    if built.exists():
        return json.loads(built.read_text())
    shutil.rmtree(work, ignore_errors=True)
    documents = max(1, chunks // PARTS_PER_DOCUMENT)
    write_collection(work / "docs", documents)
    result = {"documents": documents, **run_step("build", work, store)}
    built.write_text(json.dumps(result))
    return result


def drop_caches() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, required=True)
    parser.add_argument("--store", default="local")
    parser.add_argument("--json", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path.home() / ".cache" / "citechat" / "scale")
    parser.add_argument("--questions", type=int, default=200)
    args = parser.parse_args()
    work = args.work / f"{args.store.replace(':', '_').replace('/', '_')}-{args.chunks}"
    load = os.getloadavg()[0]
    built = build(work, args.chunks, args.store)
    if not (work / "questions.json").exists():
        plan_questions(work, args.questions)
    cold = drop_caches()
    opened = run_step("open", work, args.store)
    warm = run_step("open", work, args.store)
    served = run_step("serve", work, args.store)
    _, asked = planned(work)
    exact = exact_top10(work, asked)
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(served.pop("dense_top10"), exact)]))
    synced = run_step("sync", work, args.store)
    disk = sum(p.stat().st_size for p in (work / "index").rglob("*") if p.is_file()) / 2**20
    result = {"chunks": built["chunks"], "documents": built["documents"], "store": args.store,
              "build_s": built["build_s"], "build_peak_rss_mb": built["peak_rss_mb"],
              "open_s": opened["open_s"], "open_cold": cold, "open_warm_s": warm["open_s"],
              "first_question_ms": opened["first_question_ms"], "rss_mb": max(served["rss_mb"], opened["rss_mb"]),
              "disk_mb": disk, "retrieve_p50_ms": served["retrieve_p50_ms"],
              "retrieve_p95_ms": served["retrieve_p95_ms"], "recall_at_10": recall, **synced,
              "load_average_at_start": load, "date": time.strftime("%Y-%m-%d %H:%M")}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_step":
        print(json.dumps(STEPS[sys.argv[2]](sys.argv[3], sys.argv[4])))
    else:
        sys.exit(main())
