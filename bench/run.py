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
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from corpus import DEV  # noqa: E402
from load_server import free_port  # noqa: E402
from measure import corpus_size  # noqa: E402
from report import machine, rounded, table  # noqa: E402

SEEDS = ROOT / "seeds"
RESULTS = ROOT / "bench" / "results" / "latest.json"
FIRST_QUESTION = "What did Altman say?"
SECTIONS = ("index", "precision", "resync", "latency", "coldstart")
BEFORE: Path | None = None  # --before: the src folder of the other version

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


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
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "measure.py"), kind, json.dumps(params)], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"worker {kind} failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ================================================================ sections


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
    sys.exit(main())