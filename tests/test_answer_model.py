"""The fitted answer model: its file, its decisions on a small collection written by the tests, the answer's
confidence, and the evaluation table beside the LangChain baseline."""

from __future__ import annotations

import json

import numpy as np
import pytest

import citechat
from citechat.answering import answer_model
from citechat.answering.types import LOW_CONFIDENCE, REFUSAL, Answer
from citechat.eval import Question, evaluate, evaluate_baseline, table
from citechat.answering.signals import QUESTION_FEATURES, SENTENCE_FEATURES, counted, counts_it
from test_answers import assert_well_cited


def test_the_model_file_is_small_readable_numbers_for_the_signals_computed():
    raw = answer_model.MODEL_FILE.read_bytes()
    assert len(raw) < 2_000_000
    d = json.loads(raw)  # plain JSON: nothing executable
    assert d["sentence"]["features"] == SENTENCE_FEATURES and d["answerable"]["features"] == QUESTION_FEATURES
    for part, n in (("sentence", len(SENTENCE_FEATURES)), ("answerable", len(QUESTION_FEATURES))):
        for key in ("mean", "scale", "weights"):
            assert len(d[part][key]) == n and all(np.isfinite(d[part][key]))
    assert 0 < d["refuse_below"] < 1 and 0 < d["extra_sentence_ratio"] <= 1
    assert "SQuAD 2.0 train" in d["trained_on"]


def test_a_model_file_for_other_signals_is_refused_with_what_to_do(tmp_path):
    d = json.loads(answer_model.MODEL_FILE.read_text())
    d["sentence"]["features"] = d["sentence"]["features"][:-1]
    path = tmp_path / "model.json"
    path.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="train_answerer"):
        answer_model.load(path)


@pytest.mark.parametrize(
    "question, expected",
    [
        ("How tall is the lighthouse tower on Grey Point?", "thirty-one metres"),
        ("How many steps did the keeper climb at Grey Point?", "148 steps"),
        ("When did the fog horn get added?", "1902"),
        ("Where does the ferry to Kessel Island depart from?", "Pier"),
    ],
)
def test_the_sentence_that_holds_the_answer_is_quoted(built_bot, built, question, expected):
    a = built_bot.answer(question)
    assert not a.refused and expected in a.text, a.text
    assert len(a.text) <= 400 and "Grey Point Lighthouse Notes" not in a.text  # the title line is no statement
    assert 0.0 <= a.confidence <= 1.0
    if a.sources[0].source.endswith(".txt"):
        assert_well_cited(a, built[0])


@pytest.mark.parametrize(
    "question",
    [
        "What did the keeper eat for breakfast?",  # the notes talk about him, but never say
        "How much does a ticket to the lighthouse museum cost?",
        "Who was the captain of the Margaret Hale?",
        "Which football club won the league in 2019?",  # nothing about it at all
    ],
)
def test_documents_that_do_not_say_it_get_a_refusal(built_bot, question):
    a = built_bot.answer(question)
    assert a.refused and a.text.startswith(REFUSAL), a.text
    assert a.sources == [] and a.confidence is None and not a.low_confidence


def test_confidence_orders_a_clear_answer_above_a_loose_one(built_bot):
    clear = built_bot.answer("How many steps did the keeper climb at Grey Point?")
    assert "148 steps" in clear.text and not clear.low_confidence
    loose = built_bot.answer("What did the keeper do in his free time at the lighthouse?")
    assert loose.refused or loose.confidence < clear.confidence


@pytest.mark.parametrize("question, thing", [
    ("How many days of paid sick leave does an employee get?", "day"),
    ("How many more forklifts does the depot need?", "forklift"),
    ("how many people live there", "people"),
    ("When does the course start?", ""),
])
def test_a_how_many_question_counts_the_word_after_it(question, thing):
    assert counted(question) == thing


def test_a_sentence_counts_a_thing_when_a_number_comes_just_before_it():
    assert counts_it("Headcount rose from 412 to 468 employees during the year.", "employee")
    assert counts_it("The depot has twelve electric forklifts.", "forklift")
    assert not counts_it("All forklift drivers must take the course every twelve months.", "forklift")


def test_low_confidence_is_for_answers_under_the_threshold_only():
    assert Answer("q", "a [1]", confidence=LOW_CONFIDENCE - 0.01).low_confidence
    assert not Answer("q", "a [1]", confidence=LOW_CONFIDENCE).low_confidence
    assert not Answer("q", REFUSAL, refused=True, confidence=0.1).low_confidence
    assert not Answer("q", "an LLM's answer [1]").low_confidence  # not scored


def test_the_evaluation_table_shows_the_baseline_beside_citechat(tmp_path, embedder):
    docs = tmp_path / "corpus"
    docs.mkdir()
    (docs / "a.txt").write_text("The Grey Point lighthouse was built in 1874 from island granite.\n", encoding="utf-8")
    (docs / "b.txt").write_text("Sourdough starter is fed twice a day with rye flour and water.\n", encoding="utf-8")
    questions = [Question("1", "When was the lighthouse built?", ["1874"], ["a"], True),
                 Question("2", "How often is the starter fed?", ["twice a day"], ["b"], True),
                 Question("3", "Who won the 2019 league?", [], [], False)]
    cache = tmp_path / "baseline.json"
    base = evaluate_baseline(docs, questions, k=1, cache=cache)
    assert base.hit_at_1 == 1.0 and base.answer_contains_gold == 1.0
    assert base.refusal_rate_unanswerable == 0.0  # the baseline always shows its top chunk
    assert cache.exists() and evaluate_baseline(docs, questions, k=1, cache=cache) == base
    citechat.build_index(docs, tmp_path / "index")
    ours = evaluate(citechat.open_index(tmp_path / "index"), questions, k=1)
    assert ours.hit_at_1 == 1.0 and ours.citation_validity == 1.0
    text = table(ours, base, title="tiny")
    lines = text.splitlines()
    assert lines[0].split() == ["tiny", "citechat", "baseline"]
    for label in ("refusal rate, unanswerable", "false refusals, answerable", "answer contains gold",
                  "median answer length (chars)", "retrieval hit@1", "retrieval MRR@10"):
        assert any(line.startswith(label) and len(line.split()) >= 3 for line in lines), label
