"""Which index, and which documents folder, a command or `open_index` works on.

An index records the folder it was built from and its embedding model, so `--index DIR` alone is enough. A
folder given without an index gets an index of its own in the cache folder, the same for every command; with
neither, the project's index/ of seeds/.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import replace
from pathlib import Path

from ..config import DEFAULT_DOCS, DEFAULT_INDEX, Settings, chosen_in, cleaned
from ..ingest.folder import folder_not_found
from .stores import recorded_meta


def folder_key(docs_dir: Path) -> str:
    """A name that identifies a documents folder by its resolved path: readable, and unique per path."""
    resolved = str(Path(docs_dir).expanduser().resolve())
    name = re.sub(r"[^\w.-]+", "-", Path(resolved).name).strip("-.")[:40] or "folder"
    return f"{name}-{hashlib.sha256(resolved.encode()).hexdigest()[:12]}"


def index_for_folder(docs_dir: Path, cache_dir: Path) -> Path:
    """The index of a documents folder given without one: index/ for the project's seeds/, else its own
    folder under the cache folder (CITECHAT_CACHE/indexes/NAME-HASH), the same for every command."""
    if Path(docs_dir).expanduser().resolve() == DEFAULT_DOCS.resolve():
        return DEFAULT_INDEX
    return Path(cache_dir) / "indexes" / folder_key(docs_dir)


def settings_for_index(index_dir=None, docs_dir=None, check_folder: bool = True, **overrides) -> Settings:
    """The settings for working on an index, arguments first, then CITECHAT_* variables:

    - no index given: the documents folder's own index (`index_for_folder`); with no folder either, the
      project's index/ of seeds/;
    - no documents folder given: the one the index was built from;
    - no model given: the one the index was built with.

    A folder given that differs from the index's own is refused when the index is opened or synced; one that
    does not exist is refused here (FolderNotFound), before anything is said about its index, unless
    check_folder is False (a server that waits for the folder to appear)."""
    chosen = {**chosen_in(os.environ), **cleaned({"index_dir": index_dir, "docs_dir": docs_dir, **overrides})}
    if check_folder and "docs_dir" in chosen and not Path(chosen["docs_dir"]).is_dir():
        raise folder_not_found(Path(chosen["docs_dir"]))
    base = Settings().with_overrides(**chosen)
    if "index_dir" not in chosen:
        base = replace(base, index_dir=index_for_folder(base.docs_dir, base.cache_dir) if "docs_dir" in chosen
                       else DEFAULT_INDEX)
    recorded = recorded_meta(base)
    if "docs_dir" not in chosen:
        base = (replace(base, docs_dir=Path(recorded["docs_dir"]), docs_origin="index") if recorded.get("docs_dir")
                else replace(base, docs_origin="default"))
    if "model" not in chosen and recorded.get("model"):
        base = replace(base, model=recorded["model"])
    return base


def folder_note(settings: Settings) -> str | None:
    """Which documents folder a command works on, said when the user did not name it: "seeds/ (the default
    folder; pass --docs DIR for yours)"; None when they did."""
    if settings.docs_origin == "given":
        return None
    docs = Path(settings.docs_dir)
    if docs.resolve() == DEFAULT_DOCS.resolve():
        try:
            shown = f"{docs.resolve().relative_to(Path.cwd().resolve())}/"
        except ValueError:
            shown = str(docs)
        return f"{shown} (the default folder; pass --docs DIR for yours)"
    if settings.docs_origin == "index":
        return f"{docs} (the folder this index was built from)"
    return f"{docs} (the default folder; pass --docs DIR for yours)"
