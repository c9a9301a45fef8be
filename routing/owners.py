"""The owner model: which team owns a post, learned from what the teams do. Pure: no ORM, no I/O.

Owners are the organisation's own teams, however many (admins add and remove them). The model is a
multinomial logistic regression whose logit for team ``k`` and post ``x`` is

    z_k = w_k · x + b_k + log P_map(k | x) + gamma · [k is the receiving team]

* ``x`` is the post's content words (``owner_vectorize``: no function words, marks, handles or numbers),
  hashed as the intent model hashes its tokens.
* ``P_map(k | x)`` is where the intent map would send the post: the intent model's probability of each
  intent, summed over the intents whose segment belongs to team ``k`` (the intents nobody owns, and those
  whose segment has no team, count for the receiving team), mixed with ``MAP_SMOOTHING`` of a uniform
  choice. It is the prior: how the admins' map and the intent model take part in every decision, and why
  an untrained model (``w = b = 0``, ``gamma = 0``) decides as the intent map does.
* ``w`` learns, per team, the words of the posts it handled (history), was given by a re-route, accepted
  from an escalation or kept when its lead decided (corrections, each weighing ``CORRECTION_WEIGHT``
  handled posts); a bounced escalation is evidence *against* the team that bounced it (``-log(1 - p)``).
* ``b`` (how common each team's posts are) is learned from history only: corrections are the posts routing
  got wrong, a biased sample that would teach "everything belongs to the team corrected to".
* ``gamma`` (how often posts land on the right account) stays 0: neither sample can teach it. Corrections
  would say "never", and history "always", since the posts a team handled where they landed are the ones
  routing kept there: learning it from them would only make routing agree with itself. The receiving
  team gets what the map gives nobody.
  ``models_fit`` adds the seed corpus's posts, labelled by the intent map, as anchors (see ``anchors``).

Training (``OwnerModel.fit``) minimises the weighted log loss plus L2 penalties by L-BFGS from zero, over
the examples in the order of their ``key``: the same examples give the same model, bit for bit, however and
whenever they arrived. Teams no example is for get ``w = 0`` and the other teams' average ``b`` (only
the map and the receiving term speak for them); teams deleted since drop out of the softmax.

The probabilities are divided by a temperature (``calibrate``), fitted on examples the model did not see,
so that a confidence of 0.8 is right about 80% of the time.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import optimize, sparse
from threadpoolctl import threadpool_limits

from routing.classifier import (
    _UNNAMED,
    N_FEATURES,
    IntentClassifier,
    cached_grams,
    gram_columns,
    hashed_rows,
)
from routing.classifier import CORRECTION_WEIGHT as INTENT_CORRECTION_WEIGHT
from routing.facts import INTENTS, Classification, Facts

_INTENT_COLUMN = {intent: column for column, intent in enumerate(INTENTS)}

# A correction (re-route, accepted or bounced escalation) is an agent's deliberate judgement; a handled post
# is a quiet one (the team did not object). A correction weighs what it weighs for the intent model.
CORRECTION_WEIGHT = INTENT_CORRECTION_WEIGHT
HISTORY_WEIGHT = 1.0
# L2 penalties, on the sum of the weighted losses. Weak on the words (scikit-learn's C = 50 for a handled
# post): a new team's first few corrections must be able to teach its product's name against a prior that
# gives the team nothing; with 3 corrections, 0.1 left such a post short of the 0.6 threshold. On the 25
# brands' customer-care posts (``make eval``) accuracy was the same with 0.1, 0.05 and 0.02, only more
# confident, which the temperature corrects.
L2 = 0.02
L2_INTERCEPT = 0.1
L2_ALPHA = 1.0  # on (alpha - 1); alpha is held at 1 (see OwnerModel.fit)
L2_GAMMA = 0.1
MAX_ITERATIONS = 400
# The intent map is a prior, not a certainty: its probabilities are mixed with this share of a uniform
# choice among the teams, so that a team the map gives nothing (one that owns no intent, a new one) starts
# a few nats behind, not out of reach of its words.
MAP_SMOOTHING = 0.2
# Words named in an explanation.
TERMS = 3

# A temperature is fitted on at least this many posts: how sure a model should be cannot be read off a few
# dozen (with three corrections and 39 handled posts, it took one new team's first three posts for
# "overconfident"); with fewer, confidences stay as trained.
CALIBRATION_MIN_POSTS = 100
# The temperature is searched in this range: beyond it the model is not miscalibrated but useless.
TEMPERATURE_MIN = 0.2
TEMPERATURE_MAX = 5.0

STATE_FORMAT = 1
MAX_STATE_UNPACKED_BYTES = 64 * 1024 * 1024
_STATE_KEYS = frozenset(
    {
        "format",
        "n_features",
        "classes",
        "columns",
        "weights",
        "intercept",
        "alpha",
        "gamma",
        "temperature",
        "corrections",
        "history",
        "vocabulary",
        "idf",
    }
)


@dataclass(frozen=True, slots=True)
class OwnerExample:
    """One piece of evidence about who owns a post."""

    text: str
    receiving: str  # slug of the team whose account received it ("" when none)
    team: str  # slug of the team it is evidence for (or against)
    weight: float = HISTORY_WEIGHT
    against: bool = False  # evidence that ``team`` does not own it (a bounce)
    correction: bool = False  # an agent's correction (else the team's history)
    anchor: bool = False  # a seed-corpus post labelled by the intent map (``anchors``), not a team's history
    key: tuple = ()  # the order examples are trained in; ties keep the given order
    # The intent model's probability for each intent (``routing.facts.INTENTS`` order); filled in by the
    # trainer, which classifies the texts once.
    intents: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class OwnerGuess:
    """What the owner model says about one post, given the intent map of the rule set deciding it."""

    team: str  # the likeliest team
    confidence: float  # its calibrated probability
    map_team: (
        str  # where the intent map alone would send it (rule_set's owner when confident, else receiving)
    )
    map_team_p: float  # the calibrated probability of ``map_team``
    terms: tuple[str, ...] = ()  # the words that pushed towards ``team``, strongest first
    corrections: int = 0  # corrections the model learned for ``team``
    history: int = 0  # handled posts the model learned for ``team``
    learned: bool = (
        False  # a trained model overrules the intent map: ``team`` is sure enough and not map_team
    )


def owner_vectorize(texts: Sequence[str], n_features: int) -> tuple[sparse.csr_matrix, list[list[str]]]:
    """The owner model's words of each post, hashed as the intent model hashes its tokens, 1 where present
    (``OwnerModel.rows`` weights and scales them): the intent model's tokens (``grams``) less function
    words, marks, handles, links and numbers. Who owns a post is a matter of what it is about; how it is
    said (a question, a greeting) is the intent model's part, which reaches the owner model through the
    map. Function words would also dilute the few words that name a product line."""
    tokens = [_content_words((text or "").lower()) for text in texts]
    return hashed_rows(tokens, n_features, unit_length=False), tokens


@lru_cache(maxsize=4096)
def _content_words(text_lower: str) -> tuple[str, ...]:
    return tuple(
        token
        for token in cached_grams(text_lower)
        if token not in _UNNAMED and len(token) > 1 and "0" not in token
    )


def _weighted(x: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """Rows of present words times their inverse document frequency (0 for words training never saw),
    scaled to unit length: rare words (a product line's name) count for more than common ones."""
    weighted = sparse.csr_matrix(x.multiply(idf[None, :]))
    weighted.eliminate_zeros()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ weighted)


