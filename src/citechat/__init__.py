"""citechat: ask questions about a folder of documents; every answer cites the passages it came from.

    import citechat
    citechat.build_index("my-docs", "my-index")
    bot = citechat.open_index("my-index")
    bot.retrieve("What did Altman say?")
"""

from __future__ import annotations

from importlib import import_module

__version__ = "0.1.0"

# Public names, imported on first use so that `import citechat` stays fast.
_EXPORTS = {
    "build_index": "citechat.bot",
    "open_index": "citechat.bot",
    "answer": "citechat.bot",
    "Bot": "citechat.bot",
    "Answer": "citechat.answering.types",
    "Source": "citechat.answering.types",
    "location": "citechat.answering.types",
    "Passage": "citechat.answering.retrieval",
    "SyncReport": "citechat.index.sync",
    "Settings": "citechat.config",
    "IndexProblem": "citechat.index.stores.base",
    "IndexNotFound": "citechat.index.stores.base",
    "IndexMismatch": "citechat.index.stores.base",
    "IndexCorrupt": "citechat.index.stores.base",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'citechat' has no attribute {name!r}")
