"""The office formats beyond PDF, DOCX and HTML (tests/format_docs.py: a slide deck, a workbook, a CSV file, an
e-book, an OpenDocument text, an RTF notice and an e-mail with a PDF attached), written by the libraries that
make them, read by the readers, indexed with the real model and asked about: each fact that exists only in a
slide's notes, a sheet row, an e-mail's attachment ... is answered with an exact citation at the right place,
and no slide title, sheet header or heading is ever quoted."""

from __future__ import annotations

import pytest

import citechat
from citechat.answering.types import location
from citechat.ingest.reading import load_document
from citechat.eval import normalise
from format_docs import write_formats

# question -> (file, fact the answer contains, what the cited span's location starts with)
ASKED = {
    "Where will the launch party be held?": ("festival.pptx", "Kelpie Boathouse",
                                             "Slide 2 › Quarterly targets › Notes"),
    "What is the budget for Q3 in the marketing sheet?": ("budget.xlsx", "42500", "Marketing · characters"),
    "What is the total value of the maintenance contract?": ("contract.eml", "96,000 euros", "contract.pdf"),
    "When does the evening ferry to Skerry Isle leave from 1 July?": ("ferry-notice.rtf", "19:45", "characters"),
    "Who forged the brass frames for the lantern?": ("keepers.epub", "brother Col", "The Storm of 1953"),
    "How much water does each new rainwater tank hold?": ("allotment.odt", "2,000 litres", "Water supply"),
    "How many visitors came on the day of the storm warning?": ("visitors.csv", "310", "characters"),
}
# Lines of the documents that are headings or header rows: never an answer.
NEVER_QUOTED = ["Slide 1", "Slide 2", "Slide 3", "Harbour Festival Plan", "Quarterly targets", "Volunteers", "Notes",
                "Sales", "Marketing", "Quarter", "Budget", "Owner", "Signed maintenance contract", "contract.pdf",
                "Maintenance Contract Summary", "The Lighthouse Keeper", "The Storm of 1953",
                "Allotment Committee Minutes", "Water supply", "Ferry Timetable Notice", "Date", "Visitors", "Weather"]


@pytest.fixture(scope="module")
def formats(tmp_path_factory, embedder):
    """(documents folder, bot, {question: Answer}) for the collection, answered once."""
    root = tmp_path_factory.mktemp("formats")
    docs = write_formats(root / "docs")
    (docs / "pier-scan.pdf").unlink()  # read by OCR: tests/test_ocr.py
    report = citechat.build_index(docs, root / "index")
    assert not report.skipped, report.skipped
    bot = citechat.open_index(root / "index")
    return docs, bot, {question: bot.answer(question) for question in ASKED}


def test_each_format_reads_as_a_person_reads_it(formats):
    docs = formats[0]
    deck = load_document(docs / "festival.pptx", "festival.pptx")
    assert deck.title == "Harbour Festival Plan"
    assert ("# Slide 2\n\n## Quarterly targets\n\n- Sell 4,000 tickets before the end of June.\n- Sign six food "
            "vendors by May.\n\n### Notes\n\nThe launch party will be held at the Kelpie Boathouse") in deck.text
    book = load_document(docs / "budget.xlsx", "budget.xlsx")
    assert "# Marketing\n\nQuarter: Q1; Budget: 30000; Owner: Dana Whitfield (Marketing, row 2)\n" in book.text
    assert "\nQuarter: Q3; Budget: 42500; Owner: Ravi Osei (Marketing, row 4)\n" in book.text
    assert "Quarter; Budget" not in book.text and "\nQuarter\n" not in book.text  # the header row is no line
    table = load_document(docs / "visitors.csv", "visitors.csv")
    assert table.text.splitlines()[1] == "Date: 2025-06-02; Visitors: 310; Weather: storm warning (row 3)"
    mail = load_document(docs / "contract.eml", "contract.eml")
    assert mail.title == "Signed maintenance contract"
    assert "From: Noor Haddad <noor@harbour.example>\nTo: Harbour team <team@harbour.example>\nDate: " in mail.text
    assert mail.text.index("# contract.pdf\n\n") < mail.text.index("96,000 euros")
    odt = load_document(docs / "allotment.odt", "allotment.odt")
    assert "- Replace the broken tap on plot 12.\n- Order two more compost bins." in odt.text
    assert "Plot: Plot 12; Holder: Moses Achterberg" in odt.text
    book = load_document(docs / "keepers.epub", "keepers.epub")
    assert book.title == "Keepers of Gull Rock" and book.text.startswith("# The Lighthouse Keeper\n\n")
    rtf = load_document(docs / "ferry-notice.rtf", "ferry-notice.rtf")
    assert "The café on the quay stays open until the last sailing." in rtf.text


@pytest.mark.parametrize("question", list(ASKED))
def test_a_fact_found_only_in_one_format_is_answered_with_an_exact_citation_at_its_place(formats, question):
    docs, _, answers = formats
    name, fact, place = ASKED[question]
    answer = answers[question]
    assert not answer.refused, f"{question!r} refused; possibly related: {[s.text for s in answer.related]}"
    assert normalise(fact) in normalise(answer.text), answer.text
    cited = [s for s in answer.sources if normalise(fact) in normalise(s.text)]
    assert cited and all(s.source == name for s in cited), [(s.source, s.text) for s in answer.sources]
    for s in answer.sources:
        assert load_document(docs / s.source, s.source).text[s.start : s.end] == s.text
    assert location(cited[0]).startswith(place), location(cited[0])


