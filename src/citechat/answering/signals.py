"""The signals the answer model reads: for each candidate sentence, how well it matches the question (meaning,
weighted words, the kind of answer asked for, its neighbours, where its passage ranked), and for the question
as a whole, how much of it the retrieved text covers at all.

Every signal is a ratio, a similarity or a small count, so that it means the same on a collection of short
snippets as on one of long articles; the weights that combine them are fitted (bench/train_answerer.py).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np

from ..index.terms import stem, tokenize
from .constraints import Constraint, constraints, contradicted
from .retrieval import Passage, Retriever

_WHEN = re.compile(r"^\s*when\b|\b(what|which|in what|by what) ([\w-]+ ){0,2}(year|years|date|day|month|time|century|decade|era|"
                   r"season|period)\b", re.I)
_COUNT = re.compile(r"\bhow (many|much|long|old|far|tall|big|large|high|often|fast)\b|\b(what|which) (percentage|percent|"
                    r"proportion|share|number|amount|size|age|price|rate|score)\b|\bnumber of\b", re.I)
_WHO = re.compile(r"^\s*(who|whom|whose)\b|\b(who|whom|whose)\b|\b(what|which) (person|people|man|woman|men|women|"
                  r"player|artist|singer|actor|actress|leader|president|company|companies|firm|organi[sz]ation|"
                  r"group|team|band|brand)\b", re.I)
_WHERE = re.compile(r"^\s*where\b|\b(what|which) (city|country|state|town|place|region|province|county|continent|"
                    r"location|island|nation|venue|university|school)\b", re.I)
_WHICH = re.compile(r"^\s*(which|what)\s+\w+|\b(name|named|called|title)\b", re.I)
_WHY = re.compile(r"^\s*(why|how)\b(?! (many|much|long|old|far|tall|big|large|high|often|fast))", re.I)
_SPEECH_QUESTION = re.compile(
    r"^\s*(what|how)\b.*\b(say|said|says|tell|told|write|wrote|think|thinks|thought|claim|claimed|comment|"
    r"commented|argue|argued|react|reacted|respond|responded|feel|feels|view|views|opinion|position|stance|"
    r"reaction|response)\b", re.I)

_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
                     r"hundred|hundreds|thousand|thousands|million|millions|billion|billions|dozen|dozens|half|"
                     r"first|second|third|fourth|fifth)\b", re.I)
_DATE = re.compile(r"\b(1\d{3}|20\d{2})s?\b|\b(january|february|march|april|may|june|july|august|september|october|"
                   r"november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|today|"
                   r"tomorrow|century|decade)\b", re.I)
_HOW_MANY = re.compile(r"\bhow many ([\w\s-]+)", re.I)
_COUNT_MODIFIERS = {"more", "other", "different", "new", "additional", "extra", "separate", "total", "of", "the"}
_NUMBER_WORD = re.compile(r"^(\d[\d,.]*|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|"
                          r"fifteen|twenty|thirty|forty|fifty|hundred|hundreds|thousand|thousands|million|dozen|dozens)$", re.I)
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][\w&'’-]+")
_SPEECH = re.compile(r"[“”\"]|\b(said|says|saying|wrote|writes|told|tells|stated|argued|added|according to|"
                     r"described|called for|criticized|criticised|urged|warned|noted|concluded|expressed|hopes|"
                     r"believes)\b", re.I)
_PRONOUN = re.compile(r"\b(he|she|his|her|him|they|their|them|it|its)\b", re.I)
_REASON = re.compile(r"\b(because|since|due to|as a result|so that|in order to|led to|caused|reason)\b", re.I)

SENTENCE_FEATURES = [
    "similarity", "similarity_gap", "neighbour_similarity", "coverage", "coverage_gap", "coverage_resolved",
    "coverage_with_neighbours",
    "coverage_passage", "missing_rare", "novelty", "log_tokens", "first_of_document", "position", "passage_rank",
    "passage_similarity", "passage_similarity_gap", "passage_lexical", "when_date", "count_number", "who_name",
    "where_name", "which_name", "why_reason", "counted_thing", "has_number", "has_date", "new_names", "speech", "typed",
    "constraint_contradicted",
]
QUESTION_FEATURES = [
    "best_logit", "second_logit", "best_similarity", "best_coverage", "best_coverage_with_neighbours",
    "best_missing_rare", "best_typed_match", "best_counted_thing", "best_contradicted",
    "coverage_retrieved", "missing_rare_retrieved", "unknown_to_index",
    "top_similarity", "similarity_gap_1_2", "lexical_strength", "agreement", "typed", "counting", "question_tokens",
]


@dataclass
class QuestionInfo:
    """What is worked out once per question."""

    text: str
    weights: dict[str, float]  # content token -> idf
    total: float
    kinds: dict[str, bool]
    speech: bool
    max_weight: float
    log_chunks: float
    unknown: float  # idf share of question tokens that occur nowhere in the index
    names: set[str] = field(default_factory=set)  # lower-cased capitalised words of the question
    counted: str = ""  # the stem of what a "how many" question counts ("day")
    constraints: frozenset[Constraint] = frozenset()  # "in 2021", "season 4": values an answer must share

    @property
    def typed(self) -> bool:
        return any(self.kinds[k] for k in ("when", "count", "who", "where"))


def question_info(question: str, retriever: Retriever) -> QuestionInfo:
    weights = {t: retriever.idf(t) for t in set(tokenize(question))}
    unknown = sum(w for t, w in weights.items() if retriever.document_frequency(t) == 0)
    total = sum(weights.values()) or 1.0
    kinds = {"when": bool(_WHEN.search(question)), "count": bool(_COUNT.search(question)),
             "who": bool(_WHO.search(question)), "where": bool(_WHERE.search(question)),
             "which": bool(_WHICH.search(question)), "why": bool(_WHY.search(question))}
    names = {m.group(0).lower() for m in re.finditer(r"\b[A-Z][\w&'’-]+", question)}
    return QuestionInfo(question, weights, total, kinds, bool(_SPEECH_QUESTION.search(question)),
                        max(weights.values(), default=1.0), math.log(2 + retriever.snapshot.n_chunks),
                        unknown / total, names, counted(question), constraints(question))


def counted(question: str) -> str:
    """What a "how many" question counts: the first word after it that is not a modifier ("How many more
    days" -> day)."""
    m = _HOW_MANY.search(question)
    words = [w for w in (m.group(1).lower().split() if m else []) if w not in _COUNT_MODIFIERS]
    return stem(words[0]) if words else ""


def counts_it(text: str, counted: str) -> bool:
    """Does the text give a number of the counted thing ("26 days", "twelve more staff")?"""
    words = re.findall(r"[\w.,-]+", text)
    for i, w in enumerate(words):
        if _NUMBER_WORD.match(w.strip(".,")) and counted in tokenize(" ".join(words[i + 1 : i + 4])):
            return True
    return False


def coverage(q: QuestionInfo, tokens: set[str]) -> float:
    """The idf-weighted share of the question's content words found in tokens."""
    return sum(w for t, w in q.weights.items() if t in tokens) / q.total


def missing_rare(q: QuestionInfo, tokens: set[str]) -> float:
    """The rarest question word not found in tokens, relative to the rarest question word (0: none missing)."""
    return max((w for t, w in q.weights.items() if t not in tokens), default=0.0) / q.max_weight


def _before(p: Passage, sentence: str) -> str:
    """The passage text before the sentence."""
    at = p.text.find(sentence)
    return p.text[: max(at, 0)]


def _sentence_before(p: Passage, sentence: str) -> str:
    """The sentence just before this one in its passage ("" for the first)."""
    before = _before(p, sentence).rstrip()
    return re.split(r"(?<=[.!?:\n])\s+", before)[-1] if before else ""


def _contradicted(q: QuestionInfo, p: Passage, text: str) -> float:
    """The share of the question's constraints that the sentence contradicts, read under its heading and after
    the sentence before it (which frame it when it names no value of a kind itself)."""
    if not q.constraints:
        return 0.0
    return contradicted(q.constraints, text, f"{p.title} {p.section} {_sentence_before(p, text)}")


def _resolved(q: QuestionInfo, text: str, tokens: set[str], earlier: set[str]) -> set[str]:
    """The sentence's words, plus the question's words that a pronoun of the sentence may stand for: those found
    earlier in the passage, its title or its section ("It is reviewed every January" under "Employee Handbook")."""
    if not _PRONOUN.search(text):
        return tokens
    return tokens | (set(q.weights) & earlier)


def sentence_features(q: QuestionInfo, texts: list[str], passages: list[Passage], owners: list[int],
                      positions: list[int], q_vector: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """One row of SENTENCE_FEATURES per candidate sentence texts[i], found in passages[owners[i]] as its
    sentence number positions[i]; vectors are the sentences' unit embeddings, q_vector the question's."""
    n = len(texts)
    sims = vectors @ q_vector
    tokens = [set(tokenize(t)) for t in texts]
    passage_tokens = [set(tokenize(f"{p.title} {p.section} {p.text}")) for p in passages]
    dense_top = max((p.dense_score for p in passages), default=0.0)
    lexical_top = max((p.lexical_score for p in passages), default=0.0) or 1.0
    index = {(owners[i], positions[i]): i for i in range(n)}
    covs = np.array([coverage(q, t) for t in tokens])
    earlier = [set(tokenize(f"{passages[owners[i]].title} {passages[owners[i]].section} "
                            f"{_before(passages[owners[i]], texts[i])}")) for i in range(n)]
    rows = np.zeros((n, len(SENTENCE_FEATURES)), dtype=np.float32)
    for i, text in enumerate(texts):
        p = passages[owners[i]]
        neighbours = [index.get((owners[i], positions[i] + d)) for d in (-1, 1)]
        neighbours = [j for j in neighbours if j is not None]
        context = tokens[i].union(*(tokens[j] for j in neighbours))
        new_names = {w.lower() for w in _CAPITALISED.findall(text)} - q.names
        has_number, has_date = bool(_NUMBER.search(text)), bool(_DATE.search(text))
        content = [t for t in tokenize(text)]
        rows[i] = [
            sims[i], sims[i] - sims.max(), max((sims[j] for j in neighbours), default=0.0),
            covs[i], covs[i] - covs.max(), coverage(q, _resolved(q, text, tokens[i], earlier[i])),
            coverage(q, context), coverage(q, passage_tokens[owners[i]]),
            missing_rare(q, context), sum(t not in q.weights for t in content) / max(1, len(content)),
            math.log(1 + len(content)), float(p.ordinal == 0 and positions[i] == 0), min(positions[i], 10) / 10,
            owners[i], p.dense_score, p.dense_score - dense_top, p.lexical_score / lexical_top,
            q.kinds["when"] and has_date, q.kinds["count"] and has_number, q.kinds["who"] and bool(new_names),
            q.kinds["where"] and bool(new_names), q.kinds["which"] and bool(new_names),
            q.kinds["why"] and bool(_REASON.search(text)), bool(q.counted) and counts_it(text, q.counted),
            has_number, has_date, min(len(new_names), 5) / 5,
            q.speech and bool(_SPEECH.search(text)), q.typed, _contradicted(q, p, text),
        ]
    return rows


def retrieval_features(q: QuestionInfo, passages: list[Passage], agreement: float) -> np.ndarray:
    """The question-level signals that do not depend on the sentence model (the tail of QUESTION_FEATURES)."""
    retrieved = set(tokenize(" ".join(f"{p.title} {p.text}" for p in passages)))
    dense = sorted((p.dense_score for p in passages), reverse=True) + [0.0, 0.0]
    return np.array([
        coverage(q, retrieved), missing_rare(q, retrieved), q.unknown, dense[0], dense[0] - dense[1],
        max((p.lexical_score for p in passages), default=0.0) / q.total, agreement, q.typed, bool(q.counted),
        math.log(1 + len(q.weights)),
    ], dtype=np.float32)


def question_features(rows: np.ndarray, logits: np.ndarray, retrieval: np.ndarray) -> np.ndarray:
    """QUESTION_FEATURES: the best two sentence logits, the best sentence's signals, and the retrieval's."""
    order = np.argsort(-logits)
    best = rows[order[0]]
    f = {name: best[i] for i, name in enumerate(SENTENCE_FEATURES)}
    typed_match = f["when_date"] or f["count_number"] or f["who_name"] or f["where_name"]
    head = [logits[order[0]], logits[order[1]] if len(order) > 1 else -10.0, f["similarity"], f["coverage"],
            f["coverage_with_neighbours"], f["missing_rare"], typed_match, f["counted_thing"],
            f["constraint_contradicted"]]
    return np.concatenate([np.array(head, dtype=np.float32), retrieval])
