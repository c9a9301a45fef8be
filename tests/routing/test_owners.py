"""routing.owners: the owner model learns which team owns a post from what the teams did, starts as the
intent map, trains the same model from the same examples however they arrived, and overrules the intent map
in the engine only when it is trained and sure. Pure: no database."""

from __future__ import annotations

import io
import random
import zipfile
from dataclasses import replace

import numpy as np
import pytest

from routing.classifier import vectorize
from routing.engine import decide, decide_many
from routing.facts import INTENTS, Classification, Facts
from routing.owners import (
    CALIBRATION_MIN_POSTS,
    CORRECTION_WEIGHT,
    MAP_SMOOTHING,
    OwnerExample,
    OwnerModel,
    guess_many,
    map_probabilities,
)
from routing.rules import RoutingContext, compile_naive_rule_set, compile_rule_set

TEAMS = ("care", "events", "sales")
SEGMENTS = {"customer-relations": "care", "event-coverage": "events", "product-promotion": "sales"}
CONTEXT = RoutingContext(
    teams=frozenset(TEAMS),
    segments=SEGMENTS,
    team_names={"care": "Customer Care", "events": "Events", "sales": "Sales"},
)
RULE_SET = compile_rule_set([], CONTEXT, version=2)
INTENT_TEAMS = RULE_SET.intent_teams  # support, complaint, praise -> care; event -> events; purchase -> sales
ACCOUNT = {"care": "customer-relations", "events": "event-coverage", "sales": "product-promotion"}

# Each team's own words, and words every team's posts use.
WORDS = {
    "care": ("refund", "broken", "warranty", "repair", "replacement"),
    "events": ("festival", "tickets", "stage", "lineup", "wristband"),
    "sales": ("discount", "restock", "preorder", "colourway", "bundle"),
}
FILLER = ("hello", "please", "today", "thanks", "friend", "weekend", "again", "maybe", "soon", "really")
OTHER = tuple(1.0 if intent == "other" else 0.0 for intent in INTENTS)  # an intent nobody owns: no map


def post_text(rng: random.Random, team: str) -> str:
    return " ".join(rng.sample(WORDS[team], 2) + rng.sample(FILLER, 3))


def examples(seed: int = 1, per_team: int = 20, corrected: int = 6) -> list[OwnerExample]:
    """Per team: posts it handled (history), two in three received on its own account, the others moved to
    it from another team's; and posts with its words that landed on another team's account and were
    re-routed to it (corrections). The intent says nothing (``other``)."""
    rng = random.Random(seed)
    made = []
    for team in TEAMS:
        others = [t for t in TEAMS if t != team]
        for n in range(per_team):
            receiving = others[n % 2] if n % 3 == 0 else team
            made.append(OwnerExample(post_text(rng, team), receiving, team, key=(0, team, n), intents=OTHER))
        for n in range(corrected):
            made.append(
                OwnerExample(
                    post_text(rng, team),
                    others[n % 2],
                    team,
                    CORRECTION_WEIGHT,
                    correction=True,
                    key=(1, team, n),
                    intents=OTHER,
                )
            )
    return made


def fit(made: list[OwnerExample], teams: tuple[str, ...] = TEAMS) -> OwnerModel:
    return OwnerModel.fit(made, intents=INTENTS, intent_teams=INTENT_TEAMS, teams=teams)


def probabilities(
    model: OwnerModel, texts: list[str], receiving: list[str], intent_p: np.ndarray | None = None
) -> np.ndarray:
    x, _ = vectorize([text.lower() for text in texts], model.n_features)
    if intent_p is None:
        intent_p = np.tile(np.array(OTHER), (len(texts), 1))
    return model.probabilities(x, intent_p, INTENTS, TEAMS, receiving, INTENT_TEAMS)


# --- training ------------------------------------------------------------------------------------------


def test_a_trained_model_learns_each_teams_words_wherever_the_post_lands() -> None:
    model = fit(examples())
    rng = random.Random(99)  # posts it never saw
    texts, receiving, expected = [], [], []
    for team in TEAMS:
        for elsewhere in (t for t in TEAMS if t != team):
            texts.append(post_text(rng, team))
            receiving.append(elsewhere)
            expected.append(team)

    p = probabilities(model, texts, receiving)

    assert (model.classes, model.alpha) == (TEAMS, 1.0)  # the intent map is the prior, held at 1
    assert [TEAMS[column] for column in p.argmax(axis=1)] == expected
    assert model.counts("events") == (6, 20)
    assert model.counts("nobody") == (0, 0)


