"""One reader per file format. A reader is a module here with:

    SUFFIXES: tuple[str, ...]
        The file name endings it reads, lower case, with the dot.
    read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document
        The document in the open file `f` (read from its start): `source` is its name in the documents folder,
        `stem` its file name without the ending (a title of last resort). Raise UnreadableFile with the reason
        when the file cannot be used, and call `budget.spend(chars)` as text comes in (or `budget.check()` in
        long loops) so that a hostile file stops at its limits; whatever the reader does not count is counted
        once it returns. Heavy parsers are imported inside `read`.

A new format is one new module, listed in READERS.
"""

from __future__ import annotations

from . import delimited, docx, eml, epub, html, image, markdown, ods, odt, pdf, pptx, rtf, txt, xlsx

_MODULES = (txt, markdown, html, pdf, docx, pptx, xlsx, delimited, odt, ods, epub, rtf, eml, image)
READERS = {suffix: module.read for module in _MODULES for suffix in module.SUFFIXES}
SUFFIXES = tuple(READERS)
