"""The routing engine's classifier: intent from our patterns plus a model that learns from agents'
corrections.

Two sources of evidence are blended into one probability per intent:

* **Patterns** (``routing.lexicons``): each intent's score is the sum of the weights of the distinct terms
  found (strong 2, normal 1, hint 0.5); a clearly negative tone adds to "complaint", a clearly positive one
  to "praise"; "other" starts from a small baseline so a post with no evidence stays "other". The scores
  become probabilities by a softmax, ``p_patterns = softmax(PATTERN_SHARPNESS * score)``.
* **Model**: hashed word 1-2 grams into a logistic-loss ``SGDClassifier`` trained incrementally, per
  organisation, on the intents agents corrected. It has no intercept: corrections are a biased sample (the
  posts the patterns got wrong), so the model must not learn "most posts are X"; a post with no word the
  model has learned gets an even spread from it, which leaves the patterns' ranking alone.

The blend: ``p = (1 - w) * p_patterns + w * p_model`` with ``w = MODEL_MAX_WEIGHT * n / (n + MODEL_HALF_N)``
and ``n`` the number of examples the model has seen: 0 before training (patterns decide alone), 0.4 at
``MODEL_HALF_N`` examples, approaching ``MODEL_MAX_WEIGHT`` with many. The patterns always keep a say.

The model state is stored in a database row, so it is dumped as plain arrays with ``numpy.savez`` and loaded
with ``allow_pickle=False``: bytes from the database can never run code.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, HashingVectorizer
from sklearn.linear_model import SGDClassifier
from sklearn.utils import murmurhash3_32

from routing.facts import INTENTS, Classification, Facts
from routing.lexicons import intent_hits
from routing.sentiment import NEGATIVE_AT_OR_BELOW, POSITIVE_AT_OR_ABOVE, compound, label_for

# 65,536 hashed features: a correction set of a few thousand short posts uses a few tens of thousands of
# distinct 1-2 grams, so collisions stay rare, while the state (only the columns ever trained, ten weights
# each) stays within a few megabytes even when every column is used. 2**18 would quadruple the in-memory
# model for no gain at this data size.
N_FEATURES = 2**16
# Softmax sharpness for pattern scores: one strong hit (2.0) against nothing gives about 0.6.
PATTERN_SHARPNESS = 1.5
# "other" needs no words; a lone hint (0.5) must not beat it, one normal word (1.0) must.
OTHER_BASELINE = 0.6
# How much a clearly negative (positive) VADER score adds to "complaint" ("praise"), per unit of |compound|.
TONE_WEIGHT = 1.0
# The model's share of the blend: MODEL_MAX_WEIGHT * n / (n + MODEL_HALF_N) after n examples.
MODEL_MAX_WEIGHT = 0.8
MODEL_HALF_N = 10
# Passes over each batch of corrections: a handful of corrections in one pass would barely move the model.
EPOCHS_PER_LEARN = 5
SGD_ALPHA = 1e-4
# Model terms named in the explanation, at most, and only when the model gave at least this share of the
# winning probability: below it the patterns' words drove the decision (and naming hashed words costs time).
MODEL_TERMS = 3
MODEL_TERMS_MIN_SHARE = 1 / 3

STATE_FORMAT = 1
# A state larger than this once unpacked is refused before it is read (a zip bomb in a database row).
MAX_STATE_UNPACKED_BYTES = 64 * 1024 * 1024
_STATE_KEYS = frozenset(
    {"format", "n_features", "classes", "columns", "weights", "t", "version", "examples_seen"}
)

_INTENT_INDEX = {intent: index for index, intent in enumerate(INTENTS)}
_OTHER = _INTENT_INDEX["other"]
_COMPLAINT = _INTENT_INDEX["complaint"]
_PRAISE = _INTENT_INDEX["praise"]
# scikit-learn keeps classes sorted; the model's columns are reordered to INTENTS order once per batch.
_SORTED_INTENTS = np.array(sorted(INTENTS))
_MODEL_TO_INTENTS = np.array(
    [int(np.flatnonzero(np.equal(_SORTED_INTENTS, intent))[0]) for intent in INTENTS]
)

_LINK = re.compile(r"https?://\S+|www\.\S+")
_DIGITS = re.compile(r"\d+")


def model_weight(examples_seen: int) -> float:
    """The model's share of the blend after ``examples_seen`` examples (see the module docstring)."""
    return MODEL_MAX_WEIGHT * examples_seen / (examples_seen + MODEL_HALF_N) if examples_seen > 0 else 0.0


