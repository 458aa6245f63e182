"""The chat window: a Gradio app over the same `Bot` the CLI and the Python API use.

    citechat serve                      # http://127.0.0.1:7860
    citechat serve --host 0.0.0.0 --auth alice:secret

Left: the chat, whose answers stream in with [n] markers. Right: the sources of the selected answer (each
cited sentence highlighted inside the passage it came from) and the documents panel (indexed documents,
index state, upload, remove, rebuild).

Everything that comes from a document or a file name is HTML-escaped before it is shown, and the chat's
Markdown syntax is neutralised too, so a document that contains `<script>` shows that text and runs nothing.

API: the endpoint `/ask` (see `api_ask`) takes a question (and optionally the earlier turns) and returns the
answer text and a JSON object with its sources:

    from gradio_client import Client
    text, info = Client("http://127.0.0.1:7860/").predict("What did Altman say?", api_name="/ask")
    info["sources"][0]["source"], info["sources"][0]["text"]
"""

from __future__ import annotations

import html
import ipaddress
import os
import re
import shutil
import threading
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .answers import MARKER, Answer, Source, location  # noqa: E402
from .bot import Bot  # noqa: E402
from .config import Settings, redact  # noqa: E402
from .store import IndexNotFound  # noqa: E402
from .sync import SyncReport, sync_index  # noqa: E402

TITLE = "citechat"
DESCRIPTION = (
    "Ask questions about your documents. Answers are built from the documents themselves, and every "
    "statement points to the exact passage it came from: the numbers like [1] refer to the sources on the right."
)
EXAMPLES = [
    "What did Altman say?",
    "What did Khosla Ventures do?",
    "What happened in Minneapolis?",
    "Who first reported Altman's message?",
]
UPLOAD_TYPES = [".txt", ".md", ".html", ".htm", ".pdf", ".docx"]
MAX_UPLOAD_MB = 20
MAX_NAME_CHARS = 120
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


# ---------------------------------------------------------------- escaping and rendering


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


def shorten(text: str, limit: int) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[: limit] else text[:limit]
    return cut.rstrip(" ,;:") + "…"


def where(src: Source) -> str:
    return location(src)


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


def highlight(src: Source, context: int = CONTEXT_CHARS) -> str:
    """The passage around the cited span, the span marked, all escaped. Falls back to the span alone."""
    passage, quote = src.passage or "", src.text or ""
    offset = src.start - src.passage_start
    if not (passage and 0 <= offset and passage[offset : offset + len(quote)] == quote):
        offset = passage.find(quote) if passage and quote else -1
    if offset < 0:
        return f"<mark>{esc(quote)}</mark>" if quote else esc(passage)
    before = _trim_before(passage[:offset], context)
    after = _trim_after(passage[offset + len(quote) :], context)
    return f"{esc(before)}<mark>{esc(quote)}</mark>{esc(after)}"


def _source_card(src: Source, related: bool = False) -> str:
    label = "possibly related" if related else f"[{src.n}]"
    body = esc(src.passage or src.text) if related else highlight(src)
    return (
        f'<div class="cc-source{" cc-related" if related else ""}" data-n="{src.n}">'
        f'<div class="cc-source-head"><span class="cc-n">{esc(label)}</span> '
        f'<span class="cc-title" title="{esc(src.title)}">{esc(shorten(src.title, 100))}</span></div>'
        f'<div class="cc-meta"><span class="cc-file">{esc(src.source)}</span> · {esc(where(src))}</div>'
        f'<div class="cc-passage">{body}</div></div>'
    )


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
    return body


def source_dict(src: Source) -> dict[str, Any]:
    return asdict(src)


def answer_info(answer: Answer) -> dict[str, Any]:
    """The JSON the /ask endpoint returns beside the answer text."""
    return {
        "sources": [source_dict(s) for s in answer.sources],
        "refused": answer.refused,
        "related": [source_dict(s) for s in answer.related],
        "unsupported": list(answer.unsupported),
        "standalone_question": answer.standalone_question,
        "answerer": answer.answerer,
        "seconds": answer.seconds,
    }


# ---------------------------------------------------------------- uploads


class UploadRefused(ValueError):
    pass


