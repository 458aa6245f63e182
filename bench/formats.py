"""Indexing speed of each office format, and OCR's pages per second.

    .venv/bin/python bench/formats.py                  # every format, ~200,000 characters each; 4 scanned pages
    .venv/bin/python bench/formats.py --only ocr --pages 8

For each format a file is written with the library that makes it (python-pptx, openpyxl, ebooklib, odfpy,
email with an fpdf2 PDF attached; Pillow draws the scanned pages), from the same English-like sentences, then
indexed alone into a fresh index (`citechat.build_index`: read in the reader process, chunked, embedded,
stored), the embedding model loaded before the clock starts. "read" is the reader process alone
(`FileReader.read`, started beforehand). Characters are those of the extracted text. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

WORDS = ("harbour lantern copper orchard granite falcon meadow river stone keeper ledger market bridge quarry "
         "winter ferry tide valley mill tower village council railway station library garden").split()


def sentences(rng: random.Random, n: int) -> list[str]:
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 20))).capitalize() + "." for _ in range(n)]


def write_pptx(path: Path, rng, chars: int) -> None:
    from pptx import Presentation

    deck = Presentation()
    written = 0
    while written < chars:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = " ".join(rng.choice(WORDS) for _ in range(3)).title()
        bullets = sentences(rng, 5)
        slide.placeholders[1].text_frame.text = "\n".join(bullets)
        notes = " ".join(sentences(rng, 4))
        slide.notes_slide.notes_text_frame.text = notes
        written += sum(map(len, bullets)) + len(notes)
    deck.save(path)


def _rows(rng, chars: int):
    written, n = 0, 0
    while written < chars:
        n += 1
        row = (f"Item {n}", rng.randint(100, 99_999), " ".join(rng.choice(WORDS) for _ in range(6)))
        written += sum(len(str(v)) for v in row) + 30
        yield row


def write_xlsx(path: Path, rng, chars: int) -> None:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(("Item", "Amount", "Note"))
    for row in _rows(rng, chars):
        sheet.append(row)
    book.save(path)


def write_csv(path: Path, rng, chars: int) -> None:
    import csv

    with open(path, "w", newline="") as out:
        csv.writer(out).writerows([("Item", "Amount", "Note"), *_rows(rng, chars)])


def write_odt(path: Path, rng, chars: int) -> None:
    from odf.opendocument import OpenDocumentText
    from odf.text import H, P

    doc, written = OpenDocumentText(), 0
    while written < chars:
        doc.text.addElement(H(outlinelevel=1, text=" ".join(rng.choice(WORDS) for _ in range(3)).title()))
        for paragraph in (" ".join(sentences(rng, 5)) for _ in range(4)):
            doc.text.addElement(P(text=paragraph))
            written += len(paragraph)
    doc.save(str(path))


def write_epub(path: Path, rng, chars: int) -> None:
    from ebooklib import epub

    book = epub.EpubBook()
    book.set_identifier("bench")
    book.set_title("Bench")
    chapters, written = [], 0
    while written < chars:
        paragraphs = [" ".join(sentences(rng, 5)) for _ in range(10)]
        chapter = epub.EpubHtml(title=f"Chapter {len(chapters) + 1}", file_name=f"c{len(chapters)}.xhtml")
        chapter.content = f"<html><body><h1>Chapter {len(chapters) + 1}</h1>" + "".join(
            f"<p>{p}</p>" for p in paragraphs) + "</body></html>"
        book.add_item(chapter)
        chapters.append(chapter)
        written += sum(map(len, paragraphs))
    book.toc, book.spine = chapters, chapters
    book.add_item(epub.EpubNcx())
    epub.write_epub(str(path), book)


def write_eml(path: Path, rng, chars: int) -> None:
    from email.message import EmailMessage

    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("Helvetica", size=11)
    pdf.add_page()
    for paragraph in (" ".join(sentences(rng, 5)) for _ in range(chars // 2 // 500)):
        pdf.multi_cell(0, 6, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(3)
    message = EmailMessage()
    message["Subject"], message["From"], message["To"] = "Bench", "a@example.org", "b@example.org"
    message.set_content("\n\n".join(" ".join(sentences(rng, 5)) for _ in range(chars // 2 // 500)))
    message.add_attachment(bytes(pdf.output()), maintype="application", subtype="pdf", filename="report.pdf")
    path.write_bytes(bytes(message))


def write_rtf(path: Path, rng, chars: int) -> None:
    paragraphs = [" ".join(sentences(rng, 5)) for _ in range(chars // 500)]
    path.write_text("{\\rtf1\\ansi " + "".join(f"{p}\\par " for p in paragraphs) + "}", encoding="ascii")


def write_scans(path: Path, rng, pages: int) -> None:
    from format_docs import write_scanned_pdf

    write_scanned_pdf(path, [[" ".join(rng.choice(WORDS) for _ in range(8)).capitalize() for _ in range(30)]
                             for _ in range(pages)])


WRITERS = {".pptx": write_pptx, ".xlsx": write_xlsx, ".csv": write_csv, ".odt": write_odt, ".epub": write_epub,
           ".eml": write_eml, ".rtf": write_rtf}


def measure(path: Path, work: Path, embedder) -> dict:
    import citechat
    from citechat.config import settings
    from citechat.index.sync import sync_index
    from citechat.ingest.files import open_regular
    from citechat.ingest.limits import ReadLimits
    from citechat.ingest.process import FileReader

    with FileReader(ReadLimits.of(settings())) as reader:
        warm = work / "warm.csv"
        warm.write_text("a,b\n1,2\n")
        with open_regular(warm) as handle:
            reader.read(handle, warm.name, warm.name)
        with open_regular(path) as handle:
            started = time.perf_counter()
            doc = reader.read(handle, path.name, path.name)
            read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    report = sync_index(settings(docs_dir=path.parent, index_dir=work / f"index{path.suffix}"), embedder=embedder)
    seconds = time.perf_counter() - started
    assert report.added == [path.name], report.skipped
    del citechat
    return {"chars": len(doc.text), "pages": len(doc.pages or []), "read": read_seconds, "index": seconds,
            "chunks": report.chunks}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chars", type=int, default=200_000, help="characters of text per file")
    parser.add_argument("--pages", type=int, default=4, help="scanned pages to read by OCR")
    parser.add_argument("--only", nargs="*", help="formats (pptx xlsx ... ocr)")
    args = parser.parse_args()
    from citechat.index.embeddings import Embedder

    embedder = Embedder("all-MiniLM-L6-v2")
    embedder.encode(["warm up"])
    rng = random.Random(0)
    print("| format | characters | read (chars/s) | indexed (chars/s) | chunks |\n| --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for suffix, write in WRITERS.items():
            if args.only and suffix[1:] not in args.only:
                continue
            folder = work / suffix[1:]
            folder.mkdir()
            write(folder / f"bench{suffix}", rng, args.chars)
            m = measure(folder / f"bench{suffix}", work, embedder)
            print(f"| {suffix} | {m['chars']:,} | {m['chars'] / m['read']:,.0f} | {m['chars'] / m['index']:,.0f} | "
                  f"{m['chunks']} |", flush=True)
        if not args.only or "ocr" in args.only:
            (work / "scans").mkdir()
            write_scans(work / "scans" / "scans.pdf", rng, args.pages)
            m = measure(work / "scans" / "scans.pdf", work, embedder)
            print(f"| scanned PDF, {m['pages']} pages (150 dpi A4, 30 lines each) | {m['chars']:,} | "
                  f"{m['pages'] / m['read']:.2f} pages/s | {m['pages'] / m['index']:.2f} pages/s | {m['chunks']} |")


if __name__ == "__main__":
    main()
