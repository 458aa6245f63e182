"""Running an embedding model: `OpenVinoRuntime` (an exported model, compiled for this CPU) or `TorchRuntime`
(plain sentence-transformers, for a model that does not export).

- Precision: OpenVINO's own choice for the CPU (`INFERENCE_PRECISION_HINT`): bfloat16 where the CPU computes it
  natively (AVX512-BF16 or AMX), float32 elsewhere. CITECHAT_PRECISION=float32|bfloat16 overrides it.
- Batching: the texts of a call are tokenised at once, sorted by length and cut into batches of about 2,048
  tokens, so that little is spent on padding. The batches run on OpenVINO's streams, one per core with one
  thread each: a question runs on one thread (no hand-offs between threads, which on a busy machine cost more
  than the question itself), a longer call on every core.

Figures behind these choices: bench/README.md.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import CitechatError
from .model import load_model

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


class UnknownPrecision(CitechatError, ValueError):
    pass


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # "float32" or "bfloat16": what the model runs in
    reason: str


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
    """An exported model (see export.py) compiled for this machine's CPU."""

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
