"""Fit the answer model (src/citechat/answer_model.json) from SQuAD 2.0 training articles, seeded.

    .venv/bin/python bench/train_answerer.py [--data ../shared/eval/squad2_train/training] [--out FILE]

The data: 7 Wikipedia articles with 3,017 answerable questions (answer offsets) and 160 unanswerable ones.
They are indexed by citechat itself in two shapes, so that the signals look as they will on a user's
collection: one paragraph per file (snippets) and one article per file (long documents cut into chunks).
Every question then yields, in each shape:
- answerable: retrieval over the whole index; its sentences are labelled by whether they contain the answer;
- the usual unanswerable case: the same question with the chunks that hold its answer left out of the search
  (the documents still talk about the topic but do not say the thing asked), kept only when no retrieved
  passage still contains the answer;
- for one question in four, its whole article left out (the topic is absent);
- SQuAD's own unanswerable questions, their paragraph present;
- constraint swaps: a question that names a year, month, number, ordinal or side that its answer's chunk also
  names, asked with that value changed ("in 1998" -> "in 2000"), against the same index, kept only when no
  retrieved passage names the new value. The sentence that answered the original is still found and matches
  every other word; it must not be quoted.
Two logistic regressions are fitted with scikit-learn: sentences (contains the answer or not) and
answerability (from the sentence model's out-of-fold logits and question-level signals). Thresholds are chosen
on out-of-fold predictions over the training articles; nothing here reads the evaluation collections.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import citechat
from citechat.answering.answer_model import MODEL_FILE
from citechat.answering.constraints import MONTHS, ORDINALS, constraints
from citechat.eval import normalise
from citechat.answering.extractive import agreement, sentence_signals
from citechat.answering.retrieval import Retriever, tokenize
from citechat.ingest.chunking import Chunk
from citechat.answering.signals import QUESTION_FEATURES, SENTENCE_FEATURES, question_features, retrieval_features

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "eval" / "squad2_train" / "training"
SEED = 13
TOPIC_ABSENT_SHARE = 0.25
COMPOUND_SHARE = 0.3  # of each article's answerable questions, paired into compound questions
K = 5


_MONTHS = [m.capitalize() for m in MONTHS]
_ORDINAL_WORDS = ORDINALS[:10]
_SWAPS = [
    (re.compile(r"\b(1[5-9]\d\d|20\d\d)\b"), lambda m, rng: str(int(m.group(1)) + rng.choice([-3, -2, -1, 1, 2, 3]))),
    (re.compile(r"\b(" + "|".join(_MONTHS) + r")\b"), lambda m, rng: rng.choice([x for x in _MONTHS if x != m.group(1)])),
    (re.compile(r"(?<![\d.,])(\d{1,3})(?![\d.,]\d)"), lambda m, rng: str(int(m.group(1)) + rng.choice([1, 2, 3]))),
    (re.compile(r"\b(" + "|".join(_ORDINAL_WORDS) + r")\b"),
     lambda m, rng: rng.choice([x for x in _ORDINAL_WORDS[:5] if x != m.group(1)])),
    (re.compile(r"\b(men|women)(?=['’]s\b)", re.I), lambda m, rng: {"men": "women", "women": "men"}[m.group(1).lower()]),
]


def swap_constraint(question: str, rng: random.Random) -> str | None:
    """The question with one constrainable value changed, or None when it names none."""
    places = [(pattern, fn, m) for pattern, fn in _SWAPS for m in pattern.finditer(question)]
    if not places:
        return None
    _, fn, m = rng.choice(places)
    swapped = question[: m.start(1)] + fn(m, rng) + question[m.end(1):]
    return swapped if constraints(swapped) != constraints(question) else None


class LeaveOut(Retriever):
    """The retriever as if some chunks were not in the index: they are dropped from both searches and from
    the word statistics."""

    def __init__(self, base: Retriever) -> None:
        super().__init__(base.snapshot, base.embedder)
        self.excluded: set[tuple[str, int]] = set()  # (source, ordinal) of the chunks left out
        self._excluded_df: dict[str, int] = {}

    def leave_out(self, chunks: list[Chunk]) -> None:
        self.excluded = {(c.source, c.ordinal) for c in chunks}
        self._excluded_df = {}
        for c in chunks:
            for t in set(tokenize(f"{c.title}\n{c.text}" if c.ordinal else c.text)):
                self._excluded_df[t] = self._excluded_df.get(t, 0) + 1

    def document_frequency(self, token: str) -> int:
        return super().document_frequency(token) - self._excluded_df.get(token, 0)

    def idf(self, token: str) -> float:
        n = self.snapshot.n_chunks - len(self.excluded)
        df = self.document_frequency(token)
        return float(np.log(1 + (n - df + 0.5) / (df + 0.5)))

    def _kept(self, hits: list[tuple[int, float]], n: int) -> list[tuple[int, float]]:
        return [h for h in hits if (self.chunk(h[0]).source, self.chunk(h[0]).ordinal) not in self.excluded][:n]

    def dense(self, question, n=50):
        return self._kept(super().dense(question, n + len(self.excluded)), n)

    def lexical(self, question, n=50):
        return self._kept(super().lexical(question, n + len(self.excluded)), n)


@dataclass
class Example:
    article: str
    shape: str
    kind: str  # answerable | left_out | topic_absent | squad_unanswerable | swap (with compound_ for two-part ones)
    answerable: bool
    rows: np.ndarray  # sentence signals
    labels: np.ndarray  # 1: the sentence contains the answer
    lengths: np.ndarray  # characters of each sentence
    retrieval: np.ndarray  # question-level signals that do not depend on the sentence model


def write_collections(data: Path, work: Path) -> dict[str, dict[str, tuple[str, int]]]:
    """Write both shapes; returns, per shape, {pid: (file name, offset of the paragraph in that file)}."""
    paragraphs = [json.loads(line) for line in (data / "paragraphs.jsonl").read_text().splitlines() if line.strip()]
    where: dict[str, dict[str, tuple[str, int]]] = {"paragraphs": {}, "articles": {}}
    (work / "paragraphs").mkdir(parents=True, exist_ok=True)
    (work / "articles").mkdir(parents=True, exist_ok=True)
    for p in paragraphs:
        (work / "paragraphs" / f"{p['pid']}.txt").write_text(p["text"] + "\n", encoding="utf-8")
        where["paragraphs"][p["pid"]] = (f"{p['pid']}.txt", 0)
    by_article: dict[str, list[dict]] = {}
    for p in paragraphs:
        by_article.setdefault(p["pid"].rsplit("_", 1)[0], []).append(p)
    for article, ps in by_article.items():
        text = ps[0]["title"] + "\n\n"
        for p in ps:
            where["articles"][p["pid"]] = (f"{article}.txt", len(text))
            text += p["text"] + "\n\n"
        (work / "articles" / f"{article}.txt").write_text(text, encoding="utf-8")
    return where


@dataclass
class Item:
    """A question to ask of one shape: its text, the answers, and where they are."""

    question: str
    article: str
    answerable: bool
    answers: list[str]  # normalised
    places: list[tuple[str, int]]  # (file, character offset) of each answer


def items_for(questions: list[dict], where: dict[str, tuple[str, int]], rng: random.Random) -> list[Item]:
    """Every question, plus compound questions: two answerable questions of one article asked as one, as
    users ask long, two-part questions ("... and ...?", or a statement followed by the question)."""
    items, by_article = [], {}
    for q in questions:
        source, offset = where[q["pid"]]
        article = q["pid"].rsplit("_", 1)[0]
        answers = [normalise(a["text"]) for a in q.get("answers") or q.get("plausible_answers") or []]
        places = [(source, offset + q["answers"][0]["start"])] if q["answerable"] else []
        items.append(Item(q["question"], article, q["answerable"], answers, places))
        if q["answerable"]:
            by_article.setdefault(article, []).append(items[-1])
    for article, group in sorted(by_article.items()):
        group = group[:]
        rng.shuffle(group)
        for a, b in zip(group[: int(len(group) * COMPOUND_SHARE)], group[1:]):
            if a.places[0][0] == b.places[0][0] and abs(a.places[0][1] - b.places[0][1]) < 1500:
                continue  # two parts about the same passage are one question
            first, second = a.question.strip().rstrip("?"), b.question.strip()
            text = f"{first}, and {second[0].lower()}{second[1:]}" if rng.random() < 0.5 else f"{first}. {second}"
            items.append(Item(text, article, True, a.answers + b.answers, a.places + b.places))
    return items


def examples_for(shape: str, bot, items: list[Item], rng: random.Random) -> list[Example]:
    """Training examples of one shape (see the module docstring)."""
    retriever = LeaveOut(bot.retriever)
    chunks_of: dict[str, list[Chunk]] = {}
    for c in retriever.snapshot.all_chunks():
        chunks_of.setdefault(c.source, []).append(c)
    out = []
    for item in items:
        variants = []
        if item.answerable:
            holding = [c for source, at in item.places for c in chunks_of[source] if c.start <= at < c.end]
            variants += [("answerable", item.question, []), ("left_out", item.question, holding)]
            if len(item.places) == 1 and rng.random() < TOPIC_ABSENT_SHARE:
                same_article = [c for s, cs in chunks_of.items() if s.startswith(item.article) for c in cs]
                variants.append(("topic_absent", item.question, same_article))
            swapped = swap_constraint(item.question, rng) if len(item.places) == 1 else None
            if swapped and constraints(item.question) & constraints(" ".join(c.text for c in holding)):
                variants.append(("swap", swapped, []))
        else:
            variants.append(("squad_unanswerable", item.question, []))
        for kind, question, excluded in variants:
            retriever.leave_out(excluded)
            passages = retriever.search(question, k=K)
            qi, candidates, rows = sentence_signals(question, passages, retriever)
            if not candidates:
                continue
            labels = np.array([any(a and a in normalise(c.text) for a in item.answers) for c in candidates], dtype=np.int8)
            if kind in ("left_out", "topic_absent") and labels.any():
                continue  # the answer is still in the retrieved text: not an unanswerable case
            if kind == "swap":
                retrieved = constraints(" ".join(f"{p.title} {p.section} {p.text}" for p in passages))
                if (qi.constraints - constraints(item.question)) & retrieved:
                    continue  # the new value is named too: the question may still be answered
                labels[:] = 0
            kind = f"compound_{kind}" if len(item.places) > 1 else kind
            answerable = item.answerable and kind in ("answerable", "compound_answerable")
            out.append(Example(item.article, shape, kind, answerable,
                               rows, labels, np.array([len(c.text) for c in candidates]),
                               retrieval_features(qi, passages, agreement(passages))))
    return out


def save_examples(examples: list[Example], path: Path) -> None:
    """Keep the examples (numbers only) so that the fit can be rerun without retrieving again."""
    meta = [[e.article, e.shape, e.kind, int(e.answerable), len(e.labels)] for e in examples]
    np.savez_compressed(path, meta=np.array(json.dumps(meta)), rows=np.concatenate([e.rows for e in examples]),
                        labels=np.concatenate([e.labels for e in examples]),
                        lengths=np.concatenate([e.lengths for e in examples]),
                        retrieval=np.array([e.retrieval for e in examples]))


def load_examples(path: Path) -> list[Example]:
    with np.load(path) as npz:
        data = {k: npz[k] for k in npz.files}  # each npz[k] decompresses the whole array again
    out, at = [], 0
    for i, (article, shape, kind, answerable, n) in enumerate(json.loads(str(data["meta"]))):
        out.append(Example(article, shape, kind, bool(answerable), data["rows"][at : at + n], data["labels"][at : at + n],
                           data["lengths"][at : at + n], data["retrieval"][i]))
        at += n
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, c: float = 1.0, weight: np.ndarray | None = None) -> dict:
    from sklearn.linear_model import LogisticRegression

    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    model = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, y, sample_weight=weight)
    return {"mean": mean.tolist(), "scale": scale.tolist(), "weights": model.coef_[0].tolist(),
            "bias": float(model.intercept_[0])}


def logits(params: dict, x: np.ndarray) -> np.ndarray:
    return ((x - np.array(params["mean"])) / np.array(params["scale"])) @ np.array(params["weights"]) + params["bias"]


def question_rows(examples: list[Example], sentence_logits: list[np.ndarray]) -> np.ndarray:
    return np.array([question_features(e.rows, lg, e.retrieval) for e, lg in zip(examples, sentence_logits)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--out", type=Path, default=MODEL_FILE)
    parser.add_argument("--work", type=Path, help="keep the indexes here (default: a temporary folder)")
    parser.add_argument("--refit", action="store_true", help="reuse the examples saved in --work by an earlier run")
    args = parser.parse_args()
    started = time.perf_counter()
    rng = random.Random(SEED)
    questions = [json.loads(line) for line in (args.data / "questions.jsonl").read_text().splitlines() if line.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        saved = work / "examples.npz"
        if args.refit and saved.exists():
            examples = load_examples(saved)
        else:
            examples = []
            where = write_collections(args.data, work / "docs")
            for shape in ("paragraphs", "articles"):
                citechat.build_index(work / "docs" / shape, work / "index" / shape)
                bot = citechat.open_index(work / "index" / shape, work / "docs" / shape)
                examples += examples_for(shape, bot, items_for(questions, where[shape], rng), rng)
                print(f"{shape}: {len(examples)} examples so far, {time.perf_counter() - started:.0f} s", file=sys.stderr)
            save_examples(examples, saved)
    model = fit(examples)
    model["trained_on"] = (f"SQuAD 2.0 train (CC BY-SA 4.0, Rajpurkar et al. 2018), {len(questions)} questions of "
                           f"{len({e.article for e in examples})} articles, {len(examples)} examples; "
                           f"bench/train_answerer.py, seed {SEED}")
    args.out.write_text(json.dumps(model, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes) in {time.perf_counter() - started:.0f} s", file=sys.stderr)


def fit(examples: list[Example]) -> dict:
    articles = sorted({e.article for e in examples})
    # Out-of-fold sentence logits (leave one article out), so the answerability model sees honest inputs.
    oof: list[np.ndarray | None] = [None] * len(examples)
    for held in articles:
        train = [e for e in examples if e.article != held and e.answerable and e.labels.any()]
        params = fit_sentences(train)
        for i, e in enumerate(examples):
            if e.article == held:
                oof[i] = logits(params, e.rows)
    sentence = fit_sentences([e for e in examples if e.answerable and e.labels.any()])
    x = question_rows(examples, oof)
    y = np.array([e.answerable for e in examples], dtype=np.int8)
    # An answerable question whose answer was not retrieved says nothing about answerability: not fitted on.
    fitted = np.array([not e.answerable or e.labels.any() for e in examples])
    oof_answerable = np.zeros(len(examples))
    for held in articles:
        mask = np.array([e.article == held for e in examples])
        params = fit_logistic(x[~mask & fitted], y[~mask & fitted])
        oof_answerable[mask] = 1 / (1 + np.exp(-logits(params, x[mask])))
    answerable = fit_logistic(x[fitted], y[fitted])
    refuse_below = choose_refusal(examples, oof_answerable)
    ratio = choose_ratio(examples, oof, oof_answerable >= refuse_below)
    report(examples, oof, oof_answerable, refuse_below)
    return {
        "version": 1,
        "sentence": {"features": SENTENCE_FEATURES, **sentence},
        "answerable": {"features": QUESTION_FEATURES, **answerable},
        "refuse_below": refuse_below,
        "extra_sentence_ratio": ratio,
    }


def fit_sentences(examples: list[Example]) -> dict:
    x = np.concatenate([e.rows for e in examples])
    y = np.concatenate([e.labels for e in examples])
    # Each question counts once, however many candidate sentences it has.
    weight = np.concatenate([np.full(len(e.labels), 1.0 / len(e.labels)) for e in examples])
    return fit_logistic(x, y, weight=weight * len(y) / weight.sum())


def choose_refusal(examples: list[Example], p: np.ndarray, max_false_refusal: float = 0.08) -> float:
    """The highest threshold whose false refusals on answerable training questions (out of fold) stay within
    max_false_refusal."""
    answerable = np.sort(p[[e.answerable for e in examples]])
    return float(round(answerable[int(max_false_refusal * len(answerable))], 3))


def choose_ratio(examples, oof, answered, candidates=(0.9, 0.7, 0.5, 0.35, 0.25, 0.15)) -> float:
    """The smallest probability ratio for quoting a second sentence that keeps the median answer within 300
    characters on the training questions (out of fold)."""
    best = candidates[0]
    for ratio in candidates:
        lengths = []
        for e, lg, ok in zip(examples, oof, answered):
            if not (ok and e.answerable):
                continue
            order = np.argsort(-lg)[:2]
            keep = [i for i in order if lg[i] >= lg[order[0]] + np.log(ratio)]
            lengths.append(sum(e.lengths[i] + 5 for i in keep))
        if lengths and np.median(lengths) <= 300:
            best = ratio
    return best


def report(examples, oof, p, refuse_below) -> None:
    """Out-of-fold figures per shape and kind, to see what the fit does on articles it did not see."""
    for shape in ("paragraphs", "articles"):
        for kind in ("answerable", "left_out", "topic_absent", "squad_unanswerable", "swap", "compound_answerable",
                     "compound_left_out"):
            idx = [i for i, e in enumerate(examples) if e.shape == shape and e.kind == kind]
            if not idx:
                continue
            refused = np.mean([p[i] < refuse_below for i in idx])
            top = np.mean([examples[i].labels[np.argmax(oof[i])] for i in idx]) if examples[idx[0]].answerable else float("nan")
            print(f"{shape:<10} {kind:<18} n={len(idx):5d} refused={refused:.3f} best sentence holds answer={top:.3f}",
                  file=sys.stderr)


if __name__ == "__main__":
    main()
