"""Files built to be costly to read, for the tests of the read limits and bench/bombs.py. Each is small on disk
and large once read: a DOCX whose document part inflates a thousandfold, PDFs whose compressed content
stream holds megabytes of text operators (shared by every page, or called many times as a form).

Nothing is held in memory whole: the DOCX part is streamed into the ZIP.
"""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

LINE = b"(The quick brown fox jumps over the lazy dog 0123456789) Tj T*\n"  # 44 characters of text
PARAGRAPH = "<w:p><w:r><w:t>{}</w:t></w:r></w:p>".format("All work and no play makes Jack a dull boy. " * 4)


def docx_bomb(path: Path, paragraphs: int) -> Path:
    """A real DOCX (made by python-docx) whose word/document.xml is `paragraphs` copies of one 176-character
    paragraph: 1,000 paragraphs are 211 KB of XML and about 1 KB in the ZIP."""
    import docx

    plain = io.BytesIO()
    docx.Document().save(plain)
    source = zipfile.ZipFile(io.BytesIO(plain.getvalue()))
    xml = source.read("word/document.xml").decode()
    head = xml.partition("<w:body>")[0] + "<w:body>"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        for info in source.infolist():
            if info.filename != "word/document.xml":
                out.writestr(info, source.read(info.filename))
                continue
            with out.open("word/document.xml", "w", force_zip64=True) as part:
                part.write(head.encode())
                block = (PARAGRAPH * 1000).encode()
                for _ in range(paragraphs // 1000):
                    part.write(block)
                part.write((PARAGRAPH * (paragraphs % 1000)).encode())
                part.write(b"<w:sectPr/></w:body></w:document>")
    return path


def _pdf(path: Path, objects: dict[int, bytes]) -> Path:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = {}
    for n in sorted(objects):
        offsets[n] = len(out)
        out += b"%d 0 obj\n" % n + objects[n] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offsets[n] for n in sorted(objects))
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def _stream(data: bytes, extra: bytes = b"") -> bytes:
    packed = zlib.compress(data, 9)
    return b"<< %s/Length %d /Filter /FlateDecode >>\nstream\n" % (extra, len(packed)) + packed + b"\nendstream"


FONT = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"


def pdf_bomb(path: Path, stream_bytes: int, pages: int = 1) -> Path:
    """`pages` pages that all draw one compressed content stream of `stream_bytes` bytes of text operators
    (1 MB: 873,000 characters per page, about 3.5 KB on disk)."""
    body = b"BT /F1 1 Tf 12 TL 0 0 Td\n" + LINE * (stream_bytes // len(LINE)) + b"ET\n"
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Count %d /Kids [%s] >>" % (pages, b" ".join(b"%d 0 R" % (5 + i) for i in range(pages))),
        3: FONT,
        4: _stream(body),
    }
    for i in range(pages):
        objects[5 + i] = (b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                          b"/Resources << /Font << /F1 3 0 R >> >> /Contents 4 0 R >>")
    return _pdf(path, objects)


def pdf_form_bomb(path: Path, form_bytes: int, calls: int) -> Path:
    """One page whose tiny content stream draws a form (a Form XObject) of `form_bytes` bytes of text
    operators `calls` times (20 KB x 200: 3.5 million characters from a file of about 1 KB)."""
    form = b"BT /F1 1 Tf 12 TL 0 0 Td\n" + LINE * (form_bytes // len(LINE)) + b"ET\n"
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Count 1 /Kids [5 0 R] >>",
        3: FONT,
        4: _stream(form, b"/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "),
        5: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /XObject << /Fm1 4 0 R >> >> "
           b"/Contents 6 0 R >>",
        6: _stream(b"q /Fm1 Do Q\n" * calls),
    }
    return _pdf(path, objects)


def inflated_package(source: Path, path: Path, part: str, megabytes: int) -> Path:
    """A copy of the ZIP package `source` (a real .pptx, .xlsx, .epub or .odt) whose `part` is followed by
    `megabytes` MB of spaces, valid after an XML document's root element: a few KB on disk."""
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as out:
        assert part in original.namelist(), original.namelist()
        for info in original.infolist():
            data = original.read(info.filename)
            if info.filename != part:
                out.writestr(info, data)
                continue
            with out.open(part, "w", force_zip64=True) as inflated:
                inflated.write(data)
                block = b" " * (1 << 20)
                for _ in range(megabytes):
                    inflated.write(block)
    return path


def far_corner_sheet(source: Path, path: Path, rows: int) -> Path:
    """A copy of a real .xlsx whose first sheet holds, in each of `rows` rows, one cell in the last column
    (XFD): a few KB, but every row is 16,384 cells wide to a reader that fills in the empty ones."""
    cells = "".join(f'<row r="{r}"><c r="XFD{r}" t="inlineStr"><is><t>x</t></is></c></row>' for r in range(1, rows + 1))
    sheet = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns='
             f'"http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>{cells}</sheetData></worksheet>')
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in original.infolist():
            out.writestr(info, sheet if info.filename == "xl/worksheets/sheet1.xml" else original.read(info.filename))
    return path


def huge_png(path: Path, width: int, height: int) -> Path:
    """A real black-and-white PNG of width x height pixels, every one white: 30,000 x 30,000 is about 110 KB on
    disk and 900 million pixels once decoded (written row by row, never held whole)."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\x00" + b"\xff" * ((width + 7) // 8)  # filter byte, then 1 bit a pixel
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path
