"""The chat window's event handlers (`ChatWindow`), over the shared `ChatService`: each calls the service, then
renders (`render.py`). The layout that wires them to Gradio's components is in `gradio_app.py`.

The window also has one API endpoint, `/ask` (see `ChatWindow.api_ask`):

    from gradio_client import Client
    text, info = Client("http://127.0.0.1:7860/").predict("What did Altman say?", api_name="/ask")
    info["sources"][0]["source"], info["sources"][0]["text"]
"""

from __future__ import annotations

import os
from typing import Callable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from ..answering.types import Answer  # noqa: E402
from ..errors import log_line, user_message  # noqa: E402
from ..index.sync import SCANNING  # noqa: E402
from .render import (  # noqa: E402
    SEARCHING_MD,
    delete_prompt_html,
    documents_html,
    llm_banner_html,
    md_text,
    render_answer,
    render_sources,
    report_html,
    searching_html,
    status_html,
)
from .examples import example_questions  # noqa: E402
from ..question_limits import recent_history  # noqa: E402
from .service import ChatService, check_request  # noqa: E402

N_EXAMPLES = 4

def _history(turns: list[dict]) -> list[tuple[str, str]]:
    """The conversation so far, its latest turns within the service's limits (the user cannot shorten it)."""
    return recent_history([(t["question"], t["text"]) for t in turns or [] if t["text"]])


class ChatWindow:
    """The event handlers of one chat window. Per-session state (the conversation) lives in Gradio's
    State; everything shared goes through the service."""

    def __init__(self, service: ChatService) -> None:
        self.service = service
        # The example questions read every chunk's headings: worked out once per index generation, not per page.
        self._examples: tuple[tuple, list[str]] = ((), [])

    def doc_choices(self) -> list[str]:
        return [d.source for d in self.service.bot.documents]

    def state(self) -> str:
        """What identifies the index's current state (and what the service says beside it: the files the last
        sync skipped, an LLM that does not answer), to tell whether a window shows it already."""
        meta, service = self.service.bot.snapshot.meta, self.service
        skipped = hash(tuple((s.source, s.reason) for s in service.skipped))
        return (f"{meta.get('generation')}:{meta.get('faiss_stamp')}:{meta.get('excluded')}:{meta.get('last_sync')}"
                f":{skipped}:{service.llm_problem}")

    def panels(self, chosen: str | None = None, chosen_back: str | None = None):
        """Outputs: status, documents, remove choice, add-back choice, add-back row, LLM banner, seen state."""
        bot, service = self.service.bot, self.service
        docs, excluded = self.doc_choices(), bot.snapshot.excluded
        return (status_html(bot), documents_html(bot, service.skipped),
                gr.Dropdown(choices=docs, value=chosen if chosen in docs else None),
                gr.Dropdown(choices=excluded, value=chosen_back if chosen_back in excluded else None),
                gr.Row(visible=bool(excluded)),
                gr.HTML(llm_banner_html(service.llm_problem), visible=bool(service.llm_problem)),
                self.state())

    def refresh(self, seen: str, chosen: str | None, chosen_back: str | None):
        """The panels again if the index changed since this window last showed it."""
        if seen == self.state():
            return (gr.skip(),) * 7
        return self.panels(chosen, chosen_back)

    def examples(self):
        meta = self.service.bot.snapshot.meta
        key = (meta.get("generation"), meta.get("excluded"))
        if self._examples[0] != key:
            self._examples = (key, example_questions(self.service.bot, N_EXAMPLES))
        questions = self._examples[1]
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
                         unit={"embedding": "chunks", SCANNING: "pages"}.get(stage, "files"))
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
        finally:  # also when the upload never reached the service (a sync that failed to start)
            if self.service.uploads is not None:
                for path in paths:
                    self.service.uploads.forget(path)
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
        try:
            self.service.indexed(source)  # the same checks as the deletion itself
        except Exception as exc:
            return gr.Row(visible=False), gr.skip(), report_html(None, [user_message(exc)])
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
