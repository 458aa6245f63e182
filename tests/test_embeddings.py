"""The embedding runtime: its own forward pass matches sentence-transformers, the bfloat16 path matches float32
within a tolerance, the run-time precision choice falls back to float32 cleanly, the cache and threads behave.
All with the real model; no timing assertions."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from citechat import embeddings
from citechat.embeddings import Embedder, PrecisionChoice, choose_precision, model_path

MODEL = "all-MiniLM-L6-v2"

TEXTS = [
    "Sam Altman said the enforcement had gone too far.",
    "The lighthouse on Grey Point was built in 1874 from granite quarried on the island itself. Its tower is "
    "thirty-one metres tall and painted with red and white bands.",
    "Feed the starter twice a day.",
    "Café crème — 4,50 €; naïve façade; 中文.",
    "",
    "word " * 400,  # longer than the model reads: truncated the same way everywhere
    "Puffins arrive in April and leave in August; the museum closes the cliff path while the chicks are fledging.",
]


@pytest.fixture
def fresh_runtimes(monkeypatch):
    """Forget the process's runtimes (and so its precision choice) for the duration of a test."""
    monkeypatch.setattr(embeddings, "_runtimes", {})
    monkeypatch.delenv("CITECHAT_PRECISION", raising=False)


def reference(texts: list[str]) -> np.ndarray:
    return embeddings.load_model(MODEL).encode(texts, normalize_embeddings=True, convert_to_numpy=True)


