"""The rule language: validation errors name the wrong part, every condition and action, gates, and the
compiled rule set deciding exactly as the naive one on thousands of generated posts."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

import routing.rules as rules_module
from routing.facts import Classification, Facts, Notification
from routing.rules import (
    CompiledRuleSet,
    RoutingContext,
    RuleError,
    compile_naive_rule_set,
    compile_rule_set,
    validate_rule,
)

CONTEXT = RoutingContext(
    teams=frozenset({"care", "crisis", "comms", "events", "sales", "advocacy", "legal"}),
    segments={
        "customer-relations": "care",
        "crisis-management": "crisis",
        "reputation-management": "comms",
        "event-coverage": "events",
        "product-promotion": "sales",
        "issue-advocacy": "advocacy",
    },
    users=frozenset({"priya", "kofi"}),
    channels=frozenset({"nw-care", "nw-deals", "trailfest"}),
)
AT = datetime(2026, 6, 14, 12, 0, tzinfo=UTC)


def classified(
    intent: str = "support_question", confidence: float = 0.9, sentiment: float = 0.0
) -> Classification:
    return Classification(intent, confidence, sentiment, "neutral", ("order",))


def post(text: str = "hello", **fields) -> Facts:
    defaults = {
        "network": "x",
        "kind": "mention",
        "channel": "nw-care",
        "segment": "customer-relations",
        "team": "care",
        "language": "en",
        "created_at": AT,
        "classification": classified(),
    }
    return Facts(text=text, **{**defaults, **fields})


LABEL = [{"add_labels": ["seen"]}]


def rule(when, then=None, rule_id: int = 1) -> dict:
    return {
        "id": rule_id,
        "name": f"r{rule_id}",
        "enabled": True,
        "when": when,
        "then": then or [{"stop": True}],
    }


def fires(when, facts: Facts) -> bool:
    """Whether a one-rule set fires, asserting that the compiled and naive sets agree."""
    rules = [rule(when)]
    compiled = compile_rule_set(rules, CONTEXT).match(facts, facts.classification)
    naive = compile_naive_rule_set(rules, CONTEXT).match(facts, facts.classification)
    assert [r.id for r in compiled] == [r.id for r in naive]
    return bool(compiled)


# --- Validation -----------------------------------------------------------------------------------------

BAD_RULES = [
    pytest.param(
        rule({"regex": "order (\\d+"}), "rules[0].when.regex", "missing ), unterminated", id="regex"
    ),
    pytest.param(
        rule({"keywords": ["a"]}, [{"route_to_team": "nope"}]),
        "rules[0].then[0].route_to_team",
        "unknown team 'nope'",
        id="team",
    ),
    pytest.param(
        rule({"keywords": ["a"]}, [{"route_to_segment": "nope"}]),
        "rules[0].then[0].route_to_segment",
        "unknown segment 'nope'",
        id="segment-action",
    ),
    pytest.param(
        rule({"segment": ["customer-relations", "nope"]}),
        "rules[0].when.segment[1]",
        "unknown segment 'nope'",
        id="segment-condition",
    ),
    pytest.param(
        rule({"keywords": ["a"]}, [{"assign_to": "mallory"}]),
        "rules[0].then[0].assign_to",
        "unknown user 'mallory'",
        id="user",
    ),
    pytest.param(
        rule({"channel": ["nope"]}), "rules[0].when.channel[0]", "unknown channel 'nope'", id="channel"
    ),
    pytest.param(
        rule({"intent": {"in": ["gossip"]}}),
        "rules[0].when.intent.in[0]",
        "unknown intent 'gossip'",
        id="intent",
    ),
    pytest.param(
        rule({"author_tag": ["celebrity"]}),
        "rules[0].when.author_tag[0]",
        "unknown author tag 'celebrity'",
        id="tag",
    ),
    pytest.param(rule({"kind": ["story"]}), "rules[0].when.kind[0]", "unknown kind 'story'", id="kind"),
    pytest.param(
        rule({"keywords": ["a"]}, [{"set_priority": "asap"}]),
        "rules[0].then[0].set_priority",
        "unknown priority 'asap'",
        id="priority",
    ),
    pytest.param(rule({}), "rules[0].when", "exactly one key, got 0", id="empty-condition"),
    pytest.param(
        rule({"keywords": []}), "rules[0].when.keywords", "empty list of keywords", id="empty-keywords"
    ),
    pytest.param(
        rule({"keywords": ["ok", "  "]}), "rules[0].when.keywords[1]", "non-empty keyword", id="blank-keyword"
    ),
    pytest.param(rule({"all": []}), "rules[0].when.all", "empty 'all'", id="empty-all"),
    pytest.param(rule({"not": {"any": []}}), "rules[0].when.not.any", "empty 'any'", id="empty-any"),
    pytest.param(
        rule({"all": [{"keywords": ["a"]}, {"colour": "red"}]}),
        "rules[0].when.all[1].colour",
        "unknown condition 'colour'",
        id="unknown-condition",
    ),
    pytest.param(
        rule({"keywords": ["a"]}, [{"sing": True}]),
        "rules[0].then[0].sing",
        "unknown action 'sing'",
        id="unknown-action",
    ),
    pytest.param(
        rule({"followers": {"min": 10, "max": 5}}),
        "rules[0].when.followers",
        "min 10 is greater than max 5",
        id="bounds",
    ),
    pytest.param(
        rule({"sentiment": {"min": -2}}), "rules[0].when.sentiment.min", "out of range", id="sentiment"
    ),
    pytest.param(
        rule({"time_window": {"start": "2026-06-14", "end": "2026-06-13"}}),
        "rules[0].when.time_window",
        "ends",
        id="window-order",
    ),
    pytest.param(
        rule({"time_window": {"start": "next friday"}}),
        "rules[0].when.time_window.start",
        "not an ISO 8601",
        id="window-date",
    ),
    pytest.param(
        rule({"keywords": ["a"]}, [{"notify_webhook": "ftp://example.com/x"}]),
        "rules[0].then[0].notify_webhook",
        "http(s)",
        id="webhook",
    ),
    pytest.param(
        rule({"keywords": ["a"]}, [{"notify_email": "ops at example"}]),
        "rules[0].then[0].notify_email",
        "not an email address",
        id="email",
    ),
    pytest.param(
        {**rule({"keywords": ["a"]}), "then": []}, "rules[0].then", "at least one action", id="no-actions"
    ),
    pytest.param(
        {"id": 1, "when": {"keywords": ["a"]}}, "rules[0].then", "at least one action", id="missing-then"
    ),
    pytest.param(
        {**rule({"keywords": ["a"]}), "colour": 1}, "rules[0].colour", "unknown rule key", id="rule-key"
    ),
    pytest.param(rule({"hashtag": ["two words"]}), "rules[0].when.hashtag[0]", "not a hashtag", id="hashtag"),
    pytest.param(rule({"verified": "yes"}), "rules[0].when.verified", "true or false", id="verified"),
    pytest.param(
        rule({"keywords": ["a"]}, [{"require_approval": False}]),
        "rules[0].then[0].require_approval",
        "expected true",
        id="approval",
    ),
    pytest.param(
        rule({"keywords": ["a"]}, [{"escalate": {"team": "care", "why": "x"}}]),
        "rules[0].then[0].escalate.why",
        "unknown key",
        id="escalate",
    ),
    pytest.param(
        rule({"keywords": ["a"]}, [{"add_labels": ["ok", "#urgent!"]}]),
        "rules[0].then[0].add_labels[1]",
        "'#urgent!' is not a label: up to 40 letters, digits, spaces and . : / - _, starting with a "
        "letter or digit.",
        id="label",
    ),
    pytest.param(
        rule({"keywords": ["a"]}, [{"add_labels": ["x" * 41]}]),
        "rules[0].then[0].add_labels[0]",
        "is not a label",
        id="label-length",
    ),
]


@pytest.mark.parametrize(("bad", "path", "message"), BAD_RULES)
def test_a_bad_rule_is_refused_naming_the_wrong_part(bad: dict, path: str, message: str) -> None:
    with pytest.raises(RuleError) as raised:
        validate_rule(bad, CONTEXT)

    assert raised.value.path == path
    assert message in raised.value.message
    assert str(raised.value).startswith(f"{path}: ")


def test_a_deep_path_names_the_index_of_the_rule_and_of_each_branch() -> None:
    rules = [
        rule({"keywords": ["ok"]}, rule_id=1),
        rule({"keywords": ["ok"]}, rule_id=2),
        rule({"keywords": ["ok"]}, rule_id=3),
        rule({"all": [{"keywords": ["x"]}, {"any": [{"verified": True}, {"regex": "a{2,1}"}]}]}, rule_id=4),
    ]

    with pytest.raises(RuleError) as raised:
        compile_rule_set(rules, CONTEXT)

    assert raised.value.path == "rules[3].when.all[1].any[1].regex"
    assert "bad regular expression 'a{2,1}'" in raised.value.message


def test_a_disabled_rule_is_validated_but_not_compiled_in() -> None:
    bad = {**rule({"regex": "("}, rule_id=2), "enabled": False}
    with pytest.raises(RuleError, match=r"rules\[1\]\.when\.regex"):
        compile_rule_set([rule({"keywords": ["a"]}), bad], CONTEXT)

    disabled = {**rule({"keywords": ["a"]}, rule_id=2), "enabled": False}
    rule_set = compile_rule_set([rule({"keywords": ["a"]}), disabled], CONTEXT, version=4)

    assert rule_set.rule_ids == (1,)
    assert rule_set.version == 4
    assert rule_set.context is CONTEXT


def test_two_rules_may_not_share_an_id() -> None:
    with pytest.raises(RuleError) as raised:
        compile_rule_set([rule({"keywords": ["a"]}), rule({"keywords": ["b"]})], CONTEXT)

    assert raised.value.path == "rules[1].id"


def test_users_and_channels_are_not_checked_when_the_context_says_none() -> None:
    lenient = replace(CONTEXT, users=None, channels=None)

    validate_rule(rule({"channel": ["gone"]}, [{"assign_to": "left-the-company"}]), lenient)


# --- Conditions -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("when", "text", "expected"),
    [
        ({"keywords": ["tent"]}, "My TENT leaks.", True),
        ({"keywords": ["tent"]}, "Two tents leak", False),
        ({"keywords": ["tent"]}, "subtent", False),
        ({"keywords": ["tent", "stove"]}, "the stove!", True),
        ({"keywords": ["tundra 2 tent"]}, "my Tundra 2 tent broke", True),
        ({"phrase": "Basecamp  stove"}, "is the basecamp stove safe", True),
        ({"phrase": "basecamp stove"}, "basecamp stoves", False),
        ({"hashtag": ["Trailfest"]}, "see you at #TRAILFEST!", True),
        ({"hashtag": ["#trailfest"]}, "#TrailfestNight", False),
        ({"hashtag": ["trailfest"]}, "trailfest without the sign", False),
        ({"cashtag": ["MOONPEAK"]}, "buy $moonpeak now", True),
        ({"cashtag": ["$moon"]}, "buy $moonpeak now", False),
        ({"regex": r"NW-\d{7}"}, "order nw-1234567 late", True),
        ({"regex": r"NW-\d{7}"}, "order NW-123 late", False),
        ({"regex": r"[a-z]+\d{2}\b"}, "code abc12 ok", True),
        ({"keywords": ["café"]}, "Le CAFÉ est fermé", True),
        ({"keywords": ["c++"]}, "I like c++.", True),
    ],
)
def test_text_conditions(when: dict, text: str, expected: bool) -> None:
    assert fires(when, post(text)) is expected


@pytest.mark.parametrize(
    ("when", "changes", "expected"),
    [
        ({"language": ["EN", "de"]}, {}, True),
        ({"language": ["de"]}, {}, False),
        ({"intent": {"in": ["support_question"]}}, {}, True),
        ({"intent": {"in": ["support_question"], "min_confidence": 0.95}}, {}, False),
        ({"intent": {"min_confidence": 0.5}}, {}, True),
        ({"intent": {"in": ["complaint"]}}, {}, False),
        ({"sentiment": {"min": -0.1, "max": 0.1}}, {}, True),
        ({"sentiment": {"max": -0.5}}, {}, False),
        ({"followers": {"min": 1000}}, {"author_followers": 1000}, True),
        ({"followers": {"min": 1000, "max": 5000}}, {"author_followers": 5001}, False),
        ({"followers": {"max": 10}}, {"author_followers": 3}, True),
        ({"verified": True}, {"author_verified": True}, True),
        ({"verified": False}, {"author_verified": True}, False),
        ({"author_tag": ["vip", "influencer"]}, {"author_tags": frozenset({"influencer"})}, True),
        ({"author_tag": ["vip"]}, {"author_tags": frozenset({"detractor"})}, False),
        ({"author_segment": ["detractor", "press"]}, {"author_segments": frozenset({"press"})}, True),
        ({"author_segment": ["detractor"]}, {"author_tags": frozenset({"detractor"})}, False),
        ({"channel": ["nw-care"]}, {}, True),
        ({"channel": ["nw-deals"]}, {}, False),
        ({"segment": ["customer-relations"]}, {}, True),
        ({"segment": ["event-coverage"]}, {}, False),
        ({"network": ["X", "mastodon"]}, {}, True),
        ({"network": ["mastodon"]}, {}, False),
        ({"kind": ["dm", "mention"]}, {}, True),
        ({"kind": ["dm"]}, {}, False),
        ({"time_window": {"start": "2026-06-14", "end": "2026-06-15"}}, {}, True),
        ({"time_window": {"start": "2026-06-14T12:00:00+00:00"}}, {}, True),
        ({"time_window": {"end": "2026-06-14T12:00:00Z"}}, {}, False),  # the end is not in the window
        ({"time_window": {"start": "2026-06-14T13:00:00+02:00"}}, {}, True),  # 11:00 UTC
        ({"time_window": {"start": "2026-06-01"}}, {"created_at": None}, False),
        ({"time_window": {"start": "2026-06-01"}}, {"created_at": datetime(2026, 6, 2)}, True),  # naive: UTC
        ({"crisis_mode": True}, {"crisis_mode": True}, True),
        ({"crisis_mode": True}, {}, False),
        ({"all": [{"keywords": ["order"]}, {"kind": ["mention"]}]}, {}, True),
        ({"all": [{"keywords": ["order"]}, {"kind": ["dm"]}]}, {}, False),
        ({"any": [{"keywords": ["absent"]}, {"kind": ["mention"]}]}, {}, True),
        ({"any": [{"keywords": ["absent"]}, {"kind": ["dm"]}]}, {}, False),
        ({"not": {"keywords": ["absent"]}}, {}, True),
        ({"not": {"keywords": ["order"]}}, {}, False),
    ],
)
def test_conditions(when: dict, changes: dict, expected: bool) -> None:
    assert fires(when, post("where is my order?", **changes)) is expected


# --- Actions --------------------------------------------------------------------------------------------


def test_labels_a_rule_adds_are_stored_as_agents_labels_are() -> None:
    then = [{"add_labels": ["  Recall ", "recall", "VIP"]}]

    (compiled,) = compile_rule_set([rule({"keywords": ["stove"]}, then)], CONTEXT).rules

    assert compiled.labels == ("recall", "vip")


def test_a_version_published_before_labels_were_checked_still_loads_without_its_bad_labels() -> None:
    then = [{"add_labels": ["#urgent!", "Recall"]}, {"set_priority": "high"}]
    lenient = replace(CONTEXT, labels_checked=False)

    (compiled,) = compile_rule_set([rule({"keywords": ["stove"]}, then)], lenient).rules

    assert (compiled.labels, compiled.priority) == (("recall",), "high")


def test_every_action_is_compiled_into_the_rules_effect() -> None:
    then = [
        {"route_to_team": "legal"},
        {"route_to_segment": "crisis-management"},
        {"set_priority": "low"},
        {"set_priority": "high"},
        {"add_labels": ["recall", "safety"]},
        {"add_labels": ["safety", "stove"]},
        {"assign_to": "kofi"},
        {"escalate": {"team": "legal", "reason": "Possible lawsuit"}},
        {"require_approval": True},
        {"notify_email": "ops@northwind.example"},
        {"notify_webhook": "https://hooks.example/x"},
        {"notify_email": "ops@northwind.example"},
        {"stop": True},
    ]

    (compiled,) = compile_rule_set([rule({"keywords": ["stove"]}, then, rule_id=7)], CONTEXT).rules

    assert (compiled.route_team, compiled.route_segment) == ("crisis", "crisis-management")  # later wins
    assert compiled.priority == "high"
    assert compiled.labels == ("recall", "safety", "stove")
    assert compiled.assignee == "kofi"
    assert (compiled.escalate_team, compiled.escalate_reason) == ("legal", "Possible lawsuit")
    assert compiled.require_approval is True
    assert compiled.notifications == (
        Notification("email", "ops@northwind.example"),
        Notification("webhook", "https://hooks.example/x"),
    )
    assert compiled.stop is True
    assert compiled.summary.startswith("Rule 7 “r7” fired: routed to team legal; routed to crisis-management")


def test_route_to_team_falls_back_to_the_first_segment_the_team_owns() -> None:
    (compiled,) = compile_rule_set([rule({"keywords": ["x"]}, [{"route_to_team": "events"}])], CONTEXT).rules

    assert (compiled.route_team, compiled.route_segment, compiled.route_fallback) == (
        "events",
        None,
        "event-coverage",
    )


# --- Gates ----------------------------------------------------------------------------------------------


def _count_searches(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The patterns regexes are searched with from now on (rule sets compiled after this call)."""
    searched: list[str] = []
    real = rules_module._search_once

    def counting(matched, text, search, yes, no):
        if yes not in matched and no not in matched:
            searched.append(search.__self__.pattern)
        return real(matched, text, search, yes, no)

    monkeypatch.setattr(rules_module, "_search_once", counting)
    return searched


