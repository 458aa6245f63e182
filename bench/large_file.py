"""One large text file indexed under a raised size limit: time and peak memory of `citechat index`.

    .venv/bin/python bench/large_file.py                    # a 50 MB file of long pseudo-words (fast to embed)
    .venv/bin/python bench/large_file.py --kind prose --mb 5

CITECHAT_MAX_FILE_MB (default 50) skips larger files with a reason; this measures what indexing one file at
the limit costs. A file is read, chunked and embedded as one document, so the memory it takes grows with the
file (bounded by the limit), never with the collection. `--kind words` writes 150-letter pseudo-words, each
a single [UNK] token for the model: embedding is cheap, so the run shows the cost of reading, chunking and
storing 50 MB (and the vectors of its ~50,000 chunks) in about a minute. `--kind prose` writes English-like
sentences, as a real document would be: embedding dominates (roughly 60-150 chunks a second on 2 cores).

The peak resident memory of the indexing process (ru_maxrss, from wait4) is compared with the same command
on a one-sentence collection, which holds the model and its working memory.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = ("harbour lantern copper orchard granite falcon meadow river stone keeper ledger market bridge quarry "
         "winter ferry tide valley mill tower village council railway station library garden").split()


def write_file(path: Path, megabytes: float, kind: str, seed: int = 0) -> None:
    rng = random.Random(seed)
    target = int(megabytes * 1024 * 1024)
    if kind == "words":
        vocabulary = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(150)) for _ in range(200)]
    with open(path, "w", encoding="utf-8") as f:
        written = 0
        while written < target:
            if kind == "words":
                paragraph = " ".join(rng.choice(vocabulary) for _ in range(40))
            else:
                paragraph = " ".join(
                    " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))).capitalize() + "."
                    for _ in range(rng.randint(3, 6))
                )
            f.write(paragraph + "\n\n")
            written += len(paragraph) + 2


def index(docs: Path, index_dir: Path, limit_mb: float) -> tuple[int, float, int, str]:
    """Run `citechat index` in its own process; returns (exit code, seconds, peak RSS in KB, output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CITECHAT_")}
    env.update(CITECHAT_MAX_FILE_MB=str(limit_mb), HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1",
               TOKENIZERS_PARALLELISM="false")
    command = [str(Path(sys.executable).with_name("citechat")), "index", "--docs", str(docs), "--index", str(index_dir)]
    log = index_dir.parent / (index_dir.name + ".log")
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, seconds, usage.ru_maxrss, log.read_text(errors="replace")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=50, help="size of the file")
    parser.add_argument("--kind", choices=["words", "prose"], default="words")
    args = parser.parse_args()
    limit = args.mb + 1
    with tempfile.TemporaryDirectory(prefix="citechat-large-") as tmp:
        root = Path(tmp)
        (root / "small").mkdir()
        (root / "small" / "one.txt").write_text("The Arden ferry sails at nine.\n", encoding="utf-8")
        code, _, baseline_kb, _ = index(root / "small", root / "small-index", limit)
        assert code == 0
        (root / "large").mkdir()
        path = root / "large" / "large.txt"
        write_file(path, args.mb, args.kind)
        size_mb = path.stat().st_size / 2**20
        code, seconds, peak_kb, output = index(root / "large", root / "large-index", limit)
        summary = next((line for line in output.splitlines() if "index holds" in line), output[-500:])
        print(f"{size_mb:.1f} MB file ({args.kind}), limit {limit:g} MB: exit {code} in {seconds:.0f}s; {summary}")
        print(f"peak memory {peak_kb / 1024:.0f} MB; a one-sentence collection peaks at {baseline_kb / 1024:.0f} MB: "
              f"+{(peak_kb - baseline_kb) / 1024:.0f} MB for the file "
              f"({(peak_kb - baseline_kb) / 1024 / size_mb:.1f} x its size)")
    return code


if __name__ == "__main__":
    sys.exit(main())
