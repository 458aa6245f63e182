"""Measuring retrieval and answers on a QA set.

A data set folder holds `questions.jsonl` (one object per line: "question", "answers", "gold_doc_ids",
"answerable") and `corpus/` with one file per document, named after its document id.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from . import baseline
from .answering.types import Answer
from .baseline import regular_files
from .errors import CitechatError
from .index.stores.base import FORMAT_VERSION
from .ingest.document import UnreadableFile
from .ingest.reading import load_document

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


# (label, attribute, format) of the rows that compare citechat with the baseline.
ROWS = [
    ("refusal rate, unanswerable", "refusal_rate_unanswerable", "{:.3f}"),
    ("false refusals, answerable", "false_refusal_rate", "{:.3f}"),
    ("answer contains gold", "answer_contains_gold", "{:.3f}"),
    ("median answer length (chars)", "median_answer_chars", "{:.0f}"),
    ("retrieval hit@1", "hit_at_1", "{:.3f}"),
    ("retrieval hit@k", "hit_at_k", "{:.3f}"),
    ("retrieval MRR@10", "mrr_at_10", "{:.3f}"),
    ("citation validity", "citation_validity", "{:.3f}"),
    ("latency p50 / p95 (ms)", None, None),
]


def table(ours: EvalReport, baseline: EvalReport | None = None, title: str = "") -> str:
    """citechat's figures, and the baseline's beside them when given."""
    header = [title or f"{ours.questions} questions ({ours.answerable} answerable, {ours.scored_answers} scored "
              "for the gold answer)", "citechat", "baseline" if baseline else ""]
    lines = [header]
    for label, attr, fmt in ROWS:
        if attr == "hit_at_k" and ours.k == 1:
            continue  # the same row as hit@1
        label = label.replace("@k", f"@{ours.k}")
        cells = []
        for r in (ours, baseline):
            if r is None:
                cells.append("")
            elif attr is None:
                cells.append(f"{r.latency_p50_ms:.0f} / {r.latency_p95_ms:.0f}")
            elif attr == "citation_validity" and r is baseline:
                cells.append("n/a")
            else:
                cells.append(fmt.format(getattr(r, attr)))
        lines.append([label, *cells])
    width = max(len(line[0]) for line in lines)
    return "\n".join(f"{a:<{width}}  {b:>9}  {c:>9}".rstrip() for a, b, c in lines)


def cache_dir(dataset_dir: Path) -> Path:
    """Where `citechat eval` keeps the index of a data set (and the baseline's outcomes beside it); an index
    format of its own, so that a cached index of an older format is never opened."""
    dataset = Path(dataset_dir).resolve()
    key = hashlib.sha256(str(dataset).encode()).hexdigest()[:8]
    root = Path(os.environ.get("CITECHAT_CACHE") or Path.home() / ".cache" / "citechat") / "eval"
    return root / f"{dataset.name}-{key}-format{FORMAT_VERSION}"


class BadDataset(CitechatError, ValueError):
    """A data set folder whose questions cannot be read; the message says where and what is expected."""


def load_questions(dataset_dir: Path) -> list[Question]:
    """The questions of a data set folder; BadDataset names the first line that is not a question object."""
    path = Path(dataset_dir) / "questions.jsonl"
    if not path.is_file():
        raise BadDataset(f"No questions.jsonl in {dataset_dir}: expected a folder with questions.jsonl (one JSON "
                         'object per line with "question", "answers", "gold_doc_ids", "answerable") and corpus/.')
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BadDataset(f"{path} cannot be read as UTF-8 text ({exc}).") from None
    for number, line in enumerate(lines, start=1):
        if line.strip():
            out.append(_question(line, f"line {number} of {path}", len(out)))
    return out


def _question(line: str, where: str, default_id: int) -> Question:
    try:
        q = json.loads(line)
        if not isinstance(q, dict) or not isinstance(q.get("question"), str):
            raise ValueError('not an object with a "question" string')
        answers, gold = list(q.get("answers") or []), list(q.get("gold_doc_ids") or [])
        if not all(isinstance(a, str) for a in answers + gold):
            raise ValueError('"answers" and "gold_doc_ids" must be lists of strings')
    except (ValueError, TypeError, RecursionError) as exc:
        raise BadDataset(f"{where} is not a question: {exc}. Each line must be a JSON object such as "
                         '{"question": "...", "answers": ["..."], "gold_doc_ids": ["..."], "answerable": true}.') from None
    return Question(str(q.get("id", default_id)), q["question"], answers, gold, bool(q.get("answerable", True)))


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


@dataclass
class Outcome:
    """What one pipeline did with one question."""

    ranked: list[str]  # document ids, best first (answerable questions only)
    text: str
    refused: bool
    ms: float
    cited: int = 0
    valid: int = 0  # citations that are exactly the text at their place in the file


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

    outcomes = []
    for i, q in enumerate(questions):
        if progress:
            progress(i, len(questions))
        ranked = [doc_id(p.source) for p in bot.retrieve(q.question, k=max(k, 10))] if q.answerable else []
        started = time.perf_counter()
        a: Answer = bot.answer(q.question)
        o = Outcome(ranked, a.text, a.refused, (time.perf_counter() - started) * 1000, len(a.sources))
        for s in a.sources:
            text = document_text(s.source)
            o.valid += text is not None and text[s.start : s.end] == s.text
        outcomes.append(o)
    return summarise(questions, outcomes, k)


def summarise(questions: list[Question], outcomes: list[Outcome], k: int) -> EvalReport:
    r = EvalReport(questions=len(questions), k=k)
    contains = scored = 0
    for q, o in zip(questions, outcomes):
        golds = [g for g in q.answers if normalise(g) not in YES_NO]
        if q.answerable and golds:
            scored += 1
            ok = any(normalise(g) in normalise(o.text) for g in golds) and not o.refused
            contains += ok
            if not ok:
                r.failures.append({"id": q.id, "question": q.question, "gold": golds, "answer": o.text[:300]})
    answerable = [o for q, o in zip(questions, outcomes) if q.answerable]
    unanswerable = [o for q, o in zip(questions, outcomes) if not q.answerable]
    r.answerable = len(answerable)
    r.hit_at_1, r.hit_at_k, r.mrr_at_10 = rank_metrics(
        [o.ranked for o in answerable], [set(q.gold_doc_ids) for q in questions if q.answerable], k)
    r.scored_answers = scored
    r.answer_contains_gold = contains / scored if scored else 0.0
    r.refusal_rate_unanswerable = sum(o.refused for o in unanswerable) / len(unanswerable) if unanswerable else 0.0
    r.false_refusal_rate = sum(o.refused for o in answerable) / len(answerable) if answerable else 0.0
    r.citations = sum(o.cited for o in outcomes)
    r.citation_validity = sum(o.valid for o in outcomes) / r.citations if r.citations else 1.0
    r.median_answer_chars = statistics.median(len(o.text) for o in outcomes) if outcomes else 0.0
    r.latency_p50_ms = percentile([o.ms for o in outcomes], 0.5)
    r.latency_p95_ms = percentile([o.ms for o in outcomes], 0.95)
    return r


def evaluate_baseline(docs_dir: Path, questions: list[Question], k: int = 5, cache: Path | None = None,
                      progress: Callable[[int, int], None] | None = None) -> EvalReport:
    """The LangChain tutorial baseline (citechat.baseline) on the same questions. Its "answer" is the text of its
    top chunk: it never refuses and cites no exact span. Its outcomes are kept in `cache` (JSON) and reused
    while the corpus files and the questions are unchanged, since embedding a corpus the baseline way is slow."""
    files = [f for f in regular_files(Path(docs_dir)) if f.suffix.lower() == ".txt"]
    signature = hashlib.sha256(json.dumps([[str(f), f.stat().st_size, f.stat().st_mtime_ns] for f in files]
                                          + [q.question for q in questions]).encode()).hexdigest()
    if cache and cache.exists():
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if saved.get("signature") == signature and saved.get("k") == k:
            return summarise(questions, [Outcome(**o) for o in saved["outcomes"]], k)
    store, _ = baseline.build(Path(docs_dir), baseline.embeddings())
    outcomes = []
    for i, q in enumerate(questions):
        if progress:
            progress(i, len(questions))
        started = time.perf_counter()
        docs = store.similarity_search(q.question, k=max(k, 10))
        ms = (time.perf_counter() - started) * 1000
        ranked = [doc_id(d.metadata["source"]) for d in docs] if q.answerable else []
        outcomes.append(Outcome(ranked, docs[0].page_content if docs else "", False, ms))
    if cache:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"signature": signature, "k": k, "outcomes": [asdict(o) for o in outcomes]}),
                         encoding="utf-8")
    return summarise(questions, outcomes, k)
