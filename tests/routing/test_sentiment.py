"""routing.sentiment: the model trained on tweets, its score and label, and the adjustment agents' corrections
teach it."""

from __future__ import annotations

import io

import numpy as np
import pytest

from routing.sentiment import (
    LABELS,
    SentimentAdjustment,
    compound,
    label_for,
    sentiment,
    shipped_model,
)

# The trained model reads these three of VADER's showcase sentences wrongly, where VADER's hand-written
# negation and "but" rules read them rightly: a known regression, kept as strict expected failures (they
# will say so when a model gets them right). VADER's score is a feature of such posts, but on real tweets
# with a negation it is a weak guide, and the model learned to trust it little.
KNOWN_WRONG = pytest.mark.xfail(strict=True, reason="bag of words: negated praise and contrast")

# Negation, "but", capitals, boosters, emoji, punctuation emphasis (the sentences VADER's authors wrote to
# show its rules): the label must follow the sense, and nothing may crash.
TRICKY = [
    ("VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!", "positive"),
    ("VADER is not smart, handsome, nor funny.", "negative"),
    pytest.param("At least it isn't a horrible book.", "positive", marks=KNOWN_WRONG),
    pytest.param(
        "The plot was good, but the characters are uncompelling and the dialog is not great.",
        "negative",
        marks=KNOWN_WRONG,
    ),
    pytest.param("Not bad at all", "positive", marks=KNOWN_WRONG),
    ("WORST. SERVICE. EVER.", "negative"),
    ("Catch utf-8 emoji such as 💘 and 💋 and 😁", "positive"),
    ("🔥🔥🔥😡", "negative"),
    ("   ", "neutral"),
]


@pytest.mark.parametrize(("text", "label"), TRICKY)
def test_tricky_sentences_get_the_label_of_their_sense(text: str, label: str) -> None:
    assert sentiment(text)[1] == label


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


def test_a_label_and_its_score_agree_in_sign() -> None:
    texts = ["VADER is not smart, handsome, nor funny.", "Not bad at all", "WORST. SERVICE. EVER.", "😍😍"]
    texts += ["meh", "ok I guess", "love it!!", "never again", "fine", "   "]

    for score, label in shipped_model().score_many(texts):
        assert -1.0 <= score <= 1.0
        assert {"negative": score < 0, "positive": score > 0, "neutral": True}[label], (score, label)


def test_handles_and_links_do_not_change_the_score() -> None:
    assert sentiment("@carla_88 loving the new boots http://t.co/abc123") == sentiment(
        "@someone_else loving the new boots https://example.com/x"
    )


def test_label_thresholds_of_a_score_alone() -> None:
    assert [label_for(s) for s in (-0.05, -0.0499, 0.0, 0.0499, 0.05)] == [
        "negative",
        "neutral",
        "neutral",
        "neutral",
        "positive",
    ]


def test_the_model_is_read_once_per_process() -> None:
    assert shipped_model() is shipped_model()


# "sick" as praise: the shipped model reads it as negative.
SLANG = "this jacket is sick, proper sick"


def test_an_adjustment_learns_the_corrections_and_leaves_the_shipped_model_alone() -> None:
    shipped = shipped_model()
    adjustment = shipped.train_adjustment([(SLANG, "positive"), ("that ride was sick!", "positive")])

    adjusted = shipped.adjusted(adjustment)

    assert shipped.score_many([SLANG])[0][1] == "negative"
    assert adjusted.score_many([SLANG])[0][1] == "positive"
    assert adjusted.score_many(["worst delivery ever, the box arrived soaking wet"])[0][1] == "negative"
    assert adjustment.corrections == 2
    assert shipped.adjustment is None and shipped.score_many([SLANG])[0][1] == "negative"


def test_the_same_corrections_give_the_same_adjustment_in_any_batching() -> None:
    corrections = [(SLANG, "positive"), ("meh, it works", "neutral"), ("wicked fast shipping", "positive")]

    first = shipped_model().train_adjustment(corrections)
    again = shipped_model().train_adjustment(list(corrections))

    assert first.dump() == again.dump()


def test_an_adjustment_round_trips_through_plain_arrays() -> None:
    adjustment = shipped_model().train_adjustment([(SLANG, "positive")])

    loaded = SentimentAdjustment.load(adjustment.dump())

    np.testing.assert_array_equal(loaded.columns, adjustment.columns)
    np.testing.assert_array_equal(loaded.weights, adjustment.weights)
    assert loaded.corrections == 1


@pytest.mark.parametrize(
    "arrays",
    [
        {"format": np.int64(1)},
        {
            "format": np.int64(1),
            "features_version": np.int64(1),
            "columns": np.array([3, 2]),
            "weights": np.zeros((2, 3)),
            "corrections": np.int64(1),
        },
        {
            "format": np.int64(1),
            "features_version": np.int64(1),
            "columns": np.array([object()], dtype=object),
            "weights": np.zeros((1, 3)),
            "corrections": np.int64(1),
        },
    ],
    ids=["missing arrays", "columns not increasing", "object array"],
)
def test_a_malformed_adjustment_is_refused(arrays: dict) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)

    with pytest.raises(ValueError):
        SentimentAdjustment.load(buffer.getvalue())


def test_a_correction_with_an_unknown_label_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown sentiment labels"):
        shipped_model().train_adjustment([(SLANG, "ecstatic")])
    assert LABELS == ("negative", "neutral", "positive")
