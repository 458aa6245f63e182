"""The readers of the formats whose file is one document: every format but e-mail, whose attachments are files
of these formats (`eml.py` reads them through READERS here)."""

from . import delimited, docx, epub, html, image, markdown, ods, odt, pdf, pptx, rtf, txt, xlsx

MODULES = (txt, markdown, html, pdf, docx, pptx, xlsx, delimited, odt, ods, epub, rtf, image)
READERS = {suffix: module.read for module in MODULES for suffix in module.SUFFIXES}
