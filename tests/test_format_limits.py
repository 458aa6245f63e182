"""What the new formats may cost: a ZIP bomb of each ZIP-based format (a real file made by its library, one part
inflated), a sheet built to be walked cell by cell, and a 30,000 x 30,000 PNG are each skipped quickly with a
reason that names the limit, and the good files beside them are still indexed; through the command line and
through a real server's upload box."""

from __future__ import annotations

import re
import time

import pytest

from bombs import far_corner_sheet, huge_png, inflated_package
from conftest import COLLECTION_SOURCES, run_cli, write_collection
from format_docs import write_epub, write_odt, write_pptx, write_xlsx

INFLATED = {  # file name -> (writer of the real file, the part inflated)
    "inflates.pptx": (write_pptx, "ppt/slides/slide1.xml"),
    "inflates.xlsx": (write_xlsx, "xl/worksheets/sheet1.xml"),
    "inflates.epub": (write_epub, "EPUB/chapter1.xhtml"),
    "inflates.odt": (write_odt, "content.xml"),
}
UNPACKS = "more than the limit of 2 MB when decompressed, a possible decompression bomb"


def write_costly(folder, scratch):
    """The costly files, written into `folder`; their real originals are made in `scratch`."""
    for name, (write, part) in INFLATED.items():
        inflated_package(write(scratch / f"real-{name}"), folder / name, part, 4)
    far_corner_sheet(write_xlsx(scratch / "real-corner.xlsx"), folder / "far-corner.xlsx", 100)
    huge_png(folder / "huge.png", 30_000, 30_000)


@pytest.fixture(scope="module")
def costly_folder(tmp_path_factory):
    docs = write_collection(tmp_path_factory.mktemp("costly") / "docs")
    write_costly(docs, tmp_path_factory.mktemp("originals"))
    return docs


def test_costly_files_of_the_new_formats_are_skipped_quickly_with_their_reason(costly_folder, tmp_path, embedder):
    from citechat.config import settings
    from citechat.index.sync import sync_index

    limited = settings(docs_dir=costly_folder, index_dir=tmp_path / "index", max_unpacked_mb=2)
    started = time.monotonic()
    report = sync_index(limited, embedder=embedder)
    seconds = time.monotonic() - started
    reasons = {s.source: s.reason for s in report.skipped}
    assert set(reasons) == {*INFLATED, "far-corner.xlsx", "huge.png"}, reasons
    for name in INFLATED:
        assert re.search(r"unpacks to 4\.\d MB", reasons[name]) and UNPACKS in reasons[name], (name, reasons[name])
    assert "more than 1,000,000 cells" in reasons["far-corner.xlsx"]
    assert "30,000 x 30,000 pixels" in reasons["huge.png"] and "decompression bomb" in reasons["huge.png"]
    assert sorted(report.added) == COLLECTION_SOURCES
    assert seconds < 60, f"the sync took {seconds:.0f} s"  # each costly file is refused before it is unpacked


def test_a_huge_image_is_refused_from_its_header_in_a_moment(tmp_path):
    from citechat.ingest.document import TooCostly
    from citechat.ingest.files import open_regular
    from citechat.ingest.limits import ReadLimits
    from citechat.ingest.process import FileReader

    png = huge_png(tmp_path / "huge.png", 30_000, 30_000)
    (tmp_path / "warm.csv").write_text("Name,Role\nEdda Varn,harbour master\n")
    with FileReader(ReadLimits()) as reader:
        with open_regular(tmp_path / "warm.csv") as handle:  # starts the reader process
            assert "Name: Edda Varn" in reader.read(handle, "warm.csv", "warm.csv").text
        started = time.monotonic()
        with open_regular(png) as handle, pytest.raises(TooCostly, match="more than the limit of 64 million"):
            reader.read(handle, png.name, png.name)
    assert time.monotonic() - started < 2


def test_the_command_line_lists_the_costly_files_of_the_new_formats(costly_folder, tmp_path):
    result = run_cli("index", "--docs", str(costly_folder), "--index", str(tmp_path / "index"),
                     CITECHAT_MAX_UNPACKED_MB="2")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    for name in (*INFLATED, "far-corner.xlsx", "huge.png"):
        assert f"skipped {name}: " in result.stderr
    assert "5 added" in result.stdout and "6 skipped" in result.stdout


def test_a_file_of_more_scanned_pages_than_the_limit_is_refused_before_the_first_is_read(tmp_path):
    from PIL import Image

    from citechat.ingest.document import TooCostly
    from citechat.ingest.limits import MAX_SCANNED_PAGES, ReadLimits
    from citechat.ingest.reading import load_document

    frames = [Image.new("L", (16, 16), 255) for _ in range(MAX_SCANNED_PAGES + 1)]
    frames[0].save(tmp_path / "pages.tiff", save_all=True, append_images=frames[1:])
    started = time.monotonic()
    with pytest.raises(TooCostly, match=f"more than {MAX_SCANNED_PAGES} scanned pages"):
        load_document(tmp_path / "pages.tiff", "pages.tiff", ReadLimits())
    assert time.monotonic() - started < 10


def test_a_message_with_a_costly_attachment_is_skipped_naming_the_attachment(tmp_path):
    from email.message import EmailMessage

    from bombs import docx_bomb
    from citechat.ingest.document import TooCostly
    from citechat.ingest.limits import ReadLimits
    from citechat.ingest.reading import load_document

    message = EmailMessage()
    message["Subject"], message["From"] = "Minutes", "clerk@harbour.example"
    message.set_content("The minutes are attached.\n")
    bomb = docx_bomb(tmp_path / "minutes.docx", 16_000).read_bytes()
    message.add_attachment(bomb, maintype="application", subtype="octet-stream", filename="minutes.docx")
    (tmp_path / "minutes.eml").write_bytes(bytes(message))
    with pytest.raises(TooCostly, match="its attachment minutes.docx: unpacks to 4.0 MB"):
        load_document(tmp_path / "minutes.eml", "minutes.eml", ReadLimits(max_unpacked_mb=2))
