"""The chat window's HTML and Markdown, from answers, sources, documents and sync reports: pure functions,
no Gradio. Everything that comes from a document, a file name or a user is escaped before it is shown, and the
chat's Markdown syntax is neutralised too, so a document that contains `<script>` shows that text and runs
nothing."""

from __future__ import annotations

import html
import re
from ..answering.types import LOW_CONFIDENCE_NOTE, MARKER, Answer, Source, location, read_by_ocr, shorten
from ..bot import Bot
from ..index.sync import SyncReport
from ..ingest.folder import Skipped
from ..ingest.readable import is_markdown, shown_chars
from ..ingest.formats import formats_line


def esc(value: object) -> str:
    """HTML-escape anything shown from a document, a file name or a user."""
    return html.escape(str(value), quote=True)


# Characters that mean something in (GitHub-flavoured) Markdown or HTML, written as numeric character
# references: the chat renders Markdown, and a reference is always shown as the plain character.
_MD_ENTITIES = {c: f"&#{ord(c)};" for c in "&<>\"'\\`*_{}[]()#+-.!|~$=:^"}
_MD_TABLE = str.maketrans(_MD_ENTITIES)


def md_text(value: str, strip_indent: bool = True) -> str:
    """Text safe to place inside chat Markdown: shown literally, never as markup, HTML or a link."""
    text = str(value).replace("\r\n", "\n").replace("\r", "\n")
    if strip_indent:  # indentation at the start of a line would make a code block
        text = re.sub(r"(?m)^[ \t]+", "", text)
    return text.translate(_MD_TABLE)


CONTEXT_CHARS = 200  # of the passage shown either side of a cited span


