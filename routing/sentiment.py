"""Sentiment of a post's text: VADER's compound score (the ``vaderSentiment`` package, made for social-media
text) and a three-way label.

The package's own scoring is used as is. It knows English only: posts in other languages mostly score
neutral, and the intent patterns (which cover seven languages) carry them.
"""

from __future__ import annotations

from functools import cache

from vaderSentiment import vaderSentiment as vader

# The thresholds VADER's authors recommend for a three-way label.
NEGATIVE_AT_OR_BELOW = -0.05
POSITIVE_AT_OR_ABOVE = 0.05


@cache
def analyser() -> vader.SentimentIntensityAnalyzer:
    """The one VADER analyser of the process, built on first use: reading its lexicons takes ~50 ms."""
    return vader.SentimentIntensityAnalyzer()


def compound(text: str) -> float:
    """VADER's compound score, -1 (most negative) to 1 (most positive)."""
    if not text or text.isspace():
        return 0.0
    return analyser().polarity_scores(text)["compound"]


def label_for(score: float) -> str:
    if score <= NEGATIVE_AT_OR_BELOW:
        return "negative"
    if score >= POSITIVE_AT_OR_ABOVE:
        return "positive"
    return "neutral"


def sentiment(text: str) -> tuple[float, str]:
    """VADER's compound score for ``text`` and its label: "negative", "neutral" or "positive"."""
    score = compound(text)
    return score, label_for(score)