def _model_text(text_lower: str) -> str:
    # Links and numbers (order numbers, prices) are different in every post: one token each keeps the
    # model's vocabulary, and so its stored state, from filling with one-off columns.
    return _DIGITS.sub("0", _LINK.sub(" link ", text_lower))


def _new_vectorizer(n_features: int) -> HashingVectorizer:
    return HashingVectorizer(
        n_features=n_features, alternate_sign=False, ngram_range=(1, 2), lowercase=False, norm="l2"
    )


def _new_model() -> SGDClassifier:
    return SGDClassifier(loss="log_loss", alpha=SGD_ALPHA, fit_intercept=False, random_state=0)


class IntentClassifier:
    """Intent, confidence, the words behind it and sentiment for posts; learns from agents' corrections."""

    def __init__(self, *, n_features: int = N_FEATURES) -> None:
        self.version = 0  # times the model was trained; 0: patterns only
        self.examples_seen = 0
        self.n_features = n_features
        self._vectorizer = _new_vectorizer(n_features)
        self._analyzer = self._vectorizer.build_analyzer()
        self._model = _new_model()

    # --- classifying -------------------------------------------------------------------------------------

    def classify(self, facts: Facts) -> Classification:
        """What the classifier says about one post; the same answer ``classify_many`` gives for it."""
        return self.classify_many([facts])[0]

    def classify_many(self, facts: list[Facts]) -> list[Classification]:
        """Classify a batch: one vectoriser pass and one model call for all of it (the fast path)."""
        if not facts:
            return []
        texts = [f.text or "" for f in facts]
        lowers = [text.lower() for text in texts]
        compounds = [compound(text) for text in texts]
        scores = np.zeros((len(facts), len(INTENTS)))
        scores[:, _OTHER] = OTHER_BASELINE
        all_hits = []
        for row, (lower, score) in enumerate(zip(lowers, compounds, strict=True)):
            hits = intent_hits(lower)
            all_hits.append(hits)
            for column, intent_hits_ in enumerate(hits):
                for _, weight in intent_hits_:
                    scores[row, column] += weight
            if score <= NEGATIVE_AT_OR_BELOW:
                scores[row, _COMPLAINT] -= TONE_WEIGHT * score
            elif score >= POSITIVE_AT_OR_ABOVE:
                scores[row, _PRAISE] += TONE_WEIGHT * score
        probabilities = _softmax(PATTERN_SHARPNESS * scores)

        weight = model_weight(self.examples_seen)
        model_x = model_probabilities = None
        if self.version > 0 and weight > 0:
            model_x = self._vectorizer.transform([_model_text(lower) for lower in lowers])
            model_probabilities = self._model.predict_proba(model_x)[:, _MODEL_TO_INTENTS]
            probabilities = (1.0 - weight) * probabilities + weight * model_probabilities

        winners = probabilities.argmax(axis=1)
        rows = probabilities.tolist()
        results = []
        for row, winner in enumerate(winners.tolist()):
            pattern_terms = tuple(
                term for term, _ in sorted(all_hits[row][winner], key=lambda hit: hit[1], reverse=True)
            )
            terms = pattern_terms
            if model_x is not None and model_probabilities is not None:
                model_share = weight * model_probabilities[row, winner] / rows[row][winner]
                if model_share >= MODEL_TERMS_MIN_SHARE:
                    model_terms = self._model_terms(model_x, row, winner, lowers[row])
                    ordered = (
                        model_terms + pattern_terms if model_share > 0.5 else pattern_terms + model_terms
                    )
                    terms = tuple(dict.fromkeys(ordered))
            ranked = sorted(zip(INTENTS, rows[row], strict=True), key=lambda item: item[1], reverse=True)
            results.append(
                Classification(
                    intent=INTENTS[winner],
                    confidence=rows[row][winner],
                    sentiment=compounds[row],
                    sentiment_label=label_for(compounds[row]),
                    terms=terms,
                    model_version=self.version,
                    scores=tuple(ranked),
                )
            )
        return results

    def _model_terms(self, model_x, row: int, winner: int, lower: str) -> tuple[str, ...]:
        """The 1-2 grams of this post that pushed the model most towards ``winner``, strongest first."""
        start, end = model_x.indptr[row], model_x.indptr[row + 1]
        columns = model_x.indices[start:end]
        if not len(columns):
            return ()
        coef_row = self._model.coef_[_MODEL_TO_INTENTS[winner]]
        contributions = model_x.data[start:end] * coef_row[columns]
        best = [int(columns[i]) for i in np.argsort(-contributions) if contributions[i] > 0]
        if not best:
            return ()
        # Hashing loses the words; hash this post's 1-2 grams again until each strong column has its name.
        # Words such as "the" carry weight too but explain nothing: they are skipped.
        by_column: dict[int, str] = {}
        for gram in self._analyzer(_model_text(lower)):
            if gram not in ENGLISH_STOP_WORDS:
                by_column.setdefault(_hashed_column(gram, self.n_features), gram)
        return tuple(by_column[column] for column in best if column in by_column)[:MODEL_TERMS]

    # --- learning ----------------------------------------------------------------------------------------

    def learn(self, examples: Sequence[tuple[str, str]]) -> None:
        """Learn from (text, intent) pairs, agents' corrections; one more model version per call."""
        if not examples:
            return
        unknown = sorted({intent for _, intent in examples if intent not in _INTENT_INDEX})
        if unknown:
            raise ValueError(f"unknown intents: {unknown}")
        x = self._vectorizer.transform([_model_text((text or "").lower()) for text, _ in examples])
        y = np.array([intent for _, intent in examples])
        for _ in range(EPOCHS_PER_LEARN):
            self._model.partial_fit(x, y, classes=list(INTENTS))
        self.version += 1
        self.examples_seen += len(examples)

    # --- state -------------------------------------------------------------------------------------------

    def dump_state(self) -> bytes:
        """The classifier as plain arrays in an ``.npz``: safe to store, loaded without unpickling."""
        trained = self.version > 0
        coef = self._model.coef_ if trained else np.zeros((len(INTENTS), self.n_features))
        columns = np.flatnonzero(np.any(coef != 0.0, axis=0)).astype(np.int32)
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            format=np.int64(STATE_FORMAT),
            n_features=np.int64(self.n_features),
            classes=_SORTED_INTENTS.astype(str),
            columns=columns,
            weights=np.ascontiguousarray(coef[:, columns], dtype=np.float64),
            t=np.float64(self._model.t_ if trained else 1.0),
            version=np.int64(self.version),
            examples_seen=np.int64(self.examples_seen),
        )
        return buffer.getvalue()

    @classmethod
    def load_state(cls, data: bytes) -> IntentClassifier:
        """A classifier from ``dump_state`` bytes: classifies as the original did and keeps learning.

        Raises ``ValueError`` for anything that is not a well-formed state, without running any code in it.
        """
        arrays = _read_state(data)
        n_features = int(arrays["n_features"])
        classifier = cls(n_features=n_features)
        classifier.version = int(arrays["version"])
        classifier.examples_seen = int(arrays["examples_seen"])
        if classifier.version > 0:
            coef = np.zeros((len(INTENTS), n_features), dtype=np.float64)
            coef[:, arrays["columns"]] = arrays["weights"]
            model = classifier._model
            # What partial_fit keeps between calls: the weights, the classes, the step counter of the
            # learning-rate schedule and the input width. No intercept: the model is fitted without one.
            model.coef_ = coef
            model.intercept_ = np.zeros(len(INTENTS), dtype=np.float64)
            model.classes_ = _SORTED_INTENTS.copy()
            model.t_ = float(arrays["t"])
            model.n_features_in_ = n_features
        return classifier


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _hashed_column(gram: str, n_features: int) -> int:
    """The column HashingVectorizer gives ``gram`` (scikit-learn's own rule, including its -2**31 case)."""
    h = murmurhash3_32(gram, seed=0)
    if h == -(2**31):
        return (2**31 - 1 - (n_features - 1)) % n_features
    return abs(h) % n_features