def safe_name(name: str) -> str:
    """A plain base name for an uploaded file: no folders, no traversal, not hidden, a supported type.
    Raises UploadRefused with the reason otherwise."""
    base = unicodedata.normalize("NFC", str(name)).replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C")
    base = re.sub(r"[^\w.\- ()]+", "_", base).strip().lstrip(".").rstrip(". ")
    base = re.sub(r"\s+", " ", base)
    stem, dot, suffix = base.rpartition(".")
    if not dot or not stem.strip(" ._"):
        raise UploadRefused(f"“{name}” has no usable file name")
    suffix = "." + suffix.lower()
    if suffix not in UPLOAD_TYPES:
        raise UploadRefused(f"“{name}” is not a supported type (use {', '.join(UPLOAD_TYPES)})")
    return stem[: MAX_NAME_CHARS - len(suffix)].rstrip(" .") + suffix


@dataclass
class UploadResult:
    saved: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # messages


def original_name(path: str) -> str:
    return Path(path).name


# ---------------------------------------------------------------- the service behind the window


class ChatService:
    """What the window does, without Gradio: answer, add and remove documents, sync. Shared by every
    browser session; syncs are serialised by a lock while questions keep being answered."""

    def __init__(self, bot: Bot, max_upload_mb: float = MAX_UPLOAD_MB) -> None:
        self.bot = bot
        self.max_upload_mb = min(max_upload_mb, bot.settings.max_file_mb)
        self.sync_lock = threading.Lock()

    @property
    def docs_dir(self) -> Path:
        return self.bot.settings.docs_dir

    def stream(self, question: str, history: list[tuple[str, str]] | None = None) -> Iterator[str | Answer]:
        return self.bot.stream(question, history or None)

    def answer(self, question: str, history: list[tuple[str, str]] | None = None) -> Answer:
        return self.bot.answer(question, history or None)

    def sync(self, rebuild: bool = False, progress: Callable[[str, int, int], None] | None = None,
             waiting: Callable[[], None] | None = None) -> SyncReport:
        if not self.sync_lock.acquire(blocking=False):
            if waiting:
                waiting()
            self.sync_lock.acquire()
        try:
            return self.bot.sync(rebuild=rebuild, progress=progress)
        finally:
            self.sync_lock.release()

    def save_uploads(self, paths: list[str]) -> UploadResult:
        """Copy uploaded files into the documents folder under sanitised names."""
        result = UploadResult()
        limit = self.max_upload_mb * 1024 * 1024
        self.docs_dir.mkdir(parents=True, exist_ok=True)
        for path in paths:
            shown = original_name(path)
            try:
                name = safe_name(shown)
                size = os.path.getsize(path)
                if size > limit:
                    raise UploadRefused(f"“{shown}” is larger than the {self.max_upload_mb:g} MB limit")
                if size == 0:
                    raise UploadRefused(f"“{shown}” is empty")
                target = self.docs_dir / name
                if target.is_symlink() or (target.exists() and not target.is_file()):
                    raise UploadRefused(f"“{name}” already exists in the documents folder and is not a plain file")
                # Copy under a hidden name (never indexed), then move into place in one step.
                tmp = self.docs_dir / f".upload-{os.getpid()}-{threading.get_ident()}.tmp"
                try:
                    shutil.copyfile(path, tmp)
                    os.replace(tmp, target)
                finally:
                    tmp.unlink(missing_ok=True)
                result.saved.append(name)
            except UploadRefused as exc:
                result.refused.append(str(exc))
            except OSError as exc:
                result.refused.append(f"“{shown}” could not be saved ({exc.strerror or exc})")
        return result

    def remove(self, source: str) -> Path:
        """Delete an indexed document's file from the documents folder (not yet synced)."""
        known = {d.source for d in self.bot.documents}
        if source not in known:
            raise UploadRefused(f"“{source}” is not an indexed document")
        root = self.docs_dir.resolve()
        path = self.docs_dir / source
        if ".." in Path(source).parts or Path(source).is_absolute():
            raise UploadRefused(f"“{source}” is not inside the documents folder")
        parent = path.parent.resolve()
        if not (parent == root or root in parent.parents):
            raise UploadRefused(f"“{source}” is not inside the documents folder")
        path.unlink(missing_ok=True)  # a symbolic link is removed itself, never its target
        return path


# ---------------------------------------------------------------- panels


