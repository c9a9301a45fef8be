"""Features of a post's text for the trained tweet models (``routing.sentiment``, ``routing.crisis``), and the
linear model both are: hashed binary features, a weight matrix, and files that hold no code.

**Text.** A post is normalised the way the labelled tweets were (TweetEval replaced every handle by
``@user`` and every link by ``http``): handles become ``@user``, links ``http``, HTML entities are decoded
(``&amp;``), and the outer pair of double quotes that wraps many SemEval texts is dropped. Lower-cased, a
letter repeated three times or more counts twice ("soooo" is "soo").

Emoji become the words that name them (``😍`` "smiling face with heart-eyes", from the emoji list that
comes with the ``vaderSentiment`` package), as VADER reads them: the 2013-2016 training tweets hold no
emoji at all, so the model knows them only through their names.

**Features.** Words (with "'" inside: "can't"), hashtags (as themselves and as their word), runs of "!" and
"?", emoticons, punctuation; every pair of neighbouring tokens; the words that follow a negation ("not",
"never", "…n't") up to the next punctuation mark, marked as negated ("not bad": "¬bad"); and the character
4-grams of each word longer than three letters, with its ends marked ("<love" … "ove>"), which carry
misspellings and inflections (not of hashtags: an event's hashtag says where a tweet was posted, not what it
says). A post with a negation or a "but" also gets VADER's reading of it, as one of five buckets of its
compound score ("vader:-", "vader:--" when strongly negative, …): VADER's hand-written rules for negation and
contrast ("not bad at all", "good, but …") know what 47,510 tweets, with few such phrases, cannot teach, and
the model learns how far to trust them. VADER costs about as much as everything else together, so it runs on
those posts only (about one in eight), in training exactly as in use.
Each feature is hashed (scikit-learn's MurmurHash3, seed 0) into ``n_features`` columns; a post's row is
binary and of unit length. No vocabulary is stored: the hash is the vocabulary.

**Model.** ``LinearTextModel``: ``logits = row @ weights + intercept``, computed for a batch as one gather
of the weight rows its features hit and one ``np.add.reduceat`` (no sparse matrix on the fast path). Saved
as an ``.npz`` of plain arrays (read with ``allow_pickle=False``) beside a JSON file describing it
(features, classes, how it was trained, figures): ``python -m routing.training`` writes both.
"""

from __future__ import annotations

import copy
import html
import io
import json
import re
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.utils import murmurhash3_32

DATA = Path(__file__).resolve().parent / "data"

# Bumped whenever the text → columns mapping changes: a model trained on other features is refused.
FEATURES_VERSION = 1
# 2^18 columns: the 47,510 training tweets hold some 600,000 distinct features, most seen once; a wider
# table scored no better on val.tsv and doubles the file.
N_FEATURES = 2**18
CHAR_GRAM = 4
# An artifact larger than this once unpacked is refused before it is read.
MAX_UNPACKED_BYTES = 64 * 1024 * 1024

_HANDLE = re.compile(r"(?<!\w)@\w+")
_LINK = re.compile(r"https?://\S+|www\.\S+")
_REPEATS = re.compile(r"(.)\1{2,}")
_TOKEN = re.compile(r"@user|#?\w+(?:'\w+)?|[!?]+|[:;=]-?[()dp/\\|]|<3|[.,;:]")
_EMOJI = re.compile(r"[\u2600-\u27bf\U0001f300-\U0001faff]")
_NEGATIONS = frozenset(
    {"not", "no", "never", "nor", "cannot", "nobody", "nothing", "none", "neither", "nowhere", "without"}
)
_CLAUSE_ENDS = frozenset(".,;:!?")
_VADER_CUES = re.compile(r"n't\b|\b(?:not|no|never|nor|but|cannot|without|hardly)\b")


@cache
def _vader() -> Any:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


def _vader_buckets(text: str) -> list[str]:
    """VADER's compound score as bucket features (its authors' ±0.05 thresholds, and ±0.5 for strong)."""
    score = _vader().polarity_scores(text)["compound"]
    if score <= -0.05:
        return ["vader:-", "vader:--"] if score <= -0.5 else ["vader:-"]
    if score >= 0.05:
        return ["vader:+", "vader:++"] if score >= 0.5 else ["vader:+"]
    return ["vader:0"]


@cache
def emoji_words() -> dict[str, str]:
    """Emoji -> the words that name it, from the ``vaderSentiment`` package's emoji list."""
    words = {}
    with resources.files("vaderSentiment").joinpath("emoji_utf8_lexicon.txt").open(encoding="utf-8") as lines:
        for line in lines:
            emoji, _, name = line.rstrip("\n").partition("\t")
            if len(emoji) == 1 and name:
                words[emoji] = name
    return words


