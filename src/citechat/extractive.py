"""The default answerer: picks the sentences of the retrieved passages that answer the question, keeps them
verbatim, and cites each one. It needs no LLM, and refuses when nothing retrieved answers the question."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from .answers import REFUSAL, Answer, Source
from .retrieval import Passage, Retriever, tokenize
from .text import quotable_spans

MAX_SENTENCES = 4
# Below these the best sentence is not taken as an answer (tuned on the development sets; see bench/).
MIN_SUPPORT = 0.3
CONFIDENT_SUPPORT = 0.45
MIN_FOCUS_COVERAGE = 0.2

# "What did X say?", "How did X react?", "What is X's view on ...?": the question asks for someone's words.
_SPEECH_QUESTION = re.compile(
    r"^\s*(what|how)\b.*\b(say|said|says|tell|told|write|wrote|think|thinks|thought|claim|claimed|comment|"
    r"commented|argue|argued|react|reacted|respond|responded|feel|feels|view|views|opinion|position|stance|"
    r"reaction|response)\b", re.I)
_SPEECH = re.compile(
    r"[“”\"]|\b(said|says|saying|wrote|writes|told|tells|stated|argued|added|according to|described|called for|"
    r"criticized|criticised|urged|warned|noted|concluded|expressed|hopes|believes)\b", re.I)
_URL = re.compile(r"\bhttps?://|\bwww\.")
_QUOTE = re.compile(r"[“”\"]")
_QUOTE_ONLY = re.compile(r"^[“\"][^“”\"]+[”\"][.!?]?$")
_COUNT_QUESTION = re.compile(r"\b(how (many|much)|number of|what (percentage|share|amount))\b", re.I)
_NUMBER = re.compile(r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|hundred|thousand|million|billion|dozens?)\b", re.I)
_TIME_QUESTION = re.compile(r"\b(when|what (year|date|day|month|time))\b", re.I)
_TIME = re.compile(r"\b(1[89]\d\d|20\d\d|january|february|march|april|may|june|july|august|september|october|"
                   r"november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|yesterday|today|"
                   r"last (week|month|year|december|weekend)|this (week|month|year))\b", re.I)
_WHO_QUESTION = re.compile(r"^\s*(who|whom|whose)\b|\bwhich (person|people|executive|leader)", re.I)
_LIST_QUESTION = re.compile(r"\bwhich (\w+ )?(companies|firms|organi[sz]ations|groups|countries|people|brands)\b", re.I)
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
    score: float = 0.0
    support: float = 0.0
    speaks: bool = False  # reports what a person named in the question said


def question_entities(question: str) -> list[str]:
    """Capitalised names in the question ("Altman", "New York Times"), minus question words."""
    names = []
    for m in _NAME.finditer(question):
        words = [w for w in m.group(0).split() if w.strip(".'’") not in _QUESTION_WORDS]
        if words:
            names.append(re.sub(r"(['’]s?)?[?.!,:;]*$", "", " ".join(words)))
    return [n for n in names if len(n) > 1]


class ExtractiveAnswerer:
    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever

    def answer(self, question: str, passages: list[Passage]) -> Answer:
        candidates = self._candidates(passages)
        if not candidates:
            return refusal(question, passages)
        self._score(question, candidates)
        best = max(candidates, key=lambda c: c.score)
        if not self._answers(question, best, passages):
            return refusal(question, passages)
        chosen = self._select(question, candidates, best)
        return compose(question, chosen)

    # ------------------------------------------------------------ candidates and scores

    def _candidates(self, passages: list[Passage]) -> list[Candidate]:
        seen: set[tuple[str, int]] = set()
        out = []
        for rank, p in enumerate(passages):
            for i, (s, e) in quotable_spans(p.text):
                key = (p.source, p.start + s)
                # Web addresses are references, not statements.
                if key in seen or len(tokenize(p.text[s:e])) < 2 or _URL.search(p.text, s, e):
                    continue
                seen.add(key)
                out.append(Candidate(p, p.start + s, p.start + e, p.text[s:e], i, rank))
        return out

    def _score(self, question: str, candidates: list[Candidate]) -> None:
        vectors = self.retriever.embedder.encode([question] + [c.text for c in candidates], cache=True)
        semantic = vectors[1:] @ vectors[0]
        q_tokens = set(tokenize(question))
        entities = question_entities(question)
        entity_tokens = {t for e in entities for t in tokenize(e)}
        weights = {t: self.retriever.idf(t) for t in q_tokens}
        total = sum(weights.values()) or 1.0
        wants_speech = bool(_SPEECH_QUESTION.search(question))
        wants = [
            (bool(_COUNT_QUESTION.search(question)), _NUMBER),
            (bool(_TIME_QUESTION.search(question)), _TIME),
        ]
        previous: Candidate | None = None
        for c, sem in zip(candidates, semantic):
            tokens = set(tokenize(c.text))
            mentions = self._mentions(c, entities, entity_tokens, tokens)
            if mentions:
                tokens |= entity_tokens  # named through a pronoun
            lexical = sum(w for t, w in weights.items() if t in tokens) / total
            speech = bool(_SPEECH.search(c.text))
            follows = previous is not None and previous.passage.row == c.passage.row and previous.position == c.position - 1
            if _QUOTE_ONLY.match(c.text) and follows and previous.speaks:
                mentions = speech = True  # a quotation continuing the previous sentence's speaker
            c.speaks = speech and (mentions or not entities)
            bonus = 0.0
            if wants_speech:
                bonus += (0.12 if speech else -0.08) + (0.08 if c.speaks and _QUOTE.search(c.text) else 0.0)
            for asked, pattern in wants:
                if asked:
                    bonus += 0.12 if pattern.search(c.text) else -0.08
            if _WHO_QUESTION.search(question) or _LIST_QUESTION.search(question):
                names = [n for n in _NAME.findall(c.text[1:]) if not set(tokenize(n)) <= q_tokens]
                bonus += 0.1 if names else -0.05
            if entities:
                bonus += 0.1 if mentions else -0.1
            c.support = 0.5 * float(sem) + 0.5 * lexical
            c.score = c.support + bonus - 0.01 * c.rank
            previous = c

    def _mentions(self, c: Candidate, entities: list[str], entity_tokens: set[str], tokens: set[str]) -> bool:
        """Does the sentence speak of an entity of the question, by name or by a pronoun whose antecedent
        (earlier in the passage, or the title) names it?"""
        if not entities:
            return False
        if entity_tokens & tokens:
            return True
        if _PRONOUN.search(c.text):
            before = set(tokenize(c.passage.text[: c.start - c.passage.start] + " " + c.passage.title))
            return bool(entity_tokens & before)
        return False

    def _answers(self, question: str, best: Candidate, passages: list[Passage]) -> bool:
        """Is there an answer at all? Every name in the question must occur in the indexed documents, and the
        best sentence must be close to the question, with the question's other content words found in the
        retrieved passages (thresholds tuned on the development sets; see bench/README.md)."""
        entity_tokens = {t for e in question_entities(question) for t in tokenize(e)}
        if any(self.retriever.document_frequency(t) == 0 for t in entity_tokens):
            return False
        if best.support >= CONFIDENT_SUPPORT:
            return True
        focus = set(tokenize(question)) - entity_tokens
        if not focus:
            return best.support >= MIN_SUPPORT
        context = set(tokenize(" ".join(f"{p.title} {p.text}" for p in passages)))
        weights = {t: self.retriever.idf(t) for t in focus}
        covered = sum(w for t, w in weights.items() if t in context) / (sum(weights.values()) or 1.0)
        return best.support >= MIN_SUPPORT and covered >= MIN_FOCUS_COVERAGE

    def _select(self, question: str, candidates: list[Candidate], best: Candidate) -> list[Candidate]:
        ranked = sorted(candidates, key=lambda c: -c.score)
        if _SPEECH_QUESTION.search(question) and any(c.speaks for c in ranked):
            # What someone said: their quoted words first, then reported speech; quotations that carry on
            # from a chosen sentence come along with it.
            speakers = sorted((c for c in ranked if c.speaks), key=lambda c: (not _QUOTE.search(c.text), -c.score))
            chosen = speakers[:MAX_SENTENCES]
            for c in ranked:
                if _QUOTE_ONLY.match(c.text) and c.speaks and any(
                    d.passage.row == c.passage.row and d.position == c.position - 1 for d in chosen
                ):
                    chosen.append(c)
            return chosen
        limit = MAX_SENTENCES if _LIST_QUESTION.search(question) else 2
        return [c for c in ranked if c.score >= best.score * 0.8][:limit]


def refusal(question: str, passages: list[Passage], reason: str = REFUSAL) -> Answer:
    closest = list({p.source: p for p in reversed(passages)}.values())[::-1][:2]  # best passage per document
    related = [_source(i, p, p.start, p.end) for i, p in enumerate(closest, start=1)]
    text = reason
    if related:
        names = "; ".join(f"“{r.title}” ({r.source})" for r in related)
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
        parts.append(" ".join(c.text for c in group) + f" [{src.n}]")
    return Answer(question=question, text=" ".join(parts), sources=sources)
