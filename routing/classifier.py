"""The routing engine's classifier: intent from our patterns and a statistical model that starts from our own
seed corpus and keeps learning from agents' corrections.

Two sources of evidence are combined, in log space (a product of experts), into one probability per intent:

* **Patterns** (``routing.lexicons``): each intent's score is the sum of the weights of the distinct terms
  found (strong 2, normal 1, hint 0.5); a clearly negative tone adds to "complaint", a clearly positive one
  to "praise"; "other" has a small baseline so that a post with no evidence at all leans to it.
* **Model**: a multinomial logistic regression over hashed words (links, numbers and handles
  folded into one token each). A fresh install starts from the model trained on ``routing/data/
  seed_examples.jsonl`` (our own hand-written posts, see its README): trained deterministically once per
  process and shared, read-only, by every classifier (about 0.3 s; see ``seed_model``).

``p = softmax(PATTERN_WEIGHT * pattern_scores + MODEL_WEIGHT * model_logits)``. The two weights and the
"other" baseline were fitted by maximum likelihood on out-of-fold predictions over the seed corpus
(``python -m routing.classifier --calibrate`` prints the fit), with the first lexicon layer only
(``BASE_LEXICONS``: the second was written by the corpus's author and looks better on it than it is), so the
result aims to be a probability the engine's misdirect threshold (0.6) can use. A linear mix of the two
cannot be: an unsure source drags every confident answer towards the middle. On posts unlike the corpus the
blend is still somewhat over-confident (held-back evaluation: mean confidence 0.73 at 64% accuracy).

**Learning** (``learn``) refits the model on the seed corpus plus the new corrections, with each correction
weighing ``CORRECTION_WEIGHT`` seed posts, over the hashed columns the corrections use; every other column
and the intercepts stay as they were, so a batch of corrections of one intent (a biased sample: the posts the
classifier got wrong) cannot teach "most posts are X". A pull towards the previous weights (``ANCHOR``) keeps
what earlier batches taught. ``version`` counts these trainings (0: the seed model alone).

The state stored in the database is what corrections changed: the weights of the columns they touched, as
plain arrays in an ``.npz`` loaded with ``allow_pickle=False`` (bytes from the database can never run code),
so it stays small and the seed is never copied into every row.
"""

from __future__ import annotations

import io
import json
import re
import sys
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import optimize, sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS
from sklearn.utils import murmurhash3_32

from routing.facts import INTENTS, Classification, Facts
from routing.lexicons import intent_hits
from routing.sentiment import NEGATIVE_AT_OR_BELOW, POSITIVE_AT_OR_ABOVE, compound, label_for

SEED_CORPUS = Path(__file__).resolve().parent / "data" / "seed_examples.jsonl"

# 65,536 hashed columns: the seed corpus and a few thousand corrections use a few tens of thousands of
# distinct 1-2 grams, so collisions stay rare.
N_FEATURES = 2**16
# The blend, fitted on out-of-fold predictions over the seed corpus (``--calibrate``).
PATTERN_WEIGHT = 1.466
MODEL_WEIGHT = 1.262
# "other" needs no words: a post with no evidence of anything leans to it, but one normal word beats it.
OTHER_BASELINE = 0.711
# How much a clearly negative (positive) VADER score adds to "complaint" ("praise"), per unit of |compound|.
TONE_WEIGHT = 1.0
# Patterns only (``IntentClassifier(seed=False)``): softmax sharpness for the pattern scores.
PATTERN_SHARPNESS = 1.5
# L2 penalty of the logistic regression (on the summed, not averaged, loss).
L2 = 0.3
# A correction is an agent's deliberate label on a post the classifier got wrong: it counts as this many
# seed posts.
CORRECTION_WEIGHT = 12.0
# Pull towards the weights before a learn() call, so a new batch does not undo what earlier batches taught.
ANCHOR = 0.3
MAX_ITERATIONS = 300
# Model terms named in the explanation, at most, and only when the model alone gives the winner at least
# this probability.
MODEL_TERMS = 3
MODEL_TERMS_MIN_SHARE = 1 / 3

