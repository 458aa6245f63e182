"""A snippet-style QA collection made from an article collection: every paragraph of every article becomes
its own file, and some answerable questions become unanswerable by removing every snippet that holds their
answer (the documents still talk about the topic, but no longer say the thing asked).

    .venv/bin/python bench/snippets.py DATASET_DIR OUT_DIR [--drop 40] [--seed 0]

DATASET_DIR is a collection in the shared/eval format whose corpus files are articles with paragraphs
separated by blank lines (e.g. realtimeqa_dev). OUT_DIR gets `corpus/` and `questions.jsonl` in the same
format, so `citechat eval OUT_DIR` and `bench/quality.py OUT_DIR` run on it. Never commit its output: it
copies the source collection's text.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
from pathlib import Path

from citechat.eval import normalise

MIN_CHARS = 40  # shorter paragraphs are headings or bylines, not snippets


def split(corpus: Path) -> dict[str, str]:
    """{snippet id: text} for every paragraph of every article."""
    snippets = {}
    for path in sorted(corpus.glob("*.txt")):
        paragraphs = [p.strip() for p in re.split(r"\n\s*\n", path.read_text(encoding="utf-8"))]
        for n, text in enumerate(p for p in paragraphs[1:] if len(p) >= MIN_CHARS):  # [0] is the title
            snippets[f"{path.stem}_{n:03d}"] = text
    return snippets


def make(dataset: Path, out: Path, drop: int = 40, seed: int = 0) -> dict:
    snippets = split(dataset / "corpus")
    normalised = {sid: f" {normalise(text)} " for sid, text in snippets.items()}
    questions = [json.loads(line) for line in (dataset / "questions.jsonl").read_text().splitlines() if line.strip()]

    def holding(answers: list[str]) -> set[str]:
        keys = [f" {normalise(a)} " for a in answers if normalise(a)]
        return {sid for sid, text in normalised.items() if any(k in text for k in keys)}

    answerable = [q for q in questions if q["answerable"]]
    rare = [q for q in answerable if 0 < len(holding(q["answers"])) <= 5]
    dropped = {q["id"] for q in random.Random(seed).sample(rare, min(drop, len(rare)))}
    removed = set().union(*(holding(q["answers"]) for q in answerable if q["id"] in dropped))
    kept_ids = set(snippets) - removed
    rows = []
    for q in questions:
        row = {k: q[k] for k in ("id", "question", "answers", "gold_doc_ids", "answerable") if k in q}
        if q["id"] in dropped:
            row.update(answerable=False, answers=[], gold_doc_ids=[], made_unanswerable=True)
        elif q["answerable"]:
            articles = set(q["gold_doc_ids"])
            gold = sorted(s for s in holding(q["answers"]) & kept_ids if s.rsplit("_", 1)[0] in articles)
            if not gold:
                continue  # its answer was only in removed snippets, or only across a paragraph break
            row["gold_doc_ids"] = gold
        rows.append(row)
    if out.exists():
        shutil.rmtree(out)
    (out / "corpus").mkdir(parents=True)
    for sid in sorted(kept_ids):
        (out / "corpus" / f"{sid}.txt").write_text(snippets[sid] + "\n", encoding="utf-8")
    (out / "questions.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return {"snippets": len(kept_ids), "removed": len(removed), "questions": len(rows),
            "answerable": sum(r["answerable"] for r in rows), "made_unanswerable": len(dropped)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--drop", type=int, default=40, help="answerable questions made unanswerable")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(make(args.dataset, args.out, args.drop, args.seed))


if __name__ == "__main__":
    main()
