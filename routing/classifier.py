"""The routing engine's classifier: intent from our patterns and a statistical model that starts from our own
seed corpus and keeps learning from agents' corrections.

Two sources of evidence are combined, in log space (a product of experts), into one probability per intent:

* **Patterns** (``routing.lexicons``): each intent's score is the sum of the weights of the distinct terms
  found (strong 2, normal 1, hint 0.5); a clearly negative tone (``routing.sentiment``) adds to "complaint",
  a clearly positive one to "praise"; "other" has a small baseline so that a post with no evidence at all
  leans to it.
* **Crisis detector** (``routing.crisis``, trained on real disasters, customer care and the seed corpus):
  its log-odds less its decision threshold, times ``CRISIS_WEIGHT``, are added to "crisis_signal" (also
  with ``seed=False``; pass ``crisis=None`` for the patterns alone). It shares one hashing pass with the
  sentiment model.
* **Model**: scikit-learn's ``SGDClassifier`` (logistic loss, one binary model per intent against the rest,
  L2) over scikit-learn's ``HashingVectorizer`` (2^16 columns, binary, rows of unit length) of our tokens:
  words, "?", "!", emoji, with links, numbers and handles folded into one token each (``grams``). A fresh
  install starts from the model trained on ``routing/data/seed_examples.jsonl`` (our own hand-written posts,
  see its README): trained deterministically (fixed seed) once per process and shared, read-only, by every
  classifier (about 0.1 s; see ``seed_model``).

``p = softmax(PATTERN_WEIGHT * pattern_scores + MODEL_WEIGHT * model_logits + CRISIS_WEIGHT * crisis)``.
The first two weights and the "other" baseline were fitted by maximum likelihood on out-of-fold predictions
over the seed corpus (``python -m routing.classifier --calibrate`` prints the fit), with the first lexicon
layer only (``BASE_LEXICONS``: the second was written by the corpus's author and looks better on it than it
is), so the result aims to be a probability the engine's misdirect threshold (0.6) can use. A linear mix
of the two cannot be: an unsure source drags every confident answer towards the middle. On posts unlike
the corpus the blend is still somewhat over-confident
(held-back evaluation: mean confidence 0.73 at 65% accuracy).

**Learning** (``IntentClassifier.trained``) trains the model again from scratch on the seed corpus and
every correction kept (each weighing ``CORRECTION_WEIGHT`` seed posts), ``SEED_EPOCHS`` passes in an order
drawn from a fixed seed: the model after N corrections is the same whether they arrived one by one or in one
batch (the decaying incremental steps of earlier versions gave 60 or 68 macro-F1 for the same 500
corrections depending on how the worker batched them). The intercepts stay as the seed corpus set them, so
a batch of corrections of one intent (a biased sample: the posts the classifier got wrong) cannot teach
"most posts are X".
``version`` is the model version (``routing.models.ModelVersion``; 0: the seed model alone).

The state stored in the database is the coefficients of the columns that differ from the seed model's (or
from zero for ``seed=False``) and the intercepts, as plain arrays in an ``.npz`` loaded with
``allow_pickle=False`` (bytes from the database can never run code). A loaded classifier classifies exactly
as the original.
"""

from __future__ import annotations

import copy
import io
import json
import re
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy import optimize, sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, HashingVectorizer
from sklearn.linear_model import SGDClassifier

from routing import lexicons, textfeatures
from routing.crisis import CrisisDetector, incident_reported, shipped_detector
from routing.facts import INTENTS, Classification, Facts
from routing.lexicons import intent_hits
from routing.sentiment import NEGATIVE_AT_OR_BELOW, POSITIVE_AT_OR_ABOVE, SentimentModel, shipped_model

SEED_CORPUS = Path(__file__).resolve().parent / "data" / "seed_examples.jsonl"

