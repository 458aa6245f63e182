"""Reading the text of a picture of a page (a scanned PDF page, an image) by OCR, with the PP-OCR models that
the `rapidocr` package ships (run by onnxruntime; nothing is ever downloaded: the models are given by path and
refused when missing). The text comes out in reading order, one line of the page per line, with a blank line
where the page shows a gap between paragraphs.

A scanned page's text sits under a heading of its own, "Page 3 (scanned)" (`scanned_heading`): it starts the
page's section path, so every chunk and citation of the page says that its text was read by OCR.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .document import UnreadableFile, require

SCANNED = "(scanned)"
_SCANNED_HEADING = re.compile(r"Page (\d+) \(scanned\)")
# Lines closer than this (in line heights) belong to one paragraph; a blank line on the page is about one.
PARAGRAPH_GAP = 0.9
OFF = "it is read only by OCR, which is turned off (CITECHAT_OCR=0; set CITECHAT_OCR=1 to read it)"


def scanned_heading(page: int) -> str:
    """The heading a scanned page's text sits under: "Page 3 (scanned)"."""
    return f"Page {page} {SCANNED}"


def scanned_page(section_names: list[str]) -> int | None:
    """The page number of a section path that is a scanned page's ("Page 3 (scanned)"), or None."""
    for name in section_names:
        match = _SCANNED_HEADING.fullmatch(name)
        if match:
            return int(match.group(1))
    return None


def page_with_heading(page: int, text: str) -> str:
    """A scanned page's text under its heading (nothing for a page without text)."""
    return f"# {scanned_heading(page)}\n\n{text}" if text.strip() else ""


def without_scanned_headings(text: str) -> str:
    """The text without the scanned pages' headings (to find a title in)."""
    return re.sub(r"(?m)^# Page \d+ \(scanned\)$", "", text)


@dataclass
class _Box:
    text: str
    left: float
    top: float
    bottom: float

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def middle(self) -> float:
        return (self.top + self.bottom) / 2


def read_picture(image) -> str:
    """The text of a page picture (a PIL image), in reading order, paragraphs apart by a blank line."""
    import numpy as np

    result = _engine()(np.asarray(image.convert("RGB")))
    if result.boxes is None or result.txts is None:
        return ""
    boxes = [_Box(text.strip(), min(p[0] for p in box), min(p[1] for p in box), max(p[1] for p in box))
             for box, text in zip(result.boxes, result.txts) if text.strip()]
    return _layout(_lines(boxes))


def _lines(boxes: list[_Box]) -> list[list[_Box]]:
    """Boxes grouped into the lines of the page, top to bottom, each line left to right."""
    lines: list[list[_Box]] = []
    for box in sorted(boxes, key=lambda b: b.middle):
        line = lines[-1] if lines else None
        if line and abs(box.middle - sum(b.middle for b in line) / len(line)) < 0.5 * min(box.height, line[0].height):
            line.append(box)
        else:
            lines.append([box])
    return [sorted(line, key=lambda b: b.left) for line in lines]


def _layout(lines: list[list[_Box]]) -> str:
    if not lines:
        return ""
    heights = sorted(b.height for line in lines for b in line)
    usual = heights[len(heights) // 2]
    out: list[str] = []
    previous_bottom = None
    for line in lines:
        top, bottom = min(b.top for b in line), max(b.bottom for b in line)
        if previous_bottom is not None:
            out.append("\n\n" if top - previous_bottom > PARAGRAPH_GAP * usual else "\n")
        out.append(" ".join(b.text for b in line))
        previous_bottom = bottom
    return "".join(out)


@lru_cache(maxsize=1)
def _engine():
    """The OCR engine, loaded once per process, from the models inside the rapidocr package only."""
    rapidocr = require("rapidocr", "rapidocr and onnxruntime", "scanned pages and images", "rapidocr onnxruntime")
    models = Path(rapidocr.__file__).parent / "models"
    paths = {}
    for part, pattern in (("Det", "*_det_*.onnx"), ("Rec", "*_rec_*.onnx"), ("Cls", "*_cls_*.onnx")):
        found = sorted(models.glob(pattern))
        if not found:
            raise UnreadableFile(f"the OCR models are missing from the rapidocr package in {models}: reinstall it "
                                 "(pip install --force-reinstall rapidocr)")
        paths[f"{part}.model_path"] = str(found[0])
    # No text-line orientation model: it only turns lines printed upside down, and costs ~15% of a page's time.
    return rapidocr.RapidOCR(params={"Global.log_level": "warning", "Global.use_cls": False, **paths})
