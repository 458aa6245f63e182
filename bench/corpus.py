"""A large, reproducible collection of realistic news prose, made by recombining the development corpus.

Every generated document is a news-style article: a title and header taken from a real article of the same
category, then 3-6 paragraphs of 2-5 sentences each, every sentence drawn (with a fixed seed) from the real
articles of that category. The original corpus files are copied in as well, so the development questions keep
their answers in the large collection.

    .venv/bin/python bench/corpus.py OUT_DIR [--size-mb 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT.parent / "shared" / "eval" / "multihop_rag_lite"
HEADER_KEYS = ("Source:", "Author:", "Published:", "Category:", "URL:")


def _parse(path: Path) -> tuple[str, list[str], str, list[str]]:
    """(title, header lines, category, body sentences) of one corpus file."""
    from citechat.ingest.text import sentence_spans

    lines = path.read_text(encoding="utf-8").splitlines()
    title = lines[0].strip()
    header = [line for line in lines[1:8] if line.startswith(HEADER_KEYS)]
    category = next((line.split(":", 1)[1].strip() for line in header if line.startswith("Category:")), "news")
    body = "\n".join(line for line in lines[1:] if not line.startswith(HEADER_KEYS))
    sentences = [body[a:b] for a, b in sentence_spans(body)]
    return title, header, category, [s for s in sentences if len(s) >= 40 and not s.startswith("URL")]


def generate(out_dir: Path, size_mb: float = 20.0, seed: int = 0, corpus: Path = DEV / "corpus") -> dict:
    """Write the collection into out_dir (emptied first); returns its description."""
    rng = random.Random(seed)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    articles = [_parse(p) for p in sorted(corpus.glob("*.txt"))]
    by_category: dict[str, list[str]] = {}
    for _, _, category, sentences in articles:
        by_category.setdefault(category, []).extend(sentences)
    total = 0
    for p in sorted(corpus.glob("*.txt")):  # the real articles, so the development questions stay answerable
        shutil.copyfile(p, out_dir / p.name)
        total += len(p.read_text(encoding="utf-8"))
    target = int(size_mb * 1_000_000)
    n = 0
    while total < target:
        title, header, category, _ = rng.choice(articles)
        pool = by_category[category]
        paragraphs = [
            " ".join(rng.choice(pool) for _ in range(rng.randint(2, 5))) for _ in range(rng.randint(3, 6))
        ]
        text = f"{title} (part {n + 1})\n" + "\n".join(header) + "\n\n" + "\n\n".join(paragraphs) + "\n"
        (out_dir / f"gen_{n:05d}.txt").write_text(text, encoding="utf-8")
        total += len(text)
        n += 1
    return {"documents": n + len(articles), "generated": n, "characters": total, "seed": seed, "size_mb": size_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--size-mb", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(generate(args.out_dir, args.size_mb, args.seed))


if __name__ == "__main__":
    main()