def test_an_untrained_model_is_the_intent_map() -> None:
    rng = np.random.default_rng(3)
    intent_p = rng.dirichlet(np.full(len(INTENTS), 0.3), size=40)
    receiving = [TEAMS[n % 3] for n in range(40)]
    texts = [f"post number {n} about refund festival discount" for n in range(40)]
    untrained = OwnerModel()

    p = probabilities(untrained, texts, receiving, intent_p)
    expected = map_probabilities(intent_p, INTENTS, TEAMS, receiving, INTENT_TEAMS)

    assert (untrained.trained, untrained.alpha, untrained.gamma, untrained.temperature) == (
        False,
        1.0,
        0.0,
        1.0,
    )
    assert np.allclose(p, expected, rtol=0, atol=1e-12)
    assert (p.argmax(axis=1) == expected.argmax(axis=1)).all()
    # The map: intents a team's segment owns count for it, the intents nobody owns for the receiving team.
    # The map is a prior, smoothed towards a uniform choice.
    other_only = probabilities(untrained, ["x"], ["sales"], np.array([OTHER]))
    assert other_only[0].tolist() == pytest.approx([MAP_SMOOTHING / 3] * 2 + [1 - MAP_SMOOTHING * 2 / 3])


def test_no_examples_train_nothing() -> None:
    assert fit([]).dump() == OwnerModel().dump()
    assert not fit([]).trained


def test_the_same_examples_in_another_order_give_the_same_model_bit_for_bit() -> None:
    made = examples()
    shuffled = made[:]
    random.Random(5).shuffle(shuffled)

    assert shuffled != made
    assert fit(shuffled).dump() == fit(made).dump()


def test_teams_without_examples_are_known_and_keep_zero_weights() -> None:
    # As the module says: "Teams never seen get w = 0 (only the map and the receiving term speak for
    # them)", and a team without a base rate gets the known teams' average intercept. A team the intent map
    # names but that has no history yet must not start out less likely than the map makes it.
    model = fit(examples(), teams=(*TEAMS, "legal"))
    legal = model.classes.index("legal")
    known = [model.classes.index(team) for team in TEAMS]

    assert model.classes == ("care", "events", "legal", "sales")
    assert model.counts("legal") == (0, 0)
    assert model.intercept[legal] == pytest.approx(model.intercept[known].mean())
    assert np.abs(model.dense()[:, legal]).max() == 0.0


def test_a_bounce_is_evidence_against_the_team_that_bounced_it() -> None:
    made = examples()
    text = "hello refund tickets please today"  # care's word and events' word: both teams are likely
    before = fit(made)
    bounced = OwnerExample(
        text, "care", "events", CORRECTION_WEIGHT, against=True, correction=True, key=(2, 1), intents=OTHER
    )

    after = fit([*made, bounced])

    p_before, p_after = (probabilities(m, [text], ["care"])[0] for m in (before, after))
    events = TEAMS.index("events")
    assert p_after[events] < p_before[events] / 2
    assert after.counts("events") == before.counts("events")  # a bounce is no correction *for* events


def test_corrections_of_one_team_do_not_pull_unrelated_posts_to_it() -> None:
    # A fresh install: no history yet, an agent's first three re-routes of posts about a new product line.
    # The posts below share none of their words; their intents are clear and the map owns them.
    new_line = [
        OwnerExample(
            f"the voltra ebike {words}",
            "care",
            "sales",
            CORRECTION_WEIGHT,
            correction=True,
            key=(1, n),
            intents=OTHER,
        )
        for n, words in enumerate(("battery range", "frame folds", "child seat"))
    ]
    model = fit(new_line)
    support = tuple(1.0 if intent == "support_question" else 0.0 for intent in INTENTS)
    event = tuple(1.0 if intent == "event_question" else 0.0 for intent in INTENTS)

    p = probabilities(
        model,
        ["my order never arrived", "when do the doors open"],
        ["care", "care"],
        np.array([support, event]),
    )

    assert [TEAMS[column] for column in p.argmax(axis=1)] == ["care", "events"]
    # Corrections teach words only: how common a team is and how often posts land right, history teaches.
    assert (model.gamma, model.intercept.tolist()) == (0.0, [0.0, 0.0, 0.0])


# --- calibration ---------------------------------------------------------------------------------------