# 65,536 hashed columns: the seed corpus and a few thousand corrections use a few tens of thousands of
# distinct 1-2 grams, so collisions stay rare.
N_FEATURES = 2**16
# The blend, fitted on out-of-fold predictions over the seed corpus (``--calibrate``).
PATTERN_WEIGHT = 1.418
MODEL_WEIGHT = 0.788
# "other" needs no words: a post with no evidence of anything leans to it, but one normal word beats it.
OTHER_BASELINE = 0.695
# How much a clearly negative (positive) sentiment score adds to "complaint" ("praise"), per unit of |score|.
TONE_WEIGHT = 1.0
# How much the crisis detector's log-odds (``routing.crisis``) add to "crisis_signal": fitted by maximum
# likelihood on leave-events-out predictions (``python -m routing.training --fit-crisis-weight``). Where a
# strong crisis pattern reports an incident ("down for everyone", "outage", "caught fire"), the detector may
# only add: it learned crisis talk from disasters and our seed corpus, and knows too few brand outages for
# its "no" to overrule a phrase that all but settles the intent (``routing.crisis.incident_reported``).
CRISIS_WEIGHT = 4.616
# Patterns only (``IntentClassifier(seed=False)``): softmax sharpness for the pattern scores.
PATTERN_SHARPNESS = 1.5
# L2 penalty of the SGD logistic regression (scikit-learn's alpha: per post, averaged).
ALPHA = 1e-4
# Passes over the seed corpus when the seed model is trained.
SEED_EPOCHS = 20
# A correction is an agent's deliberate label on a post the classifier got wrong: it counts as this many
# seed posts.
CORRECTION_WEIGHT = 12.0
# Model terms named in the explanation, at most, and only when the model alone gives the winner at least
# this probability.
MODEL_TERMS = 3
MODEL_TERMS_MIN_SHARE = 1 / 3

STATE_FORMAT = 3
# A state larger than this once unpacked is refused before it is read (a zip bomb in a database row).
MAX_STATE_UNPACKED_BYTES = 64 * 1024 * 1024
_STATE_KEYS = frozenset(
    {
        "format",
        "n_features",
        "classes",
        "columns",
        "weights",
        "intercept",
        "t",
        "seeded",
        "version",
        "examples_seen",
    }
)

_K = len(INTENTS)
_INTENT_INDEX = {intent: index for index, intent in enumerate(INTENTS)}
_INTENT_NAMES = np.array(INTENTS, dtype=object)
_OTHER = _INTENT_INDEX["other"]
_COMPLAINT = _INTENT_INDEX["complaint"]
_PRAISE = _INTENT_INDEX["praise"]
_CRISIS = _INTENT_INDEX["crisis_signal"]
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


def _tokens_as_given(tokens: list[str]) -> list[str]:
    return tokens


@lru_cache(maxsize=8)
def hasher(n_features: int) -> HashingVectorizer:
    """scikit-learn's hashing vectoriser over our tokens (``grams``): binary, each row scaled to unit length.
    Stateless, so one per width is shared by every classifier and thread."""
    return HashingVectorizer(
        n_features=n_features,
        analyzer=_tokens_as_given,
        alternate_sign=False,
        binary=True,
        norm="l2",
        dtype=np.float64,
    )


@lru_cache(maxsize=4096)
def cached_grams(text_lower: str) -> tuple[str, ...]:
    """``grams`` of a text, remembered for the last few thousand texts: a batch's posts are tokenised for
    the intent model and again, moments later, for the owner model."""
    return tuple(grams(text_lower))


def vectorize(texts_lower: Sequence[str], n_features: int) -> tuple[sparse.csr_matrix, list[tuple[str, ...]]]:
    """The model's rows for lower-cased texts (the vectoriser's: binary, unit length), and each text's
    tokens (to name them)."""
    all_grams = [cached_grams(text) for text in texts_lower]
    return hashed_rows(all_grams, n_features, unit_length=True), all_grams


# token -> column as the vectoriser hashes it, per width: the same few thousand tokens recur in every stream
# of posts, and a dictionary look-up is several times cheaper than asking the vectoriser again. Cleared when
# it grows past _COLUMN_CACHE_SIZE.
_COLUMN_CACHE: dict[int, dict[str, int]] = {}
_COLUMN_CACHE_SIZE = 2**18


