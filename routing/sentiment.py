"""Sentiment of a post's text: VADER's compound score and a three-way label.

VADER is the routing engine's hot path, so :func:`compound` re-states VADER 3.3.2's scoring of the compound
score with the same lexicons and constants but without the waste in ``polarity_scores``: the original
lower-cases the whole token list again for every negation and idiom check of every sentiment word (quadratic
in the post's length), builds the emoji-free text one character at a time even when the text is plain
ASCII, and computes the pos/neu/neg shares we never read. The result is the same number, to the last bit:
``tests/routing/test_sentiment.py`` compares the two on thousands of real tweets. Nothing is cached by
text; every call does the full work.
"""

from __future__ import annotations

import string
from functools import cache

from vaderSentiment import vaderSentiment as vader

# The thresholds VADER's authors recommend for a three-way label.
NEGATIVE_AT_OR_BELOW = -0.05
POSITIVE_AT_OR_ABOVE = 0.05

_PUNCTUATION = string.punctuation
_BOOSTERS: dict[str, float] = vader.BOOSTER_DICT
_SPECIAL_CASES: dict[str, float] = vader.SPECIAL_CASES
_NEGATIONS: frozenset[str] = frozenset(vader.NEGATE)
_N_SCALAR = vader.N_SCALAR
_C_INCR = vader.C_INCR


@cache
def analyser() -> vader.SentimentIntensityAnalyzer:
    """The one VADER analyser of the process, built on first use: reading its lexicons takes ~50 ms."""
    return vader.SentimentIntensityAnalyzer()


@cache
def _lexicons() -> tuple[dict[str, float], dict[str, str]]:
    # Only single characters can ever match: VADER looks emojis up one character at a time.
    vader_analyser = analyser()
    emojis = {key: value for key, value in vader_analyser.emojis.items() if len(key) == 1}
    return vader_analyser.lexicon, emojis


def sentiment(text: str) -> tuple[float, str]:
    """VADER's compound score (-1..1) for ``text`` and its label: "negative", "neutral" or "positive"."""
    score = compound(text)
    return score, label_for(score)


def label_for(score: float) -> str:
    """The label VADER's authors recommend for a compound score."""
    if score <= NEGATIVE_AT_OR_BELOW:
        return "negative"
    if score >= POSITIVE_AT_OR_ABOVE:
        return "positive"
    return "neutral"


def _without_emojis(text: str, emojis: dict[str, str]) -> str:
    """Emojis replaced by their descriptions, spaced exactly as ``polarity_scores`` spaces them."""
    parts: list[str] = []
    prev_space = True
    for char in text:
        description = emojis.get(char)
        if description is not None:
            if not prev_space:
                parts.append(" ")
            parts.append(description)
            prev_space = False
        else:
            parts.append(char)
            prev_space = char == " "
    return "".join(parts)


def _strip_punctuation(token: str) -> str:
    # VADER keeps a token whole when stripping would leave two characters or fewer (an emoticon like ":)").
    stripped = token.strip(_PUNCTUATION)
    return token if len(stripped) <= 2 else stripped


def _is_negation(word_lower: str) -> bool:
    return word_lower in _NEGATIONS or "n't" in word_lower


def compound(text: str) -> float:
    """VADER's compound score for ``text``, identical to ``polarity_scores(text)["compound"]``."""
    lexicon, emojis = _lexicons()
    if not text.isascii():  # every emoji is outside ASCII, so plain text skips the character walk
        text = _without_emojis(text, emojis)
    text = text.strip()
    words = [_strip_punctuation(token) for token in text.split()]
    if not words:
        return 0.0
    lower = [word.lower() for word in words]
    count = len(words)
    upper_count = sum(1 for word in words if word.isupper())
    is_cap_diff = 0 < count - upper_count < count

    sentiments: list[float] = []
    for i, item_lower in enumerate(lower):
        if item_lower in _BOOSTERS or (item_lower == "kind" and i < count - 1 and lower[i + 1] == "of"):
            sentiments.append(0)
            continue
        sentiments.append(_valence(i, words, lower, lexicon, is_cap_diff))

    if "but" in lower:
        sentiments = vader.SentimentIntensityAnalyzer._but_check(words, sentiments)

    total = float(sum(sentiments))
    if total > 0:
        total += _punctuation_emphasis(text)
    elif total < 0:
        total -= _punctuation_emphasis(text)
    return round(vader.normalize(total), 4)