def _read_state(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of a state, checked for shape, type and range; ``ValueError`` for anything else."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ValueError("classifier state must be bytes")
    raw = bytes(data)
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise ValueError(f"classifier state is not an .npz archive: {error}") from error
    if unpacked > MAX_STATE_UNPACKED_BYTES:
        raise ValueError(f"classifier state unpacks to {unpacked} bytes, more than allowed")
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise ValueError("classifier state is not an .npz archive")
            keys = set(npz.files)
            if keys != _STATE_KEYS:
                raise ValueError(f"classifier state has keys {sorted(keys)}, expected {sorted(_STATE_KEYS)}")
            arrays = {key: npz[key] for key in _STATE_KEYS}
    except ValueError as error:  # includes numpy's refusal to load object arrays without pickle
        raise ValueError(f"malformed classifier state: {error}") from error
    except (OSError, EOFError, KeyError, zipfile.BadZipFile) as error:
        raise ValueError(f"malformed classifier state: {error}") from error
    _check_state(arrays)
    return arrays


def _check_state(arrays: dict[str, np.ndarray]) -> None:
    def scalar(name: str, kind: str) -> None:
        if arrays[name].shape != () or arrays[name].dtype.kind != kind:
            raise ValueError(f"malformed classifier state: {name} must be a scalar of kind {kind!r}")

    for name in ("format", "n_features", "version", "examples_seen"):
        scalar(name, "i")
    scalar("t", "f")
    if int(arrays["format"]) != STATE_FORMAT:
        raise ValueError(f"classifier state format {int(arrays['format'])} is not {STATE_FORMAT}")
    n_features = int(arrays["n_features"])
    if not 2**8 <= n_features <= 2**20:
        raise ValueError(f"malformed classifier state: n_features {n_features} out of range")
    if int(arrays["version"]) < 0 or int(arrays["examples_seen"]) < 0 or not np.isfinite(arrays["t"]):
        raise ValueError("malformed classifier state: negative counters or a non-finite step counter")
    classes = arrays["classes"]
    if (
        classes.dtype.kind != "U"
        or classes.shape != _SORTED_INTENTS.shape
        or not (classes == _SORTED_INTENTS).all()
    ):
        raise ValueError("malformed classifier state: classes are not this version's intents")
    columns, weights = arrays["columns"], arrays["weights"]
    if columns.ndim != 1 or columns.dtype.kind not in "iu":
        raise ValueError("malformed classifier state: columns must be a vector of integers")
    if len(columns) and (columns.min() < 0 or columns.max() >= n_features or (np.diff(columns) <= 0).any()):
        raise ValueError("malformed classifier state: columns out of range or not increasing")
    if weights.dtype != np.float64 or weights.shape != (len(INTENTS), len(columns)):
        raise ValueError("malformed classifier state: weights do not match the columns")
    if not np.isfinite(weights).all():
        raise ValueError("malformed classifier state: non-finite weights")