STATE_FORMAT = 2
# A state larger than this once unpacked is refused before it is read (a zip bomb in a database row).
MAX_STATE_UNPACKED_BYTES = 64 * 1024 * 1024
_STATE_KEYS = {
    1: frozenset({"format", "n_features", "classes", "columns", "weights", "t", "version", "examples_seen"}),
    2: frozenset(
        {"format", "n_features", "classes", "columns", "weights", "seeded", "version", "examples_seen"}
    ),
}

_K = len(INTENTS)
_INTENT_INDEX = {intent: index for index, intent in enumerate(INTENTS)}
_INTENT_NAMES = np.array(INTENTS, dtype=object)
_OTHER = _INTENT_INDEX["other"]
_COMPLAINT = _INTENT_INDEX["complaint"]
_PRAISE = _INTENT_INDEX["praise"]
# Format 1 states stored the classes sorted (scikit-learn's order); their rows are reordered to INTENTS.
_SORTED_INTENTS = np.array(sorted(INTENTS))
_SORTED_TO_INTENTS = np.array(
    [int(np.flatnonzero(np.equal(_SORTED_INTENTS, intent))[0]) for intent in INTENTS]
)

_DIGITS = re.compile(r"\d+")
# Links, handles, words, question and exclamation marks, and emoji (they carry tone and intent: "🙄", "😍").
_TOKEN = re.compile(r"https?://\S+|www\.\S+|(?<!\w)@\w+|\w+|[?!]|[\u2600-\u27bf\U0001f300-\U0001faff]")
_UNNAMED = ENGLISH_STOP_WORDS | {"?", "!", "0", "link", "atuser"}


def grams(text_lower: str) -> list[str]:
    """The model's features of a lower-cased text: its words, "?", "!" and emoji. Links, handles and
    numbers (order numbers, prices) are different in every post, so each kind becomes one token ("link",
    "atuser", digits as "0"). Word pairs were tried: on held-back posts they lost more accuracy than they
    gained, and cost a third of the classifier's time."""
    found = []
    for token in _TOKEN.findall(text_lower):
        if token.isalpha():
            found.append(token)
        elif token[0] == "@":
            found.append("atuser")
        elif "://" in token or token.startswith("www."):
            found.append("link")
        else:
            found.append(_DIGITS.sub("0", token))
    return found


# gram -> column, per width: the same few thousand grams recur in every stream of posts, and a dictionary
# look-up is several times cheaper than hashing again. Cleared when it grows past _COLUMN_CACHE_SIZE.
_COLUMN_CACHE: dict[int, dict[str, int]] = {}
_COLUMN_CACHE_SIZE = 2**18


def _columns(row_grams: list[str], n_features: int) -> list[int]:
    cache = _COLUMN_CACHE.setdefault(n_features, {})
    if len(cache) > _COLUMN_CACHE_SIZE:
        cache.clear()
    columns = []
    for gram in row_grams:
        column = cache.get(gram)
        if column is None:
            column = cache[gram] = murmurhash3_32(gram, seed=0, positive=True) % n_features
        columns.append(column)
    return columns


def vectorize(
    texts_lower: Sequence[str], n_features: int
) -> tuple[sparse.csr_matrix, list[tuple[list[str], list[int]]]]:
    """Binary hashed 1-2 grams, each row scaled to unit length, and each row's grams with their columns
    (to name them)."""
    indptr = [0]
    indices: list[int] = []
    all_grams = []
    all_columns = []
    for text in texts_lower:
        row_grams = grams(text)
        all_grams.append(row_grams)
        columns = _columns(row_grams, n_features)
        all_columns.append(columns)
        indices.extend(dict.fromkeys(columns))
        indptr.append(len(indices))
    lengths = np.diff(indptr)
    data = np.repeat(1.0 / np.sqrt(np.maximum(lengths, 1)), lengths)
    matrix = sparse.csr_matrix(
        (data, np.array(indices, dtype=np.int32), np.array(indptr, dtype=np.int32)),
        shape=(len(texts_lower), n_features),
    )
    return matrix, list(zip(all_grams, all_columns, strict=True))


