"""The default answerer: picks the sentences of the retrieved passages that answer the question, keeps them
verbatim, and cites each one. It needs no LLM. Which sentences answer, and whether the retrieved text answers
the question at all, come from a small fitted model (answer_model.py); it refuses when they do not."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from . import answer_model
from ..index.terms import tokenize
from ..ingest.readable import is_markdown, readable
from ..ingest.text import quotable_spans
from ..terminal import shown_name
from .retrieval import Passage, Retriever
from .signals import QuestionInfo, question_features, question_info, retrieval_features, sentence_features
from .types import REFUSAL, Answer, Source

MAX_SENTENCES = 4
# Quotations: sentences with a quotation mark or a speech verb ("said", "wrote", "according to").
_SPEECH = re.compile(
    r"[“”\"]|\b(said|says|saying|wrote|writes|told|tells|stated|argued|added|according to|described|called for|"
    r"criticized|criticised|urged|warned|noted|concluded|expressed|hopes|believes)\b", re.I)
_URL = re.compile(r"\bhttps?://|\bwww\.")
_QUOTE = re.compile(r"[“”\"]")
# Lines that name rather than state: a memo's subject line (its title), a signature or a list of names.
_SUBJECT_LINE = re.compile(r"^\s*(subject|re|title)\s*:", re.I)
_NAME_LINE = re.compile(r"^\s*[A-Z][\w'’.-]*(\s+[A-Z][\w'’.-]*){0,3}\s*$")
# A label states nothing: a heading, a caption or a table cell read as a line ("League Chairmen and Presidents.",
# "2016 Summer Games Rio."): a few words, every one capitalised but the joining ones, and no "field: value".
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_JOINING = {"and", "or", "of", "the", "a", "an", "in", "on", "at", "for", "to", "with", "by", "from", "vs", "v", "de",
            "la", "le", "del", "von", "van", "der", "und", "et"}
_FIELD_VALUE = re.compile(r":\s*\S")
_QUOTE_ONLY = re.compile(r"^[“\"][^“”\"]+[”\"][.!?]?$")
# "Which companies ...", "What countries ...", "Who are ...", "Name the ...": the answer is several items.
_LIST_QUESTION = re.compile(r"^\s*(which|what)\s+(\w+\s+)?\w+(ies|[^s]s)\b(?!\s+(is|was|has|does)\b)|^\s*(who are|who were|"
                            r"name|list)\b", re.I)
_NAME = re.compile(r"\b[A-Z][\w&.'’-]*(?:\s+[A-Z][\w&.'’-]*)*")
_PRONOUN = re.compile(r"\b(he|she|his|her|him|they|their|it|its)\b", re.I)
_QUESTION_WORDS = {"What", "Who", "Whom", "Whose", "When", "Where", "Why", "How", "Which", "Did", "Does", "Do", "Is",
                   "Are", "Was", "Were", "Has", "Have", "Can", "Could", "Should", "Would", "Will", "The", "A", "An",
                   "In", "On", "According", "Considering", "I", "Tell", "Show", "Give", "List", "Describe", "Explain",
                   "Summarize", "Summarise", "Name", "Find", "Please", "Compare", "Me", "Us", "About"}


@dataclass
class Candidate:
    passage: Passage
    start: int  # offsets in the document
    end: int
    text: str
    position: int  # sentence number inside its passage
    rank: int  # rank of its passage in the retrieval
    score: float = 0.0  # fitted logit: does it hold the answer?


@dataclass
class Assessment:
    """What the model makes of the retrieved passages for one question."""

    question: QuestionInfo
    candidates: list[Candidate]
    rows: np.ndarray  # sentence signals, one row per candidate
    question_row: np.ndarray  # question signals
    answerable: float  # probability that the passages answer the question


def question_entities(question: str) -> list[str]:
    """Capitalised names in the question ("Altman", "New York Times"), minus question words."""
    names = []
    for m in _NAME.finditer(question):
        words = [w for w in m.group(0).split() if w.strip(".'’") not in _QUESTION_WORDS]
        if words:
            names.append(re.sub(r"(['’]s?)?[?.!,:;]*$", "", " ".join(words)))
    return [n for n in names if len(n) > 1]


def candidate_spans(passage: Passage) -> list[tuple[int, tuple[int, int]]]:
    """The spans of passage.text that may be quoted as an answer, as (position, (start, end)): its quotable
    sentences (no headings, titles or questions), less fragments of under two words, web addresses (references,
    not statements), the document's title line, subject lines, lines of names alone and labels."""
    return [
        (i, (s, e)) for i, (s, e) in quotable_spans(passage.text)
        if len(tokenize(passage.text[s:e])) >= 2 and not _URL.search(passage.text, s, e)
        and not _is_title(passage.text[s:e], passage.title) and not _names_only(passage.text[s:e])
        and not label_like(passage.text[s:e])
    ]