def gram_columns(tokens: Sequence[str], n_features: int) -> list[int]:
    """The hashed column of each token, in order: the vectoriser's own hashing (tokens not seen before go
    through it in one call, one token a row)."""
    cache = _COLUMN_CACHE.setdefault(n_features, {})
    missing = list(dict.fromkeys(token for token in tokens if token not in cache))
    if missing:
        if len(cache) + len(missing) > _COLUMN_CACHE_SIZE:
            cache.clear()
            missing = list(dict.fromkeys(tokens))
        columns = hasher(n_features).transform([[token] for token in missing]).indices.tolist()
        cache.update(zip(missing, columns, strict=True))
    return [cache[token] for token in tokens]


def hashed_rows(
    token_lists: Sequence[Sequence[str]], n_features: int, *, unit_length: bool
) -> sparse.csr_matrix:
    """What ``hasher(n_features)`` makes of token lists (binary; each row scaled to unit length when
    ``unit_length``, else 1 where present), built from the cached columns (``gram_columns``): the same
    matrix, bit for bit, without the vectoriser's per-call cost."""
    cache = _COLUMN_CACHE.setdefault(n_features, {})
    indices: list[int] = []
    indptr = [0]
    for tokens in token_lists:
        try:
            found = {cache[token] for token in tokens}
        except KeyError:
            found = set(gram_columns(tokens, n_features))
        indices += sorted(found)
        indptr.append(len(indices))
    counts = np.diff(np.array(indptr, dtype=np.int64))
    if unit_length:
        scale = np.zeros(len(counts))
        present = counts > 0
        scale[present] = 1.0 / np.sqrt(counts[present].astype(np.float64))
        data = np.repeat(scale, counts)
    else:
        data = np.ones(len(indices))
    x = sparse.csr_matrix(
        (data, np.array(indices, dtype=np.int32), np.array(indptr, dtype=np.int32)),
        shape=(len(token_lists), n_features),
    )
    x.has_sorted_indices = True
    return x


def crisis_evidence(
    log_odds: np.ndarray, threshold: float, lowers: Sequence[str], all_hits: Sequence[list]
) -> np.ndarray:
    """What the detector adds to each post's "crisis_signal" score, before ``CRISIS_WEIGHT``: its log-odds
    less its decision threshold, never below 0 where a strong pattern reports an incident
    (``routing.crisis.incident_reported``; see ``CRISIS_WEIGHT``)."""
    evidence = log_odds - threshold
    if not len(evidence):
        return evidence
    floor = np.array(
        [
            incident_reported(lower, [term for term, weight in hits[_CRISIS] if weight >= lexicons.STRONG])
            if hits[_CRISIS]
            else False
            for lower, hits in zip(lowers, all_hits, strict=True)
        ]
    )
    return np.where(floor, np.maximum(evidence, 0.0), evidence)


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


def _new_model() -> SGDClassifier:
    """The learner: scikit-learn's logistic regression by stochastic gradient descent (one binary model per
    intent against the rest), deterministic (fixed seed)."""
    return SGDClassifier(
        loss="log_loss",
        penalty="l2",
        alpha=ALPHA,
        max_iter=SEED_EPOCHS,
        tol=None,
        shuffle=True,
        random_state=0,
    )


def _for_corrections(model: SGDClassifier) -> SGDClassifier:
    """Corrections move the word weights only: the intercepts (how common each intent is) stay as the seed
    corpus set them, and the epochs of ``learn`` are shuffled by ``learn`` itself (reproducibly)."""
    return model.set_params(fit_intercept=False, shuffle=False)


def _blank_model(n_features: int) -> SGDClassifier:
    """A model that knows nothing (all weights and intercepts 0), ready for ``partial_fit``: where a
    patterns-only classifier (``seed=False``) starts learning."""
    model = _for_corrections(_new_model())
    model.classes_ = np.arange(_K)
    model.coef_ = np.zeros((_K, n_features))
    model.intercept_ = np.zeros(_K)
    model.t_ = 1.0
    model.n_features_in_ = n_features
    return model


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
) -> SGDClassifier:
    """A model trained from scratch on ``examples`` (every intent must occur in them)."""
    x, y = matrix if matrix is not None else _examples_matrix(examples, n_features)
    model = _new_model().fit(x, y)
    if not np.array_equal(model.classes_, np.arange(_K)):
        raise ValueError("the training examples must cover every intent")
    return _for_corrections(model)


