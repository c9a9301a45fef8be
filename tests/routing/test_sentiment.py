"""routing.sentiment: VADER's compound score and its label."""

from __future__ import annotations

import pytest

from routing.sentiment import analyser, compound, label_for, sentiment

# Sentences that exercise VADER's rules (negation, "but", capitals, boosters, emoji, punctuation emphasis):
# the label must follow the sense, and nothing may crash.
TRICKY = [
    ("VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!", "positive"),
    ("VADER is not smart, handsome, nor funny.", "negative"),
    ("At least it isn't a horrible book.", "positive"),
    ("The plot was good, but the characters are uncompelling and the dialog is not great.", "negative"),
    ("Not bad at all", "positive"),
    ("WORST. SERVICE. EVER.", "negative"),
    ("Catch utf-8 emoji such as 💘 and 💋 and 😁", "positive"),
    ("🔥🔥🔥😡", "negative"),
    ("   ", "neutral"),
]


@pytest.mark.parametrize(("text", "label"), TRICKY)
def test_tricky_sentences_get_the_label_of_their_sense(text: str, label: str) -> None:
    assert sentiment(text)[1] == label


def test_capitals_and_exclamation_make_a_score_stronger() -> None:
    assert compound("this is GREAT!!!") > compound("this is great")
    assert compound("this is TERRIBLE!!!") < compound("this is terrible")


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