def _valence(
    i: int, words: list[str], lower: list[str], lexicon: dict[str, float], is_cap_diff: bool
) -> float:
    """``SentimentIntensityAnalyzer.sentiment_valence`` for word ``i``, reading the lower-cased words."""
    item_lower = lower[i]
    base = lexicon.get(item_lower)
    if base is None:
        return 0
    valence = base
    count = len(lower)
    if item_lower == "no" and i != count - 1 and lower[i + 1] in lexicon:
        valence = 0.0
    if (
        (i > 0 and lower[i - 1] == "no")
        or (i > 1 and lower[i - 2] == "no")
        or (i > 2 and lower[i - 3] == "no" and lower[i - 1] in ("or", "nor"))
    ):
        valence = base * _N_SCALAR
    if is_cap_diff and words[i].isupper():
        valence = valence + _C_INCR if valence > 0 else valence - _C_INCR

    for start_i in range(3):
        if i > start_i:
            before = i - (start_i + 1)
            before_lower = lower[before]
            if before_lower in lexicon:
                continue
            scalar = 0.0
            booster = _BOOSTERS.get(before_lower)
            if booster is not None:
                scalar = -booster if valence < 0 else booster
                # VADER reads the original word here: a booster in capitals among others counts more.
                if is_cap_diff and words[before].isupper():
                    scalar = scalar + _C_INCR if valence > 0 else scalar - _C_INCR
                if start_i == 1 and scalar != 0:
                    scalar = scalar * 0.95
                if start_i == 2 and scalar != 0:
                    scalar = scalar * 0.9
            valence = valence + scalar
            valence = _negation_check(valence, lower, start_i, i)
            if start_i == 2:
                valence = _special_idioms_check(valence, lower, i)

    # "least" before a word negates it, except in "at least" and "very least".
    if i > 1 and lower[i - 1] not in lexicon and lower[i - 1] == "least":
        if lower[i - 2] != "at" and lower[i - 2] != "very":
            valence = valence * _N_SCALAR
    elif i > 0 and lower[i - 1] not in lexicon and lower[i - 1] == "least":
        valence = valence * _N_SCALAR
    return valence


def _negation_check(valence: float, lower: list[str], start_i: int, i: int) -> float:
    """``SentimentIntensityAnalyzer._negation_check`` without rebuilding the lower-cased list."""
    if start_i == 0:
        if _is_negation(lower[i - 1]):
            valence = valence * _N_SCALAR
    elif start_i == 1:
        if lower[i - 2] == "never" and (lower[i - 1] == "so" or lower[i - 1] == "this"):
            valence = valence * 1.25
        elif lower[i - 2] == "without" and lower[i - 1] == "doubt":
            pass
        elif _is_negation(lower[i - 2]):
            valence = valence * _N_SCALAR
    else:
        # The original's precedence, kept on purpose: (never and (so or this)) or so or this.
        if (lower[i - 3] == "never" and (lower[i - 2] == "so" or lower[i - 2] == "this")) or (
            lower[i - 1] == "so" or lower[i - 1] == "this"
        ):
            valence = valence * 1.25
        elif lower[i - 3] == "without" and (lower[i - 2] == "doubt" or lower[i - 1] == "doubt"):
            pass
        elif _is_negation(lower[i - 3]):
            valence = valence * _N_SCALAR
    return valence


def _special_idioms_check(valence: float, lower: list[str], i: int) -> float:
    """``SentimentIntensityAnalyzer._special_idioms_check`` without rebuilding the lower-cased list."""
    one_zero = f"{lower[i - 1]} {lower[i]}"
    two_one_zero = f"{lower[i - 2]} {lower[i - 1]} {lower[i]}"
    two_one = f"{lower[i - 2]} {lower[i - 1]}"
    three_two_one = f"{lower[i - 3]} {lower[i - 2]} {lower[i - 1]}"
    three_two = f"{lower[i - 3]} {lower[i - 2]}"
    for sequence in (one_zero, two_one_zero, two_one, three_two_one, three_two):
        if sequence in _SPECIAL_CASES:
            valence = _SPECIAL_CASES[sequence]
            break
    count = len(lower)
    if count - 1 > i:
        zero_one = f"{lower[i]} {lower[i + 1]}"
        if zero_one in _SPECIAL_CASES:
            valence = _SPECIAL_CASES[zero_one]
    if count - 1 > i + 1:
        zero_one_two = f"{lower[i]} {lower[i + 1]} {lower[i + 2]}"
        if zero_one_two in _SPECIAL_CASES:
            valence = _SPECIAL_CASES[zero_one_two]
    for n_gram in (three_two_one, three_two, two_one):
        if n_gram in _BOOSTERS:
            valence = valence + _BOOSTERS[n_gram]
    return valence


def _punctuation_emphasis(text: str) -> float:
    """Up to four "!" and two or more "?" strengthen whatever the words said, as in VADER."""
    exclamations = min(text.count("!"), 4)
    questions = text.count("?")
    question_amplifier = 0.0
    if questions > 1:
        question_amplifier = questions * 0.18 if questions <= 3 else 0.96
    return exclamations * 0.292 + question_amplifier
