"""Ordinary office documents (tests/office_docs.py: a handbook, an FAQ, meeting notes, a memo, a service agreement,
an offices page, an annual report and a bulletin in narrow columns) indexed with the real model and asked about.

What the collection must hold: most answerable questions get an answer containing their fact, most unanswerable
ones a refusal, no answer quotes a heading, a title, a question or a line of names, and every citation is the
exact text at its place (for PDFs, counted from the start of its page too). The floors below are what the
answerer holds today with some room for the CPU's arithmetic; the aim is 0.9 and at most one.
"""

from __future__ import annotations

import sqlite3

import pytest

import citechat
from citechat.index.stores import local as store
from citechat.answering.types import location
from citechat.ingest.reading import load_document
from citechat.eval import normalise
from conftest import copy_tree, run_cli
from office_docs import write_collection
from office_questions import NEVER_QUOTED, QUESTIONS

MIN_CONTAINS_FACT = 0.85
MAX_UNANSWERABLE_ANSWERED = 4


@pytest.fixture(scope="module")
def office(tmp_path_factory, embedder):
    """(corpus folder, index folder, bot, {question: Answer}) for the whole collection, answered once."""
    root = write_collection(tmp_path_factory.mktemp("office"))
    citechat.build_index(root / "corpus", root / "index")
    bot = citechat.open_index(root / "index")
    return root / "corpus", root / "index", bot, {q.question: bot.answer(q.question) for q in QUESTIONS}


def test_answerable_questions_get_an_answer_with_their_fact(office):
    answers = office[3]
    answerable = [q for q in QUESTIONS if q.facts]
    def has_fact(q) -> bool:
        answer = answers[q.question]
        return not answer.refused and any(normalise(f) in normalise(answer.text) for f in q.facts)

    missed = [(q.question, answers[q.question].text) for q in answerable if not has_fact(q)]
    rate = 1 - len(missed) / len(answerable)
    assert len(answerable) >= 30
    assert rate >= MIN_CONTAINS_FACT, f"{rate:.2f} of answers contain their fact; missed: {missed}"


def test_questions_the_documents_do_not_answer_are_refused(office):
    answers = office[3]
    unanswerable = [q for q in QUESTIONS if not q.facts]
    answered = [(q.question, answers[q.question].text) for q in unanswerable if not answers[q.question].refused]
    assert len(unanswerable) >= 8
    assert len(answered) <= MAX_UNANSWERABLE_ANSWERED, f"answered although the documents do not say: {answered}"


def test_no_answer_quotes_a_heading_a_title_or_a_question(office):
    never = {normalise(line.lstrip("#")) for line in NEVER_QUOTED}
    for question, answer in office[3].items():
        for s in answer.sources:
            lines = {normalise(line.lstrip("#")) for line in s.text.splitlines() if line.strip()}
            assert not lines & never, f"{question!r} quotes a heading: {s.text!r}"
            assert not s.text.rstrip().endswith("?"), f"{question!r} quotes a question: {s.text!r}"


def test_every_citation_is_exact_and_pdf_ranges_count_from_the_page(office):
    corpus, _, _, answers = office
    pdf_sources = 0
    for answer in answers.values():
        for s in answer.sources + answer.related:
            path = corpus / s.source
            doc = load_document(path, s.source)
            assert doc.text[s.start : s.end] == s.text
            if path.suffix in (".txt", ".md"):
                assert open(path, encoding="utf-8", newline="").read()[s.start : s.end] == s.text
            if doc.pages:
                pdf_sources += 1
                page_start, page_end = doc.pages[s.page - 1]
                assert s.page_start == page_start and s.end <= page_end
                start, end = s.page_range
                assert doc.text[page_start:page_end][start:end] == s.text
                assert f"page {s.page}, characters {start:,}–{end:,}" in location(s)
            else:
                assert s.page is None and s.page_start == 0
                assert location(s).endswith(f"characters {s.start:,}–{s.end:,}")
    assert pdf_sources >= 5


def test_a_fact_only_in_a_table_is_answered_from_its_row(office):
    answer = office[3]["When is user acceptance testing due under the service agreement?"]
    assert not answer.refused
    assert any("User acceptance testing" in s.text and "28 February 2025" in s.text for s in answer.sources)
    assert all(s.section.endswith("Milestones and payments") for s in answer.sources if "Milestone:" in s.text)


def test_an_faq_answer_has_its_question_as_section(office):
    answer = office[3]["Which laptop do new employees get?"]
    source = next(s for s in answer.sources if "ThinkPad T14" in s.text)
    assert source.section.endswith("Which laptop do new employees get?")
    assert location(source).startswith("Which laptop do new employees get? · characters ")


def test_a_name_wrapped_onto_the_next_line_is_quoted_whole(office):
    answer = office[3]["Who is the new finance director?"]
    quote = next(s.text for s in answer.sources if "finance director" in s.text)
    assert "Jonathan\nPryce" in quote and quote.endswith("starts on Monday 3 March.")


def test_the_command_line_shows_the_section_and_the_page_range(office):
    corpus, index, bot, _ = office
    result = run_cli("ask", "What dividend does the board propose?", "--index", str(index), "--docs", str(corpus))
    assert result.returncode == 0, result.stderr
    source = bot.answer("What dividend does the board propose?").sources[0]
    start, end = source.page_range
    assert f"Chief executive's review · page 1, characters {start:,}–{end:,}" in result.stdout
    assert "0.42 euros per share" in result.stdout


def test_an_index_of_the_previous_format_is_refused_with_the_rebuild_command(office, tmp_path):
    corpus, index, _, _ = office
    old = copy_tree(index, tmp_path / "index")
    conn = sqlite3.connect(old / store.DB_NAME)
    with conn:
        conn.execute("UPDATE meta SET value = '1' WHERE key = 'format_version'")
    conn.close()
    with pytest.raises(citechat.IndexMismatch, match=r"older version of citechat .*format 1.*format 2.*--rebuild"):
        citechat.open_index(old)
    result = run_cli("ask", "Who is the new finance director?", "--index", str(old), "--docs", str(corpus))
    assert result.returncode == 2 and f"--index {old} --rebuild" in result.stderr and "Traceback" not in result.stderr
    report = citechat.build_index(corpus, old, rebuild=True)
    assert report.documents == len(list(corpus.iterdir()))
    assert not citechat.open_index(old).answer("Who is the new finance director?").refused
