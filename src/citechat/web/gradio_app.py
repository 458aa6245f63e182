"""The chat window: the Gradio layout and its event handlers, over the shared `ChatService`.

Left: the chat, whose answers stream in with [n] markers. Right: the sources of the selected answer (each
cited sentence highlighted inside the passage it came from) and the documents panel (indexed documents,
index state, upload, remove, rebuild). The handlers call the service, then render (`render.py`); this is
the only module that touches Gradio.

The window also has one API endpoint, `/ask` (see `ChatWindow.api_ask`):

    from gradio_client import Client
    text, info = Client("http://127.0.0.1:7860/").predict("What did Altman say?", api_name="/ask")
    info["sources"][0]["source"], info["sources"][0]["text"]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from ..answers import Answer  # noqa: E402
from ..errors import log_line, user_message  # noqa: E402
from .guards import LOCK_AFTER, LOCK_SECONDS  # noqa: E402
from .render import (  # noqa: E402
    SEARCHING_MD,
    delete_prompt_html,
    documents_html,
    md_text,
    render_answer,
    render_sources,
    report_html,
    searching_html,
    status_html,
)
from .service import (ANSWER_SLOTS, UPLOAD_TYPES, ChatService, check_request, example_questions,  # noqa: E402
                      recent_history)

TITLE = "citechat"
DESCRIPTION = (
    "Ask questions about your documents. Answers are built from the documents themselves, and every "
    "statement points to the exact passage it came from: the numbers like [1] refer to the sources on the right."
)
N_EXAMPLES = 4
# Each open window checks this often whether the index changed (an upload in another window, a change in the
# folder, a sync by another process) and, if so, shows its new state.
REFRESH_SECONDS = 2


def _discard_uploaded_copies(paths: list[str]) -> None:
    """Delete the copies Gradio kept of uploaded files (each in a folder of its own under its upload folder)
    once they are saved in the documents folder; a path outside that folder is never touched."""
    from gradio.utils import get_upload_folder

    root = Path(get_upload_folder()).resolve()
    for path in map(Path, paths):
        folder = path.parent.resolve()
        if root not in folder.parents:
            continue
        path.unlink(missing_ok=True)
        try:
            folder.rmdir()  # only when empty
        except OSError:
            pass


def _history(turns: list[dict]) -> list[tuple[str, str]]:
    """The conversation so far, its latest turns within the service's limits (the user cannot shorten it)."""
    return recent_history([(t["question"], t["text"]) for t in turns or [] if t["text"]])


