"""Speed benchmarks: citechat next to the LangChain tutorial pipeline, measured in the same run.

    .venv/bin/python bench/run.py                 # everything (default large collection: 20 MB, ~7,600 documents)
    .venv/bin/python bench/run.py --size-mb 2     # a smaller large collection, for a quick look
    .venv/bin/python bench/run.py --only latency coldstart   # some sections; other results in the JSON are kept
    .venv/bin/python bench/run.py --before /tmp/before       # also the code in /tmp/before/src, interleaved

Sections (see bench/README.md):
  index       full indexing throughput from an empty index, on the development corpus (repeated, interleaved
              with the baseline) and on the generated large collection; retrieval hit@5 of both on the dev set
  precision   citechat forced to float32 vs the run-time choice: throughput and hit@5
  resync      re-sync cost on the large collection: no change, one document added, one changed, one deleted
  latency     retrieve and answer p50/p95 on the large collection (first time asked, and asked again)
  coldstart   process start to first answer: `citechat ask` and the chat UI's first answer

The baseline is the LangChain tutorial pipeline on the same packaged model: RecursiveCharacterTextSplitter(1000,
200) + HuggingFaceEmbeddings + FAISS.from_documents + similarity_search(k=4). Every measurement runs in a fresh
child process (so peak memory is that pipeline's own); the model is loaded before the clock starts for both.
Results go to bench/results/latest.json.

--before DIR runs citechat's measurements (index, precision, latency, coldstart) a second time on another version
of the code, DIR/src (e.g. `git archive main | tar -x -C DIR`), interleaved with this one, so that a change is
measured against what it replaces under the same machine load.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
import baseline  # noqa: E402
from baseline import MODEL  # noqa: E402
from corpus import DEV  # noqa: E402
from load import free_port  # noqa: E402

SEEDS = ROOT / "seeds"
RESULTS = ROOT / "bench" / "results" / "latest.json"
FIRST_QUESTION = "What did Altman say?"
SECTIONS = ("index", "precision", "resync", "latency", "coldstart")
BEFORE: Path | None = None  # --before: the src folder of the other version

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


# ================================================================ helpers


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


def code_env(version: str) -> dict[str, str]:
    """The environment that makes a child process import citechat from `version`: "after" (this checkout) or
    "before" (--before)."""
    return {"PYTHONPATH": str(BEFORE)} if version == "before" else {}


def versions() -> list[str]:
    return ["after", "before"] if BEFORE else ["after"]


def worker(kind: str, version: str = "after", **params) -> dict:
    """Run one measurement in a fresh Python process; returns what it printed as JSON on its last line."""
    env = dict(os.environ)
    env.update(params.pop("env", {}))
    env.update(code_env(version))
    proc = subprocess.run([sys.executable, __file__, "_worker", kind, json.dumps(params)], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {kind} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ================================================================ workers (run in child processes)


def w_index_citechat(docs: str, index: str, questions: bool = False, keep: bool = True) -> dict:
    from citechat.config import settings
    from citechat.embeddings import Embedder
    from citechat.sync import sync_index

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

    from citechat.stores import local as store
    from citechat.config import settings
    from citechat.embeddings import Embedder
    from citechat.sync import sync_index

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
    from citechat.config import settings_for_index
    from citechat.embeddings import Embedder

    s = settings_for_index(index)
    questions = [q.question for q in dev_questions()]
    warm = "How did the market react?"  # opens the index, loads the model and chooses its precision, untimed
    out: dict = {"questions": len(questions)}
    if not nocache_only:
        started = time.perf_counter()
        retrieve_bot, answer_bot = Bot(s), Bot(s)  # separate caches: each pass starts cold
        retrieve_bot.snapshot.bm25
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


# ================================================================ sections (parent process)


def section_index(work: Path, large: Path, repeats: int) -> dict:
    out: dict = {}
    for name, docs in (("dev_corpus", DEV / "corpus"), ("large", large)):
        n_docs, n_chars = corpus_size(docs)
        reps = repeats if name == "dev_corpus" else 1
        runs: dict[str, list[dict]] = {"citechat": [], "baseline": []} | ({"before": []} if BEFORE else {})
        for rep in range(reps):  # interleaved, so all see the same machine load
            for version in versions():
                who = "citechat" if version == "after" else "before"
                say(f"index {name}: {who} run {rep + 1}/{reps}")
                index = work / (f"index_{name}" if version == "after" else f"index_{name}_before")
                runs[who].append(worker("index_citechat", version, docs=str(docs), index=str(index),
                                        questions=name == "dev_corpus" and rep == 0, keep=version == "after"))
            say(f"index {name}: baseline run {rep + 1}/{reps}")
            runs["baseline"].append(worker("index_baseline", docs=str(docs), questions=name == "dev_corpus" and rep == 0,
                                           latency=name == "large"))
        result = {"documents": n_docs, "characters": n_chars, "repeats": reps}
        for who, rs in runs.items():
            seconds = statistics.median(r["seconds"] for r in rs)
            result[who] = {
                "seconds_median": seconds, "seconds_all": [round(r["seconds"], 2) for r in rs],
                "docs_per_s": n_docs / seconds, "chars_per_s": n_chars / seconds,
                "chunks": rs[0]["chunks"], "peak_rss_mb": max(r["peak_rss_mb"] for r in rs),
                **{k: v for k, v in rs[0].items() if k in ("hit_at_5", "precision", "precision_reason",
                                                            "embedded_chars", "search_p50_ms", "search_p95_ms")},
            }
        result["ratio_chars_per_s"] = result["citechat"]["chars_per_s"] / result["baseline"]["chars_per_s"]
        if BEFORE:
            result["ratio_to_before"] = result["citechat"]["chars_per_s"] / result["before"]["chars_per_s"]
        out[name] = result
    return out


def section_precision(work: Path, repeats: int) -> dict:
    docs = DEV / "corpus"
    n_docs, n_chars = corpus_size(docs)
    runs: dict[tuple[str, str], list[dict]] = {(v, p): [] for v in versions() for p in ("auto", "float32")}
    for rep in range(repeats):
        for version, label in runs:
            say(f"precision: {version} {label} run {rep + 1}/{repeats}")
            runs[version, label].append(worker("index_citechat", version, docs=str(docs), questions=rep == 0,
                                               index=str(work / f"index_prec_{label}_{version}"), keep=False,
                                               env={"CITECHAT_PRECISION": label}))
    out: dict = {}
    for (version, label), rs in runs.items():
        seconds = statistics.median(r["seconds"] for r in rs)
        key = label if version == "after" else f"before_{label}"
        out[key] = {"precision": rs[0]["precision"], "reason": rs[0]["precision_reason"], "seconds_median": seconds,
                    "seconds_all": [round(r["seconds"], 2) for r in rs], "chars_per_s": n_chars / seconds,
                    "hit_at_5": rs[0]["hit_at_5"]}
    out["speedup"] = out["auto"]["chars_per_s"] / out["float32"]["chars_per_s"]
    out["hit_at_5_difference"] = out["auto"]["hit_at_5"] - out["float32"]["hit_at_5"]
    return out


def ensure_large_index(work: Path, large: Path) -> Path:
    index = work / "index_large"
    if not (index / "chunks.sqlite").exists():
        say("building the large index (needed by this section)")
        worker("index_citechat", docs=str(large), index=str(index))
    return index


def section_resync(work: Path, large: Path, full_build_seconds: float | None) -> dict:
    index = ensure_large_index(work, large)
    say("resync on the large collection")
    out = worker("resync", docs=str(large), index=str(index))
    say("resync on the development corpus (to see how the cost grows with the collection)")
    small_docs = work / "dev_copy"
    shutil.rmtree(small_docs, ignore_errors=True)
    shutil.copytree(DEV / "corpus", small_docs)
    # The copy needs a generated-style file for the "changed" case; reuse one from the large collection.
    shutil.copyfile(sorted(large.glob("gen_*.txt"))[0], small_docs / "gen_00000.txt")
    small_index = work / "index_dev_copy"
    shutil.rmtree(small_index, ignore_errors=True)
    worker("index_citechat", docs=str(small_docs), index=str(small_index))
    out["dev_corpus"] = worker("resync", docs=str(small_docs), index=str(small_index))
    out["full_build_seconds"] = full_build_seconds
    return out


def section_latency(work: Path, large: Path) -> dict:
    index = ensure_large_index(work, large)
    say("query latency on the large collection")
    out = worker("latency", index=str(index))
    if BEFORE:
        say("query latency on the large collection, before")
        out["before"] = worker("latency", "before", index=str(index))
    # The generated collection repeats sentences of the real articles, and an answer embeds each distinct
    # sentence once: the same measurement on the real articles alone shows the cost without that help.
    dev_index = work / "index_dev_corpus"
    if not (dev_index / "chunks.sqlite").exists():
        worker("index_citechat", docs=str(DEV / "corpus"), index=str(dev_index))
    say("answer latency, no cache, on the development corpus")
    dev = worker("latency", index=str(dev_index), nocache_only=True)
    out["dev_corpus"] = {k: dev[k] for k in ("chunks", "answer_nocache_p50_ms", "answer_nocache_p95_ms")}
    return out


def section_coldstart(work: Path, repeats: int) -> dict:
    seeds_index = work / "index_seeds"
    worker("index_citechat", docs=str(SEEDS), index=str(seeds_index))
    baseline_index = work / "baseline_seeds"
    worker("index_baseline", docs=str(SEEDS), save=str(baseline_index))
    citechat = str(ROOT / ".venv" / "bin" / "citechat") if (ROOT / ".venv" / "bin" / "citechat").exists() else "citechat"
    out: dict = {}

    def run(cmd: list[str], version: str) -> float:
        started = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env={**os.environ, **code_env(version)})
        if proc.returncode != 0:
            raise RuntimeError(f"{cmd} failed: {proc.stderr[-2000:]}")
        return time.perf_counter() - started

    ask_seeds = [citechat, "ask", "--index", str(seeds_index), FIRST_QUESTION]
    cases = {
        "cli_seeds": (ask_seeds, "after"),
        "baseline_seeds": ([sys.executable, __file__, "_worker", "baseline_first_search",
                            json.dumps({"index": str(baseline_index)})], "after"),
    }
    if BEFORE:
        cases["cli_seeds_before"] = (ask_seeds, "before")
    large_index = work / "index_large"
    if (large_index / "chunks.sqlite").exists():
        cases["cli_large"] = ([citechat, "ask", "--index", str(large_index), FIRST_QUESTION], "after")
    times: dict[str, list[float]] = {k: [] for k in cases}
    for rep in range(repeats):  # interleaved
        for name, (cmd, version) in cases.items():
            say(f"cold start {name} {rep + 1}/{repeats}")
            times[name].append(run(cmd, version))
    for name, ts in times.items():
        out[name] = {"seconds_median": statistics.median(ts), "seconds_all": [round(t, 2) for t in ts]}
    out["ui_seeds"] = ui_cold_start(citechat, seeds_index, repeats)
    return out


def ui_cold_start(citechat: str, index: Path, repeats: int) -> dict:
    """Seconds from starting `citechat serve` to the first answer received through the app's /ask API."""
    import urllib.request

    from gradio_client import Client

    times = []
    for rep in range(repeats):
        say(f"cold start ui {rep + 1}/{repeats}")
        port = free_port()
        started = time.perf_counter()
        proc = subprocess.Popen([citechat, "serve", "--index", str(index), "--port", str(port)], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}/"
            while True:
                if proc.poll() is not None:
                    raise RuntimeError("citechat serve exited")
                try:
                    urllib.request.urlopen(url, timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.05)
            text, _info = Client(url, verbose=False).predict(FIRST_QUESTION, api_name="/ask")
            times.append(time.perf_counter() - started)
            assert text
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {"seconds_median": statistics.median(times), "seconds_all": [round(t, 2) for t in times]}