def _trim_before(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    space = cut.find(" ")
    return "… " + (cut[space + 1 :] if 0 <= space < 40 else cut)


def _trim_after(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit - 40 else cut) + " …"


def readable_html(text: str, source: str) -> str:
    """A passage of document `source` as a person reads it (see `ingest.readable`), escaped, headings in bold."""
    return _shown_html(shown_chars(text, is_markdown(source))).strip()


def _shown_html(shown: list[tuple[str, bool]]) -> str:
    out, bold = [], False
    for ch, heading in shown:
        if not ch:
            continue
        if heading != bold and ch != "\n":
            out.append("<b>" if heading else "</b>")
            bold = heading
        out.append(esc(ch))
    return "".join(out) + ("</b>" if bold else "")


def highlight(src: Source, context: int = CONTEXT_CHARS) -> str:
    """The passage around the cited span as a person reads it, the span marked, all escaped. Falls back to the
    span alone."""
    passage, quote = src.passage or "", src.text or ""
    offset = src.start - src.passage_start
    if not (passage and 0 <= offset and passage[offset : offset + len(quote)] == quote):
        offset = passage.find(quote) if passage and quote else -1
    if offset < 0:
        return f"<mark>{readable_html(quote, src.source)}</mark>" if quote else readable_html(passage, src.source)
    shown = shown_chars(passage, is_markdown(src.source))
    end = offset + len(quote)
    before = _trim_before("".join(ch for ch, _ in shown[:offset]), context)
    after = _trim_after("".join(ch for ch, _ in shown[end:]), context)
    return f"{esc(before.lstrip())}<mark>{_shown_html(shown[offset:end]).strip()}</mark>{esc(after.rstrip())}"


def _source_card(src: Source, related: bool = False) -> str:
    label = "possibly related" if related else f"[{src.n}]"
    body = readable_html(src.passage or src.text, src.source) if related else highlight(src)
    return (
        f'<div class="cc-source{" cc-related" if related else ""}" data-n="{src.n}">'
        f'<div class="cc-source-head"><span class="cc-n">{esc(label)}</span> '
        f'<span class="cc-title" title="{esc(src.title)}">{esc(shorten(src.title, 100))}</span></div>'
        f'<div class="cc-meta"><span class="cc-file">{esc(src.source)}</span> · {esc(location(src))}</div>'
        f'{OCR_NOTE if read_by_ocr(src) else ""}<div class="cc-passage">{body}</div></div>'
    )


# A quote read by OCR may differ from the page by a misread letter or figure.
OCR_NOTE = ('<div class="cc-note cc-ocr">Read by OCR from a picture of the page: compare the quote with the page '
            'before relying on a figure.</div>')


def render_sources(answer: Answer | None) -> str:
    """The sources panel for one answer (HTML; every document-derived string escaped)."""
    if answer is None:
        return '<div class="cc-empty">Ask a question: the passages each answer cites appear here.</div>'
    parts = [f'<div class="cc-sources"><div class="cc-question">Sources for: <q>{esc(answer.question)}</q></div>']
    if answer.refused:
        parts.append('<div class="cc-refused">The documents do not answer this question.</div>')
        if answer.related:
            parts.append(
                '<div class="cc-note">Possibly related passages — shown for reference, not used as an answer:</div>'
            )
            parts.extend(_source_card(src, related=True) for src in answer.related)
    else:
        if answer.unsupported:
            items = "".join(f"<li>{esc(s)}</li>" for s in answer.unsupported)
            parts.append(f'<div class="cc-refused">Not supported by the cited passages:<ul>{items}</ul></div>')
        parts.extend(_source_card(src) for src in answer.sources)
        if not answer.sources:
            parts.append('<div class="cc-empty">This answer cites no sources.</div>')
    parts.append("</div>")
    return "".join(parts)


def searching_html(question: str) -> str:
    """The sources panel while an answer is being looked for."""
    return f'<div class="cc-empty">Searching the documents for <q>{esc(question)}</q>…</div>'


SEARCHING_MD = "<span class='cc-note'>Searching the documents…</span>"


def render_answer(text: str, answer: Answer | None = None) -> str:
    """An answer as chat Markdown: the text escaped, [n] markers styled, and a short list of its sources."""
    text = re.sub(r"(?m)^[ \t]+", "", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = re.sub(r"[ \t]+(?=\[\d+\])", "", text)  # "sentence. [1]" shows as "sentence.[1]"
    pieces = []
    last = 0
    for m in MARKER.finditer(text):
        pieces.append(md_text(text[last : m.start()], strip_indent=False))
        pieces.append(f'<span class="cc-cite">&#91;{m.group(1)}&#93;</span>')
        last = m.end()
    pieces.append(md_text(text[last:], strip_indent=False))
    body = "".join(pieces)
    if answer is None:
        return body
    cited = answer.related if answer.refused else answer.sources
    by_file: dict[str, list[Source]] = {}
    for src in cited:
        by_file.setdefault(src.source, []).append(src)
    lines = []
    for name, group in by_file.items():
        marks = "" if answer.refused else "".join(f"&#91;{s.n}&#93;" for s in group) + " "
        lines.append(f"{marks}{md_text(shorten(group[0].title, 80))} — <code>{md_text(name)}</code>")
    if answer.refused and "possibly related" in text.lower():
        lines = []  # the refusal already names them; the sources panel shows them as possibly related
    if lines:
        label = "Possibly related (not an answer)" if answer.refused else "Sources"
        body += f"\n\n<small>{label}: " + "<br>".join(lines) + "</small>"
    if answer.low_confidence:
        body += f'\n\n<small class="cc-low-confidence">{LOW_CONFIDENCE_NOTE}</small>'
    if answer.notice:
        body += f'\n\n<small class="cc-notice">{md_text(answer.notice)}</small>'
    return body


def documents_html(bot: Bot, skipped: list[Skipped] = ()) -> str:
    """The indexed documents, those removed from the index, and the files the latest sync could not index."""
    docs, excluded = bot.documents, bot.snapshot.excluded
    left_out = (
        f"<div class='cc-note' id='excluded'>Removed from the index (the files stay in the folder, and out of "
        f"syncs until added back): {esc(', '.join(excluded))}</div>" if excluded else ""
    )
    if skipped:
        items = "".join(f"<li><span class='cc-file'>{esc(s.source)}</span>: {esc(s.reason)}</li>" for s in skipped)
        left_out += (f"<div class='cc-note' id='skipped'>Not indexed (files of the folder citechat cannot use):"
                     f"<ul>{items}</ul></div>")
    if not docs:
        return f'<div class="cc-empty">No documents indexed yet. Add some below.</div>{left_out}'
    rows = "".join(
        f"<tr><td class='cc-doc-title'>{esc(d.title)}</td><td class='cc-file'>{esc(d.source)}</td>"
        f"<td class='cc-num'>{d.n_chunks}</td></tr>"
        for d in docs
    )
    return (
        "<table class='cc-docs'><thead><tr><th>Title</th><th>File</th><th>Chunks</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>{left_out}"
    )


def status_html(bot: Bot) -> str:
    meta = bot.snapshot.meta
    items = [
        ("Folder", str(bot.settings.docs_dir)),
        ("Documents", f"{bot.n_documents:,}"),
        ("Chunks", f"{bot.n_chunks:,}"),
        ("Embedding model", meta.get("model", "?")),
        ("Last sync", meta.get("last_sync") or "never"),
        ("Generation", meta.get("generation", "?")),
    ]
    cells = "".join(f"<div><span>{esc(k)}</span><b>{esc(v)}</b></div>" for k, v in items)
    formats = f"<div class='cc-note' id='formats'>Reads {esc(formats_line(bot.settings.ocr))}</div>"
    return f"<div class='cc-status'>{cells}</div>{formats}"


def report_html(report: SyncReport | None, notes: list[str] | None = None, error: str | None = None) -> str:
    lines = [f"<div class='cc-msg cc-warn'>{esc(n)}</div>" for n in notes or []]
    if error:
        lines.append(f"<div class='cc-msg cc-warn'>{esc(error)}</div>")

    if report is not None:
        for label, names in (("Added", report.added), ("Updated", report.updated), ("Removed", report.removed)):
            if names:
                lines.append(f"<div class='cc-msg'>{label}: {esc(', '.join(names))}</div>")
        for item in report.skipped:
            lines.append(f"<div class='cc-msg cc-warn'>Skipped {esc(item.source)}: {esc(item.reason)}</div>")
        lines.append(f"<div class='cc-msg cc-ok'>{esc(report.summary())}</div>")
    return "".join(lines)


def llm_banner_html(problem: str | None) -> str:
    """The notice shown above the chat while the configured LLM does not answer."""
    if not problem:
        return ""
    return (f"<div class='cc-msg cc-warn' id='llm-problem'>{esc(problem)} Until it answers, answers are quoted "
            "from the documents.</div>")


def delete_prompt_html(path: object) -> str:
    """The question asked before a file is deleted from the disk."""
    return (f"<div class='cc-msg cc-warn'>Delete the file <b>{esc(path)}</b> from the disk? This cannot be "
            "undone. (To stop using it without deleting it, choose “Remove from index”.)</div>")