def label_like(text: str) -> bool:
    """Does the line name rather than state (a heading, a caption, a table cell)?"""
    words = _WORD.findall(text)
    return (len(words) <= 10 and not _FIELD_VALUE.search(text)
            and all(w[0].isupper() or w.lower() in _JOINING for w in words))


def _names_only(text: str) -> bool:
    return bool(_SUBJECT_LINE.match(text) or _NAME_LINE.match(text))


def _is_title(text: str, title: str) -> bool:
    return text.strip() == title.strip() and not text.rstrip().endswith((".", "!", "?", '"', "”"))


def candidates_of(passages: list[Passage]) -> list[Candidate]:
    """Candidate sentences of the passages, each once (overlapping chunks repeat sentences)."""
    seen: set[tuple[str, int]] = set()
    out = []
    for rank, p in enumerate(passages):
        for i, (s, e) in candidate_spans(p):
            key = (p.source, p.start + s)
            if key not in seen:
                seen.add(key)
                out.append(Candidate(p, p.start + s, p.start + e, p.text[s:e], i, rank))
    return out


def agreement(passages: list[Passage]) -> float:
    """Share of the passages that both the dense and the lexical search put in their top ten."""
    both = sum(0 <= p.dense_rank < 10 and 0 <= p.lexical_rank < 10 for p in passages)
    return both / len(passages) if passages else 0.0


def read_with_heading(c: Candidate) -> str:
    """A sentence as a reader takes it in: under its own heading ("Which VPN do we use?: We use GlobalProtect."),
    when the passage has one below the document's title."""
    heading = c.passage.section.rsplit(" › ", 1)[-1].strip()
    return f"{heading}: {c.text}" if heading and heading != c.passage.title.strip() else c.text


def sentence_signals(question: str, passages: list[Passage], retriever: Retriever
                     ) -> tuple[QuestionInfo, list[Candidate], np.ndarray]:
    """The question's facts, its candidate sentences and their signal rows (empty when nothing to quote)."""
    q = question_info(question, retriever)
    candidates = candidates_of(passages)
    if not candidates:
        return q, [], np.zeros((0, 0))
    vectors = retriever.embedder.encode([question] + [read_with_heading(c) for c in candidates], cache=True)
    rows = sentence_features(q, [c.text for c in candidates], passages,
                             [c.rank for c in candidates], [c.position for c in candidates], vectors[0], vectors[1:])
    return q, candidates, rows


def assess(question: str, passages: list[Passage], retriever: Retriever,
           model: answer_model.AnswerModel | None = None) -> Assessment | None:
    """Score every candidate sentence and the question's answerability; None when there is nothing to quote."""
    model = model or answer_model.load()
    q, candidates, rows = sentence_signals(question, passages, retriever)
    if not candidates:
        return None
    logits = model.sentence.logits(rows)
    for c, logit in zip(candidates, logits):
        c.score = float(logit)
    question_row = question_features(rows, logits, retrieval_features(q, passages, agreement(passages)))
    answerable = float(answer_model.sigmoid(model.answerable.logits(question_row)[0]))
    return Assessment(q, candidates, rows, question_row, answerable)


class ExtractiveAnswerer:
    def __init__(self, retriever: Retriever, model: answer_model.AnswerModel | None = None) -> None:
        self.retriever = retriever
        self.model = model or answer_model.load()

    def answer(self, question: str, passages: list[Passage]) -> Answer:
        a = assess(question, passages, self.retriever, self.model)
        if a is None or a.answerable < self.model.refuse_below:
            return refusal(question, passages)
        result = compose(question, self._select(question, a))
        result.confidence = round(a.answerable, 3)
        return result

    def _select(self, question: str, a: Assessment) -> list[Candidate]:
        ranked = sorted(a.candidates, key=lambda c: -c.score)
        if a.question.speech:
            chosen = _quotations(question, ranked)
            if chosen:
                return chosen
        # A further sentence comes along when the model finds it nearly as likely to hold the answer.
        floor = ranked[0].score + math.log(self.model.extra_sentence_ratio)
        limit = MAX_SENTENCES if _LIST_QUESTION.search(question) else 2
        return [c for c in ranked[:limit] if c.score >= floor]