def documents_html(bot: Bot) -> str:
    docs = bot.documents
    if not docs:
        return '<div class="cc-empty">No documents indexed yet. Add some below.</div>'
    rows = "".join(
        f"<tr><td class='cc-doc-title'>{esc(d.title)}</td><td class='cc-file'>{esc(d.source)}</td>"
        f"<td class='cc-num'>{d.n_chunks}</td></tr>"
        for d in docs
    )
    return (
        "<table class='cc-docs'><thead><tr><th>Title</th><th>File</th><th>Chunks</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def status_html(bot: Bot) -> str:
    meta = bot.snapshot.meta
    items = [
        ("Documents", f"{bot.n_documents:,}"),
        ("Chunks", f"{bot.n_chunks:,}"),
        ("Embedding model", meta.get("model", "?")),
        ("Last sync", meta.get("last_sync") or "never"),
        ("Generation", meta.get("generation", "?")),
    ]
    cells = "".join(f"<div><span>{esc(k)}</span><b>{esc(v)}</b></div>" for k, v in items)
    return f"<div class='cc-status'>{cells}</div>"


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


# ---------------------------------------------------------------- the app


CSS = """
.cc-header h1 { margin-bottom: 0.1em; }
.cc-header p { color: var(--body-text-color-subdued); margin-top: 0; }
.cc-cite { color: var(--color-accent); font-weight: 600; font-size: 0.85em; vertical-align: super; }
.cc-sources-box { max-height: 640px; overflow-y: auto; }
.cc-question { font-size: 0.9em; color: var(--body-text-color-subdued); margin-bottom: 0.5em; }
.cc-source { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 0.6em 0.8em;
             margin-bottom: 0.6em; background: var(--background-fill-secondary); }
.cc-related { border-style: dashed; opacity: 0.9; }
.cc-source-head { font-weight: 600; }
.cc-n { color: var(--color-accent); margin-right: 0.3em; }
.cc-related .cc-n { color: var(--body-text-color-subdued); font-weight: 500; font-style: italic; }
.cc-meta { font-size: 0.82em; color: var(--body-text-color-subdued); margin: 0.15em 0 0.4em; }
.cc-file { font-family: var(--font-mono); font-size: 0.95em; }
.cc-passage { font-size: 0.9em; line-height: 1.45; white-space: pre-wrap; max-height: 18em; overflow-y: auto; }
.cc-passage mark { background: #fde68a; color: #111; padding: 0 2px; border-radius: 3px; }
.cc-refused { border-left: 4px solid #f59e0b; padding: 0.3em 0.7em; margin-bottom: 0.6em; font-weight: 600; }
.cc-note, .cc-empty { color: var(--body-text-color-subdued); font-size: 0.9em; margin-bottom: 0.5em; }
.cc-status { display: grid; grid-template-columns: repeat(auto-fill, minmax(120px, 1fr)); gap: 0.4em;
             margin-bottom: 0.6em; }
.cc-status div { border: 1px solid var(--border-color-primary); border-radius: 6px; padding: 0.3em 0.5em; }
.cc-status span { display: block; font-size: 0.75em; color: var(--body-text-color-subdued); }
.cc-status b { font-size: 0.88em; overflow-wrap: anywhere; }
.cc-docs { width: 100%; border-collapse: collapse; font-size: 0.88em; border: none !important; }
.cc-docs th, .cc-docs td { text-align: left; padding: 0.25em 0.4em !important; border: none !important;
                           border-bottom: 1px solid var(--border-color-primary) !important; }
.cc-docs th { font-size: 0.85em; color: var(--body-text-color-subdued); }
.cc-remove { align-items: end !important; }
.cc-docs .cc-num { text-align: right; }
.cc-doc-title { max-width: 16em; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.cc-msg { font-size: 0.88em; margin: 0.15em 0; }
.cc-warn { color: #b45309; }
.cc-ok { color: var(--body-text-color-subdued); }
.cc-examples { align-items: center; flex-wrap: wrap; gap: 0.4em !important; }
.cc-examples button, .cc-examples .cc-examples-label { flex: 0 0 auto !important; min-width: 0 !important;
                                                       width: auto !important; }
"""

THEME = gr.themes.Soft(
    primary_hue="indigo",
    font=("ui-sans-serif", "system-ui", "sans-serif"),
    font_mono=("ui-monospace", "SFMono-Regular", "monospace"),
)


def open_bot(bot_or_settings: Bot | Settings, notify: Callable[[str], None] = lambda message: None) -> Bot:
    """A Bot for the settings, building the index first when there is none."""
    if isinstance(bot_or_settings, Bot):
        return bot_or_settings
    try:
        return Bot(bot_or_settings)
    except IndexNotFound:
        notify(f"No index in {bot_or_settings.index_dir} yet; building it from {bot_or_settings.docs_dir}...")
        report = sync_index(bot_or_settings, notify=notify)
        notify(report.summary())
        return Bot(bot_or_settings)


def _history(turns: list[dict]) -> list[tuple[str, str]]:
    return [(t["question"], t["text"]) for t in turns or [] if t["text"]]


def build_app(bot_or_settings: Bot | Settings) -> gr.Blocks:
    """The chat window for a Bot (or for settings, opening or building their index)."""
    service = ChatService(open_bot(bot_or_settings))
    bot = service.bot

    def doc_choices() -> list[str]:
        return [d.source for d in bot.documents]

    def panels():
        return status_html(bot), documents_html(bot), gr.Dropdown(choices=doc_choices(), value=None)

    # ------------------------------------------------------------ chat handlers

    def respond(question: str, messages: list, turns: list):
        question = (question or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        messages = list(messages or []) + [
            {"role": "user", "content": md_text(question)},
            {"role": "assistant", "content": "<span class='cc-note'>Searching the documents…</span>"},
        ]
        searching = f'<div class="cc-empty">Searching the documents for <q>{esc(question)}</q>…</div>'
        yield "", messages, turns, searching, gr.Tabs(selected="sources")
        text, answer = "", None
        try:
            for piece in service.stream(question, _history(turns)):
                if isinstance(piece, Answer):
                    answer = piece
                else:
                    text += piece
                    messages[-1] = {"role": "assistant", "content": render_answer(text)}
                    yield gr.skip(), messages, gr.skip(), gr.skip(), gr.skip()
        except Exception as exc:  # show the problem in the chat instead of a broken window
            messages[-1] = {"role": "assistant", "content": md_text(f"Sorry, something went wrong: {redact(str(exc))}")}
            turns = list(turns or []) + [{"question": question, "text": "", "sources": render_sources(None)}]
            yield gr.skip(), messages, turns, render_sources(None), gr.skip()
            return
        if answer is None:
            answer = Answer(question=question, text=text)
        sources = render_sources(answer)
        messages[-1] = {"role": "assistant", "content": render_answer(answer.text, answer)}
        turns = list(turns or []) + [{"question": question, "text": answer.text, "sources": sources}]
        yield gr.skip(), messages, turns, sources, gr.skip()

    def show_turn(turns: list, evt: gr.SelectData):
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        turn = int(index) // 2
        if turns and 0 <= turn < len(turns):
            return turns[turn]["sources"], gr.Tabs(selected="sources")
        return gr.skip(), gr.skip()

    def clear():
        return [], [], render_sources(None), ""

    # ------------------------------------------------------------ document handlers

    def run_sync(progress: gr.Progress, rebuild: bool = False) -> SyncReport:
        def show(stage: str, done: int, total: int) -> None:
            try:
                progress((done, total) if total else None, desc=f"{stage.capitalize()}…", unit="chunks" if stage == "embedding" else "files")
            except Exception:
                pass

        def waiting() -> None:
            try:
                progress(None, desc="Waiting for another sync to finish…")
            except Exception:
                pass

        return service.sync(rebuild=rebuild, progress=show, waiting=waiting)

    def add_files(files, progress=gr.Progress()):
        paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]
        if not paths:
            return (gr.skip(),) * 4 + (None,)
        progress(0, desc="Copying files…")
        result = service.save_uploads(paths)
        report, error, notes = None, None, list(result.refused)
        if result.saved:
            try:
                report = run_sync(progress)
            except Exception as exc:
                error = f"Sync failed: {exc}"
            if report is not None:
                indexed = set(report.added) | set(report.updated) | set(report.unchanged)
                for name in result.saved:
                    if name not in indexed and not any(s.source == name for s in report.skipped):
                        notes.append(f"{name} was saved but not indexed")
        return (report_html(report, notes, error), *panels(), None)

    def remove_doc(source: str | None, progress=gr.Progress()):
        if not source:
            return (report_html(None, ["Choose a document to remove first."]), *panels())
        try:
            service.remove(source)
        except (UploadRefused, OSError) as exc:
            return (report_html(None, [str(exc)]), *panels())
        try:
            report = run_sync(progress)
        except Exception as exc:
            return (report_html(None, error=f"Sync failed: {exc}"), *panels())
        return (report_html(report), *panels())

    def sync_docs(rebuild: bool, progress=gr.Progress()):
        try:
            report = run_sync(progress, rebuild=rebuild)
        except Exception as exc:
            return (report_html(None, error=f"Sync failed: {exc}"), *panels())
        return (report_html(report), *panels())

    # ------------------------------------------------------------ the API

    def api_ask(question: str, history: list[list[str]] | None = None) -> tuple[str, dict]:
        """Answer a question from the indexed documents.

        Args:
            question: the question.
            history: optional earlier turns as [question, answer text] pairs, oldest first, for follow-ups.
        Returns:
            The answer text with [n] markers, and a JSON object: {"sources": [{"n", "source", "title", "page",
            "start", "end", "text", "score", "passage", "passage_start"}], "refused", "related", "unsupported",
            "standalone_question", "answerer", "seconds"}.
        """
        turns = [(str(q), str(a)) for q, a in (history or [])]
        try:
            answer = service.answer(question or "", turns)
        except Exception as exc:  # the caller sees the reason, never a secret it may quote; no traceback is logged
            message = redact(f"{type(exc).__name__}: {exc}")
            print(f"citechat: /ask failed: {message}", flush=True)
            raise gr.Error(message, print_exception=False) from None
        return answer.text, answer_info(answer)

    # ------------------------------------------------------------ layout

    with gr.Blocks(title=TITLE, fill_width=True) as app:
        with gr.Column(elem_classes="cc-header"):
            gr.Markdown(f"# {TITLE}\n{DESCRIPTION}")
        turns = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=420):
                chatbot = gr.Chatbot(
                    label="Chat",
                    show_label=False,
                    elem_id="chat",
                    height=560,
                    sanitize_html=True,
                    allow_tags=False,
                    latex_delimiters=[],
                    render_markdown=True,
                    line_breaks=True,
                    feedback_options=None,
                    buttons=["copy"],
                    placeholder="Ask a question about the documents, or pick an example below.",
                )
                with gr.Row():
                    question = gr.Textbox(
                        show_label=False,
                        placeholder="Ask a question… (Enter to send)",
                        elem_id="question",
                        scale=6,
                        autofocus=True,
                        max_lines=4,
                        container=False,
                    )
                    ask = gr.Button("Ask", variant="primary", elem_id="ask", scale=1, min_width=80)
                with gr.Row(elem_classes="cc-examples"):
                    gr.HTML("<b>Examples:</b>", container=False, min_width=0, scale=0, elem_classes="cc-examples-label")
                    example_buttons = [
                        gr.Button(text, size="sm", variant="secondary", elem_classes="cc-example") for text in EXAMPLES
                    ]
                new_chat = gr.Button("New conversation", size="sm", variant="secondary", elem_id="new-chat")
            with gr.Column(scale=2, min_width=340):
                with gr.Tabs() as tabs:
                    with gr.Tab("Sources", id="sources", elem_id="sources-tab"):
                        sources = gr.HTML(render_sources(None), elem_id="sources", elem_classes="cc-sources-box")
                    with gr.Tab("Documents", id="documents", elem_id="documents-tab"):
                        status = gr.HTML(status_html(bot), elem_id="index-status")
                        documents = gr.HTML(documents_html(bot), elem_id="documents")
                        upload = gr.File(
                            label=f"Add documents ({', '.join(UPLOAD_TYPES)}; up to {service.max_upload_mb:g} MB each)",
                            file_count="multiple",
                            file_types=UPLOAD_TYPES,
                            elem_id="upload",
                            height=120,
                        )
                        sync_message = gr.HTML("", elem_id="sync-message")
                        with gr.Row(elem_classes="cc-remove"):
                            to_remove = gr.Dropdown(
                                choices=doc_choices(), value=None, label="Remove a document", elem_id="remove-choice",
                                scale=3,
                            )
                            remove = gr.Button("Remove", variant="stop", elem_id="remove", scale=1, min_width=80)
                        with gr.Row():
                            sync = gr.Button("Sync with folder", elem_id="sync", size="sm")
                            rebuild = gr.Button("Rebuild index", elem_id="rebuild", size="sm")

        # ------------------------------------------------------------ events
        chat_outputs = [question, chatbot, turns, sources, tabs]
        chat_events = dict(outputs=chat_outputs, concurrency_limit=4, concurrency_id="chat", api_visibility="private",
                           show_progress="hidden")
        question.submit(respond, [question, chatbot, turns], **chat_events)
        ask.click(respond, [question, chatbot, turns], **chat_events)
        for button in example_buttons:
            button.click(lambda text=button.value: text, None, question, api_visibility="private",
                         show_progress="hidden", queue=False).then(
                respond, [question, chatbot, turns], **chat_events)
        chatbot.select(show_turn, turns, [sources, tabs], api_visibility="private", show_progress="hidden")
        new_chat.click(clear, None, [chatbot, turns, sources, question], api_visibility="private", queue=False)
        chatbot.clear(lambda: ([], render_sources(None)), None, [turns, sources], api_visibility="private",
                      queue=False)

        doc_outputs = [sync_message, status, documents, to_remove]
        sync_events = dict(concurrency_limit=1, concurrency_id="sync", api_visibility="private",
                           show_progress_on=[sync_message])
        upload.upload(add_files, upload, doc_outputs + [upload], **sync_events)
        remove.click(remove_doc, to_remove, doc_outputs, **sync_events)
        sync.click(lambda progress=gr.Progress(): sync_docs(False, progress), None, doc_outputs, **sync_events)
        rebuild.click(lambda progress=gr.Progress(): sync_docs(True, progress), None, doc_outputs, **sync_events)
        app.load(lambda: panels(), None, [status, documents, to_remove], api_visibility="private",
                 show_progress="hidden")

        gr.api(api_ask, api_name="ask", concurrency_limit=4, concurrency_id="chat")

    app.citechat_service = service  # for tests and embedding
    return app


