"""Measuring retrieval and answers on a QA set.

A data set folder holds `questions.jsonl` (one object per line: "question", "answers", "gold_doc_ids",
"answerable") and `corpus/` with one file per document, named after its document id.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from .answers import Answer
from .documents import UnreadableFile, load_document

YES_NO = {"yes", "no"}


@dataclass
class Question:
    id: str
    question: str
    answers: list[str]
    gold_doc_ids: list[str]
    answerable: bool


@dataclass
class EvalReport:
    questions: int = 0
    answerable: int = 0
    hit_at_1: float = 0.0
    hit_at_k: float = 0.0
    k: int = 5
    mrr_at_10: float = 0.0
    answer_contains_gold: float = 0.0  # answerable questions whose gold answer is not yes/no
    scored_answers: int = 0
    refusal_rate_unanswerable: float = 0.0
    false_refusal_rate: float = 0.0
    citation_validity: float = 0.0
    citations: int = 0
    median_answer_chars: float = 0.0
    latency_p50_ms: float = 0.0
    latency_p95_ms: float = 0.0
    failures: list[dict] = field(default_factory=list)

    def table(self) -> str:
        rows = [
            ("questions (answerable)", f"{self.questions} ({self.answerable})"),
            ("retrieval hit@1", f"{self.hit_at_1:.3f}"),
            *([(f"retrieval hit@{self.k}", f"{self.hit_at_k:.3f}")] if self.k != 1 else []),
            ("retrieval MRR@10", f"{self.mrr_at_10:.3f}"),
            (f"answer contains gold ({self.scored_answers} scored)", f"{self.answer_contains_gold:.3f}"),
            ("refusal rate, unanswerable", f"{self.refusal_rate_unanswerable:.3f}"),
            ("false refusals, answerable", f"{self.false_refusal_rate:.3f}"),
            (f"citation validity ({self.citations} citations)", f"{self.citation_validity:.3f}"),
            ("median answer length (chars)", f"{self.median_answer_chars:.0f}"),
            ("latency p50 / p95 (ms)", f"{self.latency_p50_ms:.0f} / {self.latency_p95_ms:.0f}"),
        ]
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def load_questions(dataset_dir: Path) -> list[Question]:
    path = Path(dataset_dir) / "questions.jsonl"
    if not path.exists():
        raise FileNotFoundError(f"No questions.jsonl in {dataset_dir}: expected the shared/eval data set format.")
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            q = json.loads(line)
            out.append(Question(str(q.get("id", len(out))), q["question"], list(q.get("answers", [])),
                                list(q.get("gold_doc_ids", [])), bool(q.get("answerable", True))))
    return out


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s]", " ", text.lower().replace("’", "'"))).strip()


def doc_id(source: str) -> str:
    return Path(source).stem


def rank_metrics(ranked: list[list[str]], golds: list[set[str]], k: int) -> tuple[float, float, float]:
    """(hit@1, hit@k, MRR@10) of ranked document ids against each question's gold ids."""
    hits1 = hitsk = rr = 0.0
    for ids, gold in zip(ranked, golds):
        first = next((rank for rank, d in enumerate(ids[: max(k, 10)], start=1) if d in gold), None)
        hits1 += first == 1
        hitsk += first is not None and first <= k
        rr += 1.0 / first if first and first <= 10 else 0.0
    n = len(golds)
    return (hits1 / n, hitsk / n, rr / n) if n else (0.0, 0.0, 0.0)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def evaluate(bot, questions: list[Question], k: int = 5, progress: Callable[[int, int], None] | None = None) -> EvalReport:
    """Score retrieval and answers of `bot` (a citechat Bot) on the questions."""
    docs_dir = bot.settings.docs_dir
    texts: dict[str, str | None] = {}

    def document_text(source: str) -> str | None:
        if source not in texts:
            try:
                texts[source] = load_document(docs_dir / source, source).text
            except UnreadableFile:
                texts[source] = None
        return texts[source]

    r = EvalReport(questions=len(questions), k=k)
    ranked_lists: list[list[str]] = []
    gold_sets: list[set[str]] = []
    contains = scored = refused_unans = false_ref = valid = cited = 0
    latencies, lengths = [], []
    for i, q in enumerate(questions):
        if progress:
            progress(i, len(questions))
        if q.answerable:
            ranked_lists.append([doc_id(p.source) for p in bot.retrieve(q.question, k=max(k, 10))])
            gold_sets.append(set(q.gold_doc_ids))
        started = time.perf_counter()
        a: Answer = bot.answer(q.question)
        latencies.append((time.perf_counter() - started) * 1000)
        lengths.append(len(a.text))
        for s in a.sources:
            cited += 1
            text = document_text(s.source)
            valid += text is not None and text[s.start : s.end] == s.text
        if q.answerable:
            false_ref += a.refused
            golds = [g for g in q.answers if normalise(g) not in YES_NO]
            if golds:
                scored += 1
                ok = any(normalise(g) in normalise(a.text) for g in golds) and not a.refused
                contains += ok
                if not ok:
                    r.failures.append({"id": q.id, "question": q.question, "gold": golds, "answer": a.text[:300]})
        else:
            refused_unans += a.refused
    n_ans = sum(q.answerable for q in questions)
    n_unans = len(questions) - n_ans
    r.answerable = n_ans
    r.hit_at_1, r.hit_at_k, r.mrr_at_10 = rank_metrics(ranked_lists, gold_sets, k)
    r.scored_answers = scored
    r.answer_contains_gold = contains / scored if scored else 0.0
    r.refusal_rate_unanswerable = refused_unans / n_unans if n_unans else 0.0
    r.false_refusal_rate = false_ref / n_ans if n_ans else 0.0
    r.citations = cited
    r.citation_validity = valid / cited if cited else 1.0
    r.median_answer_chars = statistics.median(lengths) if lengths else 0.0
    r.latency_p50_ms = percentile(latencies, 0.5)
    r.latency_p95_ms = percentile(latencies, 0.95)
    return r
