"""The measurements of bench/run.py, each run in a fresh child process (so that peak memory is that pipeline's
own): `python bench/measure.py KIND PARAMS_JSON` prints the result as JSON on its last line. Which version of
citechat a child imports is chosen by its PYTHONPATH (see run.py's --before).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import baseline  # noqa: E402
from baseline import MODEL  # noqa: E402
from corpus import DEV  # noqa: E402

FIRST_QUESTION = "What did Altman say?"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def p50_p95(values: list[float]) -> tuple[float, float]:
    from citechat.eval import percentile

    return percentile(values, 0.5), percentile(values, 0.95)


def timed_ms(fn, items) -> list[float]:
    """Milliseconds of fn(item) for each item."""
    times = []
    for item in items:
        started = time.perf_counter()
        fn(item)
        times.append((time.perf_counter() - started) * 1000)
    return times


def corpus_size(docs: Path) -> tuple[int, int]:
    files = sorted(p for p in docs.rglob("*") if p.is_file() and not p.name.startswith("."))
    return len(files), sum(len(p.read_text(encoding="utf-8")) for p in files)


def dev_questions():
    from citechat.eval import load_questions

    return load_questions(DEV)


def hit_at_5(ranked_sources: list[list[str]], questions) -> float:
    from citechat.eval import doc_id, rank_metrics

    ranked = [[doc_id(source) for source in sources] for sources in ranked_sources]
    return rank_metrics(ranked, [set(q.gold_doc_ids) for q in questions], 5)[1]


def w_index_citechat(docs: str, index: str, questions: bool = False, keep: bool = True) -> dict:
    from citechat.config import settings
    from citechat.index.embeddings import Embedder
    from citechat.index.sync import sync_index

    shutil.rmtree(index, ignore_errors=True)
    s = settings(docs_dir=docs, index_dir=index)
    embedder = Embedder(MODEL)
    embedder.runtime  # both pipelines start with the model in memory (here: loaded, precision chosen)
    started = time.perf_counter()
    report = sync_index(s, embedder=embedder)
    seconds = time.perf_counter() - started
    choice = embedder.precision
    out = {"seconds": seconds, "chunks": report.chunks, "documents": report.documents,
           "precision": choice.precision, "precision_reason": choice.reason}
    if questions:
        from citechat.bot import Bot

        qs = [q for q in dev_questions() if q.answerable]
        bot = Bot(s)
        out["hit_at_5"] = hit_at_5([[p.source for p in bot.retrieve(q.question, k=5)] for q in qs], qs)
    if not keep:
        shutil.rmtree(index, ignore_errors=True)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def w_index_baseline(docs: str, questions: bool = False, latency: bool = False, save: str | None = None) -> dict:
    embeddings = baseline.embeddings()  # loads the model before the clock starts
    started = time.perf_counter()
    store, chunks = baseline.build(Path(docs), embeddings)
    seconds = time.perf_counter() - started
    out = {"seconds": seconds, "chunks": len(chunks), "documents": sum(1 for _ in Path(docs).rglob("*.txt")),
           "embedded_chars": sum(len(c.page_content) for c in chunks)}
    if save:
        store.save_local(save)
    qs = dev_questions()
    if questions:
        answerable = [q for q in qs if q.answerable]
        out["hit_at_5"] = hit_at_5([[d.metadata["source"] for d in store.similarity_search(q.question, k=5)]
                                    for q in answerable], answerable)
    if latency:
        store.similarity_search(qs[0].question, k=4)
        times = timed_ms(lambda q: store.similarity_search(q.question, k=4), qs)
        out["search_p50_ms"], out["search_p95_ms"] = p50_p95(times)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def w_resync(docs: str, index: str) -> dict:
    """Time syncs of the built index after no change, one document added, one changed, one deleted; the folder
    is restored afterwards (untimed)."""

    from citechat.index.stores import local as store
    from citechat.config import settings
    from citechat.index.embeddings import Embedder
    from citechat.index.sync import sync_index

    s = settings(docs_dir=docs, index_dir=index)
    embedder = Embedder(MODEL)
    embedder.runtime  # precision decided before timing, as in a long-running UI process
    sync_index(s, embedder=embedder)  # make sure the index matches the folder
    folder = Path(docs)
    victim = sorted(folder.glob("gen_*.txt"))[len(list(folder.glob("gen_*.txt"))) // 2]
    original = victim.read_bytes()
    added = folder / "zz_added_article.txt"
    donor = sorted(folder.glob("*.txt"))[1].read_text(encoding="utf-8")

    def timed(label: str) -> dict:
        started = time.perf_counter()
        report = sync_index(s, embedder=embedder)
        return {"case": label, "seconds": time.perf_counter() - started, "embedded": report.embedded,
                "added": len(report.added), "updated": len(report.updated), "removed": len(report.removed)}

    cases = [timed("no change")]
    added.write_text("A newly added article\n\n" + donor, encoding="utf-8")
    cases.append(timed("one document added"))
    victim.write_bytes(original + b"\nA closing paragraph was added to this article after it was indexed.\n")
    cases.append(timed("one document changed"))
    added.unlink()
    cases.append(timed("one document deleted"))
    victim.write_bytes(original)
    sync_index(s, embedder=embedder)
    # What part of a sync is the index write: rebuilding vectors.faiss from the database and stamping it.
    conn = store.connect(Path(index) / store.DB_NAME)
    try:
        started = time.perf_counter()
        store.write_faiss_cache(Path(index), conn)
        faiss_write = time.perf_counter() - started
    finally:
        conn.close()
    return {"cases": cases, "faiss_write_seconds": faiss_write, "peak_rss_mb": peak_rss_mb()}


def w_latency(index: str, nocache_only: bool = False) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    from citechat.bot import Bot
    from citechat.index.which import settings_for_index
    from citechat.index.embeddings import Embedder

    s = settings_for_index(index)
    questions = [q.question for q in dev_questions()]
    warm = "How did the market react?"  # opens the index, loads the model and chooses its precision, untimed
    out: dict = {"questions": len(questions)}
    if not nocache_only:
        started = time.perf_counter()
        retrieve_bot, answer_bot = Bot(s), Bot(s)  # separate caches: each pass starts cold
        getattr(retrieve_bot.snapshot, "bm25", None)  # older stores build this on first use: part of opening
        out["open_seconds"] = time.perf_counter() - started
        retrieve_bot.retrieve(warm), answer_bot.answer(warm)
        for label in ("first", "again"):  # "again": the same questions a second time (cached vectors)
            for name, fn in (("retrieve", retrieve_bot.retrieve), ("answer", answer_bot.answer)):
                out[f"{name}_{label}_p50_ms"], out[f"{name}_{label}_p95_ms"] = p50_p95(timed_ms(fn, questions))
    # No vector kept between answers: every answer embeds all its (distinct) candidate sentences.
    uncached = Bot(s, embedder=Embedder(s.model, cache_entries=0))
    uncached.answer(warm)
    out["chunks"] = uncached.n_chunks
    times = timed_ms(uncached.answer, questions)
    out["answer_nocache_p50_ms"], out["answer_nocache_p95_ms"] = p50_p95(times)
    out["answers_per_s_sequential"] = 1000 * len(times) / sum(times)
    if not nocache_only:  # two requests at a time (as the UI serves them): latency of each and answers per second
        started = time.perf_counter()
        with ThreadPoolExecutor(2) as pool:
            times = list(pool.map(lambda q: timed_ms(uncached.answer, [q])[0], questions))
        out["answer_2concurrent_p50_ms"] = p50_p95(times)[0]
        out["answers_per_s_2concurrent"] = len(questions) / (time.perf_counter() - started)
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def w_baseline_first_search(index: str) -> dict:
    """The baseline's cold start: import, load the model and the saved FAISS index, first search."""
    from langchain_community.vectorstores import FAISS

    store = FAISS.load_local(index, baseline.embeddings(), allow_dangerous_deserialization=True)
    store.similarity_search(FIRST_QUESTION, k=4)
    return {"peak_rss_mb": peak_rss_mb()}


WORKERS = {"index_citechat": w_index_citechat, "index_baseline": w_index_baseline, "resync": w_resync,
           "latency": w_latency, "baseline_first_search": w_baseline_first_search}


if __name__ == "__main__":
    print(json.dumps(WORKERS[sys.argv[1]](**json.loads(sys.argv[2]))))
