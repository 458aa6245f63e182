"""How documents read: wrapped lines, headings, FAQs, lists, tables and PDF layout, with exact offsets.
No model, no index: real files of each format written by the test."""

from __future__ import annotations

import textwrap
from pathlib import Path

from citechat.ingest.chunking import chunk_document, indexed_text
from citechat.ingest.reading import load_document
from citechat.ingest.blocks import table_rows
from citechat.ingest.text import HEADING, MARK, QUESTION, SENTENCE, quotable_spans, segment


def spans(text: str) -> list[tuple[str, str]]:
    """(kind, text) of every span, after checking that each one is the exact text at its offsets."""
    out = []
    for s in segment(text):
        assert 0 <= s.start < s.end <= len(text)
        assert text[s.start : s.end] == text[s.start : s.end].strip()
        out.append((s.kind, text[s.start : s.end]))
    return out


def sentences(text: str) -> list[str]:
    return [t for kind, t in spans(text) if kind == SENTENCE]


def headings(text: str) -> list[str]:
    return [t for kind, t in spans(text) if kind == HEADING]


def quotes(text: str) -> list[str]:
    return [text[a:b] for _, (a, b) in quotable_spans(text)]


def load(path: Path):
    return load_document(path, path.name)


# ---------------------------------------------------------------- paragraphs and sentences


MEMO = (
    "MEMO\n\nTo: All staff\nFrom: Helen Marsh\nDate: 24 February 2025\n\n"
    + textwrap.fill(
        "I am delighted to announce that our new finance director, Jonathan Pryce, starts on Monday 3 March. "
        "He joins us from Contoso Foods, where he spent eight years as head of financial planning.",
        width=70,
    )
    + "\n\nKind regards,\nHelen Marsh\n"
)


def test_a_sentence_runs_on_across_wrapped_lines_as_one_exact_span():
    assert "Jonathan\nPryce" in MEMO  # the wrap falls inside the name
    found = sentences(MEMO)
    first = next(s for s in found if s.startswith("I am delighted"))
    assert first.endswith("starts on Monday 3 March.") and "Jonathan\nPryce" in first
    assert any(s.startswith("He joins us") and s.endswith("financial planning.") for s in found)
    assert headings(MEMO)[0] == "MEMO"
    # Field lines are lines of their own, never glued to the next one.
    for field in ("To: All staff", "From: Helen Marsh", "Date: 24 February 2025"):
        assert field in found


def test_narrow_column_lines_join_into_sentences():
    column = (
        "All forklift drivers must complete the\nrefresher course every twelve\nmonths. The course is run by the\n"
        "safety officer, Priya Raman, at the\nLeeds depot and lasts two days."
    )
    assert sentences(column) == [
        "All forklift drivers must complete the\nrefresher course every twelve\nmonths.",
        "The course is run by the\nsafety officer, Priya Raman, at the\nLeeds depot and lasts two days.",
    ]


def test_lines_broken_on_purpose_stay_apart():
    notes = "Attendees:\nHelen Marsh\nAmira Haddad\nTom Okafor\n\nKind regards,\nPriya"
    assert headings(notes) == ["Attendees:"]
    assert sentences(notes)[:3] == ["Helen Marsh", "Amira Haddad", "Tom Okafor"]
    # A short line after a long one, although the next word would have fitted: a new paragraph.
    text = "The warehouse opens at six every morning and closes at ten at night.\nDeliveries\nTrucks arrive at six."
    assert "Deliveries" in headings(text)


def test_crlf_and_offsets_into_the_whole_text():
    text = "Title Line\r\n\r\nA first sentence that wraps onto\r\nthe next line. A second one.\r\n"
    for s in segment(text, 0, len(text)):
        assert "\r" not in text[s.start : s.end].replace("\r\n", "")
    assert sentences(text) == ["A first sentence that wraps onto\r\nthe next line.", "A second one."]
    offset = text.index("A first")
    assert [text[s.start : s.end] for s in segment(text, offset)] == sentences(text)


# ---------------------------------------------------------------- headings and questions


HANDBOOK = """# Employee Handbook

Welcome to the company.

Leave
=====

## Annual leave

Every employee receives 26 days of paid leave.

Sick pay
--------
Staff are paid in full for the first ten days of illness.
"""


