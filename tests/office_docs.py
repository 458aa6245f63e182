"""A folder of ordinary office documents with questions about them, written for the tests.

An employee handbook (Markdown, headings at three levels, a table), an IT FAQ ("Question? Answer."), meeting
notes, a hard-wrapped memo, a service agreement (DOCX, milestone table), an offices page (HTML, table), an annual
report (PDF, four pages, a two-column page, a running footer) and a safety bulletin in three narrow columns
(PDF). Every fact a question asks for is in one document; the unanswerable questions are about the same people
and topics, but the documents do not say.

    .venv/bin/python tests/office_docs.py DIR      writes DIR/corpus/ and DIR/questions.jsonl

so that `citechat eval DIR` and `bench/quality.py DIR` run on it.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from office_questions import QUESTIONS

HANDBOOK = """# Northwind Traders Employee Handbook

This handbook explains how we work at Northwind Traders. It is kept by the
People team and reviewed every January by Marta Kowalski, our Head of People.
If anything here is unclear, ask your line manager first.

## Working hours

Our core hours are 10:00 to 16:00, Monday to Friday. Outside the core hours you
may start and finish when it suits you, as long as you work 37.5 hours a week.

### Remote work

Once they have passed probation, staff may work from home for up to three days
a week. Team leads agree the office days for their team at the start of each
quarter.

## Leave

### Annual leave

Every employee receives 26 days of paid annual leave a year, plus public
holidays. Up to five unused days may be carried over into the next year; any
days beyond that are lost on 31 March.

| Length of service | Extra leave |
| --- | --- |
| 3 to 5 years | one extra day |
| 6 years or more | three extra days |

### Sick leave

If you are ill, tell your line manager before 9:30 on the first day of absence.
A doctor's note is needed for any absence longer than seven calendar days.

### Parental leave

Birth parents receive 20 weeks of parental leave at full pay. Partners receive
six weeks at full pay, which can be taken at any time in the child's first year.

## Expenses

Claims are submitted through the Expensify app within 30 days of the purchase.
Later claims are paid only with the approval of the finance director.

### Travel

Book rail travel in standard class for journeys under four hours; first class is
allowed only for longer journeys. Hotels are paid up to 140 euros per night in
most cities and up to 210 euros per night in London, Paris and Zurich.

### Meals

When travelling, meals are reimbursed up to 45 euros a day. Alcohol is never
reimbursed.

## Probation

New employees serve a probation period of six months. Halfway through, the line
manager and the new employee hold a review meeting, and a second review takes
place in the final month.

## Equipment

- Every employee receives a laptop and a headset on the first day.
- Mobile phones are issued only to staff who are on call.
- Lost or stolen equipment must be reported to the IT help desk within 24
  hours.
"""

IT_FAQ = """Northwind IT Help Desk: Frequently Asked Questions

Which laptop do new employees get?
New employees get a Lenovo ThinkPad T14 with 32 GB of memory. Developers may
ask for a MacBook Pro instead.

How do I reset my password?
Use the self-service portal at password.northwind.example. You will need the
authenticator app on your phone. If you are locked out, the help desk resets
the password after checking your identity.

How often are laptops replaced? Laptops are replaced every four years, or
sooner if they fail and cannot be repaired.

Who do I call outside office hours? For urgent problems outside office hours,
call the on-call engineer on 0113 496 0420. The line is staffed from 18:00 to
08:00 and all weekend.

Can I read work email on my own phone?
Yes. Install the Microsoft Outlook app and enrol the phone in Intune. Other mail
apps are blocked.

Which VPN do we use?
We use GlobalProtect. It starts by itself when you sign in to your laptop away
from the office.

How much storage do I get on the shared drive?
Each team gets 2 TB on the shared drive, and everyone has 1 TB of personal
OneDrive storage.
"""

MEETING_NOTES = """Project Atlas steering group: meeting notes
Date: 12 February 2025
Chair: Helen Marsh

Attendees:
Helen Marsh
Amira Haddad
Priya Raman
Tom Okafor

1. Go-live date
The group agreed to move the go-live of the new warehouse system from 3 March
to 17 March 2025, because the supplier needs two more weeks to finish the
integration with the payroll system.

2. Budget
Amira Haddad reported that the project has spent 412,000 euros of its budget of
600,000 euros. The group approved an extra 35,000 euros for staff training.

3. Training
Priya Raman will run training sessions for all warehouse staff in the week of
10 March. Each session lasts half a day and takes at most twelve people.

Actions:
- Tom Okafor to confirm the new go-live date with the supplier by 14 February.
- Priya Raman to publish the training timetable by 21 February.
- Amira Haddad to update the budget forecast for the board.