def test_a_rule_whose_keyword_is_absent_is_never_evaluated(monkeypatch: pytest.MonkeyPatch) -> None:
    searched = _count_searches(monkeypatch)
    rules = [
        rule({"keywords": ["stove"]}, LABEL, rule_id=1),
        rule({"all": [{"hashtag": ["trailfest"]}, {"regex": "tickets?"}]}, LABEL, rule_id=2),
        rule({"any": [{"phrase": "gas leak"}, {"intent": {"in": ["crisis_signal"]}}]}, LABEL, rule_id=3),
        rule({"not": {"keywords": ["stove"]}}, LABEL, rule_id=4),  # ungated: always a candidate
        rule({"all": [{"channel": ["nw-deals"]}, {"sentiment": {"max": 0}}]}, LABEL, rule_id=5),
        rule({"regex": r"NW-\d{7}"}, LABEL, rule_id=6),  # gated by the literal "nw-" every match contains
    ]
    rule_set = compile_rule_set(rules, CONTEXT)

    quiet = post("nothing to see here")
    assert rule_set.candidates(quiet, quiet.classification) == (4,)
    assert [r.id for r in rule_set.match(quiet, quiet.classification)] == [4]
    assert searched == []

    busy = post("#Trailfest tickets, and a gas leak at NW-1234567", channel="nw-deals")
    assert rule_set.candidates(busy, busy.classification) == (2, 3, 4, 5, 6)
    assert [r.id for r in rule_set.match(busy, busy.classification)] == [2, 3, 4, 5, 6]
    assert sorted(searched) == [r"NW-\d{7}", "tickets?"]  # each once