class ChatWindow:
    """The event handlers of one chat window. Per-session state (the conversation) lives in Gradio's
    State; everything shared goes through the service."""

    def __init__(self, service: ChatService) -> None:
        self.service = service

    def doc_choices(self) -> list[str]:
        return [d.source for d in self.service.bot.documents]

    def state(self) -> str:
        """What identifies the index's current state, to tell whether a window shows it already."""
        meta = self.service.bot.snapshot.meta
        return f"{meta.get('generation')}:{meta.get('faiss_stamp')}:{meta.get('excluded')}:{meta.get('last_sync')}"

    def panels(self, chosen: str | None = None, chosen_back: str | None = None):
        """Outputs: status, documents, remove choice, add-back choice, seen state."""
        bot = self.service.bot
        docs, excluded = self.doc_choices(), bot.snapshot.excluded
        return (status_html(bot), documents_html(bot),
                gr.Dropdown(choices=docs, value=chosen if chosen in docs else None),
                gr.Dropdown(choices=excluded, value=chosen_back if chosen_back in excluded else None,
                            visible=bool(excluded)),
                self.state())

    def refresh(self, seen: str, chosen: str | None, chosen_back: str | None):
        """The panels again if the index changed since this window last showed it."""
        if seen == self.state():
            return (gr.skip(),) * 5
        return self.panels(chosen, chosen_back)

    def examples(self):
        questions = example_questions(self.service.bot, N_EXAMPLES)
        buttons = [gr.Button(value=q, visible=True) for q in questions]
        return [*buttons, *(gr.Button(visible=False) for _ in range(N_EXAMPLES - len(buttons))),
                gr.HTML(visible=bool(questions))]

    # ------------------------------------------------------------ chat

    def respond(self, question: str, messages: list, turns: list):
        """Outputs: question box, chat, turns, sources panel, tabs."""
        question = (question or "").strip()
        if not question:
            yield gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
            return
        messages = list(messages or []) + [
            {"role": "user", "content": md_text(question)},
            {"role": "assistant", "content": SEARCHING_MD},
        ]
        yield "", messages, turns, searching_html(question), gr.Tabs(selected="sources")
        text, answer = "", None
        try:
            for piece in self.service.stream(question, _history(turns)):
                if isinstance(piece, Answer):
                    answer = piece
                else:
                    text += piece
                    messages[-1] = {"role": "assistant", "content": render_answer(text)}
                    yield gr.skip(), messages, gr.skip(), gr.skip(), gr.skip()
        except Exception as exc:  # show the problem in the chat instead of a broken window
            print(f"citechat: answering failed: {log_line(exc)}", flush=True)
            messages[-1] = {"role": "assistant", "content": md_text(user_message(exc))}
            turns = list(turns or []) + [{"question": question, "text": "", "sources": render_sources(None)}]
            yield gr.skip(), messages, turns, render_sources(None), gr.skip()
            return
        answer = answer or Answer(question=question, text=text)
        sources = render_sources(answer)
        messages[-1] = {"role": "assistant", "content": render_answer(answer.text, answer)}
        turns = list(turns or []) + [{"question": question, "text": answer.text, "sources": sources}]
        yield gr.skip(), messages, turns, sources, gr.skip()

    def show_turn(self, turns: list, evt: gr.SelectData):
        index = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        turn = int(index) // 2
        if turns and 0 <= turn < len(turns):
            return turns[turn]["sources"], gr.Tabs(selected="sources")
        return gr.skip(), gr.skip()

    def clear(self):
        return [], [], render_sources(None), ""

    def api_ask(self, question: str, history: list[list[str]] | None = None) -> tuple[str, dict]:
        """Answer a question from the indexed documents.

        Args:
            question: the question.
            history: optional earlier turns as [question, answer text] pairs, oldest first, for follow-ups.
        Returns:
            The answer text with [n] markers, and a JSON object with every other field of the answer:
            {"sources": [{"n", "source", "title", "page", "start", "end", "text", "score", "passage",
            "passage_start", ...}], "refused", "related", "unsupported", "standalone_question", "answerer",
            "seconds", ...}.
        """
        try:
            answer = self.service.answer(question, check_request(question, history))
        except Exception as exc:  # the caller sees the reason, never a secret it may quote; no traceback is logged
            print(f"citechat: /ask failed: {log_line(exc)}", flush=True)
            raise gr.Error(user_message(exc), print_exception=False) from None
        info = answer.to_dict()
        del info["question"], info["text"]
        return answer.text, info

    # ------------------------------------------------------------ documents

    def run_sync(self, progress: gr.Progress, action: Callable | None = None, *args, **kwargs):
        """Run a sync (or an action that ends in one) with its progress shown, saying when it must wait."""

        def show(stage: str, done: int, total: int) -> None:
            try:
                progress((done, total) if total else None, desc=f"{stage.capitalize()}…",
                         unit="chunks" if stage == "embedding" else "files")
            except Exception:
                pass

        def waiting() -> None:
            try:
                progress(0, desc="Waiting for another sync to finish…")
            except Exception:
                pass

        return (action or self.service.sync)(*args, progress=show, waiting=waiting, **kwargs)

    def add_files(self, files, progress=gr.Progress()):
        """Outputs: sync message, the panels, upload box."""
        paths = [f if isinstance(f, str) else getattr(f, "name", str(f)) for f in (files or [])]
        if not paths:
            return (gr.skip(),) * 6 + (None,)
        progress(0, desc="Copying files…")
        try:
            result = self.run_sync(progress, self.service.upload, paths)
        finally:
            _discard_uploaded_copies(paths)
        report, notes = result.report, result.refused + result.notes
        error = f"Sync failed: {user_message(result.error)}" if result.error else None
        if report is not None:
            indexed = set(report.added) | set(report.updated) | set(report.unchanged)
            skipped = {s.source for s in report.skipped}
            notes += [f"{name} was saved but not indexed" for name in result.saved
                      if name not in indexed and name not in skipped]
        return (report_html(report, notes, error), *self.panels(), None)

    def _act(self, action, source: str | None, progress, what: str):
        """Outputs: sync message, the panels."""
        if not source:
            return (report_html(None, [f"Choose a document to {what} first."]), *self.panels())
        try:
            report = self.run_sync(progress, action, source)
        except Exception as exc:
            return (report_html(None, [user_message(exc)]), *self.panels())
        return (report_html(report), *self.panels())

    def remove_from_index(self, source: str | None, progress=gr.Progress()):
        return self._act(self.service.remove_from_index, source, progress, "remove from the index")

    def add_back(self, source: str | None, progress=gr.Progress()):
        return self._act(self.service.add_back, source, progress, "add back")

    def ask_delete(self, source: str | None):
        """Outputs: confirmation row, its text, sync message."""
        if not source:
            return gr.Row(visible=False), gr.skip(), report_html(None, ["Choose a document to delete first."])
        return gr.Row(visible=True), delete_prompt_html(self.service.docs_dir / source), ""

    def delete_file(self, source: str | None, progress=gr.Progress()):
        """Outputs: confirmation row, sync message, the panels."""
        return (gr.Row(visible=False), *self._act(self.service.delete_file, source, progress, "delete"))

    def sync_docs(self, rebuild: bool, progress=gr.Progress()):
        """Outputs: sync message, the panels."""
        try:
            report = self.run_sync(progress, rebuild=rebuild)
        except Exception as exc:
            return (report_html(None, error=f"Sync failed: {user_message(exc)}"), *self.panels())
        return (report_html(report), *self.panels())


