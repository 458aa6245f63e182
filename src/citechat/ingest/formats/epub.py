"""E-books (.epub): the chapters in reading order (the package's spine), each read by the HTML reader
(`html.py`: its headings, paragraphs, lists and tables); a chapter that opens without a heading is headed by
its own title. Read from the ZIP package directly, its unpacked size checked before anything is unpacked."""

from __future__ import annotations

import posixpath
import zipfile
from typing import BinaryIO
from xml.etree import ElementTree

from ..blocks import render_blocks
from ..document import Document, UnreadableFile, decode_text
from ..limits import Budget
from .html import html_blocks

SUFFIXES = (".epub",)
_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF = "{http://www.idpf.org/2007/opf}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_PAGES = ("application/xhtml+xml", "text/html")


def read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    budget.check_package(f)
    with zipfile.ZipFile(f) as book:
        package_path, package = _package(book)
        base = posixpath.dirname(package_path)
        manifest = {item.get("id"): item for item in package.iter(f"{_OPF}item")}
        title = (package.findtext(f"{_OPF}metadata/{_DC}title") or "").strip()
        blocks: list[tuple[str, str]] = []
        for ref in package.iter(f"{_OPF}itemref"):
            item = manifest.get(ref.get("idref"))
            if item is None or item.get("media-type") not in _PAGES or ref.get("linear") == "no":
                continue
            if "nav" in (item.get("properties") or "").split():  # the table of contents repeats the headings
                continue
            path = posixpath.normpath(posixpath.join(base, item.get("href", "")))
            try:
                data = book.read(path)
            except KeyError:
                continue  # listed but missing: the rest of the book is still read
            chapter, chapter_title = html_blocks(decode_text(data))
            budget.spend(sum(len(text) for _, text in chapter))
            if chapter and not chapter[0][0].startswith("h") and chapter_title and chapter_title != title:
                blocks.append(("h1", chapter_title))
            blocks.extend(chapter)
    return Document(source, title[:200] or stem, render_blocks(blocks))


def _package(book: zipfile.ZipFile) -> tuple[str, ElementTree.Element]:
    """The path and the parsed package document (the .opf file) that META-INF/container.xml names."""
    try:
        container = ElementTree.fromstring(book.read("META-INF/container.xml"))
        rootfile = container.find(f"{_CONTAINER}rootfiles/{_CONTAINER}rootfile")
        path = rootfile.get("full-path") if rootfile is not None else None
        if not path:
            raise UnreadableFile("not an e-book: its container names no package document")
        return path, ElementTree.fromstring(book.read(path))
    except KeyError as exc:
        raise UnreadableFile(f"not an e-book: a part is missing ({exc})") from None
