"""Documents of every format beyond plain text, PDF, DOCX and HTML, each made with the library that writes it
(python-pptx, openpyxl, ebooklib, the standard library's email and csv, odfpy; Pillow draws the scanned pages),
each holding facts found nowhere else: a slide deck whose launch venue is only in a slide's speaker notes, a
workbook whose Q3 marketing budget is only in a sheet row, an e-mail whose contract figure is only in its
attached PDF, a scanned page whose repair budget exists only as pixels.

    python tests/format_docs.py DIR   # writes DIR/*.pptx, *.xlsx, ... (the files the tests index)
"""

from __future__ import annotations

import csv
import sys
from email.message import EmailMessage
from pathlib import Path

DECK_TITLE = "Harbour Festival Plan"
SLIDES = [
    # (title, bullets, notes)
    ("Harbour Festival Plan", ["Planning review for the summer festival"], ""),
    ("Quarterly targets", ["Sell 4,000 tickets before the end of June.", "Sign six food vendors by May."],
     "The launch party will be held at the Kelpie Boathouse on 2 May. Only the organisers know the venue so far."),
    ("Volunteers", ["Forty volunteers have signed up so far.", "Training sessions run every Saturday morning."], ""),
]
SHEET_ROWS = {
    "Sales": [("Quarter", "Budget", "Owner"), ("Q1", 12000, "Ilse Marr"), ("Q2", 15500, "Ilse Marr"),
              ("Q3", 17250, "Tomas Berg"), ("Q4", 9800, "Tomas Berg")],
    "Marketing": [("Quarter", "Budget", "Owner"), ("Q1", 30000, "Dana Whitfield"), ("Q2", 35000, "Dana Whitfield"),
                  ("Q3", 42500, "Ravi Osei"), ("Q4", 28000, "Ravi Osei")],
}
MAIL_BODY = ("Hello team,\n\nPlease find the signed maintenance contract attached. We will discuss it on Thursday."
             "\n\nBest regards,\nNoor Haddad\n")
ATTACHMENT_TEXT = [
    "Maintenance Contract Summary",
    "The maintenance contract with Brightwater Marine runs for three years from 1 April.",
    "The total value of the maintenance contract is 96,000 euros, paid in quarterly instalments.",
]
SCANNED_LINES = ["Pier Inspection Notes", "", "The inspection of the north pier took place on 14 May.",
                 "Three cracked bollards were found on the east side", "and must be replaced before winter.", "",
                 "The repair budget approved by the council is 18,400 euros."]
EPUB_CHAPTERS = [
    ("The Lighthouse Keeper", "<h1>The Lighthouse Keeper</h1><p>Ansel Brook kept the Gull Rock light for "
     "thirty years.</p><p>He wrote every storm into a green logbook.</p>"),
    ("The Storm of 1953", "<h1>The Storm of 1953</h1><p>During the storm of 1953 the lantern glass cracked twice."
     "</p><p>Ansel repaired it with brass frames forged by his brother Col.</p>"),
]
ODT_PARAGRAPHS = [
    ("h", "Allotment Committee Minutes"),
    ("p", "The committee met in the community hall on 9 March."),
    ("h", "Water supply"),
    ("p", "The new rainwater tanks hold 2,000 litres each and were paid for by the garden fund."),
    ("li", "Replace the broken tap on plot 12."),
    ("li", "Order two more compost bins."),
]
ODT_TABLE = [("Plot", "Holder"), ("Plot 7", "Greta Lund"), ("Plot 12", "Moses Achterberg")]
CSV_ROWS = [("Date", "Visitors", "Weather"), ("2025-06-01", "1240", "sunny"), ("2025-06-02", "310", "storm warning"),
            ("2025-06-03", "980", "cloudy")]
RTF = (r"{\rtf1\ansi\deff0{\fonttbl{\f0 Times New Roman;}}\f0\fs24 Ferry Timetable Notice\par\par "
       r"From 1 July the evening ferry to Skerry Isle leaves at 19:45 instead of 19:15.\par "
       r"The caf\'e9 on the quay stays open until the last sailing.\par}")