def test_a_sheet_row_is_quoted_whole_with_its_headers_sheet_and_row_number(formats):
    answer = formats[2]["What is the budget for Q3 in the marketing sheet?"]
    row = next(s for s in answer.sources if "42500" in s.text)
    assert "Quarter: Q3; Budget: 42500; Owner: Ravi Osei (Marketing, row 4)" in row.text.splitlines()
    assert all(s.section.endswith("Marketing") for s in answer.sources)  # not the Q3 row of the Sales sheet


def test_an_attachment_is_cited_inside_the_message_under_its_name(formats):
    answer = formats[2]["What is the total value of the maintenance contract?"]
    source = next(s for s in answer.sources if "96,000" in s.text)
    assert source.source == "contract.eml" and source.title == "Signed maintenance contract"
    assert source.section.split(" › ")[:2] == ["contract.pdf", "Maintenance Contract Summary"]


def test_no_answer_quotes_a_slide_title_a_sheet_header_or_a_heading(formats):
    never = {normalise(line) for line in NEVER_QUOTED}
    for question, answer in formats[2].items():
        for s in answer.sources:
            lines = {normalise(line.lstrip("#")) for line in s.text.splitlines() if line.strip()}
            assert not lines & never, f"{question!r} quotes a heading: {s.text!r}"


def test_a_missing_library_is_named_in_the_reason_never_a_traceback(formats, monkeypatch):
    from citechat.ingest.document import UnreadableFile

    docs = formats[0]
    for module, name, package in (("pptx", "festival.pptx", "python-pptx"), ("openpyxl", "budget.xlsx", "openpyxl"),
                                  ("odf.opendocument", "allotment.odt", "odfpy"), ("striprtf.striprtf",
                                                                                   "ferry-notice.rtf", "striprtf")):
        monkeypatch.setitem(__import__("sys").modules, module, None)  # what Python does for a module not installed
        with pytest.raises(UnreadableFile, match=f"install {package} to read \\{name[name.rindex('.'):]} files"):
            load_document(docs / name, name)


def test_example_questions_ask_about_topics_not_slide_numbers(formats):
    from citechat.web.examples import example_questions

    questions = example_questions(formats[1], n=10)
    assert "What about the quarterly targets?" in questions, questions
    assert not [q for q in questions if "slide" in q.lower() or "(scanned)" in q]


def test_an_attached_message_is_read_without_its_own_attachments(tmp_path):
    from email.message import EmailMessage

    from format_docs import attachment_pdf

    inner = EmailMessage()
    inner["Subject"], inner["From"] = "Forwarded: dredging quote", "quay@harbour.example"
    inner.set_content("The dredging of the inner basin is quoted at 31,000 euros.\n")
    inner.add_attachment(attachment_pdf(), maintype="application", subtype="pdf", filename="contract.pdf")
    outer = EmailMessage()
    outer["Subject"], outer["From"] = "Two quotes", "noor@harbour.example"
    outer.set_content("Both quotes are attached.\n")
    outer.add_attachment(inner)  # message/rfc822
    outer.add_attachment(bytes(inner), maintype="application", subtype="octet-stream", filename="copy.eml")
    (tmp_path / "quotes.eml").write_bytes(bytes(outer))
    doc = load_document(tmp_path / "quotes.eml", "quotes.eml")
    assert doc.text.count("The dredging of the inner basin is quoted at 31,000 euros.") == 2
    assert "## Forwarded: dredging quote" in doc.text and "# copy.eml" in doc.text
    assert "96,000 euros" not in doc.text  # the attachment of an attached message is not read


@pytest.mark.parametrize("name, reason", [
    ("junk.pptx", "corrupt or unreadable PPTX file"), ("junk.xlsx", "corrupt or unreadable XLSX file"),
    ("junk.epub", "corrupt or unreadable EPUB file"), ("junk.odt", "corrupt or unreadable ODT file"),
    ("junk.ods", "corrupt or unreadable ODS file"), ("junk.csv", "binary content"),
    ("junk.eml", "not an e-mail message"), ("junk.rtf", "not an RTF document"),
    ("junk.png", "not an image Pillow can read"),
])
def test_a_damaged_file_of_each_format_is_skipped_with_its_reason(tmp_path, name, reason):
    from citechat.ingest.document import UnreadableFile
    from citechat.ingest.limits import ReadLimits

    (tmp_path / name).write_bytes(b"\x00\x01 not what the name says \xff" * 40)
    with pytest.raises(UnreadableFile, match=reason):
        load_document(tmp_path / name, name, ReadLimits())


def test_an_opendocument_spreadsheet_and_a_tab_separated_file_read_as_sheets(tmp_path):
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    book = OpenDocumentSpreadsheet()
    sheet = Table(name="Moorings")
    for row in [("Berth", "Boat"), ("", ""), ("A1", "Kittiwake"), ("A2", "Sea Holly")]:
        cells = TableRow(numberrowsrepeated=3) if row == ("", "") else TableRow()
        for value in row:
            cell = TableCell()
            if value:
                cell.addElement(P(text=value))
            cells.addElement(cell)
        cells.addElement(TableCell(numbercolumnsrepeated=1000))  # padding as spreadsheets write it
        sheet.addElement(cells)
    book.spreadsheet.addElement(sheet)
    book.save(str(tmp_path / "moorings.ods"))
    doc = load_document(tmp_path / "moorings.ods", "moorings.ods")
    assert doc.text == ("# Moorings\n\nBerth: A1; Boat: Kittiwake (Moorings, row 5)\n"
                        "Berth: A2; Boat: Sea Holly (Moorings, row 6)")
    (tmp_path / "tides.tsv").write_text("Day\tHigh water\nMonday\t06:12\nTuesday\t06:58\n")
    tides = load_document(tmp_path / "tides.tsv", "tides.tsv")
    assert tides.text == "Day: Monday; High water: 06:12 (row 2)\nDay: Tuesday; High water: 06:58 (row 3)"
