"""Texts to vectors: the sentence-transformers model (all-MiniLM-L6-v2 by default), run by OpenVINO.

The model is exported once to OpenVINO's format, in the cache folder ($CITECHAT_CACHE, see `export.py`), and later
starts read it from there: no torch or transformers import, nothing downloaded. A model that does not export runs
on plain sentence-transformers (torch, float32). How it runs (precision, batches): `runtime.py`.

Cache: `encode(texts, cache=True)` embeds each distinct text of the call once and keeps the vectors of recently
embedded short texts, so a question, or a sentence seen in an earlier answer, is not embedded twice.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .export import ExportFailed, exported, exported_already
from .model import load_model, model_path
from .runtime import MAX_BATCH, OpenVinoRuntime, PrecisionChoice, TorchRuntime, requested_precision

CACHE_ENTRIES = 20_000  # ~30 MB of 384-d vectors
CACHE_MAX_CHARS = 2_000  # longer texts (whole chunks) are not worth keeping

_runtimes: dict[tuple[str, str], OpenVinoRuntime | TorchRuntime] = {}
_lock = threading.Lock()


def runtime(name: str, precision: str | None = None) -> OpenVinoRuntime | TorchRuntime:
    """The process-wide runtime for a model in a precision ("auto", "float32", "bfloat16"; None: from
    $CITECHAT_PRECISION)."""
    precision = requested_precision(precision)
    with _lock:
        rt = _runtimes.get((name, precision))
        if rt is None:
            model_path(name)  # ModelNotFound before anything else
            try:
                rt = OpenVinoRuntime(exported(name), precision)
            except ExportFailed as exc:
                rt = TorchRuntime(name, f"on torch: {exc}")
            _runtimes[(name, precision)] = rt
        return rt


class Embedder:
    """Turns texts into L2-normalised float32 vectors, counting how many texts it sent to the model.

    precision: None (from $CITECHAT_PRECISION, default "auto": the runtime's choice for this CPU), "float32" or
    "bfloat16". An unknown value raises UnknownPrecision here, before anything is loaded.
    """

    def __init__(self, name: str, precision: str | None = None, cache_entries: int = CACHE_ENTRIES) -> None:
        self.name = name
        self.requested_precision = requested_precision(precision)
        self.texts_embedded = 0
        self.cache_entries = cache_entries
        self.cache_hits = 0
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()

    @property
    def model(self):
        """The float32 SentenceTransformer on torch (loading it if needed); encode does not use it."""
        return load_model(self.name)

    def prepared(self) -> bool:
        """Is the model ready to run without a first-use export (loaded in this process, or exported before)?"""
        with _lock:
            if any(name == self.name for name, _ in _runtimes):
                return True
        try:
            return exported_already(self.name)
        except Exception:  # noqa: BLE001 - a model that cannot be found says so when it is loaded
            return True

    @property
    def runtime(self) -> OpenVinoRuntime | TorchRuntime:
        return runtime(self.name, self.requested_precision)

    @property
    def precision(self) -> PrecisionChoice:
        return self.runtime.choice

    @property
    def dimension(self) -> int:
        # Read from the model's pooling config when possible, so that a sync with nothing to embed never pays
        # for loading the model.
        pooling = Path(model_path(self.name)) / "1_Pooling" / "config.json"
        if pooling.exists():
            return int(json.loads(pooling.read_text())["word_embedding_dimension"])
        return self.runtime.dimension

    def encode(self, texts: list[str], batch_size: int | None = None, cache: bool = False) -> np.ndarray:
        """Vectors for texts, one row each. cache=True embeds each distinct text once, looking short texts up
        in (and adding them to) the LRU cache; only texts not found there reach the model and are counted in
        texts_embedded. cache=False sends every text to the model (a sync counts its chunks this way)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if not cache:
            vectors = self.runtime.embed(list(texts), max_batch=batch_size or MAX_BATCH)
            self.texts_embedded += len(texts)
            return vectors
        found: dict[str, np.ndarray] = {}
        with self._cache_lock:
            for text in texts:
                vector = self._cache.get(text)
                if vector is not None:
                    self._cache.move_to_end(text)
                    found[text] = vector
        self.cache_hits += sum(1 for t in texts if t in found)
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            vectors = self.runtime.embed(missing, max_batch=batch_size or MAX_BATCH)
            self.texts_embedded += len(missing)
            with self._cache_lock:
                for text, vector in zip(missing, vectors):
                    vector.setflags(write=False)
                    found[text] = vector
                    if len(text) <= CACHE_MAX_CHARS and self.cache_entries:
                        self._cache[text] = vector
                while len(self._cache) > self.cache_entries:
                    self._cache.popitem(last=False)
        return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)

    def clear_cache(self) -> None:
        with self._cache_lock:
            self._cache.clear()
