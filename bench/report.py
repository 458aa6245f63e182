"""The table and the JSON of bench/run.py: the machine measured on, and every figure beside the baseline's."""

from __future__ import annotations

import os
import platform
import subprocess


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