def test_markdown_headings_atx_and_underlined():
    found = [(s.kind, s.level, HANDBOOK[s.start : s.end]) for s in segment(HANDBOOK)]
    assert (HEADING, 1, "# Employee Handbook") in found
    assert (HEADING, 1, "Leave") in found and (MARK, 0, "=====") in found
    assert (HEADING, 2, "## Annual leave") in found
    assert (HEADING, 2, "Sick pay") in found
    assert quotes(HANDBOOK) == [
        "Welcome to the company.",
        "Every employee receives 26 days of paid leave.",
        "Staff are paid in full for the first ten days of illness.",
    ]


def test_title_like_lines_of_plain_text_are_headings_sentences_and_lists_are_not():
    text = (
        "Harbour Office Guide\n\nOpening hours\n\nThe office opens at eight.\n\nThank you.\n\n"
        "Contacts\nGrace Adeyemi\nOliver Brandt\nFiona McLeod\n"
    )
    assert headings(text) == ["Harbour Office Guide", "Opening hours"]
    assert "Thank you." in sentences(text)
    # A run of short lines is a list, not a stack of headings.
    assert {"Contacts", "Grace Adeyemi", "Oliver Brandt", "Fiona McLeod"} <= set(sentences(text))


def test_faq_questions_are_headings_and_are_never_quoted():
    faq = (
        "Help Desk FAQ\n\nWhich laptop do new employees get?\nNew employees get a ThinkPad T14.\n\n"
        "How often are laptops replaced? Every four years, or sooner if they fail.\n\n"
        "Q: Which VPN do we use?\nA: We use GlobalProtect.\n"
    )
    assert headings(faq) == [
        "Help Desk FAQ", "Which laptop do new employees get?", "How often are laptops replaced?",
        "Q: Which VPN do we use?",
    ]
    assert quotes(faq) == [
        "New employees get a ThinkPad T14.", "Every four years, or sooner if they fail.", "We use GlobalProtect.",
    ]
    bold = "# FAQ\n\n**Which VPN do we use?**\nWe use GlobalProtect.\n"
    assert headings(bold) == ["# FAQ", "**Which VPN do we use?**"] and quotes(bold) == ["We use GlobalProtect."]
    # A question inside a paragraph is not a heading, and is not quoted either.
    text = "The board met twice. Why did it wait so long? Nobody could say."
    assert [kind for kind, _ in spans(text)] == [SENTENCE, QUESTION, SENTENCE]
    assert quotes(text) == ["The board met twice.", "Nobody could say."]


def test_numbered_headings_over_paragraphs_and_numbered_lists():
    notes = (
        "1. Go-live date\nThe group moved the go-live to 17 March 2025.\n\n"
        "Actions:\n1. Tom Okafor to call the supplier.\n2. Priya Raman to book the rooms.\n"
    )
    assert headings(notes) == ["1. Go-live date", "Actions:"]
    assert quotes(notes) == [
        "The group moved the go-live to 17 March 2025.", "Tom Okafor to call the supplier.",
        "Priya Raman to book the rooms.",
    ]


def test_quotes_leave_out_list_markers_table_headers_and_rules():
    text = (
        "- Laptops are replaced every four years.\n* Phones every two\n  years, on request.\n\n"
        "| Office | Manager |\n|--------|---------|\n| Bristol | Oliver Brandt |\n\n---\n"
    )
    assert quotes(text) == [
        "Laptops are replaced every four years.", "Phones every two\n  years, on request.", "Bristol | Oliver Brandt",
    ]
    kinds = dict((t, kind) for kind, t in spans(text))
    assert kinds["| Office | Manager |"] == MARK and kinds["---"] == MARK
    # Positions count every span, so sentences on either side of a heading are not neighbours.
    positions = [p for p, _ in quotable_spans("First one.\n\nA Heading\n\nSecond one.")]
    assert positions == [0, 2]


# ---------------------------------------------------------------- sections of chunks


def test_chunks_start_at_headings_and_carry_their_section_path(tmp_path):
    path = tmp_path / "handbook.md"
    path.write_text(HANDBOOK, encoding="utf-8")
    doc = load(path)
    chunks = chunk_document(doc, 1000, 200)
    assert [(c.section, c.text.splitlines()[0]) for c in chunks] == [
        ("Employee Handbook", "# Employee Handbook"),
        ("Leave › Annual leave", "Leave"),
        ("Leave › Sick pay", "Sick pay"),
    ]
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
    retrieved = indexed_text(doc.title, chunks[2].section, chunks[2].text)
    assert retrieved.startswith("Employee Handbook › Leave › Sick pay\n")
    assert indexed_text(doc.title, chunks[0].section, "Employee Handbook text") == "Employee Handbook text"