@dataclass(frozen=True)
class SeedModel:
    """The model trained on the seed corpus, shared read-only by every classifier of the process."""

    model: SGDClassifier  # never trained further: a classifier that learns works on its own copy
    weights: np.ndarray  # (n_features, intents): model.coef_ transposed, contiguous, for classifying
    x: sparse.csr_matrix  # the seed corpus, vectorised: trained on again with the corrections
    y: np.ndarray
    build_seconds: float

    @property
    def intercept(self) -> np.ndarray:
        return self.model.intercept_


def seed_model(n_features: int = N_FEATURES) -> SeedModel:
    """The seed model, trained once per process (deterministic: same corpus, same weights)."""
    return _seed_model(n_features)


@lru_cache(maxsize=4)
def _seed_model(n_features: int) -> SeedModel:
    started = time.perf_counter()
    examples = read_seed_corpus()
    x, y = _examples_matrix(examples, n_features)
    model = train(examples, n_features, matrix=(x, y))
    weights = np.ascontiguousarray(model.coef_.T)
    for array in (model.coef_, model.intercept_, weights):
        array.setflags(write=False)
    return SeedModel(model, weights, x, y, time.perf_counter() - started)


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

    def __init__(
        self,
        *,
        n_features: int = N_FEATURES,
        seed: bool = True,
        sentiment: SentimentModel | None = None,
        crisis: CrisisDetector | bool | None = True,
    ) -> None:
        # Sentiment: the shipped model unless given one (an organisation's, adjusted by its corrections).
        self.sentiment = sentiment if sentiment is not None else shipped_model()
        # The crisis detector: the shipped one (True), another one, or none (False/None: patterns alone).
        self.crisis = shipped_detector() if crisis is True else (crisis or None)
        if self.crisis is not None and self.crisis.n_features != self.sentiment.n_features:
            raise ValueError("the sentiment model and the crisis detector must share their features")
        self.version = 0  # times the model learned from corrections; 0: the seed model (or patterns) alone
        self.examples_seen = 0
        self.n_features = n_features
        self.seeded = seed
        self._push_cache: tuple[np.ndarray, np.ndarray] | None = None
        # The scikit-learn model: the shared seed model (never trained in place) unless ``trained`` made
        # one; None for patterns alone.
        self._model: SGDClassifier | None = seed_model(n_features).model if seed else None
        self._sync_weights()

    def _sync_weights(self) -> None:
        """The model's weights as classify_many uses them: (n_features, intents), contiguous."""
        if self._model is None:
            self._weights = np.zeros((self.n_features, _K))
            self._weights.setflags(write=False)
            self._intercept = np.zeros(_K)
        elif self.seeded and self._model is seed_model(self.n_features).model:
            self._weights = seed_model(self.n_features).weights
            self._intercept = self._model.intercept_
        else:
            self._weights = np.ascontiguousarray(self._model.coef_.T)
            self._intercept = self._model.intercept_.copy()

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
        # One hashing pass serves the sentiment model and the crisis detector.
        batch = textfeatures.rows(texts, self.sentiment.n_features)
        compounds, sentiment_labels = self.sentiment.score_rows(batch, texts)
        scores, all_hits = pattern_scores(lowers, compounds)
        all_grams: list[list[str]] = []
        model_alone = patterns_alone = None
        if self._uses_model:
            x, all_grams = vectorize(lowers, self.n_features)
            model_logits = x @ self._weights + self._intercept
            weight = PATTERN_WEIGHT if self.seeded else PATTERN_SHARPNESS
            logits = weight * scores + MODEL_WEIGHT * model_logits
            model_alone = _softmax(MODEL_WEIGHT * model_logits)
            patterns_alone = _softmax(weight * scores)
        else:
            logits = PATTERN_SHARPNESS * scores
        if self.crisis is not None:
            evidence = crisis_evidence(self.crisis.log_odds(batch), self.crisis.threshold, lowers, all_hits)
            logits[:, _CRISIS] += CRISIS_WEIGHT * evidence
        probabilities = _softmax(logits)

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
                    sentiment_label=sentiment_labels[row],
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
        all_grams: list[list[str]],
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
        flat_grams = [gram for want, row in zip(wanted, all_grams, strict=True) if want for gram in row]
        flat_columns = gram_columns(flat_grams, self.n_features)
        flat_winners = [
            winner
            for want, winner, row in zip(wanted, winners.tolist(), all_grams, strict=True)
            if want
            for _ in row
        ]
        pushes = self._push()[flat_columns, flat_winners].tolist() if flat_columns else []
        named = []
        position = 0
        for row, want in enumerate(wanted):
            if not want:
                named.append(((), False))
                continue
            row_grams = all_grams[row]
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

    @classmethod
    def trained(
        cls,
        corrections: Sequence[tuple[str, str]],
        *,
        version: int = 1,
        n_features: int = N_FEATURES,
        seed: bool = True,
        sentiment: SentimentModel | None = None,
        crisis: CrisisDetector | bool | None = True,
    ) -> IntentClassifier:
        """A classifier trained from scratch on the seed corpus and ``corrections`` ((text, intent) pairs,
        agents' labels, each weighing ``CORRECTION_WEIGHT`` seed posts), deterministically: the same
        corrections in the same order give the same weights, however they arrived (one by one or in one
        batch). The intercepts stay as the seed corpus set them (see the module docstring); ``version`` is
        the model version it becomes. With ``seed=False`` the corrections alone train it."""
        unknown = sorted({intent for _, intent in corrections if intent not in _INTENT_INDEX})
        if unknown:
            raise ValueError(f"unknown intents: {unknown}")
        classifier = cls(n_features=n_features, seed=seed, sentiment=sentiment, crisis=crisis)
        classifier.version = version
        classifier.examples_seen = len(corrections)
        if not corrections:
            return classifier
        x_new, _ = vectorize([(text or "").lower() for text, _ in corrections], n_features)
        y_new = np.array([_INTENT_INDEX[intent] for _, intent in corrections])
        weight_new = np.full(len(y_new), CORRECTION_WEIGHT)
        if seed:
            base = seed_model(n_features)
            x = sparse.vstack([base.x, x_new]).tocsr()
            y = np.concatenate([base.y, y_new])
            sample_weight = np.concatenate([np.ones(len(base.y)), weight_new])
            intercept = base.intercept.copy()
        else:
            x, y, sample_weight, intercept = x_new, y_new, weight_new, np.zeros(_K)
        # Passes in an order drawn from a fixed seed: the same examples give the same model, bit for bit.
        model = _blank_model(n_features)
        model.intercept_ = intercept
        order = np.random.default_rng(0)
        classes = np.arange(_K)
        for _ in range(SEED_EPOCHS):
            shuffled = order.permutation(len(y))
            model.partial_fit(
                x[shuffled], y[shuffled], classes=classes, sample_weight=sample_weight[shuffled]
            )
        classifier._model = model
        classifier._sync_weights()
        return classifier

    # --- state -------------------------------------------------------------------------------------------

    def dump_state(self) -> bytes:
        """The classifier as plain arrays in an ``.npz``: safe to store, loaded without unpickling. Holds the
        weights of the columns learning changed (not the seed model, rebuilt from the corpus), the
        intercepts and scikit-learn's step counter ``t_`` (where its learning rate schedule is)."""
        base = seed_model(self.n_features).model if self.seeded else _blank_model(self.n_features)
        model = self._model if self._model is not None else base
        columns = np.flatnonzero(np.any(model.coef_ != base.coef_, axis=0)).astype(np.int32)
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            format=np.int64(STATE_FORMAT),
            n_features=np.int64(self.n_features),
            classes=np.array(INTENTS, dtype=str),
            columns=columns,
            weights=np.ascontiguousarray(model.coef_[:, columns], dtype=np.float64),
            intercept=np.asarray(model.intercept_, dtype=np.float64),
            t=np.float64(model.t_),
            seeded=np.int64(self.seeded),
            version=np.int64(self.version),
            examples_seen=np.int64(self.examples_seen),
        )
        return buffer.getvalue()

    @classmethod
    def load_state(cls, data: bytes) -> IntentClassifier:
        """A classifier from ``dump_state`` bytes: classifies as the original did and keeps learning as it
        would have. Raises ``ValueError`` for anything that is not a well-formed state of this format
        (including the formats of earlier development versions), without running any code in it."""
        arrays = _read_state(data)
        n_features = int(arrays["n_features"])
        classifier = cls(n_features=n_features, seed=bool(int(arrays["seeded"])))
        classifier.version = int(arrays["version"])
        classifier.examples_seen = int(arrays["examples_seen"])
        if classifier.version == 0 and not len(arrays["columns"]):
            return classifier  # nothing learned: the seed model (or the patterns) as they are
        model = _blank_model(n_features)
        if classifier.seeded:
            model = copy.deepcopy(seed_model(n_features).model)
        model.coef_[:, arrays["columns"]] = arrays["weights"]
        model.intercept_[:] = arrays["intercept"]
        model.t_ = float(arrays["t"])
        classifier._model = model
        classifier._sync_weights()
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
            if int(state_format) != STATE_FORMAT:
                raise ValueError(
                    f"classifier state format {int(state_format)} is not {STATE_FORMAT}: states of earlier "
                    "development versions are not read (learn the corrections again)"
                )
            expected = _STATE_KEYS
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

    for name in ("format", "n_features", "version", "examples_seen", "seeded"):
        scalar(name, "i")
    scalar("t", "f")
    if not np.isfinite(arrays["t"]) or float(arrays["t"]) < 1.0:
        raise ValueError("malformed classifier state: a step counter t that is not finite and >= 1")
    if int(arrays["seeded"]) not in (0, 1):
        raise ValueError("malformed classifier state: seeded must be 0 or 1")
    n_features = int(arrays["n_features"])
    if not 2**8 <= n_features <= 2**20:
        raise ValueError(f"malformed classifier state: n_features {n_features} out of range")
    if int(arrays["version"]) < 0 or int(arrays["examples_seen"]) < 0:
        raise ValueError("malformed classifier state: negative counters")
    classes = arrays["classes"]
    expected = np.array(INTENTS)
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
    intercept = arrays["intercept"]
    if intercept.dtype != np.float64 or intercept.shape != (_K,) or not np.isfinite(intercept).all():
        raise ValueError("malformed classifier state: intercepts must be one finite number per intent")


