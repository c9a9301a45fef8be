"""Owner learning on real customer-care posts (part of ``python -m bench.eval``).

``../shared/data/twitter_customer_care_cdp/posts.tsv``: customer tweets to 25 brands' support accounts, each
labelled with the brand that answered. Each brand is a team (an owner); the posts arrive on one shared
account no brand owns (receiving team ""), and the intent map gives the brands no intents
(``intent_teams={}``): only what the teams did teaches the owner model. Handles are masked (every @handle
becomes "@user"), or the label would be in the text. The split is by conversation (``routing.owner_eval``:
a fixed hash of the conversation id, 30% held out); the training part, in time order, plays the agents'
corrections (or, in the history variant, posts the teams handled).

Figures (``routing.owners``, ``routing.learning``; no database):

* ``owner_accuracy_curve``: held-out owner accuracy after the first 0/100/250/500/1000 corrections (a point
  past the training part uses all of it and says how many), also on the held-out posts that do not name
  the brand, and with the same posts as history.
* ``one_by_one_vs_batch_gap``: the models after training once per correction for the first 100 against
  training once on all 100.
* ``ece``: expected calibration error of the owner model trained on every correction, calibrated as
  ``models_train`` calibrates it (temperature fitted on the newest corrections, at most 200, held back).
"""

from __future__ import annotations

import csv
import random
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from routing import learning
from routing.classifier import IntentClassifier
from routing.facts import INTENTS
from routing.owner_eval import (
    ECE_BINS,
    calibration_noise,
    expected_calibration_error,
    handles_masked,
    is_test,
    names_brand,
)
from routing.owners import CORRECTION_WEIGHT, HISTORY_WEIGHT, OwnerExample, OwnerModel, owners_probabilities
from routing.rules import RoutingContext
from routing.training.data import CUSTOMER_CARE

TEST_SHARE = 0.3
CURVE = (0, 100, 250, 500, 1000)
ONE_BY_ONE = 100
SHUFFLE_SEED = 7
CROSS_FIT_FOLDS = 5
INTENT_TEAMS: dict[str, str] = {}  # the brands own no intents: the intent map cannot tell them apart


