"""The chat window: the Gradio layout, wired to the event handlers of `chat_window.ChatWindow`, and mounted
on the server's FastAPI app. With chat_window.py, the only modules that touch Gradio.

Left: the chat, whose answers stream in with [n] markers. Right: the sources of the selected answer (each
cited sentence highlighted inside the passage it came from) and the documents panel (indexed documents,
index state, upload, remove, rebuild).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from .chat_window import N_EXAMPLES, ChatWindow  # noqa: E402
from .guards import LOCK_AFTER, LOCK_SECONDS  # noqa: E402
from .render import documents_html, llm_banner_html, render_sources, status_html  # noqa: E402
from .service import ANSWER_SLOTS, UPLOAD_TYPES, ChatService  # noqa: E402
from .style import CSS, THEME  # noqa: E402

TITLE = "citechat"
DESCRIPTION = (
    "Ask questions about your documents. Answers are built from the documents themselves, and every "
    "statement points to the exact passage it came from: the numbers like [1] refer to the sources on the right."
)
# A new question scrolls the chat to its end, so the answer streams in view (and Gradio's own scrolling follows
# it) even after the reader scrolled up to an earlier answer.
SCROLL_TO_END = """() => { const chat = document.querySelector('#chat .bubble-wrap');
    if (chat) { chat.scrollTop = chat.scrollHeight; } }"""
# Each open window checks this often whether the index changed (an upload in another window, a change in the
# folder, a sync by another process) and, if so, shows its new state.
REFRESH_SECONDS = 2


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
    add_back_row: Any
    add_back: Any
    llm_banner: Any
    sync: Any
    rebuild: Any
    timer: Any

    @property
    def panels(self) -> list:
        return [self.status, self.documents, self.to_remove, self.to_add_back, self.add_back_row, self.llm_banner,
                self.seen]


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
            # No file_types: Gradio's own check of them shows the refused files' names in a toast rendered as
            # HTML. The service refuses other types, and the sync message shows the names as text.
            upload = gr.File(label=f"Add documents ({', '.join(UPLOAD_TYPES)}; up to {limit:g} MB each)",
                             file_count="multiple", elem_id="upload", height=120)
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
            excluded = bot.snapshot.excluded
            with gr.Row(elem_classes="cc-remove", visible=bool(excluded), elem_id="add-back-row") as add_back_row:
                to_add_back = gr.Dropdown(choices=excluded, value=None, label="Removed from the index",
                                          elem_id="add-back-choice", scale=3)
                add_back = gr.Button("Add back", elem_id="add-back", scale=1, min_width=80)
            with gr.Row():
                sync = gr.Button("Sync with folder", elem_id="sync", size="sm")
                rebuild = gr.Button("Rebuild index", elem_id="rebuild", size="sm")
    return dict(tabs=tabs, sources=sources, status=status, documents=documents, upload=upload,
                sync_message=sync_message, to_remove=to_remove, remove=remove, delete=delete, confirm=confirm,
                confirm_text=confirm_text, confirm_delete=confirm_delete, cancel_delete=cancel_delete,
                to_add_back=to_add_back, add_back_row=add_back_row, add_back=add_back, sync=sync, rebuild=rebuild)


def _wire_chat(window: ChatWindow, ui: _Layout, blocks: gr.Blocks) -> None:
    outputs = [ui.question, ui.chatbot, ui.turns, ui.sources, ui.tabs]
    inputs = [ui.question, ui.chatbot, ui.turns]
    events = dict(outputs=outputs, concurrency_limit=ANSWER_SLOTS, concurrency_id="chat", api_visibility="private",
                  show_progress="hidden")
    for trigger in (ui.question.submit, ui.ask.click):
        trigger(None, None, None, js=SCROLL_TO_END, queue=False, api_visibility="private")
        trigger(window.respond, inputs, **events)
    for button in ui.examples:
        button.click(None, None, None, js=SCROLL_TO_END, queue=False, api_visibility="private")
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
            problem = service.llm_problem
            llm_banner = gr.HTML(llm_banner_html(problem), visible=bool(problem), elem_id="llm-banner")
        turns, seen = gr.State([]), gr.State("")
        timer = gr.Timer(REFRESH_SECONDS)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=420):
                chat = _chat_column()
            with gr.Column(scale=2, min_width=340):
                side = _side_column(window)
        ui = _Layout(turns=turns, seen=seen, timer=timer, llm_banner=llm_banner, **chat, **side)
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
    # Gradio checks that an event's files were uploaded to it only once `launch()` has run, which a mounted app
    # never does: without this, an event may name any file on the machine and Gradio copies it in.
    blocks.has_launched = True

    def stop() -> None:
        blocks.close(verbose=False)
        mounted.stop_event.set()

    return stop

