"""Text from documents and file names, made safe to print on a terminal.

A document or a file name may hold control characters: ESC starts the sequences that set a terminal's title,
clear or recolour it, or plant a hidden link (OSC 8); a carriage return or a newline in a name forges output
lines; bidirectional overrides reorder what is shown. Everything the command line prints that came from a
document or a file name goes through `shown` (a document's text, which keeps its line breaks) or
`shown_name` (a name, a title, a path, a message that quotes one: one line). Each such character is printed
as a visible escape (`\\x1b`, `\\n`, `\\u202e`) instead.
"""

from __future__ import annotations

import json
import re

# C0 controls but tab and newline, DEL, C1 controls (8-bit CSI, OSC...), and the Unicode line separators and
# bidirectional controls.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_IN_NAMES = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    ch = match.group(0)
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def shown(text: str) -> str:
    """A document's text for a terminal: line breaks and tabs kept (a CRLF break as a plain one), every other
    control character shown as an escape."""
    return _UNSAFE.sub(_escape, text.replace("\r\n", "\n"))


def shown_name(text: str) -> str:
    """A file name, title, path or message for a terminal, on one line: every control character, newlines and
    tabs included, shown as an escape."""
    return _UNSAFE_IN_NAMES.sub(_escape, text)


def shown_json(data: object) -> str:
    """JSON for a terminal: as json.dumps with the text kept readable, and the characters JSON leaves raw (C1
    controls, bidirectional overrides) escaped as \\uXXXX, which JSON readers decode back."""
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", json.dumps(data, indent=2, ensure_ascii=False))
