"""Run the real `citechat` command line in this process while recording what it opens and how much memory it
takes (used by tests/test_reliability.py; not part of citechat).

    python tests/audited_cli.py REPORT.json -- index --docs DOCS --index INDEX

Every file opened from Python (the `open` audit event: open(), io.open, os.open, which pypdf, python-docx
and pathlib all go through; a name opened relative to an open folder, `os.open(name, dir_fd=...)`, is recorded
under that folder's path) and every folder listed (`os.scandir`, `os.listdir`) is recorded. The embedding
model is loaded and run once before the command, so that `baseline_kb` (peak resident memory at that
point) already holds the model and its working memory; `peak_kb` is the peak after the command.
"""

from __future__ import annotations

import json
import os
import resource
import sys

opened: set[str] = set()
listed: set[str] = set()


def _hook(event: str, args: tuple) -> None:
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        if os.path.isabs(os.fsdecode(args[0])):  # relative ones are recorded by _open_at (or are under the cwd)
            opened.add(os.fsdecode(args[0]))
    elif event in ("os.scandir", "os.listdir") and args and isinstance(args[0], (str, bytes, os.PathLike)):
        listed.add(os.fsdecode(args[0]))


_os_open = os.open


def _open_at(path, flags, mode=0o777, *, dir_fd=None):
    if dir_fd is not None:
        opened.add(os.path.join(os.readlink(f"/proc/self/fd/{dir_fd}"), os.fsdecode(path)))
    elif not os.path.isabs(os.fsdecode(path)):
        opened.add(os.path.abspath(os.fsdecode(path)))
    return _os_open(path, flags, mode, dir_fd=dir_fd)


def main() -> int:
    report_path, separator, *argv = sys.argv[1:]
    assert separator == "--", "usage: audited_cli.py REPORT.json -- citechat arguments"
    from citechat.cli import main as citechat_main
    from citechat.index.embeddings import Embedder

    # Load and warm the model (a full batch of long texts) before measuring.
    Embedder("all-MiniLM-L6-v2").encode(["warm words " * 120] * 32)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sys.addaudithook(_hook)
    os.open = _open_at
    code = citechat_main(argv)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with open(report_path, "w", encoding="utf-8") as f:
        json.dump({"code": code, "baseline_kb": baseline, "peak_kb": peak,
                   "opened": sorted(opened), "listed": sorted(listed)}, f, ensure_ascii=True,
                  default=str)
    return code


if __name__ == "__main__":
    sys.exit(main())