def test_a_regex_whose_literal_text_is_absent_is_not_searched_even_in_a_candidate_rule(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    searched = _count_searches(monkeypatch)
    rules = [
        # Gated by the kind: a one-character literal ("@") is weaker.
        rule({"all": [{"kind": ["dm"]}, {"regex": r"@\d{4}"}]}, LABEL, rule_id=1),
        rule({"any": [{"keywords": ["stove"]}, {"regex": r"(?:EU|UK)\d{2}"}]}, LABEL, rule_id=2),
    ]
    rule_set = compile_rule_set(rules, CONTEXT)
    naive = compile_naive_rule_set(rules, CONTEXT)

    plain = post("where is my order?", kind="dm")
    assert rule_set.candidates(plain, plain.classification) == (1,)
    assert rule_set.match(plain, plain.classification) == []
    assert searched == []

    numbered = post("order @7654, sent to the uk42 depot", kind="dm")
    assert [r.id for r in rule_set.match(numbered, numbered.classification)] == [1, 2]
    assert [r.id for r in naive.match(numbered, numbered.classification)] == [1, 2]
    assert sorted(searched) == [r"(?:EU|UK)\d{2}", r"@\d{4}"]


def test_a_rule_that_stops_cuts_the_later_rules_whatever_gated_them() -> None:
    rules = [
        rule({"keywords": ["tent"]}, LABEL, rule_id=1),
        rule({"keywords": ["stove"]}, [{"stop": True}], rule_id=2),
        rule({"keywords": ["tent"]}, LABEL, rule_id=3),
        rule({"channel": ["nw-care"]}, LABEL, rule_id=4),
        rule({"not": {"keywords": ["tarp"]}}, LABEL, rule_id=5),
        rule({"regex": "nw-"}, [{"stop": True}], rule_id=6),
    ]
    compiled = compile_rule_set(rules, CONTEXT)
    naive = compile_naive_rule_set(rules, CONTEXT)

    for text, expected in (
        ("tent and stove", [1, 2]),
        ("a stove", [2]),
        ("a tent", [1, 3, 4, 5]),
        ("a tent at nw-1", [1, 3, 4, 5, 6]),
    ):
        facts = post(text)
        assert [r.id for r in compiled.match(facts, facts.classification)] == expected, text
        assert [r.id for r in naive.match(facts, facts.classification)] == expected, text


def test_a_word_a_rule_is_reached_by_still_counts_in_its_other_branches() -> None:
    rules = [
        rule({"keywords": ["stove"]}, LABEL, rule_id=1),
        rule({"all": [{"keywords": ["stove", "tent"]}, {"keywords": ["leak"]}]}, LABEL, rule_id=2),
        rule({"all": [{"keywords": ["stove"]}, {"not": {"keywords": ["stove"]}}]}, LABEL, rule_id=3),
        rule({"any": [{"keywords": ["stove"]}, {"verified": True}]}, LABEL, rule_id=4),
        rule({"all": [{"phrase": "gas stove"}, {"keywords": ["stove"]}]}, LABEL, rule_id=5),
    ]
    compiled = compile_rule_set(rules, CONTEXT)
    naive = compile_naive_rule_set(rules, CONTEXT)

    for text, expected in (
        ("leak at the stove", [1, 2, 4]),
        ("the stove", [1, 4]),
        ("the tent leak", [2]),
        ("gas stove", [1, 4, 5]),
        ("leak", []),
    ):
        facts = post(text)
        assert [r.id for r in compiled.match(facts, facts.classification)] == expected, text
        assert [r.id for r in naive.match(facts, facts.classification)] == expected, text


def test_an_any_with_an_ungated_branch_is_ungated() -> None:
    rule_set = compile_rule_set(
        [rule({"any": [{"keywords": ["stove"]}, {"followers": {"min": 5}}]})], CONTEXT
    )

    assert rule_set.rules[0].gate is None
    quiet = post("nothing", author_followers=10)
    assert rule_set.candidates(quiet, quiet.classification) == (1,)


def test_an_all_is_gated_by_its_narrowest_child() -> None:
    when = {"all": [{"kind": ["mention"]}, {"keywords": ["stove", "burner"]}, {"sentiment": {"max": 0}}]}

    (compiled,) = compile_rule_set([rule(when)], CONTEXT).rules

    assert compiled.gate is not None
    assert compiled.gate.terms == frozenset({"stove", "burner"})
    assert compiled.gate.facets == frozenset()


def test_stop_ends_the_rules() -> None:
    rules = [
        rule({"keywords": ["stove"]}, [{"add_labels": ["a"]}], rule_id=1),
        rule({"keywords": ["stove"]}, [{"add_labels": ["b"]}, {"stop": True}], rule_id=2),
        rule({"keywords": ["stove"]}, [{"add_labels": ["c"]}], rule_id=3),
    ]
    facts = post("stove")

    for rule_set in (compile_rule_set(rules, CONTEXT), compile_naive_rule_set(rules, CONTEXT)):
        assert [r.id for r in rule_set.match(facts, facts.classification)] == [1, 2]


# --- Compiled == naive ----------------------------------------------------------------------------------

WORDS = (
    "stove", "tent", "tents", "order", "refund", "gas leak", "recall", "trail", "café", "naïve", "x_y", "c++",
    "north-wind", "İstanbul", "straße", "nw-1234567", "a", "i", "is", "#trailfest", "#TrailfestNight",
    "$moon", "$MOONPEAK", "dm", "price", "€45", "!!", "!!!", "help", "\ufb06", "\u017ftove", "\u212aelvin",
    "ok.", "(order)",
)  # fmt: skip
REGEXES = (
    r"NW-\d{7}", r"\border\b", r"[€$]\d+", r"!!+", r"st(?:ove|raße)", r"(?:tent|stove)s?\b", r"\bi\b", r"^#",
    r"x_y|c\+\+", r"(?i:café)", r"[A-Z]{3,}",
)  # fmt: skip


def _random_condition(rng: random.Random, depth: int = 0) -> dict:
    roll = rng.random()
    if depth < 3 and roll < 0.3:
        op = rng.choice(("all", "any", "not"))
        if op == "not":
            return {"not": _random_condition(rng, depth + 1)}
        return {op: [_random_condition(rng, depth + 1) for _ in range(rng.randint(1, 3))]}
    kind = rng.choice(
        ("keywords", "keywords", "phrase", "hashtag", "cashtag", "regex", "language", "intent", "sentiment",
         "followers", "verified", "author_tag", "author_segment", "channel", "segment", "network", "kind",
         "time_window", "crisis_mode")
    )  # fmt: skip
    if kind == "keywords":
        return {"keywords": rng.sample(WORDS, rng.randint(1, 3))}
    if kind == "phrase":
        return {"phrase": " ".join(rng.sample(WORDS, rng.randint(1, 2)))}
    if kind == "hashtag":
        return {"hashtag": rng.sample(("trailfest", "#TrailfestNight", "moon", "gearup"), 2)}
    if kind == "cashtag":
        return {"cashtag": rng.sample(("moon", "MOONPEAK", "btc"), 2)}
    if kind == "regex":
        return {"regex": rng.choice(REGEXES)}
    if kind == "language":
        return {"language": rng.sample(("en", "de", "fr"), 2)}
    if kind == "intent":
        spec: dict = {"in": rng.sample(("support_question", "complaint", "spam", "other"), 2)}
        if rng.random() < 0.5:
            spec["min_confidence"] = rng.choice((0.3, 0.6, 0.9))
        return {"intent": spec}
    if kind == "sentiment":
        low = rng.uniform(-1, 0.5)
        return {"sentiment": {"min": low, "max": min(1, low + rng.uniform(0, 1))}}
    if kind == "followers":
        return {"followers": rng.choice(({"min": 100}, {"max": 1000}, {"min": 10, "max": 10000}))}
    if kind in ("verified", "crisis_mode"):
        return {kind: rng.random() < 0.5}
    if kind == "author_tag":
        return {"author_tag": rng.sample(("vip", "influencer", "detractor"), 2)}
    if kind == "author_segment":
        return {"author_segment": rng.sample(("customer", "detractor", "press"), 2)}
    if kind == "channel":
        return {"channel": rng.sample(sorted(CONTEXT.channels or ()), 2)}
    if kind == "segment":
        return {"segment": rng.sample(sorted(CONTEXT.segments), 2)}
    if kind == "network":
        return {"network": rng.sample(("x", "mastodon", "simulated"), 2)}
    if kind == "kind":
        return {"kind": rng.sample(("mention", "reply", "dm", "keyword"), 2)}
    start = AT + timedelta(hours=rng.randint(-48, 24))
    return {"time_window": {"start": start.isoformat(), "end": (start + timedelta(hours=30)).isoformat()}}


def _random_actions(rng: random.Random) -> list[dict]:
    pool = [
        {"route_to_team": rng.choice(sorted(CONTEXT.teams))},
        {"route_to_segment": rng.choice(sorted(CONTEXT.segments))},
        {"set_priority": rng.choice(("low", "normal", "high", "urgent"))},
        {"add_labels": [rng.choice(("a", "b", "c"))]},
        {"assign_to": rng.choice(("priya", "kofi"))},
        {"escalate": {"team": rng.choice(sorted(CONTEXT.teams)), "reason": "why"}},
        {"require_approval": True},
        {"notify_email": "ops@example.com"},
        {"notify_webhook": "https://hooks.example/1"},
    ]
    actions = rng.sample(pool, rng.randint(1, 3))
    if rng.random() < 0.05:
        actions.append({"stop": True})
    return actions


def _random_post(rng: random.Random) -> Facts:
    pieces = [rng.choice(WORDS) for _ in range(rng.randint(0, 8))]
    separators = (" ", " ", ", ", "-", "", "!", ".", "\n", "_")
    text = "".join(piece + rng.choice(separators) for piece in pieces)
    if rng.random() < 0.3:
        text = text.upper()
    return Facts(
        text=text,
        network=rng.choice(("x", "mastodon", "simulated")),
        kind=rng.choice(("mention", "reply", "dm", "keyword")),
        channel=rng.choice(sorted(CONTEXT.channels or ())),
        segment=rng.choice(sorted(CONTEXT.segments)),
        team=rng.choice(sorted(CONTEXT.teams)),
        language=rng.choice(("en", "DE", "fr", "")),
        author_followers=rng.choice((0, 50, 500, 5000, 50000)),
        author_verified=rng.random() < 0.3,
        author_tags=frozenset(rng.sample(("vip", "influencer", "detractor", "advocate"), rng.randint(0, 2))),
        author_segments=frozenset(rng.sample(("customer", "detractor", "press"), rng.randint(0, 2))),
        created_at=rng.choice((AT, AT - timedelta(hours=30), AT + timedelta(hours=10), None)),
        crisis_mode=rng.random() < 0.2,
        classification=Classification(
            intent=rng.choice(("support_question", "complaint", "spam", "other", "praise")),
            confidence=rng.random(),
            sentiment=rng.uniform(-1, 1),
            sentiment_label="neutral",
        ),
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_compiled_rule_set_fires_exactly_the_rules_the_naive_one_does(seed: int) -> None:
    rng = random.Random(seed)
    rules = [
        {"id": i, "name": f"r{i}", "enabled": rng.random() < 0.9, "when": _random_condition(rng),
         "then": _random_actions(rng)}
        for i in range(1, 301)
    ]  # fmt: skip
    compiled = compile_rule_set(rules, CONTEXT)
    naive = compile_naive_rule_set(rules, CONTEXT)
    posts = [_random_post(rng) for _ in range(1500)]

    fired_compiled = [[r.id for r in compiled.match(p, p.classification)] for p in posts]
    fired_naive = [[r.id for r in naive.match(p, p.classification)] for p in posts]

    assert fired_compiled == fired_naive
    assert sum(map(len, fired_compiled)) > 1500  # the rules do fire: the comparison is not vacuous


def test_the_benchmark_rules_compile_and_agree_with_the_naive_set() -> None:
    from bench.routing_rules import bench_context, bench_posts, bench_rules

    rules = bench_rules(300)
    compiled = compile_rule_set(rules, bench_context())
    naive = compile_naive_rule_set(rules, bench_context())
    posts = bench_posts(700)

    assert isinstance(compiled, CompiledRuleSet)
    assert [[r.id for r in compiled.match(p, p.classification)] for p in posts] == [
        [r.id for r in naive.match(p, p.classification)] for p in posts
    ]


def test_a_rule_whose_top_level_facet_conditions_fail_is_not_a_candidate_even_when_its_keyword_is_there() -> (
    None
):
    rules = [
        rule({"all": [{"keywords": ["stove"]}, {"channel": ["nw-deals"]}]}, LABEL, rule_id=1),
        rule(
            {"all": [{"keywords": ["stove"]}, {"intent": {"in": ["complaint"], "min_confidence": 0.5}}]},
            LABEL,
            2,
        ),
        rule({"all": [{"keywords": ["stove"]}, {"not": {"channel": ["nw-deals"]}}]}, LABEL, rule_id=3),
    ]
    rule_set = compile_rule_set(rules, CONTEXT)
    facts = post("my stove leaks")  # on nw-care, a support question

    assert rule_set.candidates(facts, facts.classification) == (3,)
    assert [r.id for r in rule_set.match(facts, facts.classification)] == [3]


@pytest.mark.parametrize(
    ("pattern", "literals"),
    [
        (r"\bNW-\d{7}\b", {"nw-"}),
        (r"https?://\S+\.example\b", {".example"}),
        (r"\b(?:EU|UK)\s?\d{2}\b", {"eu", "uk"}),
        (r"!{2,}", {"!!"}),
        (r"[$€£]\d+", None),  # € and £ are not ASCII: str.lower() and re's case folding could disagree
        (r"[A-Z]{4,}\d{2}", None),
        (r"promise", {"prom"}),  # "i" and "s" also match dotless i and long s under IGNORECASE
    ],
)
def test_a_regex_is_gated_by_the_literal_text_every_match_contains(
    pattern: str, literals: set | None
) -> None:
    (compiled,) = compile_rule_set([rule({"regex": pattern})], CONTEXT).rules

    assert (compiled.gate.literals if compiled.gate else None) == (frozenset(literals) if literals else None)