Next meeting: 26 February 2025, 14:00, Leeds office.
"""

MEMO_PARAGRAPHS = [
    "I am delighted to announce that our new finance director, Jonathan Pryce, starts on Monday 3 March. "
    "Jonathan joins us from Contoso Foods, where he spent eight years as head of financial planning; before "
    "that he trained as an accountant in Manchester.",
    "Jonathan will lead the finance team of fourteen people in Leeds and will join the board. Until his first "
    "day, questions about budgets should still go to Amira Haddad, who has led the team as interim finance "
    "director since October.",
    "Please join me in welcoming Jonathan to Northwind.",
]

AGREEMENT = [
    ("Title", "Service Agreement: Warehouse Management System"),
    ("Heading 1", "Parties"),
    ("p", "This agreement is made on 6 January 2025 between Northwind Traders Ltd (the Customer) and Fabrikam "
          "Software GmbH (the Supplier)."),
    ("contacts", [["Customer contact", "Tom Okafor, Project Manager"],
                  ["Supplier contact", "Lena Hoffmann, Account Director"]]),
    ("Heading 1", "Scope of services"),
    ("p", "The Supplier will install, configure and support its warehouse management software at the Customer's "
          "Leeds and Bristol warehouses."),
    ("Heading 1", "Milestones and payments"),
    ("p", "The Supplier shall deliver the milestones below. Each payment falls due 30 days after the Customer "
          "accepts the milestone in writing."),
    ("milestones", [["Milestone", "Due date", "Payment"],
                    ["Design sign-off", "31 January 2025", "60,000 euros"],
                    ["User acceptance testing", "28 February 2025", "90,000 euros"],
                    ["Go-live", "3 March 2025", "120,000 euros"],
                    ["End of hypercare", "30 April 2025", "30,000 euros"]]),
    ("Heading 1", "Support"),
    ("p", "The Supplier provides support from 07:00 to 19:00 on working days. Critical incidents are answered "
          "within one hour, and other incidents within one working day."),
    ("Heading 1", "Term and termination"),
    ("p", "The agreement runs for three years from go-live. Either party may end it by giving six months' "
          "written notice."),
    ("Heading 2", "Liability"),
    ("p", "The Supplier's total liability under this agreement is limited to 500,000 euros."),
    ("Heading 1", "Governing law"),
    ("p", "This agreement is governed by the laws of England and Wales."),
]

OFFICES_HTML = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Northwind offices and opening hours</title>
<style>table { border-collapse: collapse; }</style></head>
<body>
<nav><a href="/">Intranet home</a></nav>
<h1>Our offices</h1>
<p>Northwind has three offices in the United Kingdom. Visitors sign in at
reception and wear a visitor badge at all times.</p>
<h2>Addresses and opening hours</h2>
<table>
  <thead><tr><th>Office</th><th>Address</th><th>Opening hours</th><th>Office manager</th></tr></thead>
  <tbody>
    <tr><td>Leeds (head office)</td><td>14 Wellington Street, Leeds LS1 4DL</td>
        <td>Monday to Friday, 07:30 to 18:30</td><td>Grace Adeyemi</td></tr>
    <tr><td>Bristol</td><td>3 Harbourside Walk, Bristol BS1 5TX</td>
        <td>Monday to Friday, 08:00 to 17:30</td><td>Oliver Brandt</td></tr>
    <tr><td>Glasgow</td><td>77 Bothwell Street, Glasgow G2 6TS</td>
        <td>Monday to Thursday, 08:00 to 17:00</td><td>Fiona McLeod</td></tr>
  </tbody>
</table>
<h2>Parking</h2>
<p>The Leeds office has 40 parking spaces for staff, booked through the
Parkable app. There is no staff parking in Bristol or Glasgow.</p>
<h2>Getting there</h2>
<ul>
  <li>Leeds: a ten-minute walk from Leeds railway station.</li>
  <li>Bristol: bus 8 from Temple Meads stops outside the door.</li>
</ul>
<footer>Updated by Facilities, January 2025.</footer>
</body>
</html>
"""

REPORT_TITLE = "Northwind Traders Annual Report 2024"
# Pages of (heading, paragraphs, set in two columns).
REPORT_PAGES = [
    [("Chief executive's review", [
        "Our chief executive, Helen Marsh, said that 2024 was the strongest year in the history of the company. "
        "Revenue rose by 12 per cent to 48.2 million euros, and operating profit reached 6.1 million euros, up "
        "from 4.9 million euros the year before.",
        "The board proposes a final dividend of 0.42 euros per share, to be paid on 20 June 2025 to shareholders "
        "on the register on 23 May 2025.",
    ], False)],
    [("Financial review", [
        "Sales in the United Kingdom grew by 9 per cent to 31.5 million euros, while sales in Germany rose by 21 "
        "per cent to 11.9 million euros after the opening of the Hamburg depot in April.",
        "Net cash at the end of the year stood at 7.4 million euros, and the company has no bank debt.",
    ], False),
     ("Our people", [
        "Headcount rose from 412 to 468 employees during the year. Staff turnover fell to 11 per cent, the lowest "
        "figure since 2018, and 86 per cent of employees took part in the annual engagement survey.",
    ], False)],
    [("Warehouses and safety", [
        "Reported accidents in our warehouses fell from fourteen in 2023 to six in 2024. Each accident is "
        "reviewed by the safety committee within five working days.",
        "We invested 1.3 million euros in new racking and lighting at the Leeds warehouse, which now ships about "
        "9,000 orders a day.",
    ], True)],
    [("Outlook", [
        "For 2025 the board expects revenue to grow by 8 to 10 per cent. The new warehouse management system goes "
        "live in March, and a third depot is planned for Rotterdam in 2026.",
    ], False)],
]

