"""Sentiment of a post's text: a linear model trained on 47,510 labelled tweets (SemEval 2013-2016), a score
from -1 (negative) to 1 (positive) and a three-way label, and what an organisation's agents taught it.

* **The shipped model** (``routing/data/sentiment_model.npz`` and ``.json``, built by ``make models`` from
  ``../shared/data/semeval_sentiment_train/``, see ``routing.training`` and ``routing/data/README.md``):
  hashed words, word pairs and character 4-grams (``routing.textfeatures``), one weight column per label,
  classes weighted so that the rare negative tweets count as much as the others. Loaded once per process.
* **Label**: the label with the highest score. **Score**: P(positive) - P(negative), the probabilities
  being the softmax of the scores divided by a temperature fitted on ``val.tsv`` (it changes no label, and
  makes a score of -0.6 mean "clearly negative" as rules and the engine read it). A negative label always
  has a negative score and a positive label a positive one.
* **Corrections** (``SentimentAdjustment``): an agent's corrected label is stored; the training task
  fits, from all of the organisation's stored corrections at once, additive weights on the columns those
  posts use, with the shipped model's scores as a fixed offset and an L2 penalty pulling every weight to
  zero (a ridge on top of the shipped model, by L-BFGS). Trained from the stored corrections every time,
  never step by step: the same corrections give the same weights, however they were batched.

Posts with no text score 0 and are neutral. English is what the model learned; other languages mostly
come out neutral, and the intent patterns (seven languages) carry them.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import optimize

from routing import textfeatures
from routing.textfeatures import LinearTextModel, Rows, softmax

MODEL_NPZ = textfeatures.DATA / "sentiment_model.npz"
MODEL_JSON = textfeatures.DATA / "sentiment_model.json"
LABELS = ("negative", "neutral", "positive")
_NEGATIVE, _NEUTRAL, _POSITIVE = range(3)

# The thresholds of a three-way label read from a score alone (rules, filters): the same as the score's sign
# for the model's own labels, with a small neutral band.
NEGATIVE_AT_OR_BELOW = -0.05
POSITIVE_AT_OR_ABOVE = 0.05

# L2 penalty of the correction adjustment, per weight, against the summed log loss of the corrections: one
# correction moves its own post's label when the shipped model was not sure, several similar ones move it
# when it was.
ADJUSTMENT_PENALTY = 0.5
ADJUSTMENT_FORMAT = 1
MAX_ADJUSTMENT_UNPACKED_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class SentimentAdjustment:
    """What an organisation's sentiment corrections taught: extra weights on the columns they use."""

    columns: np.ndarray  # int64, increasing
    weights: np.ndarray  # (len(columns), 3) float64
    corrections: int  # how many corrections it was trained from

    def dump(self) -> bytes:
        """Plain arrays in an ``.npz``: safe to store, loaded without unpickling."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            format=np.int64(ADJUSTMENT_FORMAT),
            features_version=np.int64(textfeatures.FEATURES_VERSION),
            columns=self.columns.astype(np.int64),
            weights=self.weights.astype(np.float64),
            corrections=np.int64(self.corrections),
        )
        return buffer.getvalue()

    @classmethod
    def load(cls, data: bytes, n_features: int = textfeatures.N_FEATURES) -> SentimentAdjustment:
        """An adjustment from ``dump`` bytes; ``ValueError`` for anything else, without running code."""
        raw = bytes(data)
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                unpacked = sum(info.file_size for info in archive.infolist())
            if unpacked > MAX_ADJUSTMENT_UNPACKED_BYTES:
                raise ValueError(f"sentiment adjustment unpacks to {unpacked} bytes, more than allowed")
            with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
                expected = {"format", "features_version", "columns", "weights", "corrections"}
                if set(npz.files) != expected:
                    raise ValueError(f"sentiment adjustment has arrays {sorted(npz.files)}")
                arrays = {key: npz[key] for key in expected}
        except (zipfile.BadZipFile, OSError, EOFError, KeyError) as error:
            raise ValueError(f"malformed sentiment adjustment: {error}") from error
        if int(arrays["format"]) != ADJUSTMENT_FORMAT:
            raise ValueError("sentiment adjustment of another format")
        if int(arrays["features_version"]) != textfeatures.FEATURES_VERSION:
            raise ValueError("sentiment adjustment for other features: train it again")
        columns, weights = arrays["columns"], arrays["weights"]
        if columns.ndim != 1 or columns.dtype.kind != "i" or weights.dtype != np.float64:
            raise ValueError("malformed sentiment adjustment: columns and weights")
        if weights.shape != (len(columns), len(LABELS)) or not np.isfinite(weights).all():
            raise ValueError("malformed sentiment adjustment: weights do not match the columns")
        if len(columns) and (
            columns.min() < 0 or columns.max() >= n_features or (np.diff(columns) <= 0).any()
        ):
            raise ValueError("malformed sentiment adjustment: columns out of range or not increasing")
        return cls(columns=columns, weights=weights, corrections=int(arrays["corrections"]))


class SentimentModel:
    """Scores and labels for batches of texts: the shipped model, plus an adjustment when there is one."""

    def __init__(self, base: LinearTextModel, adjustment: SentimentAdjustment | None = None) -> None:
        if base.classes != LABELS:
            raise ValueError(f"a sentiment model's classes are {LABELS}, not {base.classes}")
        self.base = base
        self.temperature = float(base.spec["temperature"])
        self.adjustment = adjustment
        self.model = base
        if adjustment is not None and len(adjustment.columns):
            self.model = base.plus(adjustment.columns, adjustment.weights)

    @property
    def n_features(self) -> int:
        return self.base.n_features

    def adjusted(self, adjustment: SentimentAdjustment | None) -> SentimentModel:
        """The shipped model with an organisation's adjustment (None: the shipped model as it is)."""
        return SentimentModel(self.base, adjustment)

    def score_rows(self, batch: Rows, texts: Sequence[str]) -> tuple[list[float], list[str]]:
        """Score and label of each post of a batch already hashed (``textfeatures.rows``)."""
        logits = self.model.logits(batch)
        probabilities = softmax(logits / self.temperature)
        scores = (probabilities[:, _POSITIVE] - probabilities[:, _NEGATIVE]).tolist()
        labels = [LABELS[i] for i in logits.argmax(axis=1).tolist()]
        for row, text in enumerate(texts):
            if not text or text.isspace():
                scores[row], labels[row] = 0.0, "neutral"
        return scores, labels

    def score_many(self, texts: Sequence[str]) -> list[tuple[float, str]]:
        scores, labels = self.score_rows(textfeatures.rows(texts, self.n_features), texts)
        return list(zip(scores, labels, strict=True))

    def train_adjustment(self, examples: Sequence[tuple[str, str]]) -> SentimentAdjustment:
        """Fit the adjustment to (text, label) corrections, from scratch (deterministic: L-BFGS from zero)."""
        unknown = sorted({label for _, label in examples if label not in LABELS})
        if unknown:
            raise ValueError(f"unknown sentiment labels: {unknown}")
        if not examples:
            return SentimentAdjustment(np.zeros(0, np.int64), np.zeros((0, len(LABELS))), 0)
        batch = textfeatures.rows([text for text, _ in examples], self.n_features)
        x = batch.matrix()
        used = np.unique(x.indices).astype(np.int64)
        x = x[:, used].tocsr()
        offset = self.base.logits(batch)
        y = np.zeros((len(examples), len(LABELS)))
        y[np.arange(len(examples)), [LABELS.index(label) for _, label in examples]] = 1.0
        shape = (len(used), len(LABELS))
        temperature = self.temperature

        def loss(flat: np.ndarray) -> tuple[float, np.ndarray]:
            weights = flat.reshape(shape)
            logits = (offset + x @ weights) / temperature
            shifted = logits - logits.max(axis=1, keepdims=True)
            log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
            value = -(y * log_p).sum() + 0.5 * ADJUSTMENT_PENALTY * (weights**2).sum()
            gradient = x.T @ ((np.exp(log_p) - y) / temperature) + ADJUSTMENT_PENALTY * weights
            return float(value), np.asarray(gradient).ravel()

        fitted = optimize.minimize(loss, np.zeros(shape).ravel(), jac=True, method="L-BFGS-B")
        return SentimentAdjustment(columns=used, weights=fitted.x.reshape(shape), corrections=len(examples))


@cache
def shipped_model() -> SentimentModel:
    """The model ``make models`` built, read once per process (~0.1 s)."""
    return SentimentModel(LinearTextModel.load(MODEL_NPZ, MODEL_JSON))


def sentiment(text: str) -> tuple[float, str]:
    """The shipped model's score for ``text`` (-1..1) and its label: "negative", "neutral" or "positive"."""
    return shipped_model().score_many([text])[0]


def compound(text: str) -> float:
    """The shipped model's score alone, -1 (most negative) to 1 (most positive)."""
    return sentiment(text)[0]


def label_for(score: float) -> str:
    """The label a score alone stands for, when there is no model label (a rule's threshold, a filter)."""
    if score <= NEGATIVE_AT_OR_BELOW:
        return "negative"
    if score >= POSITIVE_AT_OR_ABOVE:
        return "positive"
    return "neutral"