# ================================================================ report


def machine() -> dict:
    info = {"python": platform.python_version(), "cpus": os.cpu_count()}
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in lscpu.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "Core(s) per socket", "Socket(s)", "Thread(s) per core"):
                info[key.strip()] = value.strip()
        flags = next((line for line in lscpu.splitlines() if line.startswith("Flags")), "")
        info["bf16_flags"] = [f for f in ("avx512_bf16", "amx_bf16", "amx_tile") if f in flags.split()]
    except OSError:
        pass
    from importlib.metadata import PackageNotFoundError, version

    for package in ("openvino", "torch"):
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            pass
    info["load_average_at_start"] = os.getloadavg()
    return info


def fmt(value, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) >= 1 else f"{value:.3f}"
    else:
        text = str(value)
    return text + unit


def table(results: dict) -> str:
    rows: list[tuple[str, str, str, str, str]] = []

    def row(label, ours, base=None, ratio=None, unit="", before=None):
        rows.append((label, fmt(ours, unit), fmt(before, unit) if before is not None else "", fmt(base, unit),
                     "n/a" if ratio is None else f"{ratio:.2f}x"))

    idx = results.get("index", {})
    for name, r in idx.items():
        c, b, old = r["citechat"], r["baseline"], r.get("before", {})
        head = f"index {name} ({r['documents']:,} docs, {r['characters'] / 1e6:.1f} MB)"
        row(f"{head}: chars/s", c["chars_per_s"], b["chars_per_s"], c["chars_per_s"] / b["chars_per_s"],
            before=old.get("chars_per_s"))
        row("  documents/s", c["docs_per_s"], b["docs_per_s"], c["docs_per_s"] / b["docs_per_s"], before=old.get("docs_per_s"))
        row("  seconds (median)", c["seconds_median"], b["seconds_median"], b["seconds_median"] / c["seconds_median"], " s",
            before=old.get("seconds_median"))
        row("  chunks", c["chunks"], b["chunks"], before=old.get("chunks"))
        row("  peak memory", c["peak_rss_mb"], b["peak_rss_mb"], unit=" MB", before=old.get("peak_rss_mb"))
        if "hit_at_5" in c:
            row("  dev-set hit@5", c["hit_at_5"], b.get("hit_at_5"), before=old.get("hit_at_5"))
    p = results.get("precision")
    if p:
        row(f"precision: run-time choice ({p['auto']['precision']}), chars/s", p["auto"]["chars_per_s"],
            before=p.get("before_auto", {}).get("chars_per_s"))
        row("precision: float32, chars/s", p["float32"]["chars_per_s"], before=p.get("before_float32", {}).get("chars_per_s"))
        row("  speed-up of the run-time choice over float32", p["speedup"])
        row("  dev-set hit@5 (choice / float32)", f"{p['auto']['hit_at_5']:.3f} / {p['float32']['hit_at_5']:.3f}",
            before=f"{p['before_auto']['hit_at_5']:.3f} / {p['before_float32']['hit_at_5']:.3f}" if "before_auto" in p else None)
    rs = results.get("resync")
    if rs:
        full = rs.get("full_build_seconds")
        base_full = idx.get("large", {}).get("baseline", {}).get("seconds_median")
        for case in rs["cases"]:
            share = f" ({100 * case['seconds'] / full:.2f}% of full build)" if full else ""
            rows.append((f"resync large: {case['case']}{share}", fmt(case["seconds"], " s"), "",
                         fmt(base_full, " s (rebuild)"), f"{base_full / case['seconds']:.0f}x" if base_full else "n/a"))
        small = {c["case"]: c["seconds"] for c in rs["dev_corpus"]["cases"]}
        for case in rs["cases"]:
            rows.append((f"  same on the dev corpus: {case['case']}", fmt(small[case["case"]], " s"), "", "", ""))
        row("  index write (vectors.faiss rebuild), large", rs["faiss_write_seconds"], unit=" s")
    lat = results.get("latency")
    if lat:
        base_lat = idx.get("large", {}).get("baseline", {})
        old = lat.get("before", {})

        def pair(src, key, digits=1):
            return f"{src[key + '_p50_ms']:.{digits}f} / {src[key + '_p95_ms']:.{digits}f}" if src else None

        row(f"retrieve p50, large ({lat['chunks']:,} chunks), first ask", lat["retrieve_first_p50_ms"],
            base_lat.get("search_p50_ms"), unit=" ms", before=old.get("retrieve_first_p50_ms"))
        row("retrieve p95, first ask", lat["retrieve_first_p95_ms"], base_lat.get("search_p95_ms"), unit=" ms",
            before=old.get("retrieve_first_p95_ms"))
        row("answer p50, first ask", lat["answer_first_p50_ms"], unit=" ms", before=old.get("answer_first_p50_ms"))
        row("answer p95, first ask", lat["answer_first_p95_ms"], unit=" ms", before=old.get("answer_first_p95_ms"))
        row("retrieve p50 / p95, asked again", pair(lat, "retrieve_again"), unit=" ms", before=pair(old, "retrieve_again"))
        row("answer p50 / p95, asked again", pair(lat, "answer_again"), unit=" ms", before=pair(old, "answer_again"))
        if "answer_nocache_p50_ms" in lat:
            row("answer p50 / p95, no vector kept between answers", pair(lat, "answer_nocache", 0), unit=" ms",
                before=pair(old, "answer_nocache", 0))
            row("answers/s, no cache: one at a time", lat["answers_per_s_sequential"],
                before=old.get("answers_per_s_sequential"))
            row("answers/s, no cache: two concurrent requests", lat["answers_per_s_2concurrent"],
                before=old.get("answers_per_s_2concurrent"))
            row("answer p50 with two concurrent requests, no cache", lat["answer_2concurrent_p50_ms"], unit=" ms",
                before=old.get("answer_2concurrent_p50_ms"))
        if "dev_corpus" in lat:
            d = lat["dev_corpus"]
            row(f"answer p50 / p95, no cache, dev corpus ({d['chunks']} chunks of real articles)",
                f"{d['answer_nocache_p50_ms']:.0f} / {d['answer_nocache_p95_ms']:.0f}", unit=" ms")
        row("open large index (snapshot + BM25)", lat["open_seconds"], unit=" s")
    cs = results.get("coldstart")
    if cs:
        row("cold start: `citechat ask` on seeds (baseline: first search)", cs["cli_seeds"]["seconds_median"],
            cs["baseline_seeds"]["seconds_median"], unit=" s", before=cs.get("cli_seeds_before", {}).get("seconds_median"))
        if "cli_large" in cs:
            row("cold start: `citechat ask` on the large index", cs["cli_large"]["seconds_median"], unit=" s")
        row("cold start: UI to first answer (seeds)", cs["ui_seeds"]["seconds_median"], unit=" s")
    width = max(len(r[0]) for r in rows) if rows else 10
    before = 16 if any(r[2] for r in rows) else 0  # a "before" column only when --before was measured
    lines = [f"{'':<{width}}  {'citechat':>14}  {'before' if before else '':>{before}}  {'baseline':>20}  {'ratio':>8}"]
    lines += [f"{a:<{width}}  {b:>14}  {o:>{before}}  {c:>20}  {d:>8}" for a, b, o, c, d in rows]
    return "\n".join(lines)