def test_float32_matches_sentence_transformers(embedder):
    vectors = Embedder(MODEL, precision="float32").encode(TEXTS)
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(vectors, reference(TEXTS), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.skipif(not embeddings.bf16_usable(), reason="this torch build cannot run bfloat16 on this CPU")
def test_bfloat16_matches_float32_within_tolerance():
    fp32 = Embedder(MODEL, precision="float32").encode(TEXTS)
    bf16 = Embedder(MODEL, precision="bfloat16").encode(TEXTS)
    assert Embedder(MODEL, precision="bfloat16").precision.precision == "bfloat16"
    assert np.abs(bf16 - fp32).max() < 0.01
    assert np.min(np.sum(bf16 * fp32, axis=1)) > 0.999
    # The nearest neighbour of every text is the same under both precisions.
    assert ((bf16 @ bf16.T).argsort(1)[:, -2] == (fp32 @ fp32.T).argsort(1)[:, -2]).all()


def test_no_native_bfloat16_falls_back_to_float32(fresh_runtimes, monkeypatch):
    measured = []
    monkeypatch.setattr(embeddings, "native_bf16", lambda: False)
    monkeypatch.setattr(embeddings, "measure_gemm", lambda: measured.append(1) or (1.0, 0.1))
    choice = choose_precision()
    assert choice.precision == "float32" and "no native bfloat16" in choice.reason
    assert not measured  # nothing is measured on a CPU that cannot do it natively
    e = Embedder(MODEL)
    assert e.precision.precision == "float32"
    np.testing.assert_allclose(e.encode(TEXTS), Embedder(MODEL, precision="float32").encode(TEXTS), atol=1e-6)


def test_bfloat16_measured_no_faster_stays_float32(fresh_runtimes, monkeypatch):
    monkeypatch.setattr(embeddings, "native_bf16", lambda: True)
    monkeypatch.setattr(embeddings, "measure_gemm", lambda: (1.0, 0.9))  # only 1.1x: not worth it
    choice = choose_precision("auto")
    assert choice.precision == "float32" and "measured only" in choice.reason
    monkeypatch.setattr(embeddings, "measure_gemm", lambda: (3.0, 1.0))
    assert choose_precision("auto").precision == "bfloat16"


def test_requested_bfloat16_without_support_falls_back(fresh_runtimes, monkeypatch):
    monkeypatch.setattr(embeddings, "bf16_usable", lambda: False)
    choice = choose_precision("bfloat16")
    assert choice.precision == "float32" and "cannot run it" in choice.reason


def test_precision_from_the_environment(fresh_runtimes, monkeypatch):
    monkeypatch.setenv("CITECHAT_PRECISION", "float32")
    assert Embedder(MODEL).precision == PrecisionChoice("float32", "requested")
    monkeypatch.setenv("CITECHAT_PRECISION", "fast")
    with pytest.raises(ValueError, match="CITECHAT_PRECISION"):
        choose_precision()


def test_measure_gemm_gives_two_positive_times():
    fp32_ms, bf16_ms = embeddings.measure_gemm(repeats=1)
    assert fp32_ms > 0 and bf16_ms > 0


def test_order_and_batching_do_not_change_vectors(embedder):
    texts = TEXTS * 3 + [f"Sentence number {i} about lighthouses and puffins." for i in range(150)]
    vectors = embedder.encode(texts)
    shuffled = np.random.default_rng(0).permutation(len(texts))
    again = embedder.encode([texts[i] for i in shuffled])
    np.testing.assert_allclose(again, vectors[shuffled], atol=5e-3)  # bfloat16 batches may differ slightly
    one_by_one = np.stack([embedder.encode([t])[0] for t in TEXTS])
    np.testing.assert_allclose(one_by_one, vectors[: len(TEXTS)], atol=5e-3)


SENTENCES = [
    "The ferry leaves at nine.",
    "Puffins nest in burrows on the northern cliffs, and the colony is counted every June by volunteers.",
    "Altman wrote that the crackdown had gone too far.",
    "Tickets cost four pounds.",
    "A storm in 1953 destroyed the old pier, which was rebuilt in concrete two years later by the council.",
    "Yes.",
    "The keeper's logbook records every ship that passed the point between 1874 and 1921.",
]


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_short_texts_packed_into_rows_match_one_at_a_time(precision, fresh_runtimes, monkeypatch):
    if precision == "bfloat16" and not embeddings.bf16_usable():
        pytest.skip("this torch build cannot run bfloat16 on this CPU")
    packed_calls = []
    forward = embeddings._TorchBert.forward

    def spy(self, input_ids, segment, positions, n, packed):
        packed_calls.append((packed, n, input_ids.shape[0]))
        return forward(self, input_ids, segment, positions, n, packed)

    monkeypatch.setattr(embeddings._TorchBert, "forward", spy)
    e = Embedder(MODEL, precision=precision)
    together = e.encode(SENTENCES)
    assert packed_calls[0][0] and packed_calls[0][1] == len(SENTENCES) > packed_calls[0][2]  # several per row
    one_by_one = np.stack([e.encode([t])[0] for t in SENTENCES])
    expected = reference(SENTENCES)
    if precision == "float32":
        np.testing.assert_allclose(together, expected, atol=1e-5)
        np.testing.assert_allclose(one_by_one, expected, atol=1e-5)
    else:
        assert np.min(np.sum(together * expected, axis=1)) > 0.999
        assert np.min(np.sum(together * one_by_one, axis=1)) > 0.9999


@pytest.mark.skipif(not embeddings._prepack_works(), reason="this torch build cannot pack weights for oneDNN")
def test_weights_packed_ahead_and_plain_weights_agree(fresh_runtimes, monkeypatch):
    ahead = embeddings._Runtime(MODEL, PrecisionChoice("bfloat16", "test"))
    assert ahead._bert.prepacked
    monkeypatch.setattr(embeddings, "_prepack_works", lambda: False)
    plain = embeddings._Runtime(MODEL, PrecisionChoice("bfloat16", "test"))
    assert not plain._bert.prepacked
    texts = TEXTS + SENTENCES
    assert np.min(np.sum(ahead.embed(texts) * plain.embed(texts), axis=1)) > 0.9999


def test_repeated_texts_in_one_call_are_embedded_once():
    e = Embedder(MODEL, cache_entries=0)  # no cache between calls
    vectors = e.encode([SENTENCES[0], SENTENCES[1], SENTENCES[0]], cache=True)
    assert e.texts_embedded == 2 and not e._cache
    np.testing.assert_array_equal(vectors[0], vectors[2])
    e.encode([SENTENCES[0]], cache=True)
    assert e.texts_embedded == 3


def test_cache_returns_the_same_vectors_and_counts_only_misses():
    e = Embedder(MODEL, cache_entries=4)
    first = e.encode(TEXTS[:3], cache=True)
    assert e.texts_embedded == 3 and e.cache_hits == 0
    again = e.encode([TEXTS[1], TEXTS[0], TEXTS[1]], cache=True)
    assert e.texts_embedded == 3 and e.cache_hits == 3
    np.testing.assert_array_equal(again, first[[1, 0, 1]])
    e.encode(TEXTS[3:7], cache=True)  # four new texts push the oldest out
    assert len(e._cache) <= 4
    e.encode([TEXTS[0]], cache=True)
    assert e.texts_embedded == 8
    # Without cache=True (as a sync calls it) every text reaches the model.
    e.encode(TEXTS[:2])
    assert e.texts_embedded == 10


def test_concurrent_calls_give_the_same_vectors(embedder):
    expected = embedder.encode(TEXTS)
    results: dict[int, np.ndarray] = {}
    errors = []

    def work(i: int) -> None:
        try:
            results[i] = Embedder(MODEL).encode(TEXTS if i % 2 else TEXTS[:2])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors
    for i, vectors in results.items():
        np.testing.assert_allclose(vectors, expected if i % 2 else expected[:2], atol=5e-3)


def test_threads_context_restores_the_count():
    import torch

    original = torch.get_num_threads()
    torch.set_num_threads(2)  # so that the block below really changes the count, on any machine
    try:
        before = torch.get_num_threads()
        with embeddings.threads(1):
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == before
    finally:
        torch.set_num_threads(original)


def test_other_models_run_through_sentence_transformers(tmp_path, fresh_runtimes):
    """A model folder the plain BERT path does not cover (here: CLS pooling) uses sentence-transformers."""
    folder = tmp_path / "cls-model"
    shutil.copytree(model_path(MODEL), folder)
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    pooling.write_text(json.dumps(config))
    e = Embedder(str(folder), precision="float32")
    assert e.runtime.backend == "sentence-transformers"
    from sentence_transformers import SentenceTransformer

    expected = SentenceTransformer(str(folder), device="cpu").encode(TEXTS, normalize_embeddings=True)
    np.testing.assert_allclose(e.encode(TEXTS), expected, atol=1e-5)
    assert Embedder(MODEL, precision="float32").runtime.backend == "torch"


def test_missing_model_says_how_to_fix(fresh_runtimes):
    with pytest.raises(embeddings.ModelNotFound, match="CITECHAT_MODEL"):
        Embedder(str(Path("/nonexistent/model-folder"))).encode(["x"])
