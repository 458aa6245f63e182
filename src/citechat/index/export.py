"""Export a sentence-transformers model to OpenVINO's format, once, into the cache folder.

The export traces the whole sentence-transformers pipeline (transformer, pooling, normalisation) on torch and
saves it in float32 with its tokenizer, in $CITECHAT_CACHE/models/<model>-<key>/; the key changes with the
model's files and the OpenVINO version, so a new model or runtime exports afresh and the old folder is simply no
longer used. An export is kept only if it gives sentence-transformers' own vectors; a model that cannot be
exported (or whose export differs) is remembered as such, so later starts go straight to torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

from .model import load_model, model_path
from .runtime import OpenVinoRuntime

FORMAT = 1  # bump when what is written changes
CHECK_TEXTS = [  # the first two are close in length, so that they share a padded batch
    "Sam Altman said the enforcement had gone too far.",
    "Altman wrote that the crackdown went too far.",
    "The lighthouse on Grey Point was built in 1874 from granite quarried on the island itself. Its tower is "
    "thirty-one metres tall and painted with red and white bands.",
    "Café crème — 4,50 €; naïve façade; 中文.",
    "Yes.",
]


class ExportFailed(RuntimeError):
    pass


def cache_dir() -> Path:
    return Path(os.environ.get("CITECHAT_CACHE") or Path.home() / ".cache" / "citechat")


def export_folder(name: str) -> Path:
    """Where the export of model `name` for the installed OpenVINO lives (whether or not it exists yet)."""
    from importlib.metadata import version

    source = Path(model_path(name)).resolve()
    key = hashlib.sha256(f"{FORMAT} {version('openvino')} {source}".encode())
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        stat = path.stat()
        key.update(f"{path.relative_to(source)} {stat.st_size} {stat.st_mtime_ns}".encode())
    label = source.parent.name if source.name == "model" else source.name  # a packaged model: its package
    slug = "".join(c if c.isalnum() or c in "-._" else "_" for c in label)
    return cache_dir() / "models" / f"{slug}-{key.hexdigest()[:16]}"


def exported_already(name: str) -> bool:
    """Has model `name` been exported (or found not to export) before, so that loading it is quick?"""
    folder = export_folder(name)
    return (folder / "citechat.json").exists() or folder.with_name(folder.name + ".failed").exists()


def exported(name: str) -> Path:
    """The folder of the exported model, exporting it first if needed. Raises ExportFailed when the model does
    not export (now or at an earlier try)."""
    folder = export_folder(name)
    if (folder / "citechat.json").exists():
        return folder
    failed = folder.with_name(folder.name + ".failed")
    if failed.exists():
        raise ExportFailed(failed.read_text().strip())
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=folder.parent))
    except OSError as exc:
        raise ExportFailed(f"cannot write to the cache folder (CITECHAT_CACHE): {exc}") from exc
    try:
        _export(name, work)
        try:
            work.rename(folder)  # atomic; another process may have finished first, which is as good
        except OSError:
            if not (folder / "citechat.json").exists():
                raise ExportFailed(f"cannot write to the cache folder (CITECHAT_CACHE): {folder}") from None
        return folder
    except ExportFailed as exc:
        if not str(exc).startswith("cannot write"):
            failed.write_text(f"{exc}\n")  # the model itself does not export: do not try again
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _export(name: str, work: Path) -> None:
    import openvino as ov
    import torch
    from openvino.frontend import FrontEndManager
    from openvino.frontend.pytorch.ts_decoder import TorchScriptPythonDecoder

    model = load_model(name)
    tokenizer = getattr(model.tokenizer, "backend_tokenizer", None)
    if tokenizer is None:
        raise ExportFailed("its tokenizer has no fast (tokenizers) version")

    class Pipeline(torch.nn.Module):  # the input names become those of the exported model
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            return self.model({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

    # Two texts of different lengths, so that the traced graph masks padding.
    example = model.tokenizer(CHECK_TEXTS[:2], padding=True, return_tensors="pt")
    try:
        # OpenVINO's PyTorch frontend, which `openvino.convert_model` wraps; called directly because
        # convert_model also sends usage telemetry unless the user has opted out, and nothing here may.
        # The tracer's notes on Python conditions (constant for this use), and sentence-transformers' deprecation
        # warnings for the attributes the tracer reads, are not for the user.
        with torch.no_grad(), warnings.catch_warnings(), _quiet("sentence_transformers"):
            warnings.simplefilter("ignore")
            decoder = TorchScriptPythonDecoder(
                Pipeline().eval(), example_input=(example["input_ids"], example["attention_mask"])
            )
            frontend = FrontEndManager().load_by_framework("pytorch")
            converted = frontend.convert(frontend.load(decoder))
        ov.save_model(converted, str(work / "model.xml"), compress_to_fp16=False)
    except Exception as exc:  # any model the frontend cannot trace or convert
        raise ExportFailed(f"OpenVINO could not convert it ({type(exc).__name__}: {exc})") from exc
    tokenizer.save(str(work / "tokenizer.json"))
    config = {"max_length": int(model.max_seq_length or 512), "dimension": int(model.get_embedding_dimension()),
              "pad_id": int(model.tokenizer.pad_token_id or 0), "source": model_path(name)}
    (work / "citechat.json").write_text(json.dumps(config, indent=1))
    _check(name, work)


@contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _check(name: str, work: Path) -> None:
    expected = load_model(name).encode(CHECK_TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    got = OpenVinoRuntime(work, "float32").embed(CHECK_TEXTS)
    worst = float(np.min(np.sum(expected * got, axis=1)))
    if worst < 0.9999:
        raise ExportFailed(f"its exported vectors differ from sentence-transformers' (cosine {worst:.4f})")
