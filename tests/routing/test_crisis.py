"""routing.crisis and the crisis signal of the classifier: real disaster and outage talk is a crisis signal,
an angry customer is not."""

from __future__ import annotations

import json

import pytest

from routing import crisis
from routing.classifier import IntentClassifier
from routing.facts import Facts

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