def write_pptx(path: Path) -> Path:
    from pptx import Presentation

    deck = Presentation()
    deck.core_properties.title = DECK_TITLE
    for n, (title, bullets, notes) in enumerate(SLIDES):
        slide = deck.slides.add_slide(deck.slide_layouts[0 if n == 0 else 1])
        slide.shapes.title.text = title
        body = slide.placeholders[1].text_frame
        body.text = bullets[0]
        for bullet in bullets[1:]:
            body.add_paragraph().text = bullet
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.save(path)
    return path


def write_xlsx(path: Path) -> Path:
    from openpyxl import Workbook

    book = Workbook()
    book.remove(book.active)
    for name, rows in SHEET_ROWS.items():
        sheet = book.create_sheet(name)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def write_csv(path: Path) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as out:
        csv.writer(out).writerows(CSV_ROWS)
    return path


def write_epub(path: Path) -> Path:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("gull-rock-1")
    book.set_title("Keepers of Gull Rock")
    book.set_language("en")
    chapters = []
    for n, (title, body) in enumerate(EPUB_CHAPTERS, start=1):
        chapter = epub.EpubHtml(title=title, file_name=f"chapter{n}.xhtml", lang="en")
        chapter.content = f"<html><body>{body}</body></html>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *chapters]
    epub.write_epub(str(path), book)
    return path


def write_odt(path: Path) -> Path:
    from odf.opendocument import OpenDocumentText
    from odf.table import Table, TableCell, TableColumn, TableRow
    from odf.text import H, List, ListItem, P

    doc = OpenDocumentText()
    items = None
    for kind, text in ODT_PARAGRAPHS:
        if kind == "li":
            if items is None:
                items = List()
                doc.text.addElement(items)
            item = ListItem()
            item.addElement(P(text=text))
            items.addElement(item)
            continue
        items = None
        doc.text.addElement(H(outlinelevel=1, text=text) if kind == "h" else P(text=text))
    table = Table(name="Plots")
    table.addElement(TableColumn(numbercolumnsrepeated=2))
    for row in ODT_TABLE:
        table_row = TableRow()
        for value in row:
            cell = TableCell()
            cell.addElement(P(text=value))
            table_row.addElement(cell)
        table.addElement(table_row)
    doc.text.addElement(table)
    doc.save(str(path))
    return path


def attachment_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, ATTACHMENT_TEXT[0], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    for line in ATTACHMENT_TEXT[1:]:
        pdf.multi_cell(0, 6, line, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(4)
    return bytes(pdf.output())


def write_eml(path: Path) -> Path:
    message = EmailMessage()
    message["Subject"] = "Signed maintenance contract"
    message["From"] = "Noor Haddad <noor@harbour.example>"
    message["To"] = "Harbour team <team@harbour.example>"
    message["Date"] = "Tue, 4 Mar 2025 09:30:00 +0000"
    message.set_content(MAIL_BODY)
    message.add_attachment(attachment_pdf(), maintype="application", subtype="pdf", filename="contract.pdf")
    path.write_bytes(bytes(message))
    return path


def write_rtf(path: Path) -> Path:
    path.write_text(RTF, encoding="ascii")
    return path


def scanned_page(lines: list[str], size: tuple[int, int] = (1240, 1754)):
    """A white page (150 dpi A4) with the lines drawn on it in black: a picture of text, no text layer."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=26)
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    for n, line in enumerate(lines):
        draw.text((110, 120 + 44 * n), line, fill=0, font=font)
    return page


def write_scanned_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF whose pages are pictures only (Pillow writes each as an image, with no text layer)."""
    first, *rest = [scanned_page(lines) for lines in pages]
    first.save(path, save_all=True, append_images=rest, resolution=150)
    return path


def write_formats(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_pptx(folder / "festival.pptx")
    write_xlsx(folder / "budget.xlsx")
    write_csv(folder / "visitors.csv")
    write_epub(folder / "keepers.epub")
    write_odt(folder / "allotment.odt")
    write_eml(folder / "contract.eml")
    write_rtf(folder / "ferry-notice.rtf")
    write_scanned_pdf(folder / "pier-scan.pdf", [SCANNED_LINES])
    return folder


if __name__ == "__main__":
    print(write_formats(Path(sys.argv[1])))