# ---------------------------------------------------------------- layout


@dataclass
class _Layout:
    """The components that events read or update."""

    turns: Any
    seen: Any
    chatbot: Any
    question: Any
    ask: Any
    examples_label: Any
    examples: list
    new_chat: Any
    tabs: Any
    sources: Any
    status: Any
    documents: Any
    upload: Any
    sync_message: Any
    to_remove: Any
    remove: Any
    delete: Any
    confirm: Any
    confirm_text: Any
    confirm_delete: Any
    cancel_delete: Any
    to_add_back: Any
    add_back: Any
    sync: Any
    rebuild: Any
    timer: Any

    @property
    def panels(self) -> list:
        return [self.status, self.documents, self.to_remove, self.to_add_back, self.seen]


def _chat_column() -> dict[str, Any]:
    chatbot = gr.Chatbot(
        label="Chat", show_label=False, elem_id="chat", height=560, sanitize_html=True, allow_tags=False,
        latex_delimiters=[], render_markdown=True, line_breaks=True, feedback_options=None, buttons=["copy"],
        placeholder="Ask a question about the documents.",
    )
    with gr.Row():
        question = gr.Textbox(show_label=False, placeholder="Ask a question… (Enter to send)", elem_id="question",
                              scale=6, autofocus=True, max_lines=4, container=False)
        ask = gr.Button("Ask", variant="primary", elem_id="ask", scale=1, min_width=80)
    # Filled in when the page loads, from the documents then indexed (see ChatWindow.examples).
    with gr.Row(elem_classes="cc-examples"):
        examples_label = gr.HTML("<b>Examples:</b>", container=False, min_width=0, scale=0, visible=False,
                                 elem_classes="cc-examples-label")
        examples = [gr.Button("", size="sm", variant="secondary", elem_classes="cc-example", visible=False)
                    for _ in range(N_EXAMPLES)]
    new_chat = gr.Button("New conversation", size="sm", variant="secondary", elem_id="new-chat")
    return dict(chatbot=chatbot, question=question, ask=ask, examples_label=examples_label, examples=examples,
                new_chat=new_chat)