def map_probabilities(
    intent_p: np.ndarray, intents: Sequence[str], teams: Sequence[str], receiving: Sequence[str],
    intent_teams: Mapping[str, str],
) -> np.ndarray:  # fmt: skip
    """``P_map``: (posts, teams). ``intent_teams``: intent -> owning team slug ("" or absent: nobody, so
    the receiving team)."""
    index = {team: column for column, team in enumerate(teams)}
    n = intent_p.shape[0]
    owned = np.zeros((len(intents), len(teams)))
    unowned = np.zeros(len(intents))
    for row, intent in enumerate(intents):
        team = intent_teams.get(intent) or ""
        if team in index:
            owned[row, index[team]] = 1.0
        else:
            unowned[row] = 1.0
    result = intent_p @ owned
    leftover = intent_p @ unowned
    receiving_columns = np.array([index.get(team, -1) for team in receiving], dtype=np.int64)
    has = receiving_columns >= 0
    result[np.flatnonzero(has), receiving_columns[has]] += leftover[has]
    if not n or not len(teams):
        return result
    total = result.sum(axis=1, keepdims=True)
    result = np.divide(result, total, out=np.full_like(result, 1.0 / len(teams)), where=total > 0)
    return (1.0 - MAP_SMOOTHING) * result + MAP_SMOOTHING / len(teams)


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@dataclass
class OwnerModel:
    """Learned owners; ``OwnerModel()`` is the untrained one (the intent map decides)."""

    n_features: int = N_FEATURES
    classes: tuple[str, ...] = ()  # team slugs it has weights for, sorted
    columns: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))
    weights: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))  # (len(columns), len(classes))
    intercept: np.ndarray = field(default_factory=lambda: np.zeros(0))
    alpha: float = 1.0
    gamma: float = 0.0
    temperature: float = 1.0
    vocabulary: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int32))  # columns seen
    idf: np.ndarray = field(default_factory=lambda: np.zeros(0))  # their inverse document frequencies
    corrections: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # per class
    history: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # per class
    iterations: int = field(default=0, compare=False)  # L-BFGS iterations of the fit (not stored)
    _dense: np.ndarray | None = field(default=None, repr=False, compare=False)
    _idf_dense: np.ndarray | None = field(default=None, repr=False, compare=False)

    def rows(self, x: sparse.csr_matrix) -> sparse.csr_matrix:
        """``owner_vectorize``'s rows weighted as the model was trained (``_weighted``)."""
        if self._idf_dense is None:
            idf = np.zeros(self.n_features)
            idf[self.vocabulary] = self.idf
            self._idf_dense = idf
        return _weighted(x, self._idf_dense)

    @property
    def trained(self) -> bool:
        return bool(len(self.classes))

    def dense(self) -> np.ndarray:
        """The word weights as (n_features, classes), for classifying with one matrix product."""
        if self._dense is None:
            dense = np.zeros((self.n_features, len(self.classes)))
            if len(self.columns):
                dense[self.columns] = self.weights
            dense.setflags(write=False)
            self._dense = dense
        return self._dense

    # --- classifying ---------------------------------------------------------------------------------

    def probabilities(
        self, x: sparse.csr_matrix, intent_p: np.ndarray, intents: Sequence[str], teams: Sequence[str],
        receiving: Sequence[str], intent_teams: Mapping[str, str],
    ) -> np.ndarray:  # fmt: skip
        """Calibrated P(team | post) over ``teams`` (the organisation's teams now): (posts, teams)."""
        logits = self.logits(x, intent_p, intents, teams, receiving, intent_teams)
        return _softmax(logits / self.temperature)

    def logits(
        self, x: sparse.csr_matrix, intent_p: np.ndarray, intents: Sequence[str], teams: Sequence[str],
        receiving: Sequence[str], intent_teams: Mapping[str, str],
    ) -> np.ndarray:  # fmt: skip
        n = x.shape[0]
        logits = self.alpha * np.log(map_probabilities(intent_p, intents, teams, receiving, intent_teams))
        if self.trained and n:
            index = {team: column for column, team in enumerate(self.classes)}
            known = [(column, index[team]) for column, team in enumerate(teams) if team in index]
            if known:
                ours, theirs = (np.array(part) for part in zip(*known, strict=True))
                logits[:, ours] += (self.rows(x) @ self.dense()[:, theirs]) + self.intercept[theirs]
        if self.gamma:
            team_index = {team: column for column, team in enumerate(teams)}
            columns = np.array([team_index.get(team, -1) for team in receiving], dtype=np.int64)
            has = np.flatnonzero(columns >= 0)
            logits[has, columns[has]] += self.gamma
        return logits

    def terms(self, tokens: Sequence[str], team: str) -> tuple[str, ...]:
        """The post's words that pushed most towards ``team`` against the other teams' average."""
        if team not in self.classes or len(self.classes) < 2 or not tokens:
            return ()
        column = self.classes.index(team)
        dense = self.dense()
        unique = [token for token in dict.fromkeys(tokens) if token not in _UNNAMED and "0" not in token]
        if not unique:
            return ()
        rows = dense[gram_columns(unique, self.n_features)]
        push = rows[:, column] - (rows.sum(axis=1) - rows[:, column]) / (len(self.classes) - 1)
        best = sorted(
            ((p, token) for token, p in zip(unique, push.tolist(), strict=True) if p > 0), reverse=True
        )
        return tuple(token for _, token in best[:TERMS])

    def counts(self, team: str) -> tuple[int, int]:
        """(corrections, handled posts) the model learned for ``team``."""
        if team not in self.classes:
            return 0, 0
        column = self.classes.index(team)
        return int(self.corrections[column]), int(self.history[column])

    # --- training ------------------------------------------------------------------------------------

    @classmethod
    def fit(
        cls,
        examples: Sequence[OwnerExample],
        *,
        intents: Sequence[str],
        intent_teams: Mapping[str, str],
        teams: Sequence[str] = (),
        n_features: int = N_FEATURES,
    ) -> OwnerModel:
        """The model trained on ``examples`` (each with its ``intents`` probabilities filled in), from zero.
        ``teams``: more teams to know (the organisation's, even those without examples yet)."""
        ordered = sorted(enumerate(examples), key=lambda pair: (pair[1].key, pair[0]))
        examples = [example for _, example in ordered]
        classes = tuple(
            sorted({e.team for e in examples} | {e.receiving for e in examples if e.receiving} | set(teams))
        )
        model = cls(n_features=n_features)
        if not examples or not classes:
            return model
        k = len(classes)
        index = {team: column for column, team in enumerate(classes)}
        x_counts, _ = owner_vectorize([e.text for e in examples], n_features)
        # Inverse document frequency over the examples' texts (smoothed, as scikit-learn's TfidfTransformer).
        vocabulary = np.unique(x_counts.indices).astype(np.int32)
        document_frequency = np.bincount(x_counts.indices, minlength=n_features)[vocabulary]
        idf = np.log((1.0 + len(examples)) / (1.0 + document_frequency)) + 1.0
        model.vocabulary, model.idf = vocabulary, idf
        columns, x = _compact(model.rows(x_counts))
        intent_p = np.array([e.intents for e in examples], dtype=np.float64).reshape(
            len(examples), len(intents)
        )
        receiving = [e.receiving for e in examples]
        log_map = np.log(map_probabilities(intent_p, intents, classes, receiving, intent_teams))
        recv = np.zeros((len(examples), k))
        for row, team in enumerate(receiving):
            if team in index:
                recv[row, index[team]] = 1.0
        target = np.array([index[e.team] for e in examples])
        weight = np.array([e.weight for e in examples], dtype=np.float64)
        against = np.array([e.against for e in examples])
        # Base rates (b, gamma) are learned from the unselected examples only: corrections are the posts
        # routing got wrong, a biased sample that would teach "posts never belong where they land" and
        # "everything belongs to the team corrected to". They teach words (given the map), nothing else.
        base = np.array([0.0 if e.correction else 1.0 for e in examples])[:, None]
        recv *= base
        # A team no unselected example shows has no base rate to learn: its b stays 0 (then the average).
        has_base = np.zeros(k)
        # Receiving counts: a team whose account receives handled posts it never owns (a shared inbox) has
        # a base rate to learn: a low one.
        base_examples = [e for e in examples if not e.correction and not e.against]
        has_base[[index[e.team] for e in base_examples]] = 1.0
        has_base[[index[e.receiving] for e in base_examples if e.receiving]] = 1.0
        # A team no example is for has no words to learn: its w stays 0.
        has_words = np.zeros(k)
        has_words[[index[e.team] for e in examples if not e.against]] = 1.0
        a = x.shape[1]

        def unpack(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
            return theta[: a * k].reshape(a, k), theta[a * k : a * k + k], theta[-2], theta[-1]

        rows = np.arange(len(examples))

        def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w, b, alpha, gamma = unpack(theta)
            z = x @ w + base * b + alpha * log_map + gamma * recv
            z -= z.max(axis=1, keepdims=True)
            exp = np.exp(z)
            total = exp.sum(axis=1, keepdims=True)
            p = exp / total
            p_target = p[rows, target]
            log_p_target = z[rows, target] - np.log(total[:, 0])
            # Positives: -log p; against: -log(1 - p), with its gradient p/(1-p) (e_n - p).
            one_minus = np.maximum(1.0 - p_target, 1e-12)
            loss_rows = np.where(against, -np.log(one_minus), -log_p_target)
            g = p.copy()
            g[rows, target] -= 1.0  # positives: p - e_y
            scale = np.where(against, -p_target / one_minus, 1.0)  # against: -(p_n/(1-p_n)) (p - e_n)
            g *= (weight * scale)[:, None]
            loss = float(weight @ loss_rows)
            loss += 0.5 * (L2 * float((w * w).sum()) + L2_INTERCEPT * float(b @ b))
            loss += 0.5 * (L2_ALPHA * (alpha - 1.0) ** 2 + L2_GAMMA * gamma**2)
            grad_w = (np.asarray(x.T @ g) + L2 * w) * has_words
            grad_b = ((g * base).sum(axis=0) + L2_INTERCEPT * b) * has_base
            grad_alpha = 0.0  # alpha stays 1: the intent map is the prior, not a feature to fit (see fit)
            grad_gamma = 0.0  # gamma stays 0: see the module docstring
            return loss, np.concatenate([grad_w.ravel(), grad_b, [grad_alpha, grad_gamma]])

        start = np.zeros(a * k + k + 2)
        start[-2] = 1.0
        # One BLAS thread: the vectors are small, and threads fighting over two busy cores made a
        # one-second fit take twenty.
        with threadpool_limits(limits=1):
            result = optimize.minimize(
                loss_and_gradient,
                start,
                jac=True,
                method="L-BFGS-B",
                options={"maxiter": MAX_ITERATIONS, "gtol": 1e-6},
            )
        w, b, alpha, gamma = unpack(result.x)
        if has_base.any():  # no base rate: the known teams' average (the softmax ignores a common shift)
            b = np.where(has_base > 0, b, b[has_base > 0].mean())
        model.iterations = int(result.nit)
        keep = np.flatnonzero(np.any(w != 0.0, axis=1))
        model.classes = classes
        model.columns = columns[keep].astype(np.int32)
        model.weights = np.ascontiguousarray(w[keep])
        model.intercept = b.copy()
        model.alpha, model.gamma = float(alpha), float(gamma)
        model.corrections = np.bincount(
            [index[e.team] for e in examples if e.correction and not e.against], minlength=k
        ).astype(np.int64)
        model.history = np.bincount(
            [index[e.team] for e in examples if not e.correction and not e.anchor], minlength=k
        ).astype(np.int64)
        return model

    def calibrate(
        self, examples: Sequence[OwnerExample], *, intents: Sequence[str], intent_teams: Mapping[str, str]
    ) -> float:
        """Fit the temperature on ``examples`` the model did not see (their positives, weighted as in
        training): the one number that makes the confidences as sure as the model is right. Keeps 1.0
        when there are too few. Returns the temperature."""
        logits, target, weight = self.calibration_logits(examples, intents=intents, intent_teams=intent_teams)
        self.temperature = temperature_fit(logits, target, weight)
        return self.temperature

    def calibration_logits(
        self, examples: Sequence[OwnerExample], *, intents: Sequence[str], intent_teams: Mapping[str, str]
    ) -> tuple[list[np.ndarray], list[int], list[float]]:
        """Per positive example of a team the model knows: its logits (over the teams it may go to), the
        column of its team, its weight. Posts of a team the model has no examples of (a new team's first
        corrections) say nothing about how sure the model is: it cannot know the team; fitted on them,
        the temperature would flatten every confidence."""
        known = {team for column, team in enumerate(self.classes) if self.dense()[:, column].any()}
        positives = [e for e in examples if not e.against and e.team in known]
        if not positives:
            return [], [], []
        teams = tuple(
            sorted({*self.classes, *(e.team for e in positives), *(e.receiving for e in positives)} - {""})
        )
        index = {team: column for column, team in enumerate(teams)}
        x, _ = owner_vectorize([e.text for e in positives], self.n_features)
        intent_p = np.array([e.intents for e in positives], dtype=np.float64).reshape(
            len(positives), len(intents)
        )
        logits = self.logits(x, intent_p, intents, teams, [e.receiving for e in positives], intent_teams)
        return list(logits), [index[e.team] for e in positives], [e.weight for e in positives]

    # --- state ---------------------------------------------------------------------------------------

    def dump(self) -> bytes:
        """The model as plain arrays in an ``.npz``: safe to store, loaded without unpickling."""
        buffer = io.BytesIO()
        np.savez_compressed(
            buffer,
            format=np.int64(STATE_FORMAT),
            n_features=np.int64(self.n_features),
            classes=np.array(self.classes, dtype=str).reshape(len(self.classes)),
            columns=np.asarray(self.columns, dtype=np.int32),
            weights=np.asarray(self.weights, dtype=np.float64).reshape(len(self.columns), len(self.classes)),
            intercept=np.asarray(self.intercept, dtype=np.float64),
            alpha=np.float64(self.alpha),
            gamma=np.float64(self.gamma),
            temperature=np.float64(self.temperature),
            corrections=np.asarray(self.corrections, dtype=np.int64),
            history=np.asarray(self.history, dtype=np.int64),
            vocabulary=np.asarray(self.vocabulary, dtype=np.int32),
            idf=np.asarray(self.idf, dtype=np.float64),
        )
        return buffer.getvalue()

    @classmethod
    def load(cls, data: bytes) -> OwnerModel:
        """A model from ``dump`` bytes; ``ValueError`` for anything else (never runs code in it)."""
        raw = bytes(data)
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                if sum(info.file_size for info in archive.infolist()) > MAX_STATE_UNPACKED_BYTES:
                    raise ValueError("owner model state unpacks to more than allowed")
            with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
                if set(npz.files) != _STATE_KEYS:
                    raise ValueError(f"owner model state has keys {sorted(npz.files)}")
                arrays = {key: npz[key] for key in _STATE_KEYS}
        except (zipfile.BadZipFile, OSError, EOFError, KeyError) as error:
            raise ValueError(f"malformed owner model state: {error}") from error
        try:
            return cls._from_arrays(arrays)
        except (TypeError, ValueError, OverflowError) as error:
            raise ValueError(f"malformed owner model state: {error}") from error

    @classmethod
    def _from_arrays(cls, arrays: dict[str, np.ndarray]) -> OwnerModel:
        def scalar(name: str, kinds: str) -> np.ndarray:
            value = arrays[name]
            if value.shape != () or value.dtype.kind not in kinds:
                raise ValueError(f"{name} must be a scalar of kind {kinds!r}")
            return value

        if int(scalar("format", "i")) != STATE_FORMAT:
            raise ValueError(f"format {int(arrays['format'])} is not {STATE_FORMAT}")
        n_features = int(scalar("n_features", "i"))
        alpha, gamma = float(scalar("alpha", "f")), float(scalar("gamma", "f"))
        temperature = float(scalar("temperature", "f"))
        classes = arrays["classes"]
        k = len(classes)
        columns, weights = arrays["columns"], arrays["weights"]
        intercept, corrections, history = arrays["intercept"], arrays["corrections"], arrays["history"]
        if not 2**8 <= n_features <= 2**20:
            raise ValueError(f"n_features {n_features} out of range")
        if classes.ndim != 1 or (k and classes.dtype.kind != "U") or len(set(classes.tolist())) != k:
            raise ValueError("classes must be distinct team slugs")
        if columns.ndim != 1 or columns.dtype.kind not in "iu":
            raise ValueError("columns must be a vector of integers")
        if len(columns) and (
            columns.min() < 0 or columns.max() >= n_features or (np.diff(columns) <= 0).any()
        ):
            raise ValueError("columns out of range or not increasing")
        if weights.dtype.kind != "f" or weights.shape != (len(columns), k):
            raise ValueError("weights do not match the columns and classes")
        if intercept.dtype.kind != "f" or intercept.shape != (k,):
            raise ValueError("intercepts must be one number per class")
        for name, counts in (("corrections", corrections), ("history", history)):
            if counts.dtype.kind not in "iu" or counts.shape != (k,) or (counts < 0).any():
                raise ValueError(f"{name} must be one count per class")
        if not (
            np.isfinite(weights).all() and np.isfinite(intercept).all() and np.isfinite([alpha, gamma]).all()
        ):
            raise ValueError("non-finite weights")
        if not TEMPERATURE_MIN <= temperature <= TEMPERATURE_MAX:
            raise ValueError(f"temperature {temperature} out of range")
        vocabulary, idf = arrays["vocabulary"], arrays["idf"]
        if vocabulary.ndim != 1 or vocabulary.dtype.kind not in "iu" or idf.dtype.kind != "f":
            raise ValueError("vocabulary must be a vector of integers with one idf each")
        if idf.shape != vocabulary.shape or not np.isfinite(idf).all() or (idf < 0).any():
            raise ValueError("vocabulary must be a vector of integers with one idf each")
        if len(vocabulary) and (vocabulary.min() < 0 or vocabulary.max() >= n_features):
            raise ValueError("vocabulary out of range")
        return cls(
            n_features=n_features,
            classes=tuple(str(team) for team in classes.tolist()),
            columns=columns.astype(np.int32),
            weights=weights.astype(np.float64),
            intercept=intercept.astype(np.float64),
            alpha=alpha,
            gamma=gamma,
            temperature=temperature,
            corrections=corrections.astype(np.int64),
            history=history.astype(np.int64),
            vocabulary=vocabulary.astype(np.int32),
            idf=idf.astype(np.float64),
        )


def temperature_fit(logits: Sequence[np.ndarray], target: Sequence[int], weight: Sequence[float]) -> float:
    """The temperature that maximises the weighted likelihood of ``target`` under ``logits / T`` (rows may
    have different lengths: each post's teams); 1.0 with fewer than ``CALIBRATION_MIN_POSTS``."""
    if len(target) < CALIBRATION_MIN_POSTS:
        return 1.0
    groups: dict[int, list[int]] = {}
    for row, values in enumerate(logits):
        groups.setdefault(len(values), []).append(row)
    stacked = [
        (
            np.array([logits[r] for r in rows]),
            np.array([target[r] for r in rows]),
            np.array([weight[r] for r in rows]),
        )
        for rows in groups.values()
    ]

    def nll(log_t: float) -> float:
        total = 0.0
        for z, t, w in stacked:
            z = z / np.exp(log_t)
            z = z - z.max(axis=1, keepdims=True)
            log_p = z[np.arange(len(t)), t] - np.log(np.exp(z).sum(axis=1))
            total -= float(w @ log_p)
        return total

    fitted = optimize.minimize_scalar(
        nll, bounds=(np.log(TEMPERATURE_MIN), np.log(TEMPERATURE_MAX)), method="bounded"
    )
    return float(np.exp(fitted.x))


def temperature_cross_validated(
    examples: Sequence[OwnerExample],
    *,
    intent: IntentClassifier,
    intent_teams: Mapping[str, str],
    teams: Sequence[str],
    folds: int = 3,
) -> float:
    """The temperature fitted on out-of-fold logits: each fold's posts scored by an owner model trained
    (with the anchors) on the other folds, folds taken round robin in the examples' key order. What the
    model trained on all of them is calibrated with when the examples are few enough to train ``folds``
    more times: a model trained without the newest corrections is weaker than the one it would
    calibrate, and too timid a temperature stops routing from moving what it knows."""
    ordered = sorted(examples, key=lambda e: e.key)
    filled = with_intents(intent, [*anchors(intent_teams, teams), *ordered])
    anchored, rest = filled[: len(filled) - len(ordered)], filled[len(filled) - len(ordered) :]
    logits: list[np.ndarray] = []
    target: list[int] = []
    weight: list[float] = []
    for fold in range(folds):
        train = [e for i, e in enumerate(rest) if i % folds != fold]
        held = [e for i, e in enumerate(rest) if i % folds == fold]
        model = OwnerModel.fit([*anchored, *train], intents=INTENTS, intent_teams=intent_teams, teams=teams)
        fold_logits, fold_target, fold_weight = model.calibration_logits(
            held, intents=INTENTS, intent_teams=intent_teams
        )
        logits += fold_logits
        target += fold_target
        weight += fold_weight
    return temperature_fit(logits, target, weight)


def guess_many(
    model: OwnerModel, facts_list: Sequence[Facts], classifications: Sequence[Classification], rule_set: Any
) -> list[OwnerGuess | None]:
    """What the owner model says about each post, given the rule set's teams and intent map (None for a
    post when the organisation has no teams)."""
    teams = rule_set.teams
    n = len(facts_list)
    if not teams or not n:
        return [None] * n
    intent_p = np.zeros((n, len(INTENTS)))
    for row, c in enumerate(classifications):
        if c.scores:
            for intent, p in c.scores:
                column = _INTENT_COLUMN.get(intent)
                if column is not None:
                    intent_p[row, column] = p
        else:
            intent_p[row, _INTENT_COLUMN.get(c.intent, _INTENT_COLUMN["other"])] = 1.0
    x, tokens = owner_vectorize([f.text for f in facts_list], model.n_features)
    receiving = [f.team for f in facts_list]
    probabilities = model.probabilities(x, intent_p, INTENTS, teams, receiving, rule_set.intent_teams)
    index = {team: column for column, team in enumerate(teams)}
    top = probabilities.argmax(axis=1).tolist()
    threshold = rule_set.misdirect_threshold
    owners = rule_set.intent_owners
    trained = model.trained
    guesses: list[OwnerGuess | None] = []
    for row, (facts, c) in enumerate(zip(facts_list, classifications, strict=True)):
        owner = owners.get(c.intent)
        map_team = (owner[1] or facts.team) if owner is not None and c.confidence >= threshold else facts.team
        column = index.get(map_team)
        map_p = float(probabilities[row, column]) if column is not None else 0.0
        team = teams[top[row]]
        confidence = float(probabilities[row, top[row]])
        terms: tuple[str, ...] = ()
        corrections = history = 0
        learned = trained and team != map_team and confidence >= threshold
        if learned:
            terms = model.terms(tokens[row], team)
            corrections, history = model.counts(team)
        guesses.append(OwnerGuess(team, confidence, map_team, map_p, terms, corrections, history, learned))
    return guesses


# --- training both models (what routing.learning stores as a version) -------------------------------

_CLASSIFY_BATCH = 500


@dataclass(frozen=True)
class Trained:
    """Both models trained on one set of examples."""

    intent: IntentClassifier
    owner: OwnerModel


def models_fit(
    examples: Sequence[Any], *, intent_teams: Mapping[str, str], teams: Sequence[str], version: int
) -> Trained:
    """The intent model from the corrections that name an intent, then the owner model from every example
    with that intent model's probabilities, and the seed corpus's posts as anchors (``anchors``).
    Deterministic."""
    intent = IntentClassifier.trained(
        [(e.owner.text, e.intent) for e in examples if e.intent], version=version
    )
    filled = with_intents(intent, [*anchors(intent_teams, teams), *(e.owner for e in examples)])
    owner = OwnerModel.fit(filled, intents=INTENTS, intent_teams=intent_teams, teams=teams)
    return Trained(intent, owner)


# An anchor weighs as much as a handled post.
ANCHOR_WEIGHT = HISTORY_WEIGHT


def anchors(intent_teams: Mapping[str, str], teams: Sequence[str]) -> list[OwnerExample]:
    """The seed corpus's posts whose intent the map gives a team, as examples for that team (receiving
    account unknown). Corrections are a biased sample (the posts routing got wrong): three re-routes of
    product-line posts to a new team say nothing about the thousands of posts that went right, and
    without counterweight the team's intercept and every common word would learn "everything is theirs".
    The anchors are that counterweight on a fresh install, until the teams' own history takes over."""
    from routing.classifier import read_seed_corpus

    known = set(teams)
    return [
        OwnerExample(text, "", intent_teams[intent], ANCHOR_WEIGHT, anchor=True, key=(-1, row))
        for row, (text, intent) in enumerate(read_seed_corpus())
        if intent_teams.get(intent) in known
    ]


def with_intents(classifier: IntentClassifier, examples: Sequence[OwnerExample]) -> list[OwnerExample]:
    """The examples with the classifier's probability of each intent filled in."""
    probabilities = intent_probabilities(classifier, [e.text for e in examples])
    return [replace(e, intents=tuple(row)) for e, row in zip(examples, probabilities.tolist(), strict=True)]


def intent_probabilities(classifier: IntentClassifier, texts: Sequence[str]) -> np.ndarray:
    """(texts, intents): the classifier's probability of each intent, in ``INTENTS`` order."""
    column = {intent: index for index, intent in enumerate(INTENTS)}
    result = np.zeros((len(texts), len(INTENTS)))
    for start in range(0, len(texts), _CLASSIFY_BATCH):
        batch = [Facts(text=text or "", network="x") for text in texts[start : start + _CLASSIFY_BATCH]]
        for row, c in enumerate(classifier.classify_many(batch), start=start):
            for intent, p in c.scores:
                result[row, column[intent]] = p
    return result


def owner_accuracy(
    trained: Trained, examples: Sequence[OwnerExample], *, intent_teams: dict[str, str], teams: Sequence[str]
) -> float | None:
    """Share of the (positive) examples whose likeliest team is theirs; None without any."""
    positives = [e for e in examples if not e.against]
    if not positives:
        return None
    predicted = owners_predict(trained, positives, intent_teams=intent_teams, teams=teams)
    return float(np.mean([team == e.team for team, e in zip(predicted, positives, strict=True)]))


def owners_predict(
    trained: Trained, examples: Sequence[OwnerExample], *, intent_teams: dict[str, str], teams: Sequence[str]
) -> list[str]:
    probabilities = owners_probabilities(trained, examples, intent_teams=intent_teams, teams=teams)
    return [teams[column] for column in probabilities.argmax(axis=1).tolist()] if len(examples) else []


def owners_probabilities(
    trained: Trained, examples: Sequence[OwnerExample], *, intent_teams: dict[str, str], teams: Sequence[str]
) -> np.ndarray:
    """(examples, teams): the owner model's calibrated probability of each team."""
    filled = with_intents(trained.intent, examples)
    x, _ = owner_vectorize([e.text for e in filled], trained.owner.n_features)
    intent_p = np.array([e.intents for e in filled]).reshape(len(filled), len(INTENTS))
    return trained.owner.probabilities(
        x, intent_p, INTENTS, teams, [e.receiving for e in filled], intent_teams
    )


def _compact(x: sparse.csr_matrix) -> tuple[np.ndarray, sparse.csr_matrix]:
    """The columns ``x`` uses, and ``x`` over those columns only (training needs no others)."""
    columns = np.unique(x.indices)
    remap = np.full(x.shape[1], -1, dtype=np.int64)
    remap[columns] = np.arange(len(columns))
    compact = sparse.csr_matrix((x.data, remap[x.indices], x.indptr), shape=(x.shape[0], len(columns)))
    return columns, compact


__all__ = [
    "OwnerExample",
    "OwnerGuess",
    "OwnerModel",
    "Trained",
    "guess_many",
    "intent_probabilities",
    "map_probabilities",
    "models_fit",
    "owner_accuracy",
    "owners_predict",
    "owners_probabilities",
    "temperature_cross_validated",
    "temperature_fit",
    "with_intents",
]