def read_posts(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return sorted(rows, key=lambda row: (row["created_at"], row["id"]))


def _examples(rows: Sequence[dict[str, str]], *, correction: bool) -> list[OwnerExample]:
    return [
        OwnerExample(
            text=handles_masked(row["text"]),
            receiving="",
            team=row["brand"],
            weight=CORRECTION_WEIGHT if correction else HISTORY_WEIGHT,
            correction=correction,
            key=(1 if correction else 0, position),
        )
        for position, row in enumerate(rows)
    ]


def _accuracy(owner: OwnerModel, classifier: IntentClassifier, test: Sequence[OwnerExample], teams) -> float:
    trained = learning.Trained(classifier, owner)
    return round(learning.owner_accuracy(trained, test, intent_teams=INTENT_TEAMS, teams=teams) or 0.0, 4)


def owner_figures(shared: Path) -> dict[str, Any]:
    rows = read_posts(shared / CUSTOMER_CARE / "posts.tsv")
    teams = tuple(sorted({row["brand"] for row in rows}))
    train_rows = [row for row in rows if not is_test(row["conversation_id"], TEST_SHARE)]
    test_rows = [row for row in rows if is_test(row["conversation_id"], TEST_SHARE)]
    seed = IntentClassifier()
    test = learning.with_intents(seed, _examples(test_rows, correction=True))
    unnamed = [
        e for e, row in zip(test, test_rows, strict=True) if not names_brand(row["text"], row["brand"])
    ]
    corrections = learning.with_intents(seed, _examples(train_rows, correction=True))
    history = [replace(e, weight=HISTORY_WEIGHT, correction=False, key=(0, e.key[1])) for e in corrections]

    curve = []
    for wanted in CURVE:
        point: dict[str, Any] = {"corrections": wanted, "used": min(wanted, len(corrections))}
        for name, examples in (("", corrections), ("history_", history)):
            owner = OwnerModel.fit(examples[:wanted], intents=INTENTS, intent_teams=INTENT_TEAMS, teams=teams)
            point[f"{name}accuracy"] = _accuracy(owner, seed, test, teams)
            point[f"{name}accuracy_not_naming_brand"] = _accuracy(owner, seed, unnamed, teams)
        curve.append(point)

    majority, majority_n = Counter(row["brand"] for row in train_rows).most_common(1)[0]
    return {
        "owner_accuracy_curve": curve,
        "one_by_one_vs_batch_gap": one_by_one_vs_batch(corrections, test, teams),
        "ece": calibration(train_rows, corrections, test, teams),
        "ece_cross_fitted": calibration_cross_fitted(
            rows, learning.with_intents(seed, _examples(rows, correction=True)), teams
        ),
        "owners_data": {
            "file": f"{CUSTOMER_CARE}/posts.tsv",
            "rows": len(rows),
            "owners": len(teams),
            "train_rows": len(train_rows),
            "test_rows": len(test_rows),
            "test_rows_not_naming_brand": len(unnamed),
            "split": f"by conversation_id: crc32(id) % 10000 < {TEST_SHARE} * 10000 is held out "
            "(routing.owner_eval.is_test)",
            "order": "training rows in created_at order, the first N of them",
            "masking": "every @handle replaced by @user (training and test texts)",
            "receiving_team": '"" (a shared account no brand owns)',
            "intent_map": "intent_teams={} (no brand owns an intent); intent probabilities from the seed "
            "IntentClassifier (routing.learning.with_intents)",
            "examples": f"corrections: OwnerExample(correction=True, weight={CORRECTION_WEIGHT}); history "
            f"variant: the same posts with correction=False, weight={HISTORY_WEIGHT}",
            "not_naming_brand": "test posts whose unmasked text contains none of routing.owner_eval."
            "brand_names(brand): the handle, and the handle without Ask/Team prefixes and Support/Help/"
            "Helps/Care/Cares/_us/Air suffixes, case-insensitive, punctuation and spaces ignored (names "
            "under 4 letters, e.g. hp, only as a whole word)",
            "zero_corrections": "the untrained model: no team owns an intent and the post arrives on no "
            "team's account, so every team is equally likely and the first in name order wins (chance)",
            "chance": round(1 / len(teams), 4),
            "majority_team_share_of_test": round(
                sum(row["brand"] == majority for row in test_rows) / len(test_rows), 4
            ),
            "majority_team": majority,
            "majority_team_train_rows": majority_n,
        },
    }


def one_by_one_vs_batch(
    corrections: Sequence[OwnerExample], test: Sequence[OwnerExample], teams: Sequence[str]
) -> dict[str, Any]:
    """Training after each of the first ONE_BY_ONE corrections as it arrives (as the training task does,
    ``routing.learning.models_fit`` from every stored example) against one training on all of them, given
    in a shuffled order (as a bulk import might store them)."""
    arrived = [learning.Example(e, at=e.key[1]) for e in corrections[:ONE_BY_ONE]]
    one_by_one = None
    for count in range(1, len(arrived) + 1):
        one_by_one = learning.models_fit(
            arrived[:count], intent_teams=INTENT_TEAMS, teams=teams, version=count
        )
    shuffled = list(arrived)
    random.Random(SHUFFLE_SEED).shuffle(shuffled)
    batch = learning.models_fit(shuffled, intent_teams=INTENT_TEAMS, teams=teams, version=len(arrived))
    assert one_by_one is not None
    accuracy_one = learning.owner_accuracy(one_by_one, test, intent_teams=INTENT_TEAMS, teams=teams) or 0.0
    accuracy_batch = learning.owner_accuracy(batch, test, intent_teams=INTENT_TEAMS, teams=teams) or 0.0
    return {
        "corrections": len(arrived),
        "accuracy_one_by_one": round(accuracy_one, 4),
        "accuracy_batch": round(accuracy_batch, 4),
        "gap": round(abs(accuracy_one - accuracy_batch), 4),
        "goal": "<= 0.01",
        "owner_dumps_identical": one_by_one.owner.dump() == batch.owner.dump(),
        "intent_dumps_identical": one_by_one.intent.dump_state() == batch.intent.dump_state(),
        "batch_order": f"the same corrections shuffled (seed {SHUFFLE_SEED}); training orders examples by "
        "key",
        "trainings_one_by_one": len(arrived),
    }


def calibration(
    train_rows: Sequence[dict[str, str]],
    corrections: Sequence[OwnerExample],
    test: Sequence[OwnerExample],
    teams: Sequence[str],
) -> dict[str, Any]:
    """ECE on the held-out posts of the model trained on every correction, before and after the
    temperature ``models_train`` would give it (``learning.owner_temperature``)."""
    final, temperature, how, held, calibration_history, held_back_accuracy = _calibrated(
        train_rows, corrections, teams
    )
    index = {team: column for column, team in enumerate(teams)}
    truth = [index[e.team] for e in test]
    figures: dict[str, Any] = {
        "corrections": len(corrections),
        "held_back": len(held),
        "held_back_history": len(calibration_history),
        "bins": ECE_BINS,
    }
    threshold = RoutingContext(teams=frozenset(), segments={}).misdirect_threshold
    for name, value in (("before_calibration", 1.0), ("after_calibration", temperature)):
        final.owner.temperature = value
        p = owners_probabilities(final, test, intent_teams=INTENT_TEAMS, teams=teams)
        figures[name] = round(expected_calibration_error(p, truth), 4)
        figures[f"mean_confidence_{name}"] = round(float(p.max(axis=1).mean()), 4)
        # What routing would move: a learned owner needs the misdirection threshold.
        confident = p.max(axis=1) >= threshold
        right = p.argmax(axis=1) == np.array(truth)
        figures[f"at_or_above_threshold_{name}"] = int(confident.sum())
        figures[f"right_at_or_above_threshold_{name}"] = int((confident & right).sum())
    figures["after_calibration_noise"] = calibration_noise(p, truth)
    figures["threshold"] = threshold
    figures["accuracy"] = round(float(np.mean(np.array(truth) == p.argmax(axis=1))), 4)
    figures["temperature"] = round(temperature, 4)
    figures["temperature_how"] = how
    figures["held_back_accuracy"] = round(held_back_accuracy or 0.0, 4)
    figures["how"] = (
        f"routing.learning.models_train's calibration (owner_temperature): {how}; the model trained on all "
        "corrections gets it. held_back_accuracy: the backtest's model trained without the newest "
        f"{len(held)} corrections, on them. ECE: 15 equal-width bins on the top-class confidence, "
        "held-out posts. after_calibration_noise: the ECE a perfectly calibrated model with the same "
        "confidences would show on these posts (routing.owner_eval.calibration_noise), and a bootstrap "
        "interval"
    )
    return figures


def calibration_cross_fitted(
    rows: Sequence[dict[str, str]], examples: Sequence[OwnerExample], teams: Sequence[str]
) -> dict[str, Any]:
    """The same calibration measured on every post instead of the 30% held out: the posts split by
    conversation into CROSS_FIT_FOLDS folds; each fold scored by the model trained (and calibrated as
    ``models_train`` does) on the other folds' posts, in time order, as corrections; the folds' calibrated
    probabilities pooled. Three times the posts of the held-out figure, so a far smaller noise floor."""
    index = {team: column for column, team in enumerate(teams)}
    pooled: list[np.ndarray] = []
    truth: list[int] = []
    temperatures = []
    for fold in range(CROSS_FIT_FOLDS):
        inside = [fold_of(row["conversation_id"]) == fold for row in rows]
        train_rows = [row for row, held in zip(rows, inside, strict=True) if not held]
        train = [
            replace(e, key=(1, position))
            for position, e in enumerate(e for e, held in zip(examples, inside, strict=True) if not held)
        ]
        scored = [e for e, held in zip(examples, inside, strict=True) if held]
        final, temperature, *_ = _calibrated(train_rows, train, teams)
        final.owner.temperature = temperature
        temperatures.append(round(temperature, 4))
        pooled.append(owners_probabilities(final, scored, intent_teams=INTENT_TEAMS, teams=teams))
        truth += [index[e.team] for e in scored]
    p = np.vstack(pooled)
    return {
        "posts": len(truth),
        "folds": CROSS_FIT_FOLDS,
        "ece": round(expected_calibration_error(p, truth), 4),
        "noise": calibration_noise(p, truth),
        "accuracy": round(float(np.mean(np.array(truth) == p.argmax(axis=1))), 4),
        "mean_confidence": round(float(p.max(axis=1).mean()), 4),
        "temperatures": temperatures,
        "how": f"folds by conversation_id (crc32(id) % {CROSS_FIT_FOLDS}); each fold scored by the model "
        "trained on the others' posts as corrections in time order and calibrated by owner_temperature; "
        "ECE over the pooled calibrated probabilities of all posts, 15 bins",
    }


def fold_of(conversation_id: str) -> int:
    return zlib.crc32(conversation_id.encode("utf-8")) % CROSS_FIT_FOLDS


def _calibrated(
    train_rows: Sequence[dict[str, str]], corrections: Sequence[OwnerExample], teams: Sequence[str]
) -> tuple[learning.Trained, float, str, list[int], list[int], float | None]:
    """What ``models_train`` makes of these corrections: the model trained on all of them, its temperature
    (and how it was found), the held-back rows and the backtest model's accuracy on them."""
    examples = [
        learning.Example(e, at=row["created_at"]) for e, row in zip(corrections, train_rows, strict=True)
    ]
    newest_first = sorted(range(len(examples)), key=lambda i: (examples[i].at, examples[i].owner.key))
    held = [i for i in newest_first if examples[i].owner.correction][-learning.HELD_BACK_MAX :]
    # models_train also holds back the newest handled posts for calibrating (none here: all corrections).
    calibration_history = [i for i in newest_first if not examples[i].owner.correction][
        -learning.CALIBRATION_HISTORY_MAX :
    ]
    held_set = set(held) | set(calibration_history)
    without = learning.models_fit(
        [e for i, e in enumerate(examples) if i not in held_set],
        intent_teams=INTENT_TEAMS,
        teams=teams,
        version=1,
    )
    held_back = [examples[i].owner for i in held]
    held_back_accuracy = learning.owner_accuracy(without, held_back, intent_teams=INTENT_TEAMS, teams=teams)
    final = learning.models_fit(examples, intent_teams=INTENT_TEAMS, teams=teams, version=2)
    temperature, how = learning.owner_temperature(
        examples,
        final=final,
        without=without,
        calibration=[*held_back, *(examples[i].owner for i in calibration_history)],
        intent_teams=INTENT_TEAMS,
        teams=teams,
    )
    return final, temperature, how, held, calibration_history, held_back_accuracy
