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
from routing.training.crisis import THRESHOLDS, Examples, decision_inputs, operating_point, train_detector

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


@pytest.mark.parametrize(
    "text",
    [
        "your app update killed my battery, worst update ever",
        "this delivery is a total disaster, third time late, I am furious",
        "#fail #disaster my order arrived broken again",
        "your support is a joke, 3 hours on hold, this is an emergency for me, fix my account",
        "my inbox got flooded with spam emails since I signed up, stop it",
    ],
)
def test_an_angry_post_with_a_disaster_word_is_not_a_crisis(classifier, text):
    # Brand traffic: a disaster's name used as a figure of speech is not a report of one.
    assert classifier.classify(Facts(text=text, network="x")).intent != "crisis_signal"


@pytest.mark.parametrize(
    "text",
    [
        "checkout failing for everyone, outage?",
        "your site leaked customer data, my card details are out there",
        "Is there a recall on the camp stove? Mine leaked gas and caught fire last night.",
    ],
)
def test_a_brand_incident_stays_a_crisis_whatever_the_detector_says(text):
    # A strong pattern reporting an incident is beyond the detector (routing.crisis): even one that would
    # call nothing a crisis leaves these to the patterns.
    deaf = crisis.CrisisDetector(crisis.shipped_detector().model)
    deaf.threshold = 1e6

    assert IntentClassifier(crisis=deaf).classify(Facts(text=text, network="x")).intent == "crisis_signal"


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
    assert crisis.shipped_detector().threshold == spec["decision_threshold"]
    assert set(spec["leave_events_out_3_groups_classifier"]["by_event"]) == {
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
    margin, floor = decision_inputs(texts)
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
        margin=margin,
        floor=floor,
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
    assert chosen["threshold"] == chosen_flipped["threshold"] == model.spec["decision_threshold"]
    assert np.array_equal(model.weights, model_flipped.weights)
    assert np.array_equal(model.intercept, model_flipped.intercept)
    assert not chosen["inner_log_odds"][~rows].any()
    assert chosen["inner_log_odds"][rows & (examples.event != "")].all()


def test_the_threshold_is_the_lowest_that_keeps_false_alarms_within_the_budget():
    examples, _ = _small_examples()
    rng = np.random.default_rng(0)
    log_odds = rng.normal(size=len(examples.texts)) + 3 * examples.labels
    rows = np.ones(len(examples.texts), dtype=bool)

    threshold, recall, alarms = operating_point(examples, log_odds, rows, budget=0.25)
    lower = THRESHOLDS[list(THRESHOLDS).index(threshold) - 1]
    _, _, alarms_lower = operating_point(examples, log_odds, rows, budget=1.0)

    assert alarms <= 0.25 < _mean_alarms(examples, log_odds, lower)
    assert operating_point(examples, log_odds, rows, budget=0.0)[0] >= threshold
    assert alarms_lower >= alarms and 0 < recall <= 1


def _mean_alarms(examples: Examples, log_odds: np.ndarray, threshold: float) -> float:
    from routing.training.crisis import called

    flagged = called(examples, log_odds, threshold)
    return float(
        np.mean([flagged[(examples.event == e) & (examples.labels == 0)].mean() for e in examples.events])
    )


def test_the_classifier_decides_as_training_assumed():
    # train_detector chooses the threshold with routing.training.crisis.called; the classifier must call
    # the same posts at that threshold, or the false-alarm budget means nothing at run time.
    from routing.training.crisis import called

    texts = (
        COMPLAINTS
        + CRISES
        + [
            "Free #HTC #Wildfire S, 250 minutes and 500MB data for only 7.50 per month #deals",
            "A fire in Australia has been burning for more than 5,000 years! #didyouknow",
            "RT @news: two dead as floods cut the highway north of town, police ask people to stay home",
            "#outage #hacked lol what a week",
        ]
    )
    detector = crisis.shipped_detector()
    log_odds = detector.log_odds_many(texts)
    margin, floor = decision_inputs(texts)
    examples = dataclasses.replace(_small_examples()[0], margin=margin, floor=floor)
    expected = called(examples, log_odds, detector.threshold)

    results = IntentClassifier().classify_many([Facts(text=text, network="x") for text in texts])

    assert [r.intent == "crisis_signal" for r in results] == expected.tolist()


def test_a_higher_threshold_calls_fewer_posts_a_crisis():
    text = "Flood waters rising on Main St, evacuate now"
    shipped = crisis.shipped_detector()
    strict = crisis.CrisisDetector(shipped.model)
    strict.threshold = shipped.threshold + 20

    relaxed = IntentClassifier().classify(Facts(text=text, network="x"))
    demanding = IntentClassifier(crisis=strict).classify(Facts(text=text, network="x"))

    assert dict(demanding.scores)["crisis_signal"] < dict(relaxed.scores)["crisis_signal"]
    assert demanding.intent != "crisis_signal"


@pytest.mark.parametrize(
    ("text", "terms", "reported"),
    [
        ("the site is down for everyone", ["down for everyone"], True),
        ("we got hacked, customer data exposed", ["hacked", "exposed"], True),
        ("check out the #hacked exhibition", ["hacked"], False),
        ("a fire in australia has burned for 6,000 years", ["fire"], False),
        ("#wildfire s phone deal, 7.50 a month", ["wildfire"], False),
        ("earthquake in california, floods in manila", ["earthquake", "floods"], False),
    ],
)
def test_only_a_reported_incident_outside_a_hashtag_is_beyond_the_detector(text, terms, reported):
    assert crisis.incident_reported(text, terms) is reported