def rounded(value):
    """Floats to 4 significant digits, so the committed JSON stays small and readable."""
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(v) for v in value]
    return value


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="citechat speed benchmarks next to the LangChain tutorial pipeline")
    parser.add_argument("--size-mb", type=float, default=20.0, help="size of the generated large collection (default 20)")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the short measurements (default 3)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, help="run only these sections")
    parser.add_argument("--work", type=Path, help="working folder (default: ~/.cache/citechat/bench)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results JSON (default bench/results/latest.json)")
    parser.add_argument("--before", type=Path, help="another version of the code (its checkout) to measure alongside")
    args = parser.parse_args(argv)
    global BEFORE
    BEFORE = (args.before / "src").resolve() if args.before else None

    sections = args.only or list(SECTIONS)
    cache = Path(os.environ.get("CITECHAT_CACHE") or Path.home() / ".cache" / "citechat")
    work = (args.work or cache / "bench").resolve()
    work.mkdir(parents=True, exist_ok=True)
    from corpus import generate

    large = work / f"large_{args.size_mb:g}mb"
    stamp = large / ".generated.json"
    if not stamp.exists():
        say(f"generating the large collection ({args.size_mb:g} MB) in {large}")
        description = generate(large, args.size_mb)
        stamp.write_text(json.dumps(description))
        shutil.rmtree(work / "index_large", ignore_errors=True)
    else:
        description = json.loads(stamp.read_text())

    previous = json.loads(args.out.read_text()) if args.out.exists() and args.only else {}
    results: dict = previous.get("results", {})
    if previous.get("large_collection", {}).get("size_mb") != args.size_mb:
        results = {k: v for k, v in results.items() if k in ("precision", "coldstart")}
    started = time.time()
    if "index" in sections:
        results["index"] = section_index(work, large, args.repeats)
    if "precision" in sections:
        results["precision"] = section_precision(work, args.repeats)
    if "resync" in sections:
        full = results.get("index", {}).get("large", {}).get("citechat", {}).get("seconds_median")
        results["resync"] = section_resync(work, large, full)
    if "latency" in sections:
        results["latency"] = section_latency(work, large)
    if "coldstart" in sections:
        results["coldstart"] = section_coldstart(work, args.repeats)
    report = {
        "command": "bench/run.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "seconds": round(time.time() - started),
        "machine": machine(),
        "large_collection": description,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(rounded(report), indent=1) + "\n")
    os.replace(tmp, args.out)
    print(table(results))
    print(f"\nresults: {args.out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_worker":
        print(json.dumps(WORKERS[sys.argv[2]](**json.loads(sys.argv[3]))))
    else:
        sys.exit(main())
