"""routing.crisis and the crisis signal of the classifier: real disaster and outage talk is a crisis signal,
an angry customer is not."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from scipy import sparse

from routing import crisis, textfeatures
from routing.classifier import IntentClassifier
from routing.facts import Facts
from routing.training.crisis import Examples, train_detector

COMPLAINTS = [
    "my order is late, worst service ever",
    "@shop worst service ever, I want a refund NOW!!!",
    "This is terrible, you ruined my weekend. Never ordering again.",
    "been on hold for 2 hours, absolutely useless customer service",
]
CRISES = [
    "the site is down for everyone",
    "app not working for everyone?? anyone else",
    "Flood waters rising on Main St, evacuate now",
    "my phone overheated and caught fire while charging",
    "Earthquake just hit, buildings damaged downtown, people trapped",
]


@pytest.fixture(scope="module")
def classifier() -> IntentClassifier:
    return IntentClassifier()


@pytest.mark.parametrize("text", COMPLAINTS)
def test_an_angry_customer_is_not_a_crisis(classifier, text):
    assert classifier.classify(Facts(text=text, network="x")).intent == "complaint"
    assert crisis.shipped_detector().log_odds_many([text])[0] < 0


@pytest.mark.parametrize("text", CRISES)
def test_disaster_and_outage_talk_is_a_crisis_signal(classifier, text):
    assert classifier.classify(Facts(text=text, network="x")).intent == "crisis_signal"


def test_a_disaster_is_a_crisis_signal_only_with_the_detector():
    text = "Flood waters rising on Main St, evacuate now"
    log_odds = crisis.shipped_detector().log_odds_many([text])[0]

    with_detector = IntentClassifier().classify(Facts(text=text, network="x"))
    without = IntentClassifier(crisis=None).classify(Facts(text=text, network="x"))

    assert log_odds > 0
    assert dict(with_detector.scores)["crisis_signal"] > dict(without.scores)["crisis_signal"]


def test_the_detector_is_loaded_once_and_described():
    spec = json.loads(crisis.MODEL_JSON.read_text(encoding="utf-8"))

    assert crisis.shipped_detector() is crisis.shipped_detector()
    assert spec["model"] == "crisis" and spec["classes"] == ["crisis"]
    assert "CrisisLexT26" in spec["licence"]
    assert set(spec["leave_events_out_3_groups_detector_alone"]["by_event"]) == {
        "2012_Colorado_wildfires", "2012_Guatemala_earthquake", "2012_Philipinnes_floods",
        "2012_Venezuela_refinery", "2013_Australia_bushfire", "2013_Boston_bombings", "2013_Colorado_floods",
        "2013_LA_airport_shootings", "2013_Manila_floods", "2013_Queensland_floods", "2013_Sardinia_floods",
        "2013_Singapore_haze", "2013_Typhoon_Yolanda",
    }  # fmt: skip


def _small_examples() -> tuple[Examples, sparse.csr_matrix]:
    """Four tiny disasters (related and unrelated tweets) and a few brand posts, one fold per disaster."""
    texts, labels, source, event, fold = [], [], [], [], []
    for index, name in enumerate(("a_fire", "b_flood", "c_quake", "d_storm")):
        for n in range(6):
            texts.append(f"{name} houses burning evacuate now road closed {n}")
            labels.append(1)
        for n in range(4):
            texts.append(f"{name} win tickets concert tonight lol {n}")
            labels.append(0)
        source += ["crisislex"] * 10
        event += [name] * 10
        fold += [index] * 10
    for n in range(6):
        texts += [f"site is down for everyone outage {n}", f"my order is late refund please {n}"]
        labels += [1, 0]
        source += ["seed", "seed"]
        event += ["", ""]
        fold += [n % 4, n % 4]
    examples = Examples(
        texts=texts,
        labels=np.array(labels),
        source=np.array(source),
        event=np.array(event),
        informative_type=np.where(
            (np.array(labels) == 1) & (np.array(source) == "crisislex"), "Affected individuals", ""
        ),
        fold=np.array(fold),
        events=("a_fire", "b_flood", "c_quake", "d_storm"),
        intents=np.array(["" for _ in texts]),
        weights=np.ones(len(texts)),
    )
    return examples, textfeatures.rows(texts).matrix()


def test_a_detector_trained_without_a_disaster_owes_nothing_to_it():
    # make eval scores each disaster with a detector whose C was chosen without it (nested), not with the
    # C the shipped model chose on all 13.
    examples, x = _small_examples()
    rows = examples.fold != 0
    flipped = dataclasses.replace(examples, labels=np.where(rows, examples.labels, 1 - examples.labels))

    model, chosen = train_detector(examples, x, rows)
    model_flipped, chosen_flipped = train_detector(flipped, x, rows)

    assert chosen["grid"] == chosen_flipped["grid"] and chosen["c"] == chosen_flipped["c"]
    assert np.array_equal(model.weights, model_flipped.weights)
    assert np.array_equal(model.intercept, model_flipped.intercept)
    assert not chosen["inner_log_odds"][~rows].any()
    assert chosen["inner_log_odds"][rows & (examples.event != "")].all()