def _named(match: re.Match[str]) -> str:
    name = emoji_words().get(match.group())
    return f" {name} " if name else " "


def normalise(text: str) -> str:
    """The text as the labelled tweets were written: handles ``@user``, links ``http``, entities decoded."""
    if len(text) > 1 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    if "&" in text:
        text = html.unescape(text)
    return _HANDLE.sub("@user", _LINK.sub("http", text))


def _tokens(text: str) -> tuple[list[str], list[str]]:
    """A text's VADER bucket features (posts with a negation or "but" only) and its tokens."""
    text = normalise(text)
    lowered = text.lower()
    vader = _vader_buckets(text) if _VADER_CUES.search(lowered) else []
    if not text.isascii():
        lowered = _EMOJI.sub(_named, lowered)
    return vader, _TOKEN.findall(_REPEATS.sub(r"\1\1", lowered))


def _token_features(token: str) -> list[str]:
    """What one token gives wherever it is: itself, a hashtag's word, a word's character 4-grams."""
    found = [token]
    first = token[0]
    if first == "#":
        if len(token) > 1:
            found.append(token[1:])
    elif len(token) > CHAR_GRAM - 1 and first != "@" and first not in _CLAUSE_ENDS:
        marked = f"<{token}>"
        found += ["~" + marked[i : i + CHAR_GRAM] for i in range(len(marked) - CHAR_GRAM + 1)]
    return found


def _context_features(tokens: list[str]) -> list[str]:
    """What tokens give together: neighbouring pairs, and the words a negation governs."""
    found = list(map(" ".join, pairwise(tokens)))
    negated = False
    for token in tokens:
        if token[0] in _CLAUSE_ENDS:
            negated = False
            continue
        if negated:
            found.append("¬" + token)
        if token in _NEGATIONS or token.endswith("n't"):
            negated = True
    return found


def features(text: str) -> list[str]:
    """The features of one text (see the module docstring), before hashing."""
    vader, tokens = _tokens(text)
    return (
        vader
        + [feature for token in tokens for feature in _token_features(token)]
        + _context_features(tokens)
    )


# feature -> column, and token -> the columns of its own features, per width: a stream of posts repeats the
# same few hundred thousand features, and a dictionary look-up is several times cheaper than hashing again
# (and than cutting a word into its character grams). Each is cleared when it grows past _CACHE_SIZE.
_COLUMNS: dict[int, dict[str, int]] = {}
_TOKEN_COLUMNS: dict[int, dict[str, tuple[int, ...]]] = {}
_CACHE_SIZE = 2**20


def _column(feature: str, cache: dict[str, int], n_features: int) -> int:
    column = cache.get(feature)
    if column is None:
        column = cache[feature] = murmurhash3_32(feature, seed=0, positive=True) % n_features
    return column


def columns(text: str, n_features: int = N_FEATURES) -> list[int]:
    """The distinct hashed columns of one text's features."""
    cache = _COLUMNS.setdefault(n_features, {})
    token_cache = _TOKEN_COLUMNS.setdefault(n_features, {})
    if len(cache) > _CACHE_SIZE or len(token_cache) > _CACHE_SIZE:
        cache.clear()
        token_cache.clear()
    vader, tokens = _tokens(text)
    found: list[int] = []
    get_own = token_cache.get
    for token in tokens:
        own = get_own(token)
        if own is None:
            own = token_cache[token] = tuple(_column(f, cache, n_features) for f in _token_features(token))
        found += own
    get = cache.get
    for feature in vader + _context_features(tokens):
        column = get(feature)
        found.append(_column(feature, cache, n_features) if column is None else column)
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class Rows:
    """A batch of posts as hashed columns: ``flat`` holds every post's columns one after the other, post i's
    from ``starts[i]`` (a post with no feature gets the extra all-zero column ``n_features``)."""

    flat: np.ndarray
    starts: np.ndarray
    scale: np.ndarray  # 1 / sqrt(number of columns): rows of unit length
    n_features: int

    def __len__(self) -> int:
        return len(self.starts)

    def matrix(self) -> sparse.csr_matrix:
        """The same rows as a sparse matrix (for training; the extra column is dropped)."""
        counts = np.diff(np.append(self.starts, len(self.flat)))
        data = np.repeat(self.scale, counts)
        data[self.flat == self.n_features] = 0.0
        indptr = np.append(self.starts, len(self.flat))
        x = sparse.csr_matrix((data, self.flat, indptr), shape=(len(self), self.n_features + 1))
        x = x[:, : self.n_features]
        x.eliminate_zeros()
        return x.tocsr()