def _side_column(window: ChatWindow) -> dict[str, Any]:
    bot, limit = window.service.bot, window.service.max_upload_mb
    with gr.Tabs() as tabs:
        with gr.Tab("Sources", id="sources", elem_id="sources-tab"):
            sources = gr.HTML(render_sources(None), elem_id="sources", elem_classes="cc-sources-box")
        with gr.Tab("Documents", id="documents", elem_id="documents-tab"):
            status = gr.HTML(status_html(bot), elem_id="index-status")
            documents = gr.HTML(documents_html(bot), elem_id="documents")
            upload = gr.File(label=f"Add documents ({', '.join(UPLOAD_TYPES)}; up to {limit:g} MB each)",
                             file_count="multiple", file_types=UPLOAD_TYPES, elem_id="upload", height=120)
            sync_message = gr.HTML("", elem_id="sync-message")
            with gr.Row(elem_classes="cc-remove"):
                to_remove = gr.Dropdown(choices=window.doc_choices(), value=None, label="Indexed document",
                                        elem_id="remove-choice", scale=3)
                remove = gr.Button("Remove from index", variant="secondary", elem_id="remove", scale=1,
                                   min_width=80)
                delete = gr.Button("Delete file…", variant="stop", elem_id="delete", scale=1, min_width=80)
            with gr.Row(visible=False, elem_id="confirm-delete-row") as confirm:
                confirm_text = gr.HTML("", elem_id="confirm-text")
                confirm_delete = gr.Button("Delete the file", variant="stop", elem_id="confirm-delete", scale=0)
                cancel_delete = gr.Button("Cancel", elem_id="cancel-delete", scale=0)
            with gr.Row(elem_classes="cc-remove"):
                excluded = bot.snapshot.excluded
                to_add_back = gr.Dropdown(choices=excluded, value=None, label="Removed from the index",
                                          elem_id="add-back-choice", scale=3, visible=bool(excluded))
                add_back = gr.Button("Add back", elem_id="add-back", scale=1, min_width=80)
            with gr.Row():
                sync = gr.Button("Sync with folder", elem_id="sync", size="sm")
                rebuild = gr.Button("Rebuild index", elem_id="rebuild", size="sm")
    return dict(tabs=tabs, sources=sources, status=status, documents=documents, upload=upload,
                sync_message=sync_message, to_remove=to_remove, remove=remove, delete=delete, confirm=confirm,
                confirm_text=confirm_text, confirm_delete=confirm_delete, cancel_delete=cancel_delete,
                to_add_back=to_add_back, add_back=add_back, sync=sync, rebuild=rebuild)


def _wire_chat(window: ChatWindow, ui: _Layout, blocks: gr.Blocks) -> None:
    outputs = [ui.question, ui.chatbot, ui.turns, ui.sources, ui.tabs]
    inputs = [ui.question, ui.chatbot, ui.turns]
    events = dict(outputs=outputs, concurrency_limit=ANSWER_SLOTS, concurrency_id="chat", api_visibility="private",
                  show_progress="hidden")
    ui.question.submit(window.respond, inputs, **events)
    ui.ask.click(window.respond, inputs, **events)
    for button in ui.examples:
        button.click(lambda text: text, button, ui.question, api_visibility="private", show_progress="hidden",
                     queue=False).then(window.respond, inputs, **events)
    ui.chatbot.select(window.show_turn, ui.turns, [ui.sources, ui.tabs], api_visibility="private",
                      show_progress="hidden")
    ui.new_chat.click(window.clear, None, [ui.chatbot, ui.turns, ui.sources, ui.question], api_visibility="private",
                      queue=False)
    ui.chatbot.clear(lambda: ([], render_sources(None)), None, [ui.turns, ui.sources], api_visibility="private",
                     queue=False)
    blocks.load(window.examples, None, [*ui.examples, ui.examples_label], api_visibility="private",
                show_progress="hidden")


