"""The decision engine: owner from the intent, default priority, rules in order, misdirection and the
explanation a person reads."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime

from routing.engine import decide, decide_many
from routing.facts import Classification, Decision, Facts, Notification
from routing.rules import RoutingContext, compile_naive_rule_set, compile_rule_set

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
)
NO_RULES = compile_rule_set([], CONTEXT, version=3)


class FakeClassifier:
    """Says the same about every post, and counts how often it was asked."""

    version = 2

    def __init__(self, classification: Classification) -> None:
        self.classification = classification
        self.single_calls = 0
        self.batches: list[int] = []

    def classify(self, facts: Facts) -> Classification:
        self.single_calls += 1
        return self.classification

    def classify_many(self, facts: list[Facts]) -> list[Classification]:
        self.batches.append(len(facts))
        return [self.classification for _ in facts]


def classified(
    intent: str,
    confidence: float = 0.82,
    sentiment: float = 0.0,
    terms: tuple[str, ...] = ("refund", "order"),
) -> Classification:
    label = "negative" if sentiment <= -0.05 else "positive" if sentiment >= 0.05 else "neutral"
    return Classification(intent, confidence, sentiment, label, terms, model_version=5)


def on_promo(text: str = "where is my refund for order NW-1234567?", **fields) -> Facts:
    """A post received on the promotion account."""
    defaults = {
        "network": "x",
        "channel": "northwind-deals",
        "segment": "product-promotion",
        "team": "sales",
        "created_at": datetime(2026, 6, 14, tzinfo=UTC),
        "classification": classified("support_question"),
    }
    return Facts(text=text, **{**defaults, **fields})


UNUSED = FakeClassifier(classified("other"))


def test_a_confident_support_question_on_the_promotion_account_is_misdirected_to_care() -> None:
    decision = decide(on_promo(), NO_RULES, UNUSED)

    assert (decision.segment, decision.team) == ("customer-relations", "care")
    assert decision.is_misdirected is True
    assert decision.escalate_to == "care"
    assert decision.escalation_reason == (
        "Support question (0.82) received on product-promotion account northwind-deals; "
        "owned by customer-relations (team care)."
    )
    assert decision.priority == "normal"
    assert (decision.intent, decision.confidence, decision.model_version) == ("support_question", 0.82, 5)
    assert decision.rule_set_version == 3
    assert decision.explanation == (
        "Intent support question (0.82), from “refund”, “order”.",
        "Sentiment neutral (+0.00).",
        "Misdirected: Support question (0.82) received on product-promotion account northwind-deals; "
        "owned by customer-relations (team care).",
    )
    assert UNUSED.single_calls == 0


def test_an_unsure_intent_stays_with_the_receiving_account() -> None:
    decision = decide(on_promo(classification=classified("support_question", 0.59)), NO_RULES, UNUSED)

    assert (decision.segment, decision.team) == ("product-promotion", "sales")
    assert (decision.is_misdirected, decision.escalate_to, decision.escalation_reason) == (False, "", "")
    assert decision.explanation[-1] == (
        "Not misdirected: support question is owned by customer-relations, but 0.59 is below the 0.60 "
        "confidence needed to move it."
    )


def test_the_threshold_comes_from_the_context() -> None:
    lenient = compile_rule_set([], replace(CONTEXT, misdirect_threshold=0.5))

    decision = decide(on_promo(classification=classified("support_question", 0.55)), lenient, UNUSED)

    assert decision.is_misdirected is True


def test_an_intent_the_receiving_segment_owns_is_not_misdirected() -> None:
    decision = decide(on_promo(classification=classified("purchase_question")), NO_RULES, UNUSED)

    assert (decision.segment, decision.team, decision.is_misdirected) == ("product-promotion", "sales", False)
    assert decision.explanation[-1] == (
        "Not misdirected: purchase question is owned by product-promotion, the receiving segment."
    )


def test_spam_is_owned_by_nobody_labelled_and_low() -> None:
    decision = decide(on_promo(classification=classified("spam", 0.99, terms=())), NO_RULES, UNUSED)

    assert (decision.segment, decision.team, decision.is_misdirected) == ("product-promotion", "sales", False)
    assert (decision.priority, decision.labels) == ("low", ("spam",))
    assert decision.explanation == (
        "Intent spam (0.99).",
        "Sentiment neutral (+0.00).",
        "Priority low by default for spam.",
        "Not misdirected: nobody owns spam, so it stays with the receiving account.",
    )


def test_default_priorities() -> None:
    def priority(intent: str, sentiment: float) -> str:
        return decide(on_promo(classification=classified(intent, 0.9, sentiment)), NO_RULES, UNUSED).priority

    assert priority("crisis_signal", 0.5) == "urgent"
    assert priority("complaint", -0.6) == "high"
    assert priority("complaint", -0.59) == "normal"
    assert priority("praise", -0.9) == "normal"
    assert priority("spam", 0.0) == "low"


def test_the_classifier_is_asked_only_when_the_post_has_no_classification() -> None:
    classifier = FakeClassifier(classified("crisis_signal", 0.91))

    decision = decide(on_promo(classification=None), NO_RULES, classifier)

    assert classifier.single_calls == 1
    assert (decision.intent, decision.team, decision.priority) == ("crisis_signal", "crisis", "urgent")


RULES = [
    {"id": 10, "name": "Orders", "enabled": True, "when": {"keywords": ["order"]},
     "then": [{"add_labels": ["orders"]}, {"set_priority": "high"},
              {"notify_email": "ops@northwind.example"}]},
    {"id": 11, "name": "Refunds to legal", "enabled": True, "when": {"keywords": ["refund"]},
     "then": [{"route_to_team": "legal"}, {"add_labels": ["refund", "orders"]}, {"assign_to": "kofi"}]},
    {"id": 12, "name": "Approval", "enabled": True, "when": {"regex": r"NW-\d{7}"},
     "then": [{"require_approval": True}, {"notify_email": "ops@northwind.example"},
              {"notify_webhook": "https://hooks.northwind.example/1"}]},
    {"id": 13, "name": "Halt", "enabled": True, "when": {"keywords": ["halt"]}, "then": [{"stop": True}]},
    {"id": 14, "name": "After halt", "enabled": True, "when": {"keywords": ["order"]},
     "then": [{"set_priority": "urgent"}, {"add_labels": ["late"]}]},
]  # fmt: skip


def test_rules_apply_in_order_later_routes_and_priorities_win_labels_and_notifications_accumulate() -> None:
    rule_set = compile_rule_set(RULES, CONTEXT, version=9)

    decision = decide(on_promo(), rule_set, UNUSED)

    assert decision.rules_fired == (10, 11, 12, 14)
    assert (decision.team, decision.segment) == ("legal", "")  # legal owns no segment
    assert decision.priority == "urgent"
    assert decision.labels == ("orders", "refund", "late")
    assert decision.assignee == "kofi"
    assert decision.require_approval is True
    assert decision.notifications == (
        Notification("email", "ops@northwind.example"),
        Notification("webhook", "https://hooks.northwind.example/1"),
    )
    assert decision.is_misdirected is True
    assert decision.escalate_to == "legal"
    assert (
        decision.escalation_reason
        == "Rule 11 “Refunds to legal” routed it to team legal; received by team sales."
    )
    assert decision.rule_set_version == 9
    assert decision.explanation[2:] == (
        "Rule 10 “Orders” fired: labelled orders; set priority high; notified ops@northwind.example.",
        "Rule 11 “Refunds to legal” fired: routed to team legal; labelled refund, orders; assigned to kofi.",
        "Rule 12 “Approval” fired: required approval before replying; notified ops@northwind.example; "
        "called webhook https://hooks.northwind.example/1.",
        "Rule 14 “After halt” fired: set priority urgent; labelled late.",
        "Misdirected: Rule 11 “Refunds to legal” routed it to team legal; received by team sales.",
    )


def test_stop_ends_the_rules() -> None:
    decision = decide(on_promo("halt: where is my order?"), compile_rule_set(RULES, CONTEXT), UNUSED)

    assert decision.rules_fired == (10, 13)
    assert decision.priority == "high"
    assert decision.labels == ("orders",)


def test_a_rule_route_to_the_receiving_team_is_not_misdirected_even_when_the_intent_says_so() -> None:
    rules = [
        {"id": 1, "name": "Keep", "when": {"keywords": ["refund"]}, "then": [{"route_to_team": "sales"}]}
    ]

    decision = decide(on_promo(), compile_rule_set(rules, CONTEXT), UNUSED)

    assert (decision.team, decision.segment) == ("sales", "product-promotion")
    assert (decision.is_misdirected, decision.escalate_to) == (False, "")
    assert (
        decision.explanation[-1]
        == "Not misdirected: rule 1 “Keep” routed it to team sales, which received it."
    )


def test_route_to_segment_sets_both_segment_and_team() -> None:
    rules = [
        {
            "id": 1,
            "name": "",
            "when": {"keywords": ["refund"]},
            "then": [{"route_to_segment": "event-coverage"}],
        }
    ]

    decision = decide(on_promo(), compile_rule_set(rules, CONTEXT), UNUSED)

    assert (decision.segment, decision.team, decision.is_misdirected) == ("event-coverage", "events", True)
    assert decision.escalation_reason == "Rule 1 routed it to team events; received by team sales."


def test_an_escalate_action_escalates_a_post_that_is_not_misdirected() -> None:
    rules = [
        {"id": 5, "name": "Lawyers", "when": {"keywords": ["lawsuit"]},
         "then": [{"escalate": {"team": "legal", "reason": "Mentions a lawsuit"}}]},
        {"id": 6, "name": "Silent", "when": {"keywords": ["lawsuit"]},
         "then": [{"escalate": {"team": "comms"}}]},
    ]  # fmt: skip
    rule_set = compile_rule_set(rules[:1], CONTEXT)
    facts = on_promo("a lawsuit is coming", classification=classified("purchase_question"))

    decision = decide(facts, rule_set, UNUSED)

    assert (decision.is_misdirected, decision.team) == (False, "sales")
    assert (decision.escalate_to, decision.escalation_reason) == ("legal", "Mentions a lawsuit")
    later = decide(facts, compile_rule_set(rules, CONTEXT), UNUSED)
    assert (later.escalate_to, later.escalation_reason) == (
        "comms",
        "Rule 6 “Silent” escalated it to team comms.",
    )


def test_an_escalate_action_overrides_the_misdirection_escalation() -> None:
    rules = [
        {"id": 5, "name": "L", "when": {"keywords": ["refund"]}, "then": [{"escalate": {"team": "legal"}}]}
    ]

    decision = decide(on_promo(), compile_rule_set(rules, CONTEXT), UNUSED)

    assert (decision.is_misdirected, decision.team, decision.escalate_to) == (True, "care", "legal")


def test_a_post_with_no_receiving_account_is_routed_not_misdirected() -> None:
    decision = decide(on_promo(channel="", segment="", team=""), NO_RULES, UNUSED)

    assert (decision.segment, decision.team, decision.is_misdirected, decision.escalate_to) == (
        "customer-relations",
        "care",
        False,
        "",
    )


def test_an_intent_mapped_to_a_segment_without_a_team_falls_back_to_the_receiving_team() -> None:
    context = replace(CONTEXT, intent_segments={"support_question": "wholesale"})

    decision = decide(on_promo(), compile_rule_set([], context), UNUSED)

    assert (decision.segment, decision.team) == ("wholesale", "sales")


def test_decide_many_classifies_the_unclassified_in_one_batch_and_decides_as_decide_does() -> None:
    rng = random.Random(4)
    texts = ("where is my order", "refund please", "halt the order", "lovely jacket", "NW-1234567 refund")
    posts = [
        on_promo(
            rng.choice(texts),
            classification=None if rng.random() < 0.5 else classified(rng.choice(("complaint", "praise"))),
        )
        for _ in range(60)
    ]
    rule_set = compile_rule_set(RULES, CONTEXT)
    batch = FakeClassifier(classified("crisis_signal", 0.7, -0.8))
    single = FakeClassifier(classified("crisis_signal", 0.7, -0.8))

    decisions = decide_many(posts, rule_set, batch)

    assert decisions == [decide(p, rule_set, single) for p in posts]
    assert batch.batches == [sum(p.classification is None for p in posts)]
    assert batch.single_calls == 0
    assert all(isinstance(d, Decision) for d in decisions)


def test_compiled_and_naive_rule_sets_decide_alike() -> None:
    from bench.routing_rules import bench_context, bench_posts, bench_rules

    rules = bench_rules(400, seed=3)
    compiled = compile_rule_set(rules, bench_context(), version=2)
    naive = compile_naive_rule_set(rules, bench_context(), version=2)
    posts = bench_posts(1500, seed=5)

    decisions = [decide(p, compiled, UNUSED) for p in posts]

    assert decisions == [decide(p, naive, UNUSED) for p in posts]
    assert sum(d.is_misdirected for d in decisions) > 100
    assert sum(len(d.rules_fired) for d in decisions) > 1000


# --- The compiled rule set's memo -------------------------------------------------------------------------


def test_a_remembered_outcome_still_names_each_posts_own_confidence_sentiment_and_words() -> None:
    rule_set = compile_rule_set(RULES[:1], CONTEXT)  # rule 10: "order" labels and raises the priority
    first = decide(on_promo(classification=classified("support_question", 0.61, -0.2)), rule_set, UNUSED)
    second = decide(
        on_promo(classification=classified("support_question", 0.93, 0.4, terms=("where", "is"))),
        rule_set,
        UNUSED,
    )

    assert len(rule_set.outcomes) == 1  # the same rules fired on the same kind of post: one outcome
    assert first.explanation[:2] == ("Intent support question (0.61), from “refund”, “order”.",
                                     "Sentiment negative (-0.20).")  # fmt: skip
    assert second.explanation[:2] == ("Intent support question (0.93), from “where”, “is”.",
                                      "Sentiment positive (+0.40).")  # fmt: skip
    assert first.escalation_reason == (
        "Support question (0.61) received on product-promotion account northwind-deals; "
        "owned by customer-relations (team care)."
    )
    assert second.escalation_reason == first.escalation_reason.replace("0.61", "0.93")
    assert second.explanation[-1] == "Misdirected: " + second.escalation_reason
    assert (second.confidence, second.sentiment, second.labels) == (0.93, 0.4, ("orders",))


def test_an_unsure_post_remembered_once_names_its_own_confidence() -> None:
    rule_set = compile_rule_set([], CONTEXT)
    unsure = [on_promo(classification=classified("support_question", c)) for c in (0.31, 0.42)]

    first, second = (decide(p, rule_set, UNUSED) for p in unsure)

    assert len(rule_set.outcomes) == 1
    assert "but 0.31 is below the 0.60" in first.explanation[-1]
    assert "but 0.42 is below the 0.60" in second.explanation[-1]


def test_the_memo_is_bounded(monkeypatch) -> None:
    import routing.engine

    monkeypatch.setattr(routing.engine, "OUTCOME_CACHE_SIZE", 3)
    rule_set = compile_rule_set(RULES, CONTEXT)
    naive = compile_naive_rule_set(RULES, CONTEXT)
    rng = random.Random(8)
    posts = [
        on_promo(
            rng.choice(("refund", "order", "halt", "NW-1234567", "hello")),
            segment=rng.choice(("product-promotion", "customer-relations", "")),
            classification=classified(rng.choice(("complaint", "spam", "other")), rng.random(), -0.7),
        )
        for _ in range(60)
    ]

    for facts in posts:
        assert decide(facts, rule_set, UNUSED) == decide(facts, naive, UNUSED)
        assert len(rule_set.outcomes) <= 3


def _random_rules(rng: random.Random, count: int) -> list[dict]:
    words = ("refund", "order", "stove", "tent", "recall", "leak", "halt")
    segments = sorted(CONTEXT.segments)
    teams = sorted(CONTEXT.teams)

    def condition() -> dict:
        roll = rng.random()
        if roll < 0.45:
            return {"keywords": rng.sample(words, rng.randint(1, 2))}
        if roll < 0.55:
            return {"regex": rng.choice((r"NW-\d{7}", r"!!+", r"\d+ days"))}
        if roll < 0.65:
            return {"intent": {"in": rng.sample(("complaint", "spam", "support_question"), 2),
                               "min_confidence": rng.choice((0.0, 0.5, 0.8))}}  # fmt: skip
        if roll < 0.75:
            return {"segment": rng.sample(segments, 2)}
        if roll < 0.85:
            return {"sentiment": {"max": rng.uniform(-1, 0.5)}}
        return {"not": {"keywords": [rng.choice(words)]}}

    def actions() -> list[dict]:
        pool = [
            {"route_to_team": rng.choice(teams)},
            {"route_to_segment": rng.choice(segments)},
            {"set_priority": rng.choice(("low", "normal", "high", "urgent"))},
            {"add_labels": [rng.choice(("a", "b", "spam"))]},
            {"assign_to": rng.choice(("priya", "kofi"))},
            {"escalate": {"team": rng.choice(teams), "reason": rng.choice(("", "why"))}},
            {"require_approval": True},
            {"notify_email": rng.choice(("ops@example.com", "legal@example.com"))},
        ]
        out = rng.sample(pool, rng.randint(1, 3))
        if rng.random() < 0.08:
            out.append({"stop": True})
        return out

    return [
        {"id": i, "name": rng.choice(("", f"r{i}")), "when": {"all": [condition(), condition()]}
         if rng.random() < 0.5 else condition(), "then": actions()}
        for i in range(1, count + 1)
    ]  # fmt: skip


INTENTS = (
    "support_question", "complaint", "spam", "other", "crisis_signal", "press_question", "purchase_question",
)  # fmt: skip


def test_compiled_and_naive_rule_sets_decide_alike_on_random_rules_and_posts() -> None:
    rng = random.Random(12)
    rules = _random_rules(rng, 60)
    for threshold in (0.6, 0.0):
        context = replace(CONTEXT, misdirect_threshold=threshold)
        compiled = compile_rule_set(rules, context, version=4)
        naive = compile_naive_rule_set(rules, context, version=4)
        segments = (*sorted(CONTEXT.segments), "")
        posts = []
        for _ in range(1500):
            segment = rng.choice(segments)
            words = rng.sample(("refund", "order", "stove", "tent", "recall", "leak", "halt", "NW-1234567",
                                "3 days", "!!", "hello", "ok"), rng.randint(0, 4))  # fmt: skip
            posts.append(
                Facts(
                    text=" ".join(words),
                    network="x",
                    channel=rng.choice(("", "northwind-deals", "care-main")),
                    segment=segment,
                    team=CONTEXT.segments.get(segment, rng.choice(("", "legal"))),
                    classification=Classification(
                        rng.choice(INTENTS),
                        round(rng.random(), rng.choice((2, 6))),
                        round(rng.uniform(-1, 1), 3),
                        rng.choice(("negative", "neutral", "positive")),
                        tuple(rng.sample(("where", "refund", "is", "my", "order", "now"), rng.randint(0, 6))),
                        model_version=rng.randint(0, 3),
                    ),
                )
            )

        decisions = [decide(p, compiled, UNUSED) for p in posts]

        assert decisions == [decide(p, naive, UNUSED) for p in posts]
        assert decide_many(posts, compiled, UNUSED) == decisions
        assert sum(d.is_misdirected for d in decisions) > 100
        assert sum(bool(d.escalation_reason) for d in decisions) > 100
        assert len(compiled.outcomes) < len(posts)  # posts share outcomes: the memo is used


NAMED = replace(
    CONTEXT,
    team_names={"care": "Customer Care", "sales": "Sales & Promotion", "events": "Events", "comms": "Comms"},
    segment_names={
        "customer-relations": "Customer relations",
        "product-promotion": "Product promotion",
        "event-coverage": "Event coverage",
    },
    channel_names={"northwind-deals": "@northwind_shop"},
)


def test_reasons_name_teams_segments_and_accounts_by_the_names_the_rule_set_carries() -> None:
    decision = decide(on_promo(), compile_rule_set([], NAMED), UNUSED)

    assert (decision.segment, decision.team, decision.escalate_to) == ("customer-relations", "care", "care")
    assert decision.escalation_reason == (
        "Support question (0.82) received on Product promotion account @northwind_shop; "
        "owned by Customer relations (team Customer Care)."
    )
    assert decision.explanation[-1] == f"Misdirected: {decision.escalation_reason}"
    assert "customer-relations" not in " ".join(decision.explanation)


def test_rule_reasons_name_teams_and_segments_too_and_a_name_missing_falls_back_to_the_slug() -> None:
    rules = [
        {"id": 1, "name": "Events", "when": {"keywords": ["refund"]},
         "then": [{"route_to_segment": "event-coverage"}]},
        {"id": 2, "name": "Silent", "when": {"keywords": ["lawsuit"]},
         "then": [{"escalate": {"team": "comms"}}]},
        {"id": 3, "name": "Legal", "when": {"keywords": ["court"]}, "then": [{"route_to_team": "legal"}]},
    ]  # fmt: skip
    rule_set = compile_rule_set(rules, NAMED)

    routed = decide(on_promo(), rule_set, UNUSED)
    escalated = decide(
        on_promo("a lawsuit", classification=classified("purchase_question")), rule_set, UNUSED
    )
    unnamed = decide(on_promo("see you in court"), rule_set, UNUSED)

    assert (
        routed.escalation_reason
        == "Rule 1 “Events” routed it to team Events; received by team Sales & Promotion."
    )
    assert routed.explanation[2] == "Rule 1 “Events” fired: routed to Event coverage (team Events)."
    assert (escalated.escalate_to, escalated.escalation_reason) == (
        "comms",
        "Rule 2 “Silent” escalated it to team Comms.",
    )
    assert (
        unnamed.escalation_reason
        == "Rule 3 “Legal” routed it to team legal; received by team Sales & Promotion."
    )