def test_a_heading_with_nothing_under_it_stays_with_the_text_above(tmp_path):
    path = tmp_path / "memo.txt"
    path.write_text(MEMO.replace("Kind regards,\n", ""), encoding="utf-8")
    chunks = chunk_document(load(path), 1000, 200)
    assert len(chunks) == 1 and chunks[0].text.endswith("Helen Marsh") and chunks[0].section == "MEMO"


# ---------------------------------------------------------------- HTML


def test_html_headings_lists_and_tables_read_as_a_person_reads_them(tmp_path):
    path = tmp_path / "offices.html"
    path.write_text(
        "<html><head><title>Offices</title></head><body><h1>Our offices</h1>"
        "<p>We have three\n   offices.<br>Visitors sign in.</p><ul><li>Leeds</li><li>Bristol</li></ul>"
        "<table><caption>Managers</caption><thead><tr><th>Office</th><th>Manager</th></tr></thead>"
        "<tr><td>Leeds</td><td><p>Grace</p> <p>Adeyemi</p></td></tr><tr><td>Bristol</td><td>Oliver Brandt</td></tr>"
        "</table><h2>Parking</h2><p>Forty spaces.</p></body></html>",
        encoding="utf-8",
    )
    doc = load(path)
    assert doc.text == (
        "# Our offices\n\nWe have three offices.\nVisitors sign in.\n\n- Leeds\n- Bristol\n\nManagers\n\n"
        "Office: Leeds; Manager: Grace Adeyemi\nOffice: Bristol; Manager: Oliver Brandt\n\n## Parking\n\nForty spaces."
    )
    assert headings(doc.text) == ["# Our offices", "Managers", "## Parking"]
    assert "Office: Bristol; Manager: Oliver Brandt" in quotes(doc.text)


def test_table_rows_guess_the_header_row():
    milestones = [["Milestone", "Due date"], ["Go-live", "3 March 2025"], ["Hypercare ends", "30 April 2025"]]
    assert table_rows(milestones) == ["Milestone: Go-live; Due date: 3 March 2025",
                                      "Milestone: Hypercare ends; Due date: 30 April 2025"]
    pairs = [["Client", "Northwind Traders"], ["Supplier", "Fabrikam Software"]]
    assert table_rows(pairs) == ["Client: Northwind Traders", "Supplier: Fabrikam Software"]
    years = [["", "2023", "2024"], ["Revenue", "43.0", "48.2"]]
    assert table_rows(years) == ["Revenue; 2023: 43.0; 2024: 48.2"]
    wide = [["Office", "City", "Manager"], ["Head office", "Leeds", "Grace Adeyemi"]]
    assert table_rows(wide) == ["Office: Head office; City: Leeds; Manager: Grace Adeyemi"]
    assert table_rows([["a", "b", "c"], ["1", "2", "3"]], header=False) == ["a; b; c", "1; 2; 3"]


# ---------------------------------------------------------------- DOCX


def test_docx_headings_lists_and_tables_in_document_order(tmp_path):
    import docx

    d = docx.Document()
    d.add_heading("Service Agreement", level=0)
    d.add_heading("Milestones", level=1)
    d.add_paragraph("The milestones are listed below.")
    table = d.add_table(rows=1, cols=3)
    for cell, text in zip(table.rows[0].cells, ["Milestone", "Due date", "Payment"]):
        cell.text = text
    for row in (["Design sign-off", "31 January 2025", "60,000 euros"], ["Go-live", "3 March 2025", "120,000 euros"]):
        for cell, text in zip(table.add_row().cells, row):
            cell.text = text
    merged = d.add_table(rows=2, cols=2)
    merged.cell(0, 0).merge(merged.cell(0, 1)).text = "Contacts"
    merged.cell(1, 0).text, merged.cell(1, 1).text = "Supplier", "Lena Hoffmann"
    d.add_paragraph("Bring the signed copy.", style="List Bullet")
    d.add_heading("Liability", level=2)
    d.add_paragraph("Liability is limited to 500,000 euros.")
    d.save(str(tmp_path / "agreement.docx"))

    doc = load(tmp_path / "agreement.docx")
    assert doc.title == "Service Agreement"
    assert doc.text == (
        "# Service Agreement\n\n## Milestones\n\nThe milestones are listed below.\n\n"
        "Milestone: Design sign-off; Due date: 31 January 2025; Payment: 60,000 euros\n"
        "Milestone: Go-live; Due date: 3 March 2025; Payment: 120,000 euros\n"
        "Contacts\nSupplier: Lena Hoffmann\n\n- Bring the signed copy.\n\n### Liability\n\n"
        "Liability is limited to 500,000 euros."
    )
    # The merged first row of the second table reads as its heading.
    assert [c.section for c in chunk_document(doc, 1000, 200)] == [
        "Service Agreement › Milestones", "Service Agreement › Milestones › Contacts",
        "Service Agreement › Milestones › Liability",
    ]
    assert "Milestone: Go-live; Due date: 3 March 2025; Payment: 120,000 euros" in quotes(doc.text)


