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
    "Answer": "citechat.answers",
    "Source": "citechat.answers",
    "location": "citechat.answers",
    "Passage": "citechat.retrieval",
    "SyncReport": "citechat.sync",
    "Settings": "citechat.config",
    "IndexProblem": "citechat.stores.base",
    "IndexNotFound": "citechat.stores.base",
    "IndexMismatch": "citechat.stores.base",
    "IndexCorrupt": "citechat.stores.base",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'citechat' has no attribute {name!r}")
