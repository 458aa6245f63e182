"""The fitted answer model: which sentences answer a question, and whether the retrieved text answers it at
all. Its parameters live in `answer_model.json` beside this file (plain JSON numbers, nothing executable), written by
`bench/train_answerer.py` from public training data; this module only reads them, with numpy."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .signals import QUESTION_FEATURES, SENTENCE_FEATURES

MODEL_FILE = Path(__file__).with_name("answer_model.json")


@dataclass(frozen=True)
class Logistic:
    """Logistic regression over standardised features."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def logits(self, rows: np.ndarray) -> np.ndarray:
        return ((np.atleast_2d(rows) - self.mean) / self.scale) @ self.weights + self.bias

    @classmethod
    def from_dict(cls, d: dict, expected: list[str]) -> Logistic:
        if d["features"] != expected:
            raise ValueError(f"{MODEL_FILE.name} was fitted on other signals; rerun bench/train_answerer.py.")
        return cls(tuple(d["features"]), *(np.asarray(d[k], dtype=np.float64) for k in ("mean", "scale", "weights")),
                   float(d["bias"]))


@dataclass(frozen=True)
class AnswerModel:
    sentence: Logistic  # does this sentence hold the answer?
    answerable: Logistic  # does the retrieved text answer the question?
    refuse_below: float  # answerability under this: refuse
    extra_sentence_ratio: float  # a further sentence is quoted when its probability is this share of the best's


def sigmoid(x: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


@functools.lru_cache(maxsize=4)
def load(path: Path = MODEL_FILE) -> AnswerModel:
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    return AnswerModel(
        Logistic.from_dict(d["sentence"], SENTENCE_FEATURES),
        Logistic.from_dict(d["answerable"], QUESTION_FEATURES),
        float(d["refuse_below"]),
        float(d["extra_sentence_ratio"]),
    )