def pattern_scores(lowers: Sequence[str], compounds: Sequence[float]) -> tuple[np.ndarray, list]:
    """Each post's pattern score per intent (terms, tone, the "other" baseline) and the terms found."""
    rows = []
    all_hits = []
    for lower, score in zip(lowers, compounds, strict=True):
        hits = intent_hits(lower)
        all_hits.append(hits)
        row = [0.0] * _K
        for column, intent_hits_ in enumerate(hits):
            for _, weight in intent_hits_:
                row[column] += weight
        row[_OTHER] += OTHER_BASELINE
        if score <= NEGATIVE_AT_OR_BELOW:
            row[_COMPLAINT] -= TONE_WEIGHT * score
        elif score >= POSITIVE_AT_OR_ABOVE:
            row[_PRAISE] += TONE_WEIGHT * score
        rows.append(row)
    scores = np.array(rows, dtype=np.float64).reshape(len(lowers), _K)
    return scores, all_hits


# --- the model --------------------------------------------------------------------------------------------


def _fit(
    x: sparse.csr_matrix,
    y: np.ndarray,
    sample_weight: np.ndarray,
    *,
    offset: np.ndarray,
    weights: np.ndarray,
    anchor_to: np.ndarray | None = None,
    anchor: float = 0.0,
    intercept: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Multinomial logistic regression by L-BFGS: the weights of ``x``'s columns (and the intercepts when
    given) minimising the weighted log loss of ``offset + x @ W (+ b)`` plus ``L2/2 |W|^2`` plus
    ``anchor/2 |W - anchor_to|^2``. Deterministic: no randomness anywhere."""
    n, m = x.shape
    onehot = np.zeros((n, _K))
    onehot[np.arange(n), y] = 1.0
    xt = x.T.tocsr()
    fit_intercept = intercept is not None
    target = np.zeros_like(weights) if anchor_to is None else anchor_to

    def loss_and_gradient(v: np.ndarray) -> tuple[float, np.ndarray]:
        w = v[: m * _K].reshape(m, _K)
        z = offset + x @ w
        if fit_intercept:
            z = z + v[m * _K :]
        z = z - z.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(z).sum(axis=1))
        p = np.exp(z - log_norm[:, None])
        loss = _dot(sample_weight, log_norm - z[np.arange(n), y])
        loss += 0.5 * L2 * float((w * w).sum()) + 0.5 * anchor * float(((w - target) ** 2).sum())
        g = sample_weight[:, None] * (p - onehot)
        grad_w = xt @ g + L2 * w + anchor * (w - target)
        parts = [grad_w.ravel()]
        if fit_intercept:
            parts.append(g.sum(axis=0))
        return loss, np.concatenate(parts)

    start = [weights.ravel()] + ([intercept] if fit_intercept else [])
    solution = _lbfgs(loss_and_gradient, np.concatenate(start))
    fitted = solution[: m * _K].reshape(m, _K)
    return fitted, (solution[m * _K :].copy() if fit_intercept else None)


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # Not BLAS: its threads only add contention for vectors of a few tens of thousands of numbers, and
    # limiting them from inside a worker thread (threadpoolctl) can hang a Celery worker.
    return float(np.multiply(a, b).sum())


def _lbfgs(function, v: np.ndarray, *, history: int = 10, tolerance: float = 1e-6) -> np.ndarray:
    """Minimise a smooth convex ``function`` (returning value and gradient) by L-BFGS with a backtracking
    line search. scipy's L-BFGS-B spends most of its time on bound bookkeeping this problem does not need;
    this plain version is several times faster here and just as deterministic."""
    loss, gradient = function(v)
    steps: list[tuple[np.ndarray, np.ndarray, float]] = []
    for _ in range(MAX_ITERATIONS):
        direction = -gradient
        alphas = []
        for s, y, rho in reversed(steps):
            alpha = rho * _dot(s, direction)
            alphas.append(alpha)
            direction = direction - alpha * y
        if steps:
            s, y, _ = steps[-1]
            direction = direction * (_dot(s, y) / _dot(y, y))
        for (s, y, rho), alpha in zip(steps, reversed(alphas), strict=True):
            beta = rho * _dot(y, direction)
            direction = direction + (alpha - beta) * s
        slope = _dot(gradient, direction)
        if slope >= 0:  # not a descent direction: start the history again from the gradient
            steps.clear()
            direction, slope = -gradient, -_dot(gradient, gradient)
        step = 1.0 if steps else 1.0 / max(1.0, float(np.abs(gradient).max()))
        while True:
            candidate = v + step * direction
            new_loss, new_gradient = function(candidate)
            if new_loss <= loss + 1e-4 * step * slope or step < 1e-10:
                break
            step *= 0.5
        s, y = candidate - v, new_gradient - gradient
        if _dot(s, y) > 1e-12:
            steps.append((s, y, 1.0 / _dot(s, y)))
            if len(steps) > history:
                steps.pop(0)
        converged = loss - new_loss <= tolerance * max(1.0, abs(loss))
        v, loss, gradient = candidate, new_loss, new_gradient
        if converged:
            break
    return v


def read_seed_corpus(path: Path = SEED_CORPUS) -> list[tuple[str, str]]:
    """(text, intent) pairs of the seed corpus, in file order."""
    examples = []
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                row = json.loads(line)
                if row["intent"] not in _INTENT_INDEX:
                    raise ValueError(f"{path}: unknown intent {row['intent']!r}")
                examples.append((row["text"], row["intent"]))
    return examples


@dataclass(frozen=True)
class SeedModel:
    """The model trained on the seed corpus, shared read-only by every classifier of the process."""

    weights: np.ndarray  # (n_features, intents)
    intercept: np.ndarray  # (intents,)
    x: sparse.csr_matrix  # the seed corpus, vectorised: learn() refits against it
    y: np.ndarray
    build_seconds: float


def _examples_matrix(
    examples: Sequence[tuple[str, str]], n_features: int
) -> tuple[sparse.csr_matrix, np.ndarray]:
    x, _ = vectorize([text.lower() for text, _ in examples], n_features)
    return x, np.array([_INTENT_INDEX[intent] for _, intent in examples])


def train(
    examples: Sequence[tuple[str, str]],
    n_features: int,
    *,
    matrix: tuple[sparse.csr_matrix, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Weights (n_features x intents) and intercepts of a model trained from scratch on ``examples``."""
    x, y = matrix if matrix is not None else _examples_matrix(examples, n_features)
    used = np.unique(x.indices)
    fitted, intercept = _fit(
        x[:, used],
        y,
        np.ones(len(y)),
        offset=np.zeros((len(y), _K)),
        weights=np.zeros((len(used), _K)),
        intercept=np.zeros(_K),
    )
    weights = np.zeros((n_features, _K))
    weights[used] = fitted
    assert intercept is not None
    return weights, intercept


