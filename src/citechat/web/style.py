"""How the chat window looks: the Gradio theme and the CSS for the HTML that render.py writes (its `cc-`
classes)."""

from __future__ import annotations

import gradio as gr


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