def rows(texts: Sequence[str], n_features: int = N_FEATURES) -> Rows:
    """The hashed rows of a batch of texts (one pass; shared by every model of the same width)."""
    flat: list[int] = []
    starts = np.empty(len(texts), dtype=np.intp)
    counts = np.empty(len(texts), dtype=np.float64)
    for index, text in enumerate(texts):
        starts[index] = len(flat)
        found = columns(text or "", n_features)
        if not found:
            found = [n_features]
        flat += found
        counts[index] = len(found)
    return Rows(
        flat=np.array(flat, dtype=np.intp),
        starts=starts,
        scale=1.0 / np.sqrt(counts),
        n_features=n_features,
    )


class LinearTextModel:
    """``logits = row @ weights + intercept`` over hashed features; read-only once built."""

    def __init__(self, *, weights: np.ndarray, intercept: np.ndarray, classes: Sequence[str], spec: dict):
        n_features, k = weights.shape
        if intercept.shape != (k,) or len(classes) != k:
            raise ValueError("weights, intercept and classes do not agree")
        # One extra all-zero row: where a post with no feature points.
        padded = np.zeros((n_features + 1, k), dtype=np.float64)
        padded[:n_features] = weights
        padded.setflags(write=False)
        self.weights = padded
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.intercept.setflags(write=False)
        self.classes = tuple(classes)
        self.n_features = n_features
        self.spec = spec

    def logits(self, batch: Rows) -> np.ndarray:
        """(posts, classes) scores for a batch of rows of this model's width."""
        if batch.n_features != self.n_features:
            raise ValueError(f"rows of width {batch.n_features} for a model of width {self.n_features}")
        if not len(batch):
            return np.zeros((0, len(self.classes)))
        sums = np.add.reduceat(self.weights[batch.flat], batch.starts, axis=0)
        return sums * batch.scale[:, None] + self.intercept

    def plus(self, columns: np.ndarray, weights: np.ndarray) -> LinearTextModel:
        """This model with ``weights`` added to the rows of ``columns`` (a copy; this one is unchanged)."""
        changed = copy.copy(self)
        padded = self.weights.copy()
        padded[columns] += weights
        padded.setflags(write=False)
        changed.weights = padded
        return changed

    def arrays(self) -> dict[str, np.ndarray]:
        return {
            "format": np.int64(FEATURES_VERSION),
            "weights": np.ascontiguousarray(self.weights[: self.n_features], dtype=np.float32),
            "intercept": self.intercept.astype(np.float64),
            "classes": np.array(self.classes, dtype=str),
        }

    def save(self, npz: Path, spec_path: Path) -> None:
        """Write the arrays (compressed ``.npz``) and the JSON description beside them."""
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **self.arrays())
        npz.write_bytes(buffer.getvalue())
        spec_path.write_text(json.dumps(self.spec, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, npz: Path, spec_path: Path) -> LinearTextModel:
        """A model from the files ``save`` wrote; ``ValueError`` for anything else, without running code."""
        spec = json.loads(spec_path.read_text(encoding="utf-8"))
        raw = npz.read_bytes()
        try:
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                unpacked = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, OSError) as error:
            raise ValueError(f"{npz}: not an .npz archive: {error}") from error
        if unpacked > MAX_UNPACKED_BYTES:
            raise ValueError(f"{npz}: unpacks to {unpacked} bytes, more than allowed")
        with np.load(io.BytesIO(raw), allow_pickle=False) as arrays:
            if set(arrays.files) != {"format", "weights", "intercept", "classes"}:
                raise ValueError(f"{npz}: unexpected arrays {sorted(arrays.files)}")
            if int(arrays["format"]) != FEATURES_VERSION or spec.get("features_version") != FEATURES_VERSION:
                raise ValueError(f"{npz}: features version is not {FEATURES_VERSION}: run `make models`")
            weights = arrays["weights"].astype(np.float64)
            intercept = arrays["intercept"].astype(np.float64)
            classes = [str(name) for name in arrays["classes"]]
        if weights.ndim != 2 or weights.shape[0] != spec.get("n_features") or not np.isfinite(weights).all():
            raise ValueError(f"{npz}: weights do not match the description")
        if not np.isfinite(intercept).all():
            raise ValueError(f"{npz}: non-finite intercept")
        return cls(weights=weights, intercept=intercept, classes=classes, spec=spec)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)