def seed_model(n_features: int = N_FEATURES) -> SeedModel:
    """The seed model, trained once per process (deterministic: same corpus, same weights)."""
    return _seed_model(n_features)


@lru_cache(maxsize=4)
def _seed_model(n_features: int) -> SeedModel:
    started = time.perf_counter()
    examples = read_seed_corpus()
    x, y = _examples_matrix(examples, n_features)
    weights, intercept = train(examples, n_features, matrix=(x, y))
    for array in (weights, intercept):
        array.setflags(write=False)
    return SeedModel(weights, intercept, x, y, time.perf_counter() - started)


def _hit_weight(hit: tuple[str, float]) -> float:
    return hit[1]


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


class IntentClassifier:
    """Intent, confidence, the words behind it and sentiment for posts; learns from agents' corrections.

    ``IntentClassifier()`` starts from the seed model (what a fresh install uses); ``seed=False`` gives the
    patterns alone until corrections are learned (for measuring the lexicons).
    """

    def __init__(self, *, n_features: int = N_FEATURES, seed: bool = True) -> None:
        self.version = 0  # times the model learned from corrections; 0: the seed model (or patterns) alone
        self.examples_seen = 0
        self.n_features = n_features
        self.seeded = seed
        self._push_cache: tuple[np.ndarray, np.ndarray] | None = None
        if seed:
            model = seed_model(n_features)
            self._weights, self._intercept = model.weights, model.intercept
        else:
            self._weights = np.zeros((n_features, _K))
            self._weights.setflags(write=False)
            self._intercept = np.zeros(_K)

    @classmethod
    def default(cls) -> IntentClassifier:
        """What a fresh install uses: the seed model and the patterns. The same as ``IntentClassifier()``."""
        return cls()

    @property
    def _uses_model(self) -> bool:
        return self.seeded or self.version > 0

    # --- classifying -------------------------------------------------------------------------------------

    def classify(self, facts: Facts) -> Classification:
        """What the classifier says about one post; the same answer ``classify_many`` gives for it."""
        return self.classify_many([facts])[0]

    def classify_many(self, facts: list[Facts]) -> list[Classification]:
        """Classify a batch: one vectoriser pass and one matrix product for all of it (the fast path)."""
        if not facts:
            return []
        texts = [f.text or "" for f in facts]
        lowers = [text.lower() for text in texts]
        compounds = [compound(text) for text in texts]
        scores, all_hits = pattern_scores(lowers, compounds)
        all_grams: list[tuple[list[str], list[int]]] = []
        model_alone = patterns_alone = None
        if self._uses_model:
            x, all_grams = vectorize(lowers, self.n_features)
            model_logits = x @ self._weights + self._intercept
            weight = PATTERN_WEIGHT if self.seeded else PATTERN_SHARPNESS
            probabilities = _softmax(weight * scores + MODEL_WEIGHT * model_logits)
            model_alone = _softmax(MODEL_WEIGHT * model_logits)
            patterns_alone = _softmax(weight * scores)
        else:
            probabilities = _softmax(PATTERN_SHARPNESS * scores)

        winners_array = probabilities.argmax(axis=1)
        winners = winners_array.tolist()
        orders = np.argsort(-probabilities, axis=1, kind="stable")
        ranked = np.take_along_axis(probabilities, orders, axis=1).tolist()
        confidences = probabilities[np.arange(len(facts)), winners_array].tolist()
        names = _INTENT_NAMES[orders].tolist()
        named = self._named_model_terms(all_grams, winners_array, model_alone, patterns_alone)
        results = []
        for row, winner in enumerate(winners):
            hits = all_hits[row][winner]
            terms = tuple(term for term, _ in sorted(hits, key=_hit_weight, reverse=True))
            model_terms, model_first = named[row]
            if model_terms:
                terms = tuple(dict.fromkeys(model_terms + terms if model_first else terms + model_terms))
            results.append(
                Classification(
                    intent=INTENTS[winner],
                    confidence=confidences[row],
                    sentiment=compounds[row],
                    sentiment_label=label_for(compounds[row]),
                    terms=terms,
                    model_version=self.version,
                    scores=tuple(zip(names[row], ranked[row], strict=True)),
                )
            )
        return results

    def _push(self) -> np.ndarray:
        """How much each column pushes each intent against the other intents' average (for explanations);
        computed once per set of weights."""
        if self._push_cache is None or self._push_cache[0] is not self._weights:
            push = (self._weights * _K - self._weights.sum(axis=1, keepdims=True)) / (_K - 1)
            self._push_cache = (self._weights, push)
        return self._push_cache[1]

    def _named_model_terms(
        self,
        all_grams: list[tuple[list[str], list[int]]],
        winners: np.ndarray,
        model_alone: np.ndarray | None,
        patterns_alone: np.ndarray | None,
    ) -> list[tuple[tuple[str, ...], bool]]:
        """Per post: the words that pushed the model most towards the winner (against the other intents'
        average), strongest first, when the model alone gives the winner at least MODEL_TERMS_MIN_SHARE;
        and whether they come before the patterns' words (the model was surer than the patterns). Words
        such as "the" carry weight too but explain nothing: they are skipped. One look-up for the batch."""
        if model_alone is None or patterns_alone is None:
            return [((), False)] * len(winners)
        rows = np.arange(len(winners))
        model_share = model_alone[rows, winners]
        wanted = (model_share >= MODEL_TERMS_MIN_SHARE).tolist()
        first = (model_share > patterns_alone[rows, winners]).tolist()
        flat_columns = [
            column for want, (_, columns) in zip(wanted, all_grams, strict=True) if want for column in columns
        ]
        flat_winners = [
            winner
            for want, winner, (_, columns) in zip(wanted, winners.tolist(), all_grams, strict=True)
            if want
            for _ in columns
        ]
        pushes = self._push()[flat_columns, flat_winners].tolist() if flat_columns else []
        named = []
        position = 0
        for row, want in enumerate(wanted):
            if not want:
                named.append(((), False))
                continue
            row_grams = all_grams[row][0]
            row_pushes = pushes[position : position + len(row_grams)]
            position += len(row_grams)
            best = sorted(
                (
                    (push, gram)
                    for gram, push in zip(row_grams, row_pushes, strict=True)
                    if push > 0 and gram not in _UNNAMED and "0" not in gram
                ),
                reverse=True,
            )
            named.append((tuple(dict.fromkeys(gram for _, gram in best))[:MODEL_TERMS], first[row]))
        return named

    # --- learning ----------------------------------------------------------------------------------------

    def learn(self, examples: Sequence[tuple[str, str]]) -> None:
        """Learn from (text, intent) pairs, agents' corrections; one more model version per call."""
        if not examples:
            return
        unknown = sorted({intent for _, intent in examples if intent not in _INTENT_INDEX})
        if unknown:
            raise ValueError(f"unknown intents: {unknown}")
        x_new, _ = vectorize([(text or "").lower() for text, _ in examples], self.n_features)
        y_new = np.array([_INTENT_INDEX[intent] for _, intent in examples])
        weight_new = np.full(len(y_new), CORRECTION_WEIGHT)
        if self.seeded:
            seed = seed_model(self.n_features)
            x = sparse.vstack([seed.x, x_new]).tocsr()
            y = np.concatenate([seed.y, y_new])
            sample_weight = np.concatenate([np.ones(len(seed.y)), weight_new])
        else:
            x, y, sample_weight = x_new, y_new, weight_new
        free = np.unique(x_new.indices)
        x_free = x[:, free]
        # Every other column (and the intercepts) stays as it is: its share of each post's logits is fixed.
        offset = x @ self._weights + self._intercept - x_free @ self._weights[free]
        fitted, _ = _fit(
            x_free,
            y,
            sample_weight,
            offset=offset,
            weights=self._weights[free].copy(),
            anchor_to=self._weights[free].copy(),
            anchor=ANCHOR,
        )
        weights = self._weights.copy()  # the seed's arrays are shared: never written in place
        weights[free] = fitted
        self._weights = weights
        self.version += 1
        self.examples_seen += len(examples)

    # --- state -------------------------------------------------------------------------------------------

    def _base_weights(self) -> np.ndarray | None:
        return seed_model(self.n_features).weights if self.seeded else None

    def dump_state(self) -> bytes:
        """The classifier as plain arrays in an ``.npz``: safe to store, loaded without unpickling. Holds the
        weights of the columns corrections changed, not the seed itself (rebuilt from the corpus)."""
        base = self._base_weights()
        changed = self._weights != base if base is not None else self._weights != 0.0
        columns = np.flatnonzero(np.any(changed, axis=1)).astype(np.int32)
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            format=np.int64(STATE_FORMAT),
            n_features=np.int64(self.n_features),
            classes=np.array(INTENTS, dtype=str),
            columns=columns,
            weights=np.ascontiguousarray(self._weights[columns].T, dtype=np.float64),
            seeded=np.int64(self.seeded),
            version=np.int64(self.version),
            examples_seen=np.int64(self.examples_seen),
        )
        return buffer.getvalue()

    @classmethod
    def load_state(cls, data: bytes) -> IntentClassifier:
        """A classifier from ``dump_state`` bytes: classifies as the original did and keeps learning.

        A format 1 state (the correction-only model of earlier releases) is read as corrections on top of
        the seed model. Raises ``ValueError`` for anything that is not a well-formed state, without running
        any code in it.
        """
        arrays = _read_state(data)
        n_features = int(arrays["n_features"])
        legacy = int(arrays["format"]) == 1
        classifier = cls(n_features=n_features, seed=legacy or bool(int(arrays["seeded"])))
        classifier.version = int(arrays["version"])
        classifier.examples_seen = int(arrays["examples_seen"])
        columns = arrays["columns"]
        if len(columns):
            weights = classifier._weights.copy()
            if legacy:  # corrections learned on their own: they add to the seed's weights
                weights[columns] += arrays["weights"][_SORTED_TO_INTENTS].T
            else:
                weights[columns] = arrays["weights"].T
            classifier._weights = weights
        return classifier


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
            if "format" not in keys:
                raise ValueError("classifier state has no format")
            state_format = npz["format"]
            if state_format.shape != () or state_format.dtype.kind != "i":
                raise ValueError("malformed classifier state: format must be an integer")
            expected = _STATE_KEYS.get(int(state_format))
            if expected is None:
                raise ValueError(f"classifier state format {int(state_format)} is not {STATE_FORMAT}")
            if keys != expected:
                raise ValueError(f"classifier state has keys {sorted(keys)}, expected {sorted(expected)}")
            arrays = {key: npz[key] for key in expected}
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

    legacy = int(arrays["format"]) == 1
    for name in ("format", "n_features", "version", "examples_seen") + (() if legacy else ("seeded",)):
        scalar(name, "i")
    if legacy:
        scalar("t", "f")
        if not np.isfinite(arrays["t"]):
            raise ValueError("malformed classifier state: a non-finite step counter")
    elif int(arrays["seeded"]) not in (0, 1):
        raise ValueError("malformed classifier state: seeded must be 0 or 1")
    n_features = int(arrays["n_features"])
    if not 2**8 <= n_features <= 2**20:
        raise ValueError(f"malformed classifier state: n_features {n_features} out of range")
    if int(arrays["version"]) < 0 or int(arrays["examples_seen"]) < 0:
        raise ValueError("malformed classifier state: negative counters")
    classes = arrays["classes"]
    expected = _SORTED_INTENTS if legacy else np.array(INTENTS)
    if classes.dtype.kind != "U" or classes.shape != expected.shape or not (classes == expected).all():
        raise ValueError("malformed classifier state: classes are not this version's intents")
    columns, weights = arrays["columns"], arrays["weights"]
    if columns.ndim != 1 or columns.dtype.kind not in "iu":
        raise ValueError("malformed classifier state: columns must be a vector of integers")
    if len(columns) and (columns.min() < 0 or columns.max() >= n_features or (np.diff(columns) <= 0).any()):
        raise ValueError("malformed classifier state: columns out of range or not increasing")
    if weights.dtype != np.float64 or weights.shape != (_K, len(columns)):
        raise ValueError("malformed classifier state: weights do not match the columns")
    if not np.isfinite(weights).all():
        raise ValueError("malformed classifier state: non-finite weights")


