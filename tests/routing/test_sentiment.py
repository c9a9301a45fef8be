"""routing.sentiment: VADER's compound score, computed faster but to the same last bit, and its label."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from routing.sentiment import analyser, compound, label_for, sentiment

# Development tweets beside the clone (../shared/data); see their SOURCE.md.
TWEETS = Path(__file__).resolve().parents[3] / "shared" / "data" / "tweet_acts_tac" / "TWEET_DATA.csv"

# Sentences that exercise every rule VADER has: negation, "but", capitals, boosters, "kind of", "least",
# idioms, "no", "never so", emoticons and emojis, punctuation emphasis.
TRICKY = [
    "VADER is smart, handsome, and funny.",
    "VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!",
    "VADER is not smart, handsome, nor funny.",
    "At least it isn't a horrible book.",
    "The book was only kind of good.",
    "The plot was good, but the characters are uncompelling and the dialog is not great.",
    "Today only kinda sux! But I'll get by, lol",
    "Make sure you :) or :D today!",
    "Catch utf-8 emoji such as 💘 and 💋 and 😁",
    "Not bad at all",
    "no problem, no worries, no good",
    "This is the least helpful support ever",
    "It was never so good. Never this bad.",
    "Without doubt the best, yeah right.",
    "That jacket is the shit, to die for, bad ass",
    "WORST. SERVICE. EVER. but the boots are great great great",
    "good good good but but bad",
    "Why??? Why?? WHY",
    "🔥🔥🔥😡",
    "",
    "   ",
]


@pytest.mark.parametrize("text", TRICKY)
def test_compound_equals_vaders_own_on_tricky_sentences(text: str) -> None:
    assert compound(text) == analyser().polarity_scores(text)["compound"]


def test_compound_equals_vaders_own_on_thousands_of_real_tweets() -> None:
    with TWEETS.open(newline="", encoding="utf-8") as handle:
        texts = [row[0] for row in csv.reader(handle) if row]
    texts += [text.upper() for text in texts[:1000]]  # capitals change the rules VADER applies

    mismatches = [text for text in texts if compound(text) != analyser().polarity_scores(text)["compound"]]

    assert len(texts) > 8000
    assert mismatches == []


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Just summited with my pack and it was flawless. Thank you!", "positive"),
        ("Disappointed, honestly. The exchange has taken 6 weeks. This is ridiculous.", "negative"),
        ("Order NW-1234567 status?", "neutral"),
        ("my boots arrived soaking wet and the box was crushed 😡😭", "negative"),
        ("😍😍", "positive"),
        ("", "neutral"),
    ],
)
def test_labels_realistic_posts(text: str, label: str) -> None:
    score, got = sentiment(text)

    assert got == label
    assert score == compound(text)


def test_label_thresholds_are_vaders() -> None:
    assert [label_for(s) for s in (-0.05, -0.0499, 0.0, 0.0499, 0.05)] == [
        "negative",
        "neutral",
        "neutral",
        "neutral",
        "positive",
    ]


def test_the_analyser_is_built_once() -> None:
    assert analyser() is analyser()