def _quotations(question: str, ranked: list[Candidate]) -> list[Candidate]:
    """For "what did X say": X's own quoted words first, then reported speech, best first; quotations that
    carry on from a chosen sentence come along with it."""
    entities = question_entities(question)
    entity_tokens = {t for e in entities for t in tokenize(e)}
    by_place = {(c.passage.row, c.position): c for c in ranked}
    speaks: set[int] = set()
    for c in sorted(ranked, key=lambda c: (c.passage.row, c.position)):
        before = by_place.get((c.passage.row, c.position - 1))
        continues = _QUOTE_ONLY.match(c.text) and before is not None and id(before) in speaks
        if continues or (_SPEECH.search(c.text) and (not entities or _mentions(c, entity_tokens))):
            speaks.add(id(c))
    speakers = [c for c in ranked if id(c) in speaks]
    chosen = sorted(speakers, key=lambda c: (not _QUOTE.search(c.text), -c.score))[:MAX_SENTENCES]
    for c in speakers:
        before = by_place.get((c.passage.row, c.position - 1))
        if _QUOTE_ONLY.match(c.text) and before in chosen and c not in chosen:
            chosen.append(c)
    return chosen


def _mentions(c: Candidate, entity_tokens: set[str]) -> bool:
    """Does the sentence speak of an entity of the question, by name or by a pronoun whose antecedent
    (earlier in the passage, or the title) names it?"""
    if entity_tokens & set(tokenize(c.text)):
        return True
    if _PRONOUN.search(c.text):
        before = set(tokenize(c.passage.text[: c.start - c.passage.start] + " " + c.passage.title))
        return bool(entity_tokens & before)
    return False


def refusal(question: str, passages: list[Passage], reason: str = REFUSAL) -> Answer:
    closest = list({p.source: p for p in reversed(passages)}.values())[::-1][:2]  # best passage per document
    related = [_source(i, p, p.start, p.end) for i, p in enumerate(closest, start=1)]
    text = reason
    if related:
        names = "; ".join(f"“{shown_name(r.title)}” ({shown_name(r.source)})" for r in related)  # one line each
        text += f" Possibly related: {names}."
    return Answer(question=question, text=text, refused=True, related=related)


def _source(n: int, p: Passage, start: int, end: int) -> Source:
    return Source(n, p.source, p.title, p.page, start, end, p.text[start - p.start : end - p.start], p.score,
                  p.text, p.start)


def compose(question: str, chosen: list[Candidate]) -> Answer:
    """Order the chosen sentences (documents by best sentence, then reading order), merge neighbours
    from the same passage into one cited span, and number the spans."""
    best_of: dict[str, float] = {}
    for c in chosen:
        best_of[c.passage.source] = max(best_of.get(c.passage.source, -math.inf), c.score)
    ordered = sorted(chosen, key=lambda c: (-best_of[c.passage.source], c.passage.source, c.start))
    groups: list[list[Candidate]] = []
    for c in ordered:
        last = groups[-1][-1] if groups else None
        if last and last.passage.row == c.passage.row and c.position == last.position + 1:
            groups[-1].append(c)
        else:
            groups.append([c])
    sources: list[Source] = []
    parts = []
    for group in groups:
        start, end = group[0].start, group[-1].end
        existing = next((s for s in sources if (s.source, s.start, s.end) == (group[0].passage.source, start, end)), None)
        src = existing or _source(len(sources) + 1, group[0].passage, start, end)
        src.score = round(max(c.score for c in group), 4)
        if not existing:
            sources.append(src)
        shown = readable(" ".join(c.text for c in group), is_markdown(src.source))  # as read: unwrapped, no markup
        parts.append(f"{shown} [{src.n}]")
    return Answer(question=question, text=" ".join(parts), sources=sources)
