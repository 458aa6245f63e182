"""Where an index lives. `open_store(settings)` opens the store that `Settings.store` names (CITECHAT_STORE or
--store): `local` (the default: SQLite + FAISS in the index folder), `milvus:PATH.db` (Milvus Lite in that
file) or `milvus:http://HOST:19530` (a Milvus server). The interface they share is in `base.py`."""

from __future__ import annotations

from ...config import Settings
from .base import Store, StoreUnavailable
from .local import LocalStore

STORE_HELP = "use local, milvus:PATH.db (Milvus Lite) or milvus:http://HOST:19530 (a Milvus server)"


def open_store(settings: Settings) -> Store:
    """The store holding the index of these settings; nothing is connected until it is used."""
    spec = (settings.store or "local").strip()
    name, _, address = spec.partition(":")
    if spec == "local":
        return LocalStore(settings.index_dir, settings.exact_search_below)
    if name == "milvus":
        from .milvus import MilvusStore  # here: pymilvus and milvus-lite are an optional extra, slow to import

        return MilvusStore.for_settings(address, settings)
    raise StoreUnavailable(f"Unknown store {spec!r} in CITECHAT_STORE or --store: {STORE_HELP}.")


def recorded_meta(settings: Settings) -> dict[str, str]:
    """What the index of these settings records ({} when there is none, or its store cannot be reached)."""
    try:
        store = open_store(settings)
    except StoreUnavailable:
        return {}
    try:
        return store.recorded_meta()
    finally:
        store.close()