# ---------------------------------------------------------------- PDF


def _two_columns(path: Path, left: str, right: str) -> Path:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 10, "Warehouse Safety", new_x="LMARGIN", new_y="NEXT")
    top = pdf.get_y() + 4
    pdf.set_font("Helvetica", size=10)
    pdf.set_xy(10, top)
    pdf.multi_cell(60, 5, left)
    pdf.set_xy(80, top)
    pdf.multi_cell(60, 5, right)
    pdf.output(str(path))
    return path


LEFT = "All forklift drivers must complete the refresher course every twelve months. It lasts two days."
RIGHT = "Reported accidents fell from fourteen in 2023 to six in 2024. Each one is reviewed within a week."


def test_pdf_two_columns_keep_their_reading_order_and_sentences(tmp_path):
    from pypdf import PdfReader

    path = _two_columns(tmp_path / "safety.pdf", LEFT, RIGHT)
    # pypdf's layout mode sets the columns side by side, mixing their lines: not the reading order.
    layout = PdfReader(str(path)).pages[0].extract_text(extraction_mode="layout")
    assert any("forklift" in line and "Reported" in line for line in layout.splitlines())
    doc = load(path)
    assert doc.text.startswith("Warehouse Safety\n\n")
    assert doc.text.index("It lasts two days.") < doc.text.index("Reported accidents")
    found = [" ".join(s.split()) for s in sentences(doc.text)]
    assert found == [
        "All forklift drivers must complete the refresher course every twelve months.", "It lasts two days.",
        "Reported accidents fell from fourteen in 2023 to six in 2024.", "Each one is reviewed within a week.",
    ]
    assert headings(doc.text) == ["Warehouse Safety"]


def test_pdf_headings_paragraph_gaps_running_footers_and_page_ranges(tmp_path):
    from fpdf import FPDF

    class Report(FPDF):
        def footer(self):
            self.set_y(-15)
            self.set_font("Helvetica", size=8)
            self.cell(0, 10, f"Annual Report 2024 - page {self.page_no()}", align="C")

    pdf = Report()
    for heading, paragraphs in [
        ("Chief executive's review", ["Revenue rose by 12 per cent. " * 6, "The dividend is 0.42 euros per share."]),
        ("Outlook", ["The board expects growth of 8 to 10 per cent in 2025."]),
    ]:
        pdf.add_page()
        pdf.set_font("Helvetica", "B", 14)
        pdf.multi_cell(0, 9, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=11)
        for text in paragraphs:
            pdf.multi_cell(0, 6, text.strip(), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
    pdf.output(str(tmp_path / "report.pdf"))

    doc = load(tmp_path / "report.pdf")
    assert "Annual Report 2024 - page" not in doc.text  # the running footer is left out
    page1 = doc.text[slice(*doc.pages[0])]
    assert page1.startswith("Chief executive's review\n\nRevenue rose")
    assert "per cent.\n\nThe dividend" in page1  # the gap between paragraphs is a blank line
    chunks = chunk_document(doc, 1000, 200)
    assert [(c.page, c.section) for c in chunks] == [(1, "Chief executive's review"), (2, "Outlook")]
    for c in chunks:
        assert c.page_start == doc.pages[c.page - 1][0]
        assert doc.text[c.start : c.end] == c.text
