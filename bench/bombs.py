"""What files built to be costly cost to index, without and with the read limits: time and peak memory of
reading each one, in a fresh process per measurement, the two interleaved.

    .venv/bin/python bench/bombs.py                          # the bombs of tests/bombs.py at full size
    .venv/bin/python bench/bombs.py --before-src OLD/src     # "without" = another checkout's code

"without": `load_document(path)` with no limits in one process (the code under --before-src, by default this
checkout's), stopped after --timeout seconds. "with": a `FileReader` with the default settings
(CITECHAT_MAX_FILE_CHARS, CITECHAT_MAX_UNPACKED_MB, CITECHAT_PARSE_SECONDS), which reads in a child process;
its peak memory is the larger of the two processes'. Every process runs under an address-space limit
(--memory-gb), as a machine with that much memory would.
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
sys.path.insert(0, str(ROOT / "tests"))

# name -> (builder, arguments): the costly files first reported, and their kin
BOMBS = {
    "docx, 200,000 paragraphs (42 MB of XML)": ("docx_bomb", (200_000,)),
    "docx, 2,000,000 paragraphs (418 MB of XML)": ("docx_bomb", (2_000_000,)),
    "pdf, 1 page, 5 MB content stream": ("pdf_bomb", (5_000_000, 1)),
    "pdf, 4 pages sharing a 1 MB stream": ("pdf_bomb", (1_000_000, 4)),
    "pdf, 8 pages sharing a 5 MB stream": ("pdf_bomb", (5_000_000, 8)),
    "pdf, a 20 KB form called 200 times": ("pdf_form_bomb", (20_000, 200)),
}


def vm_hwm_mb(pid: int | str = "self") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(mode: str, path: str) -> dict:
    """Run in the measured process: read the file; report time, outcome and peak memory."""
    from citechat.ingest.document import UnreadableFile
    from citechat.ingest.reading import load_document

    started = time.perf_counter()
    try:
        if mode == "without":
            doc = load_document(Path(path), Path(path).name)
        else:
            from citechat.config import Settings
            from citechat.ingest.process import FileReader
            from citechat.ingest.limits import ReadLimits

            from citechat.ingest.files import open_regular

            with FileReader(ReadLimits.of(Settings())) as reader, open_regular(Path(path)) as handle:
                doc = reader.read(handle, Path(path).name, Path(path).name)
        outcome = f"indexed {len(doc.text):,} characters"
    except UnreadableFile as exc:
        outcome = f"skipped: {exc}"
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"seconds": time.perf_counter() - started, "outcome": outcome,
            "peak_mb": max(vm_hwm_mb(), children)}


def run_one(mode: str, path: Path, timeout: float, memory_gb: float, before_src: str | None) -> dict:
    env = dict(os.environ)
    if mode == "without" and before_src:
        env["PYTHONPATH"] = before_src
    limit = int(memory_gb * 2**30)
    process = subprocess.Popen([sys.executable, __file__, "_measure", mode, str(path)], env=env,
                               stdout=subprocess.PIPE, text=True,
                               preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    started = time.perf_counter()
    peak = 0.0
    while process.poll() is None and time.perf_counter() - started < timeout:
        try:
            peak = max(peak, vm_hwm_mb(process.pid))
        except OSError:
            pass
        time.sleep(0.2)
    if process.poll() is None:
        process.kill()
        process.wait()
        return {"seconds": timeout, "outcome": f"stopped after {timeout:g} s, still reading", "peak_mb": peak}
    lines = process.stdout.read().strip().splitlines()
    if process.returncode != 0 or not lines:
        return {"seconds": time.perf_counter() - started, "outcome": f"crashed (exit {process.returncode})",
                "peak_mb": peak}
    return json.loads(lines[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before-src", help="the src/ folder of the code to measure without limits")
    parser.add_argument("--timeout", type=float, default=300, help="stop a read after this many seconds")
    parser.add_argument("--memory-gb", type=float, default=4, help="address-space limit of each process")
    parser.add_argument("--only", help="measure only the bombs whose name contains this text")
    args = parser.parse_args(argv)
    import bombs

    print(f"load average {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as work:
        for name, (builder, build_args) in BOMBS.items():
            if args.only and args.only not in name:
                continue
            path = Path(work) / ("bomb.docx" if builder == "docx_bomb" else "bomb.pdf")
            getattr(bombs, builder)(path, *build_args)
            print(f"\n{name}: {path.stat().st_size:,} bytes on disk", flush=True)
            for mode in ("without", "with"):
                r = run_one(mode, path, args.timeout, args.memory_gb, args.before_src)
                print(f"  {mode:>7} limits: {r['seconds']:7.2f} s, peak {r['peak_mb']:6.0f} MB, {r['outcome']}",
                      flush=True)
    print(f"load average {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["_measure"]:
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
    else:
        sys.exit(main())