# --- calibration ------------------------------------------------------------------------------------------


@contextmanager
def _base_lexicons_only() -> Iterator[None]:
    """The patterns of the first lexicon layer alone (``BASE_LEXICONS``), for calibrating; restored after."""
    saved = lexicons._SCAN, lexicons._MATCHERS
    lexicons._SCAN, lexicons._MATCHERS = lexicons.compile_lexicons(lexicons.BASE_LEXICONS)
    lexicons._attribution.cache_clear()
    try:
        yield
    finally:
        lexicons._SCAN, lexicons._MATCHERS = saved
        lexicons._attribution.cache_clear()


def calibrate(folds: int = 5) -> dict[str, float]:
    """Fit PATTERN_WEIGHT, MODEL_WEIGHT and OTHER_BASELINE by maximum likelihood on out-of-fold predictions
    over the seed corpus: each fold's model is trained on the other folds (posts assigned to folds in file
    order, round robin, so the figures are deterministic). The patterns are the first lexicon layer only
    (see the module docstring)."""
    examples = read_seed_corpus()
    lowers = [text.lower() for text, _ in examples]
    y = np.array([_INTENT_INDEX[intent] for _, intent in examples])
    logits = np.zeros((len(examples), _K))
    fold_of = np.arange(len(examples)) % folds
    for fold in range(folds):
        train_rows = np.flatnonzero(fold_of != fold)
        model = train([examples[i] for i in train_rows], N_FEATURES)
        test_rows = np.flatnonzero(fold_of == fold)
        x, _ = vectorize([lowers[i] for i in test_rows], N_FEATURES)
        logits[test_rows] = model.decision_function(x)
    compounds = [score for score, _ in shipped_model().score_many([text for text, _ in examples])]
    with _base_lexicons_only():
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
