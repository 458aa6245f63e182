"""A question's constraint (a year, a month, a season) that the only sentence on the topic contradicts makes the
answerer refuse, and a label (a heading or a table cell read as a line) is never quoted as the answer. Real model,
real index, documents the test writes."""

from __future__ import annotations

import pytest

import citechat
from citechat.answering.constraints import Constraint, constraints, contradicted

REGATTA = """# Harbour Regatta

The Harbour Regatta is sailed every summer off the north pier of Porthcawl.

The 2019 Harbour Regatta was won by the Kestrel crew, four minutes ahead of the field.

Entries close at the end of May, and boats must be moored by the Friday before.
"""
LEAGUE = """# Northfield Football League

League Chairmen and Presidents.

The league was founded in 1931 by six clubs from the valley.

Its chairman since 2015 has been Ada Moran, a former referee.
"""
FERRY = """# Ferry timetable

The ferry to Skomer leaves at nine each morning from April to September.

Tickets cost twelve pounds for adults and six for children.
"""


@pytest.fixture(scope="module")
def bot(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("constraints")
    docs = root / "docs"
    docs.mkdir()
    for name, text in (("regatta.md", REGATTA), ("league.md", LEAGUE), ("ferry.md", FERRY)):
        (docs / name).write_text(text, encoding="utf-8")
    citechat.build_index(docs, root / "index")
    return citechat.open_index(root / "index")


@pytest.mark.parametrize("question", [
    "Who won the Harbour Regatta in 2021?",
    "Who has been the league chairman since 2012?",
    "When does the ferry leave in October?",
])
def test_a_sentence_about_another_year_or_month_is_not_the_answer(bot, question):
    a = bot.answer(question)
    assert a.refused, a.text


@pytest.mark.parametrize("question, expected", [
    ("Who won the Harbour Regatta in 2019?", "won by the Kestrel crew"),
    ("Who has been the league chairman since 2015?", "Ada Moran"),
    ("When does the ferry leave in June?", "leaves at nine each morning"),  # June lies between April and September
])
def test_the_same_questions_with_the_values_the_documents_give_are_answered(bot, question, expected):
    a = bot.answer(question)
    assert not a.refused and expected in a.text


def test_a_label_is_never_quoted(bot):
    for question in ("Who were the league chairmen and presidents?", "League chairmen and presidents",
                     "Who is the chairman of the league?"):
        a = bot.answer(question)
        assert all("Chairmen and Presidents" not in s.text for s in a.sources), a.text


def test_constraints_read_from_text():
    assert constraints("Who won the men's title in 2021?") == {Constraint("side", "men"), Constraint("year", "2021")}
    assert constraints("the fourth season premiered in March 2019") == {
        Constraint("part:season", "4"), Constraint("month", "mar"), Constraint("year", "2019")}
    assert constraints("Revenue in Q1 rose 12 percent") == {Constraint("part:quarter", "1"),
                                                              Constraint("quantity:percent", "12")}
    assert constraints("Season 4") == constraints("the 4th season") == constraints("season four")
    assert constraints("He may go") == set()  # the verb, not the month
    assert Constraint("month", "jun") in constraints("from April to September")  # a range names what it spans
    assert Constraint("year", "2020") in constraints("between 2019 and 2021")
    assert Constraint("year", "2020") not in constraints("in 2019 and 2021")
    asked = constraints("Who won in 2021?")
    assert contradicted(asked, "Lyon won in 2019.", "") == 1.0
    assert contradicted(asked, "Lyon won in 2019 and 2021.", "") == 0.0
    # A sentence that names no year is read under its heading: "2019 season" frames it, "Results" does not.
    assert contradicted(asked, "Lyon won the title.", "2019 season") == 1.0
    assert contradicted(asked, "Lyon won the title.", "Results") == 0.0
