"""E-mail messages (.eml), read with the standard library's `email` package: the subject as title and first
heading, the From, To, Cc and Date lines under it, the text part (or the HTML part, through the HTML reader),
then each attachment of a supported type under a heading of its file name ("report.pdf"), read by the reader
of its format with its headings one level down. So a passage of an attachment has the section path
"report.pdf › Results", and its citation is the mail's own text at exact offsets.

An attached message is read with its text but without its own attachments: attachments are followed one level
deep. An attachment that cannot be read is left out; one over a cost limit makes the whole message skipped
with the reason, as for any file. Pictures embedded in the message body (logos, signatures) are not read.
"""

from __future__ import annotations

import email
import io
import os
import re
from email import policy
from email.message import EmailMessage
from typing import BinaryIO

from ..blocks import render_blocks
from ..document import Document, TooCostly, UnreadableFile
from ..limits import Budget
from . import image
from .html import html_blocks
from .standalone import READERS

SUFFIXES = (".eml",)
FIELDS = ("From", "To", "Cc", "Date")


def read(f: BinaryIO, source: str, stem: str, budget: Budget) -> Document:
    message = email.message_from_binary_file(f, policy=policy.default)
    if not message.keys():
        raise UnreadableFile("not an e-mail message (no header lines)")
    subject = _header(message, "Subject")
    return Document(source, subject[:200] or stem, _message_text(message, budget, attachments=True))


def _message_text(message: EmailMessage, budget: Budget, attachments: bool) -> str:
    subject = _header(message, "Subject")
    parts = [f"# {subject}"] if subject else []
    fields = [f"{name}: {_header(message, name)}" for name in FIELDS if _header(message, name)]
    if fields:
        parts.append("\n".join(fields))
    body = _body(message)
    budget.spend(len(body))
    parts.append(body)
    if attachments:
        for name, text in _attachments(message, budget):
            if text.strip():
                parts.append(f"# {name}\n\n{_one_level_down(text)}")
    return "\n\n".join(part for part in parts if part.strip())


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # a header the parser cannot make sense of is left out
        value = ""
    return " ".join(str(value or "").split())


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):  # an unknown charset: the bytes as Latin-1
        content = (part.get_payload(decode=True) or b"").decode("latin-1")
    content = content.replace("\r\n", "\n").replace("\r", "\n")
    if part.get_content_subtype() == "html":
        return render_blocks(html_blocks(content)[0])
    return content.strip()


def _attachments(message: EmailMessage, budget: Budget):
    """(file name, text) of each attachment of a supported type that can be read."""
    for part in message.iter_attachments():
        budget.check()
        if part.get_content_type() == "message/rfc822":
            inner = part.get_content()
            name = part.get_filename() or f"{_header(inner, 'Subject') or 'message'}.eml"
            yield name, _message_text(inner, budget, attachments=False)
            continue
        name = os.path.basename(part.get_filename() or "")
        suffix = os.path.splitext(name)[1].lower()
        readable = suffix in SUFFIXES or suffix in READERS
        if not readable or (suffix in image.SUFFIXES and part.get_content_disposition() != "attachment"):
            continue
        data = part.get_payload(decode=True) or b""
        try:
            if suffix == ".eml":
                inner = email.message_from_bytes(data, policy=policy.default)
                yield name, _message_text(inner, budget, attachments=False)
            else:
                yield name, READERS[suffix](io.BytesIO(data), name, os.path.splitext(name)[0], budget).text
        except TooCostly as exc:
            raise TooCostly(f"its attachment {name}: {exc}") from None
        except MemoryError:
            raise
        except Exception:  # a damaged or unreadable attachment: the message and its other attachments remain
            budget.check()
            continue


def _one_level_down(text: str) -> str:
    """Markdown headings one level down, so that they sit under the attachment's own heading."""
    return re.sub(r"(?m)^(#{1,5})(?=[ \t])", r"#\1", text)
