"""Reading and chunking documents: no model, no index, real files of every supported format."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from citechat.ingest.chunking import chunk_document
from citechat.ingest.document import UnreadableFile, decode_text
from citechat.ingest.folder import find_files
from citechat.ingest.reading import load_document
from citechat.ingest.text import sentence_spans, split_long
from conftest import (
    DOCX_PARAGRAPHS,
    FERRY_HTML,
    PDF_PAGE_1,
    PDF_PAGE_2,
    SOURDOUGH_MD,
    write_collection,
    write_docx,
    write_pdf,
)


def load(path: Path):
    return load_document(path, path.name)


def file_text(path: Path) -> str:
    return open(path, encoding="utf-8", newline="").read()


# ---------------------------------------------------------------- loading each format


def test_txt_text_is_the_file_verbatim_and_title_is_the_first_line(tmp_path):
    path = write_collection(tmp_path) / "notes.txt"
    doc = load(path)
    assert doc.text == file_text(path)
    assert "\r\n" in doc.text  # no newline translation, or offsets would drift
    assert doc.title == "Grey Point Lighthouse Notes"
    assert doc.pages is None


def test_markdown_title_is_the_first_heading_even_after_other_text(tmp_path):
    path = tmp_path / "guide.md"
    path.write_text("Some preamble line.\n\n" + SOURDOUGH_MD, encoding="utf-8")
    doc = load(path)
    assert doc.title == "Sourdough Starter Guide"
    assert doc.text == file_text(path)


def test_html_keeps_visible_text_only_and_uses_the_title_element(tmp_path):
    path = tmp_path / "ferry.html"
    path.write_text(FERRY_HTML, encoding="utf-8")
    doc = load(path)
    assert doc.title == "Kessel Island Ferry Timetable"
    for hidden in ("XYZZY-SCRIPT-MARKER", "ANOTHER-SCRIPT-MARKER", "secretToken", "plumcolor", "hidden-css-marker",
                   "not text", "<p>", "&amp;"):
        assert hidden not in doc.text
    assert "Ferry services" in doc.text
    assert "departs from Pier\xa09 at 6:15" in doc.text  # entities decoded
    assert "Fish & chips" in doc.text
    # Block elements become line breaks; no paragraph is glued to the next.
    assert "18:40.\n" in doc.text
    assert "\n\n\n" not in doc.text and doc.text == doc.text.strip()


def test_html_with_the_optional_head_end_tag_left_out(tmp_path):
    # `</head>` may be omitted in HTML; the body must still be read.
    path = tmp_path / "short.html"
    path.write_text("<!doctype html><html><head><title>Tide Table</title><meta charset=utf-8>"
                    "<body><p>High tide at Marrow Bay is at 4:12.</p></body></html>", encoding="utf-8")
    doc = load(path)
    assert doc.title == "Tide Table"
    assert doc.text == "High tide at Marrow Bay is at 4:12."


def test_html_without_title_falls_back_to_first_line(tmp_path):
    path = tmp_path / "plain.htm"
    path.write_text("<body><h2>Opening hours</h2><p>Monday to Friday.</p></body>", encoding="utf-8")
    doc = load(path)
    assert doc.title == "Opening hours"


def test_pdf_pages_and_metadata_title(tmp_path):
    path = write_pdf(tmp_path / "report.pdf", [PDF_PAGE_1, PDF_PAGE_2], title="Regional Industry Report")
    doc = load(path)
    assert doc.title == "Regional Industry Report"
    assert doc.pages is not None and len(doc.pages) == 2
    page1 = doc.text[slice(*doc.pages[0])]
    page2 = doc.text[slice(*doc.pages[1])]
    assert "Valdoria" in page1 and "Brastow" not in page1
    assert "Brastow" in page2 and "Valdoria" not in page2
    chunks = chunk_document(doc, 1000, 150)
    assert {c.page for c in chunks} == {1, 2}
    for c in chunks:
        start, end = doc.pages[c.page - 1]
        assert start <= c.start < c.end <= end, "a chunk crosses a page boundary"
        assert doc.text[c.start : c.end] == c.text
    assert any("Brastow" in c.text and c.page == 2 for c in chunks)


def test_pdf_without_metadata_title_uses_first_line(tmp_path):
    doc = load(write_pdf(tmp_path / "untitled.pdf", ["Harvest Figures\nThe barley yield rose."]))
    assert doc.title == "Harvest Figures"


def test_docx_paragraphs_and_titles(tmp_path):
    doc = load(write_docx(tmp_path / "minutes.docx", DOCX_PARAGRAPHS))
    assert doc.title == "Elm Street Council Minutes"
    # A "Heading 1" paragraph is written as a Markdown heading, one level below the "Title" style.
    assert doc.text == "\n\n".join(["## " + DOCX_PARAGRAPHS[0], *DOCX_PARAGRAPHS[1:]])
    titled = load(write_docx(tmp_path / "titled.docx", DOCX_PARAGRAPHS, title="Minutes of 3 May"))
    assert titled.title == "Minutes of 3 May"


def test_windows_1252_text_is_decoded_not_rejected(tmp_path):
    path = tmp_path / "menu.txt"
    path.write_bytes("Café crème — 4,50 €\nCrêpe façon grand-mère.\n".encode("cp1252"))
    doc = load(path)
    assert doc.text == "Café crème — 4,50 €\nCrêpe façon grand-mère.\n"
    assert doc.title == "Café crème — 4,50 €"


def test_mixed_encodings_are_decoded_line_by_line():
    data = "naïve UTF-8 line\n".encode("utf-8") + "señor in Latin-1\n".encode("latin-1")
    assert decode_text(data) == "naïve UTF-8 line\nseñor in Latin-1\n"


def test_utf8_bom_is_kept_so_offsets_match_and_utf16_is_read(tmp_path):
    path = tmp_path / "bom.md"
    path.write_bytes("\ufeff# Bell Ringing\n\nThe tenor bell weighs a ton.\n".encode("utf-8"))
    doc = load(path)
    assert doc.text == file_text(path) and doc.text.startswith("\ufeff")
    assert doc.title == "Bell Ringing"
    wide = tmp_path / "wide.txt"
    wide.write_bytes("Wide text about kites.\n".encode("utf-16"))
    assert load(wide).text == "Wide text about kites.\n"


@pytest.mark.parametrize(
    "name, content, reason",
    [
        ("empty.txt", b"", "empty"),
        ("blank.md", b"  \n\n\t \n", "empty"),
        ("binary.txt", bytes(range(256)) * 16, "binary"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ngarbage\n", "corrupt"),
        ("fake.pdf", b"this is not a pdf at all " * 40, "corrupt"),
        ("fake.docx", b"PK\x03\x04 junk that only starts like a zip " * 50, "corrupt"),
        ("empty.html", b"", "empty"),
        ("scripts.html", b"<html><script>var only = 'code';</script></html>", "no text"),
    ],
)
def test_unreadable_files_raise_with_a_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableFile) as info:
        load(path)
    assert reason in str(info.value).lower()


def test_pdf_without_text_layer_is_reported_as_such(tmp_path):
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 50, 50)  # drawing only, like a scanned page
    pdf.output(str(tmp_path / "scan.pdf"))
    with pytest.raises(UnreadableFile, match="no text found"):
        load(tmp_path / "scan.pdf")


# ---------------------------------------------------------------- finding files


def test_find_files_lists_supported_files_with_relative_posix_names(tmp_path):
    docs = tmp_path / "docs"
    write_collection(docs)
    (docs / "sub" / "deeper").mkdir(parents=True)
    (docs / "sub" / "deeper" / "Upper.TXT").write_text("Upper case suffix.", encoding="utf-8")
    (docs / "notes.xyz").write_text("unknown format", encoding="utf-8")
    (docs / "README").write_text("no suffix", encoding="utf-8")
    (docs / ".hidden.txt").write_text("hidden file", encoding="utf-8")
    (docs / ".git").mkdir()
    (docs / ".git" / "config.txt").write_text("hidden folder", encoding="utf-8")
    outside = tmp_path / "outside.txt"
    outside.write_text("secret outside the folder", encoding="utf-8")
    os.symlink(outside, docs / "link-out.txt")
    os.symlink(docs / "guide.md", docs / "link-in.md")
    os.symlink(docs / "missing.txt", docs / "dangling.txt")
    os.symlink(docs, docs / "sub" / "loop")

    found, skipped = find_files(docs)
    names = [f.source for f in found]
    assert names == sorted(names)
    assert set(names) == {
        "notes.txt", "guide.md", "ferry.html", "report.pdf", "minutes.docx", "sub/deeper/Upper.TXT", "link-in.md"
    }
    for f in found:
        status = (docs / f.source).stat()
        assert f.identity == (status.st_dev, status.st_ino) and f.size == status.st_size
        assert f.real == ("guide.md" if f.source == "link-in.md" else f.source)  # a link is read at its target
        with f.open(docs.resolve()) as handle:
            assert handle.read() == (docs / f.source).read_bytes()
    reasons = {s.source: s.reason for s in skipped}
    assert "unsupported" in reasons["notes.xyz"] and ".xyz" in reasons["notes.xyz"]
    assert "unsupported" in reasons["README"]
    assert "outside" in reasons["link-out.txt"]
    assert "broken" in reasons["dangling.txt"]
    assert not any(".hidden" in s or ".git" in s for s in reasons)
    assert len(skipped) == len(reasons)  # each reported once


def test_find_files_on_a_missing_folder_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="--docs"):
        find_files(tmp_path / "nope")


# ---------------------------------------------------------------- chunking


def _notes_doc(tmp_path):
    return load(write_collection(tmp_path) / "notes.txt")


@pytest.mark.parametrize("chunk_chars, overlap", [(1000, 150), (300, 100), (120, 0), (60, 30)])
def test_chunks_have_exact_offsets_bounded_size_and_cover_the_text(tmp_path, chunk_chars, overlap):
    doc = _notes_doc(tmp_path)
    chunks = chunk_document(doc, chunk_chars, overlap)
    assert len(chunks) >= max(2, len(doc.text) // chunk_chars)
    covered = [False] * len(doc.text)
    for i, c in enumerate(chunks):
        assert c.ordinal == i and c.source == "notes.txt" and c.title == doc.title and c.page is None
        assert doc.text[c.start : c.end] == c.text
        assert 0 < len(c.text) <= chunk_chars
        assert c.text == c.text.strip()
        for pos in range(c.start, c.end):
            covered[pos] = True
    missing = "".join(ch for ch, seen in zip(doc.text, covered) if not seen)
    assert missing.strip() == "", f"text left out of every chunk: {missing!r}"
    starts = [c.start for c in chunks]
    assert starts == sorted(set(starts)), "chunks must move forward"


def test_chunks_end_on_sentence_boundaries_and_overlap(tmp_path):
    doc = _notes_doc(tmp_path)
    chunks = chunk_document(doc, 300, 150)
    for c in chunks[:-1]:
        assert re.search(r"[.!?:;”\"']$|[A-Za-z]$", c.text), c.text  # whole sentences or lines, never mid-word
        assert not c.text[-1].isspace()
    overlapping = [(a, b) for a, b in zip(chunks, chunks[1:]) if b.start < a.end]
    assert overlapping, "with overlap_chars=150 consecutive chunks should share trailing sentences"
    for a, b in overlapping:
        assert a.end - b.start <= 150


def test_without_overlap_chunks_do_not_overlap(tmp_path):
    chunks = chunk_document(_notes_doc(tmp_path), 300, 0)
    for a, b in zip(chunks, chunks[1:]):
        assert b.start >= a.end


def test_a_long_unbroken_string_is_cut_hard():
    from citechat.ingest.document import Document

    doc = Document("dna.txt", "dna", "Sequence: " + "ACGT" * 300 + ". Done.")
    chunks = chunk_document(doc, 200, 50)
    assert all(len(c.text) <= 200 for c in chunks)
    assert "".join(doc.text[c.start : c.end] for c in chunks).replace(" ", "").count("ACGT") >= 300


def test_sentence_spans_respect_abbreviations_and_offsets():
    text = "Dr. Smith met Mr. J. Jones in the U.S. capital. They spoke for an hour! Was it useful? Yes."
    spans = sentence_spans(text)
    sentences = [text[a:b] for a, b in spans]
    assert sentences == [
        "Dr. Smith met Mr. J. Jones in the U.S. capital.",
        "They spoke for an hour!",
        "Was it useful?",
        "Yes.",
    ]


def test_split_long_pieces_fit_and_keep_every_word():
    text = " ".join(f"word{i}" for i in range(400))
    pieces = split_long(text, 0, len(text), 100)
    assert all(b - a <= 100 for a, b in pieces)
    assert " ".join(text[a:b] for a, b in pieces) == text
