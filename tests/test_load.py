"""The load test of bench/load.py in reduced form: `citechat serve` started as its own process on loopback,
4 clients asking 10 questions each while the app syncs new documents (from its own button, in a real
browser), once through the chat window's /ask endpoint (gradio_client) and once through the OpenAI-compatible
API (the openai package, streaming and not). No errors, seed answers unchanged, new documents answerable,
memory steady, loopback only.
The latencies are printed (run with -s to see them), never asserted."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from conftest import PROJECT

pytestmark = pytest.mark.filterwarnings("ignore:.*no_silent_downcasting", "ignore:The copy keyword is deprecated")

# The server's memory after each measured phase compared with before it (the first follows a warm-up phase of
# the same clients and a sync): its allocator still moves by some tens of MB under concurrent load
# (bench/load.py samples it after every answer of a 1,000-question run: it climbs while the sync embeds, then
# stays flat), so only a gross leak (a model or an index loaded again per sync, say) can show in so short a run.
MAX_GROWTH_MB = 200


def load_module():
    spec = importlib.util.spec_from_file_location("bench_load", PROJECT / "bench" / "load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_serve_under_load_while_syncing(tmp_path, embedder):
    load = load_module()
    result = load.run_load(clients=4, questions_per_client=10, workdir=tmp_path, new_docs=12)
    print("\n" + result.summary())
    assert result.errors == []
    assert [s.surface for s in result.surfaces] == list(load.SURFACES)
    for number, surface in enumerate(result.surfaces):
        assert surface.asked == 40
        assert surface.changed == []
        assert surface.new_documents_answered == result.new_documents == 12
        assert "Added:" in surface.sync_message and f"new{number}/lighthouse-" in surface.sync_message
    assert result.listening_on and all(load.is_loopback(a) for a in result.listening_on), result.listening_on
    for surface in result.surfaces:  # each phase answers questions and syncs new documents
        assert surface.rss_after_mb - surface.rss_before_mb < MAX_GROWTH_MB