# ---------------------------------------------------------------- launching


class RefuseToServe(SystemExit):
    """Raised (and, from the CLI, printed) when serving would be unsafe; the message says what to do."""


def is_loopback(host: str) -> bool:
    host = (host or "").strip().strip("[]")
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_auth(auth: str | tuple[str, str] | None) -> tuple[str, str] | None:
    if auth is None or auth == "":
        return None
    if isinstance(auth, tuple):
        user, password = auth
    else:
        user, sep, password = auth.partition(":")
        if not sep:
            raise RefuseToServe("citechat: --auth must be user:password (or set CITECHAT_AUTH=user:password).")
    if not user or not password:
        raise RefuseToServe("citechat: --auth needs both a user name and a password, as user:password.")
    return user, password


def check_exposure(host: str, auth: str | tuple[str, str] | None, insecure: bool) -> tuple[str, str] | None:
    """The credentials to require; refuses to serve beyond loopback without them unless insecure."""
    credentials = parse_auth(auth)
    if not is_loopback(host) and credentials is None and not insecure:
        raise RefuseToServe(
            f"citechat: refusing to serve on {host} without a password: anyone who can reach this machine could "
            "read your documents and change the index. Add --auth user:password (or set CITECHAT_AUTH), bind to "
            "127.0.0.1, or pass --insecure if you really mean it."
        )
    return credentials


def launch(
    settings: Settings | Bot,
    host: str = "127.0.0.1",
    port: int = 7860,
    auth: str | tuple[str, str] | None = None,
    insecure: bool = False,
    *,
    block: bool = True,
    quiet: bool = False,
):
    """Serve the chat window. With block=False, returns (app, local_url) with the server running in the
    background (stop it with app.close())."""
    if auth is None:
        auth = os.environ.get("CITECHAT_AUTH") or None
    credentials = check_exposure(host, auth, insecure)
    say = (lambda message: None) if quiet else (lambda message: print(message, flush=True))
    app = build_app(open_bot(settings, notify=say))
    app.queue(default_concurrency_limit=4)
    _, local_url, _ = app.launch(
        server_name=host,
        server_port=port,
        auth=[credentials] if credentials else None,
        auth_message="citechat: sign in to ask about the documents." if credentials else None,
        prevent_thread_lock=not block,
        share=False,
        inbrowser=False,
        show_error=True,
        quiet=quiet,
        ssr_mode=False,
        max_file_size=f"{2 * app.citechat_service.max_upload_mb:g}mb",
        footer_links=["api"],
        theme=THEME,
        css=CSS,
    )
    return app, local_url