def test_calibration_cools_a_model_that_is_surer_than_it_is_right() -> None:
    model = fit(examples())
    rng = random.Random(7)
    noisy = []  # posts it did not see, whose owners follow their words only half the time
    for n in range(120):
        team = TEAMS[n % 3]
        owner = team if n % 2 else rng.choice([t for t in TEAMS if t != team])
        noisy.append(OwnerExample(post_text(rng, team), TEAMS[(n + 1) % 3], owner, key=(3, n), intents=OTHER))
    text = noisy[0].text
    before = probabilities(model, [text], ["care"]).max()

    temperature = model.calibrate(noisy, intents=INTENTS, intent_teams=INTENT_TEAMS)

    assert temperature > 1.0
    assert model.temperature == temperature
    assert probabilities(model, [text], ["care"]).max() < before


def test_calibration_keeps_the_temperature_with_fewer_posts_than_it_takes() -> None:
    model = fit(examples())
    model.temperature = 3.0
    few = (examples() * 20)[: CALIBRATION_MIN_POSTS - 1]

    assert model.calibrate(few, intents=INTENTS, intent_teams=INTENT_TEAMS) == 1.0
    assert model.temperature == 1.0


# --- state ---------------------------------------------------------------------------------------------


def test_dump_and_load_round_trip() -> None:
    model = fit(examples())
    model.temperature = 1.7
    rng = random.Random(11)
    texts = [post_text(rng, team) for team in TEAMS for _ in range(3)]
    receiving = [TEAMS[n % 3] for n in range(len(texts))]

    state = model.dump()
    loaded = OwnerModel.load(state)

    assert loaded.dump() == state
    assert (loaded.classes, loaded.alpha, loaded.gamma, loaded.temperature) == (
        model.classes,
        model.alpha,
        model.gamma,
        1.7,
    )
    assert np.array_equal(probabilities(loaded, texts, receiving), probabilities(model, texts, receiving))
    assert [loaded.counts(team) for team in TEAMS] == [model.counts(team) for team in TEAMS]
    assert OwnerModel.load(OwnerModel().dump()).dump() == OwnerModel().dump()


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _state(**changes: np.ndarray) -> bytes:
    with np.load(io.BytesIO(fit(examples(per_team=4, corrected=1)).dump()), allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    arrays.update(changes)
    return _npz(**{key: value for key, value in arrays.items() if value is not None})


class Boom:
    """Unpickling this would run code; a safe loader must never get that far."""

    def __reduce__(self):
        return (pytest.fail, ("the owner model loader unpickled an object",))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a state",
        b"PK\x03\x04 truncated zip",
        pytest.param(lambda: _state(weights=np.array([Boom()], dtype=object)), id="object-array"),
        pytest.param(lambda: _state(format=np.int64(2)), id="other-format"),
        pytest.param(lambda: _state(classes=None), id="missing-key"),
        pytest.param(lambda: _state(extra=np.zeros(1)), id="extra-key"),
        pytest.param(lambda: _state(columns=np.array([70_000, 1, 2, 3])), id="column-out-of-range"),
        pytest.param(lambda: _state(weights=np.zeros((2, 2))), id="weights-wrong-shape"),
        pytest.param(lambda: _state(intercept=np.full(3, np.nan)), id="nan-intercept"),
        pytest.param(lambda: _state(temperature=np.float64(0.0)), id="zero-temperature"),
        pytest.param(lambda: _state(n_features=np.int64(2**30)), id="too-many-features"),
        pytest.param(lambda: _state(classes=np.array([1, 2, 3])), id="classes-not-names"),
        pytest.param(lambda: _state(corrections=np.zeros(2, dtype=np.int64)), id="counts-wrong-shape"),
        # Scalars that are not scalars, and numbers that are strings: a ValueError, not a TypeError.
        pytest.param(lambda: _state(format=np.array([1, 1])), id="format-not-a-scalar"),
        pytest.param(lambda: _state(temperature=np.ones(2)), id="temperature-not-a-scalar"),
        pytest.param(lambda: _state(alpha=np.array("one")), id="alpha-a-string"),
        pytest.param(lambda: _state(intercept=np.array(["a", "b", "c"])), id="intercept-strings"),
        # What the intent model's loader refuses too: a counter that is not an integer, names twice.
        pytest.param(lambda: _state(format=np.float64(1.5)), id="format-a-float"),
        pytest.param(lambda: _state(classes=np.array(["care", "care", "sales"])), id="a-team-twice"),
        pytest.param(lambda: _state(corrections=np.array([-1, 0, 0])), id="negative-counts"),
    ],
)
def test_malformed_or_hostile_state_is_refused_without_unpickling(data) -> None:
    raw = data() if callable(data) else data

    with pytest.raises(ValueError):
        OwnerModel.load(raw)


