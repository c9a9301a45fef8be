"""Measuring how well routing learns owners: the held-out split, handle masking, brand naming and the
calibration error. Pure: shared by ``bench.eval`` (the customer-care data) and ``manage.py owners_eval``
(anyone's labelled posts), so both measure the same way."""

from __future__ import annotations

import re
import zlib
from collections.abc import Sequence

import numpy as np

# Split resolution: a key falls in the test part when its hash, modulo this, is below share * this.
_SPLIT_BUCKETS = 10_000
_HANDLE = re.compile(r"@\w+")
MASKED_HANDLE = "@user"  # TweetEval's token for a masked handle
# What support accounts add to a brand's name: @AskeBay, @TeamYouTube, @AppleSupport, @SpotifyCares,
# @hulu_support, @zoom_us, @SouthwestAir. Longest first, so "helps" goes before "help".
_HANDLE_PREFIXES = ("ask_", "ask", "team")
_HANDLE_SUFFIXES = ("_support", "support", "helps", "help", "cares", "care", "_us", "air")
_SHORT_NAME = 4  # a shorter name (hp) counts only as a whole word, not inside another one
ECE_BINS = 15


def is_test(key: str, share: float) -> bool:
    """Whether the row with this split key (a conversation id, say) is held out: a fixed hash, so the same
    key is on the same side in every run and every process, and all rows sharing a key stay together."""
    return zlib.crc32(key.encode("utf-8")) % _SPLIT_BUCKETS < round(share * _SPLIT_BUCKETS)


def handles_masked(text: str) -> str:
    """Every @handle replaced by one token: a post addressed to the owner's own account would otherwise
    name its label."""
    return _HANDLE.sub(MASKED_HANDLE, text)


def brand_names(handle: str) -> frozenset[str]:
    """The ways a post can name the brand behind a support account: the handle, and the handle without the
    support prefixes and suffixes (AskeBay → ebay, MicrosoftHelps → microsoft, hulu_support → hulu), in
    lower case with underscores dropped."""
    name = handle.lower().lstrip("@")
    core = name
    for prefix in _HANDLE_PREFIXES:
        if core.startswith(prefix) and len(core) - len(prefix) >= 2:
            core = core[len(prefix) :]
            break
    for suffix in _HANDLE_SUFFIXES:
        if core.endswith(suffix) and len(core) - len(suffix) >= 2:
            core = core[: -len(suffix)]
            break
    return frozenset(n.replace("_", "") for n in (name, core) if n.replace("_", ""))


def names_brand(text: str, handle: str) -> bool:
    """Whether ``text`` names the brand (``brand_names``), case-insensitively; punctuation and spaces
    inside a name are ignored (T-Mobile, Wells Fargo), and a short name counts only as a whole word."""
    lower = text.lower()
    squashed = re.sub(r"[^a-z0-9]", "", lower)
    for name in brand_names(handle):
        if len(name) < _SHORT_NAME:
            if re.search(rf"(?<![a-z0-9]){re.escape(name)}(?![a-z0-9])", lower):
                return True
        elif name in squashed:
            return True
    return False


def expected_calibration_error(
    probabilities: np.ndarray, truth: Sequence[int], bins: int = ECE_BINS
) -> float:
    """ECE over ``bins`` equal-width bins of the top-class confidence: the share-weighted mean gap between
    how sure the model was and how often it was right. ``probabilities``: (posts, classes); ``truth``: the
    right column per post."""
    if not len(truth):
        return 0.0
    confidence = probabilities.max(axis=1)
    right = probabilities.argmax(axis=1) == np.asarray(truth)
    # Bin b holds confidences in (b/bins, (b+1)/bins]; a confidence of exactly 0 goes to the first bin.
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += (
                inside.sum()
                / len(truth)
                * abs(float(right[inside].mean()) - float(confidence[inside].mean()))
            )
    return total


def calibration_noise(
    probabilities: np.ndarray, truth: Sequence[int], *, bins: int = ECE_BINS, draws: int = 1000, seed: int = 0
) -> dict[str, float]:
    """How far an ECE measured on these few posts can be trusted.

    ``perfectly_calibrated_mean`` / ``_95th``: the ECE a perfectly calibrated model with the very same
    confidences would show on this many posts (each post right with probability its confidence, ``draws``
    times): below it, a measured ECE cannot tell calibration from luck. ``bootstrap_low`` / ``_high``: the
    2.5th and 97.5th percentiles of the ECE over posts resampled with replacement."""
    truth = np.asarray(truth)
    n, k = probabilities.shape
    if not n:
        return {}
    rng = np.random.default_rng(seed)
    confidence = probabilities.max(axis=1)
    top = probabilities.argmax(axis=1)
    wrong = (top + 1) % k  # any other column will do: only right or wrong matters
    simulated = []
    for _ in range(draws):
        right = rng.random(n) < confidence
        simulated.append(expected_calibration_error(probabilities, np.where(right, top, wrong), bins))
    resampled = []
    for _ in range(draws):
        rows = rng.integers(0, n, n)
        resampled.append(expected_calibration_error(probabilities[rows], truth[rows], bins))
    return {
        "perfectly_calibrated_mean": round(float(np.mean(simulated)), 4),
        "perfectly_calibrated_95th": round(float(np.percentile(simulated, 95)), 4),
        "bootstrap_low": round(float(np.percentile(resampled, 2.5)), 4),
        "bootstrap_high": round(float(np.percentile(resampled, 97.5)), 4),
    }