def _wire_documents(window: ChatWindow, ui: _Layout, blocks: gr.Blocks) -> None:
    outputs = [ui.sync_message, *ui.panels]
    events = dict(concurrency_limit=1, concurrency_id="sync", api_visibility="private",
                  show_progress_on=[ui.sync_message])
    quick = dict(api_visibility="private", show_progress="hidden", queue=False)
    ui.upload.upload(window.add_files, ui.upload, outputs + [ui.upload], **events)
    ui.remove.click(window.remove_from_index, ui.to_remove, outputs, **events)
    ui.add_back.click(window.add_back, ui.to_add_back, outputs, **events)
    ui.delete.click(window.ask_delete, ui.to_remove, [ui.confirm, ui.confirm_text, ui.sync_message], **quick)
    ui.cancel_delete.click(lambda: gr.Row(visible=False), None, ui.confirm, **quick)
    ui.confirm_delete.click(window.delete_file, ui.to_remove, [ui.confirm, *outputs], **events)
    ui.sync.click(lambda progress=gr.Progress(): window.sync_docs(False, progress), None, outputs, **events)
    ui.rebuild.click(lambda progress=gr.Progress(): window.sync_docs(True, progress), None, outputs, **events)
    blocks.load(window.panels, None, ui.panels, **quick)
    ui.timer.tick(window.refresh, [ui.seen, ui.to_remove, ui.to_add_back], ui.panels, **quick)


def build_blocks(service: ChatService) -> gr.Blocks:
    """The chat window over the service (not yet served: see `mount_chat_window`)."""
    window = ChatWindow(service)
    # delete_cache: uploads whose event never ran (sent by a script) are deleted after an hour; the others
    # are deleted by the service as soon as they are saved or refused.
    with gr.Blocks(title=TITLE, fill_width=True, delete_cache=(3600, 3600)) as blocks:
        with gr.Column(elem_classes="cc-header"):
            gr.Markdown(f"# {TITLE}\n{DESCRIPTION}")
        turns, seen = gr.State([]), gr.State("")
        timer = gr.Timer(REFRESH_SECONDS)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=420):
                chat = _chat_column()
            with gr.Column(scale=2, min_width=340):
                side = _side_column(window)
        ui = _Layout(turns=turns, seen=seen, timer=timer, **chat, **side)
        _wire_chat(window, ui, blocks)
        _wire_documents(window, ui, blocks)
        gr.api(window.api_ask, api_name="ask", concurrency_limit=ANSWER_SLOTS, concurrency_id="chat")
    blocks.queue(default_concurrency_limit=ANSWER_SLOTS)
    return blocks


SIGN_IN_MESSAGE = (f"citechat: sign in to ask about the documents. After each wrong password the next try waits "
                   f"longer; after {LOCK_AFTER} in a row, signing in from your address is locked for "
                   f"{LOCK_SECONDS / 60:g} minutes.")


def mount_chat_window(app, service: ChatService, credentials: tuple[str, str] | None) -> Callable[[], None]:
    """Serve the chat window at the root of the FastAPI `app`, behind a sign-in page when credentials are
    given. Mount it after every other route: it answers every path the app does not. Returns the function
    that ends its open streams (call it from the server's event loop when stopping)."""
    blocks = build_blocks(service)
    gr.mount_gradio_app(
        app,
        blocks,
        path="/",
        auth=[credentials] if credentials else None,
        auth_message=SIGN_IN_MESSAGE if credentials else None,
        footer_links=["api"],
        show_error=True,
        ssr_mode=False,
        max_file_size=f"{2 * service.max_upload_mb:g}mb",
        theme=THEME,
        css=CSS,
    )
    mounted = app.routes[-1].app  # the Gradio app just mounted, whose stop event ends every tab's heartbeat

    def stop() -> None:
        blocks.close(verbose=False)
        mounted.stop_event.set()

    return stop


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
.cc-low-confidence { color: var(--body-text-color-subdued); font-style: italic; }
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