def test_a_zip_bomb_is_refused_before_it_is_unpacked() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("weights.npy", b"\0" * (80 * 1024 * 1024))

    with pytest.raises(ValueError, match="more than allowed"):
        OwnerModel.load(buffer.getvalue())


def test_a_bare_npy_holding_an_object_array_is_refused() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([Boom()], dtype=object), allow_pickle=True)

    with pytest.raises(ValueError):
        OwnerModel.load(buffer.getvalue())


# --- in the engine -------------------------------------------------------------------------------------


class OwnerClassifier:
    """Gives each post the classification it carries, and has an owner model (as ``classifier_current``)."""

    version = 4

    def __init__(self, owner_model: OwnerModel) -> None:
        self.owner_model = owner_model

    def classify(self, facts: Facts) -> Classification:
        raise AssertionError("every post in these tests is classified")

    def classify_many(self, facts: list[Facts]) -> list[Classification]:
        raise AssertionError("every post in these tests is classified")


class NoOwnerModel:
    """A classifier without an owner model: the engine decides by the intent map alone."""

    version = 4

    def classify(self, facts: Facts) -> Classification:
        raise AssertionError("every post in these tests is classified")

    def classify_many(self, facts: list[Facts]) -> list[Classification]:
        raise AssertionError("every post in these tests is classified")


def classified(scores: dict[str, float]) -> Classification:
    ranked = tuple(sorted(((intent, scores.get(intent, 0.0)) for intent in INTENTS), key=lambda s: -s[1]))
    return Classification(ranked[0][0], ranked[0][1], 0.0, "neutral", (), model_version=4, scores=ranked)


def on(team: str, text: str, scores: dict[str, float] | None = None) -> Facts:
    """A post received on ``team``'s account."""
    return Facts(
        text=text,
        network="x",
        channel=f"{team}-account",
        segment=ACCOUNT[team],
        team=team,
        classification=classified(scores or {"other": 0.9, "praise": 0.1}),
    )


TRAINED = fit(examples())
FESTIVAL = "hello festival tickets please today"  # events' words


def test_a_confident_trained_owner_overrules_the_intent_map_and_says_what_it_learned_from() -> None:
    facts = on("care", FESTIVAL)
    (guess,) = guess_many(TRAINED, [facts], [facts.classification], RULE_SET)

    decision = decide(facts, RULE_SET, OwnerClassifier(TRAINED))

    assert (guess.team, guess.map_team, guess.learned) == ("events", "care", True)
    assert guess.confidence >= 0.6
    assert (guess.corrections, guess.history) == (6, 20)
    assert set(guess.terms) == {"festival", "tickets"}
    assert (decision.team, decision.segment, decision.owner_source) == ("events", "event-coverage", "learned")
    assert (decision.is_misdirected, decision.escalate_to, decision.needs_decision) == (True, "events", False)
    assert decision.escalation_reason == (
        "Team Events owns posts like it, learned from what the teams did; received by team Customer Care."
    )
    words = "”, “".join(guess.terms)
    assert decision.explanation == (
        "Intent other (0.90).",
        "Sentiment neutral (+0.00).",
        f"Owner team Events ({guess.confidence:.2f}), learned from 6 corrections and 20 handled posts for "
        f"that team: “{words}”.",
        "Misdirected: Team Events owns posts like it, learned from what the teams did; received by team "
        "Customer Care.",
    )
    assert decide_many([facts], RULE_SET, OwnerClassifier(TRAINED)) == [decision]


def test_a_learned_owner_that_received_the_post_keeps_it_though_the_map_would_move_it() -> None:
    facts = on("events", FESTIVAL, {"support_question": 0.8, "event_question": 0.2})

    decision = decide(facts, RULE_SET, OwnerClassifier(TRAINED))

    assert (decision.team, decision.owner_source, decision.is_misdirected) == ("events", "learned", False)
    assert decision.explanation[-1] == (
        "Not misdirected: team Events owns posts like it, learned from what the teams did."
    )


def test_a_trained_owner_that_is_not_sure_enough_leaves_the_post_to_the_intent_map() -> None:
    unsure = replace(fit(examples()), temperature=8.0)  # the same weights, far less sure
    facts = on("care", FESTIVAL)
    (guess,) = guess_many(unsure, [facts], [facts.classification], RULE_SET)

    decision = decide(facts, RULE_SET, OwnerClassifier(unsure))

    assert guess.team == "events" and guess.confidence < 0.6
    assert guess.learned is False
    assert (decision.team, decision.owner_source, decision.is_misdirected) == ("care", "intent", False)
    assert not any(line.startswith("Owner team") for line in decision.explanation)