# --- calibration ------------------------------------------------------------------------------------------


def calibrate(folds: int = 5) -> dict[str, float]:
    """Fit PATTERN_WEIGHT, MODEL_WEIGHT and OTHER_BASELINE by maximum likelihood on out-of-fold predictions
    over the seed corpus: each fold's model is trained on the other folds (posts assigned to folds in file
    order, round robin, so the figures are deterministic)."""
    examples = read_seed_corpus()
    lowers = [text.lower() for text, _ in examples]
    y = np.array([_INTENT_INDEX[intent] for _, intent in examples])
    logits = np.zeros((len(examples), _K))
    fold_of = np.arange(len(examples)) % folds
    for fold in range(folds):
        train_rows = np.flatnonzero(fold_of != fold)
        weights, intercept = train([examples[i] for i in train_rows], N_FEATURES)
        test_rows = np.flatnonzero(fold_of == fold)
        x, _ = vectorize([lowers[i] for i in test_rows], N_FEATURES)
        logits[test_rows] = x @ weights + intercept
    compounds = [compound(text) for text, _ in examples]
    scores, _ = pattern_scores(lowers, compounds)
    scores[:, _OTHER] -= OTHER_BASELINE

    def nll(v: np.ndarray) -> float:
        shifted = scores.copy()
        shifted[:, _OTHER] += v[2]
        p = _softmax(v[0] * shifted + v[1] * logits)
        return -float(np.log(p[np.arange(len(y)), y] + 1e-12).mean())

    fitted = optimize.minimize(nll, np.array([1.0, 1.0, OTHER_BASELINE]), method="Nelder-Mead").x
    model_only = (logits.argmax(axis=1) == y).mean()
    shifted = scores.copy()
    shifted[:, _OTHER] += fitted[2]
    blended = (_softmax(fitted[0] * shifted + fitted[1] * logits).argmax(axis=1) == y).mean()
    return {
        "pattern_weight": round(float(fitted[0]), 3),
        "model_weight": round(float(fitted[1]), 3),
        "other_baseline": round(float(fitted[2]), 3),
        "out_of_fold_nll": round(nll(fitted), 4),
        "out_of_fold_accuracy_model": round(float(model_only), 4),
        "out_of_fold_accuracy_blend": round(float(blended), 4),
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["--calibrate"]:
        print(json.dumps(calibrate(), indent=2))
    else:
        model = seed_model()
        print(f"seed model: {len(model.y)} posts, built in {model.build_seconds:.2f}s")