BULLETIN = [
    "All forklift drivers must complete the refresher course every twelve months. The course is run by the "
    "safety officer, Priya Raman, at the Leeds depot and lasts two days.",
    "High-visibility vests must be worn in every loading bay, including by visitors and drivers from other "
    "companies.",
    "Report every near miss on the SafeTrack form within 24 hours, even when nobody was hurt.",
    "Inside the warehouse the speed limit for forklifts is 8 km/h, and 5 km/h in the aisles marked in yellow.",
    "The first aiders on the early shift are Sam Whitfield and Noor Aziz.",
]

# Lines of the documents that are headings, titles, questions, a subject line or names alone: no answer may
# quote one.
# ---------------------------------------------------------------- writing the files


def write_collection(folder: Path) -> Path:
    """Write the documents into folder/corpus and the questions into folder/questions.jsonl; returns folder."""
    corpus = folder / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    (corpus / "employee-handbook.md").write_text(HANDBOOK, encoding="utf-8")
    (corpus / "it-faq.txt").write_text(IT_FAQ, encoding="utf-8")
    (corpus / "atlas-steering-notes.txt").write_bytes(MEETING_NOTES.replace("\n", "\r\n").encode("utf-8"))
    (corpus / "memo-finance-director.txt").write_text(_memo(), encoding="utf-8")
    (corpus / "offices.html").write_text(OFFICES_HTML, encoding="utf-8")
    _write_agreement(corpus / "service-agreement.docx")
    _write_report(corpus / "annual-report-2024.pdf")
    _write_bulletin(corpus / "safety-bulletin.pdf")
    with open(folder / "questions.jsonl", "w", encoding="utf-8") as f:
        for i, q in enumerate(QUESTIONS, start=1):
            row = {"id": f"office_{i:02d}", "question": q.question, "answers": q.facts, "gold_doc_ids": [q.doc],
                   "answerable": bool(q.facts)}
            f.write(json.dumps(row) + "\n")
    return folder


def _memo() -> str:
    header = (
        "MEMO\n\nTo: All staff\nFrom: Helen Marsh, Chief Executive\nDate: 24 February 2025\n"
        "Subject: Our new finance director\n\n"
    )
    body = "\n\n".join(textwrap.fill(p, width=68) for p in MEMO_PARAGRAPHS)
    return header + body + "\n\nHelen Marsh\n"


def _write_agreement(path: Path) -> None:
    import docx

    document = docx.Document()
    document.core_properties.author = "Northwind Legal"
    for kind, content in AGREEMENT:
        if kind == "Title":
            document.add_heading(content, level=0)
        elif kind.startswith("Heading"):
            document.add_heading(content, level=int(kind[-1]))
        elif kind == "p":
            document.add_paragraph(content)
        else:  # a table: the milestones one as python-docx's documentation builds a table, header row first
            table = document.add_table(rows=0, cols=len(content[0]))
            table.style = "Table Grid"
            for row in content:
                for cell, text in zip(table.add_row().cells, row):
                    cell.text = text
    document.save(str(path))


def _pdf():
    from fpdf import FPDF

    class Report(FPDF):
        def footer(self):
            self.set_y(-15)
            self.set_font("Helvetica", size=8)
            self.cell(0, 10, f"Northwind Traders Annual Report 2024 - page {self.page_no()}", align="C")

    return Report()


def _write_report(path: Path) -> None:
    pdf = _pdf()
    pdf.set_title(REPORT_TITLE)
    for number, page in enumerate(REPORT_PAGES):
        pdf.add_page()
        if number == 0:
            pdf.set_font("Helvetica", "B", 20)
            pdf.multi_cell(0, 12, REPORT_TITLE, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(4)
        for heading, paragraphs, in_columns in page:
            pdf.set_font("Helvetica", "B", 14)
            pdf.multi_cell(0, 9, heading, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
            pdf.set_font("Helvetica", size=11)
            if in_columns:
                with pdf.text_columns(ncols=2, gutter=8) as columns:
                    for text in paragraphs:
                        columns.write(text=text)
                        columns.ln()
                        columns.ln()
                continue
            for text in paragraphs:
                pdf.multi_cell(0, 6, text, new_x="LMARGIN", new_y="NEXT")
                pdf.ln(3)
    pdf.output(str(path))


def _write_bulletin(path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.multi_cell(0, 10, "Warehouse Safety Bulletin", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "B", 12)
    pdf.multi_cell(0, 8, "Spring 2025", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font("Helvetica", size=10)
    with pdf.text_columns(ncols=3, gutter=6, text_align="J") as columns:
        for text in BULLETIN:
            columns.write(text=text)
            columns.ln()
            columns.ln()
    pdf.output(str(path))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/office_docs.py DIR")
    print(write_collection(Path(sys.argv[1])))