def test_an_untrained_owner_model_decides_as_the_intent_map_does() -> None:
    posts = [
        on("care", FESTIVAL),
        on("sales", "where is my refund", {"support_question": 0.9, "complaint": 0.1}),
        on("events", "love it", {"praise": 0.7, "other": 0.3}),
        on("care", "any discount", {"purchase_question": 0.95, "other": 0.05}),
    ]

    with_model = decide_many(posts, RULE_SET, OwnerClassifier(OwnerModel()))
    without = [decide(facts, RULE_SET, NoOwnerModel()) for facts in posts]

    assert [d.owner_source for d in with_model] == ["intent"] * 4
    assert [d.needs_decision for d in with_model] == [False] * 4
    assert [replace(d, owner_source="") for d in with_model] == without
    assert [d.team for d in with_model] == ["care", "care", "care", "sales"]


def test_a_post_whose_receiving_team_is_unlikely_needs_a_lead_to_decide() -> None:
    split = on("sales", "hmm", {"support_question": 0.45, "event_question": 0.45, "other": 0.1})
    vague = on("sales", "hmm", {"support_question": 0.3, "event_question": 0.3, "other": 0.4})
    clear = on("sales", "hmm", {"other": 0.55, "support_question": 0.45})
    nowhere = replace(split, channel="", segment="", team="")

    decisions = decide_many([split, vague, clear, nowhere], RULE_SET, OwnerClassifier(OwnerModel()))

    assert [d.needs_decision for d in decisions] == [True, True, False, False]
    assert [d.team for d in decisions] == ["sales", "sales", "sales", ""]
    # The map's probabilities, smoothed: 0.8 of the intents' share and 0.2 / 3 for each team.
    assert decisions[0].explanation[2] == (
        "Needs a decision: team Sales keeps it (0.15), but team Customer Care is as likely (0.43, below the "
        "0.60 needed to move it); the lead of team Sales decides."
    )
    assert decisions[1].explanation[2] == (
        "Needs a decision: no team is likely enough (team Sales 0.39); the lead of team Sales decides."
    )
    assert not any(line.startswith("Needs a decision") for d in decisions[2:] for line in d.explanation)


def test_a_rule_route_wins_over_the_learned_owner() -> None:
    rules = [
        {"id": 7, "name": "Festival to sales", "when": {"keywords": ["festival"]},
         "then": [{"route_to_team": "sales"}]},
    ]  # fmt: skip
    facts = on("care", FESTIVAL)

    for rule_set in (compile_rule_set(rules, CONTEXT), compile_naive_rule_set(rules, CONTEXT)):
        decision = decide(facts, rule_set, OwnerClassifier(TRAINED))

        assert (decision.team, decision.owner_source, decision.needs_decision) == ("sales", "rule", False)
        assert decision.rules_fired == (7,)
        assert not any(line.startswith(("Owner team", "Needs a decision")) for line in decision.explanation)
        assert decision.explanation[-1] == (
            "Misdirected: Rule 7 “Festival to sales” routed it to team Sales; received by team Customer Care."
        )


def test_compiled_and_naive_rule_sets_decide_alike_with_an_owner_model() -> None:
    rng = random.Random(8)
    posts = [
        on(
            rng.choice(TEAMS),
            post_text(rng, rng.choice(TEAMS)),
            rng.choice(
                [{"other": 0.9, "praise": 0.1}, {"support_question": 0.7, "other": 0.3},
                 {"event_question": 0.5, "purchase_question": 0.5}]
            ),
        )
        for _ in range(60)
    ]  # fmt: skip
    classifier = OwnerClassifier(TRAINED)

    compiled = decide_many(posts, compile_rule_set([], CONTEXT, version=2), classifier)
    naive = decide_many(posts, compile_naive_rule_set([], CONTEXT, version=2), classifier)

    assert compiled == naive
    assert {d.owner_source for d in compiled} == {"learned", "intent"}


def test_no_teams_no_guesses() -> None:
    empty = compile_rule_set([], RoutingContext(teams=frozenset(), segments={}))
    facts = on("care", FESTIVAL)

    assert guess_many(TRAINED, [facts, facts], [facts.classification] * 2, empty) == [None, None]
