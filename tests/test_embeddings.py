"""The embedding runtime: OpenVINO gives sentence-transformers' vectors (float32 exactly, the CPU's own precision
within cosine 0.999 on real text), the model is exported once into the cache folder and later loaded from there
without torch, a model that does not export runs on sentence-transformers, the precision setting is checked, and
the cache and concurrent calls behave. All with the real model; no timing assertions."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from citechat.index import embeddings, export as model_export, model as model_files, runtime
from citechat.index.embeddings import Embedder
from citechat.index.model import model_path
from citechat.index.runtime import UnknownPrecision
from conftest import PROJECT, run_cli, subprocess_env

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


def reference(texts: list[str], model: str = MODEL) -> np.ndarray:
    """sentence-transformers on torch, float32: the vectors every runtime is held to."""
    return model_files.load_model(model).encode(texts, normalize_embeddings=True, convert_to_numpy=True)


def seed_passages() -> list[str]:
    """Real text: the seed news article, cut into passages of about a thousand characters and into sentences."""
    from citechat.ingest.text import sentence_spans

    text = next((PROJECT / "seeds").glob("*.txt")).read_text(encoding="utf-8")
    passages = [text[i : i + 1000] for i in range(0, len(text), 800)]
    return passages + [text[a:b] for a, b in sentence_spans(text)][:60]


def cpu_flags() -> set[str]:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return set()
    return set(next((line.split(":", 1)[1] for line in lines if line.startswith("flags")), "").split())


@pytest.fixture
def fresh_runtimes(monkeypatch):
    """Forget the process's runtimes (and so their precision) for the duration of a test."""
    monkeypatch.setattr(embeddings, "_runtimes", {})
    monkeypatch.delenv("CITECHAT_PRECISION", raising=False)


def test_float32_matches_sentence_transformers(embedder):
    e = Embedder(MODEL, precision="float32")
    vectors = e.encode(TEXTS)
    assert e.runtime.backend == "openvino" and e.precision.precision == "float32"
    assert vectors.dtype == np.float32 and vectors.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(vectors, reference(TEXTS), atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.parametrize("precision", ["auto", "bfloat16"])
def test_vectors_stay_within_cosine_0999_of_float32_on_real_text(precision, embedder):
    texts = seed_passages()
    vectors = Embedder(MODEL, precision=precision).encode(texts)
    expected = reference(texts)
    assert np.min(np.sum(vectors * expected, axis=1)) > 0.999
    # The nearest passage of every text is the same as with float32.
    assert ((vectors @ vectors.T).argsort(1)[:, -2] == (expected @ expected.T).argsort(1)[:, -2]).mean() > 0.95


@pytest.mark.skipif(not cpu_flags(), reason="needs /proc/cpuinfo to know what the CPU computes natively")
def test_automatic_precision_is_bfloat16_only_on_a_cpu_that_has_it_natively(fresh_runtimes):
    native = "avx512_bf16" in cpu_flags()  # every CPU with AMX has it too
    choice = Embedder(MODEL).precision
    assert choice.precision == ("bfloat16" if native else "float32"), choice


def test_precision_from_the_environment(fresh_runtimes, monkeypatch):
    monkeypatch.setenv("CITECHAT_PRECISION", "fp32")
    assert Embedder(MODEL).precision == runtime.PrecisionChoice("float32", "requested")
    monkeypatch.setenv("CITECHAT_PRECISION", "fast")
    with pytest.raises(UnknownPrecision, match="CITECHAT_PRECISION"):
        Embedder(MODEL)


def test_unknown_precision_is_a_clear_error_on_the_command_line(tmp_path):
    result = run_cli("ask", "What did Altman say?", "--index", str(tmp_path / "index"), CITECHAT_PRECISION="fast")
    assert result.returncode == 2
    assert "CITECHAT_PRECISION" in result.stderr and "float32" in result.stderr
    assert "Traceback" not in result.stderr


def test_export_once_into_the_cache_then_load_it_without_torch(tmp_path, monkeypatch, fresh_runtimes):
    """A model other than the packaged one (here: CLS pooling instead of mean) is exported into
    $CITECHAT_CACHE, gives sentence-transformers' vectors, and a new process loads the export without torch."""
    folder = tmp_path / "cls-model"
    shutil.copytree(model_path(MODEL), folder)
    pooling = folder / "1_Pooling" / "config.json"
    config = json.loads(pooling.read_text())
    config.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    pooling.write_text(json.dumps(config))
    monkeypatch.setenv("CITECHAT_CACHE", str(tmp_path / "cache"))

    e = Embedder(str(folder), precision="float32")
    vectors = e.encode(TEXTS)
    assert e.runtime.backend == "openvino"
    np.testing.assert_allclose(vectors, reference(TEXTS, str(folder)), atol=1e-5)
    exports = [p for p in (tmp_path / "cache" / "models").iterdir()]
    assert [p.name for p in exports] == [model_export.export_folder(str(folder)).name]
    assert exports[0].name.startswith("cls-model-") and (exports[0] / "model.xml").exists()

    probe = (
        "import sys; from citechat.index.embeddings import Embedder\n"
        f"e = Embedder({str(folder)!r}, precision='float32')\n"
        f"print(e.runtime.backend, 'torch' in sys.modules, e.encode({TEXTS[:2]!r}).tolist())\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                         env=subprocess_env(CITECHAT_CACHE=str(tmp_path / "cache")))
    assert out.returncode == 0, out.stderr
    backend, torch_loaded, rest = out.stdout.split(" ", 2)
    assert (backend, torch_loaded) == ("openvino", "False")
    np.testing.assert_allclose(np.array(json.loads(rest)), vectors[:2], atol=1e-5)
    assert [p.name for p in (tmp_path / "cache" / "models").iterdir()] == [exports[0].name]  # not exported again


def test_changed_model_files_get_a_new_export_folder(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(model_path(MODEL), folder)
    before = model_export.export_folder(str(folder))
    config = folder / "sentence_bert_config.json"
    config.write_text(config.read_text().replace("256", "128"))
    assert model_export.export_folder(str(folder)) != before


def test_a_model_that_does_not_export_runs_on_sentence_transformers(tmp_path, monkeypatch, fresh_runtimes):
    from openvino.frontend.pytorch import ts_decoder

    def refuse(*args, **kwargs):
        raise RuntimeError("operation not supported")

    monkeypatch.setattr(ts_decoder, "TorchScriptPythonDecoder", refuse)  # as for a model it cannot trace
    monkeypatch.setenv("CITECHAT_CACHE", str(tmp_path / "cache"))
    e = Embedder(MODEL)
    assert e.runtime.backend == "sentence-transformers"
    assert e.precision.precision == "float32" and "could not convert" in e.precision.reason
    np.testing.assert_allclose(e.encode(TEXTS), reference(TEXTS), atol=1e-6)
    # Remembered: the next start does not try again.
    monkeypatch.setattr(embeddings, "_runtimes", {})
    assert Embedder(MODEL).runtime.backend == "sentence-transformers"
    assert list((tmp_path / "cache" / "models").glob("*.failed"))


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
]


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


def test_missing_model_says_how_to_fix(fresh_runtimes):
    with pytest.raises(model_files.ModelNotFound, match="CITECHAT_MODEL"):
        Embedder(str(Path("/nonexistent/model-folder"))).encode(["x"])
