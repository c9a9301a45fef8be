"""Routing services on PostgreSQL: decisions applied, escalations and their life, rules published and
versioned, corrections that teach the classifier, backtests that change nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
import responses
from django.core import mail
from django.utils import timezone

from foundation.models import DomainEvent
from inbox import backtest, history, route
from inbox.actions import base as actions_base
from inbox.actions import escalations
from inbox.actions import routing as routing_actions
from inbox.actions.triage import mention_label
from inbox.models import Mention
from inbox.tasks import mentions_route_unrouted_task, notification_send_task
from routing import learning, rulesets
from routing.models import (
    Correction,
    Escalation,
    RoutingSettings,
    Rule,
    RuleSetVersion,
    SentimentCorrection,
    SentimentState,
)
from routing.rules import RuleError
from teams.models import Membership
from tests.factories import ChannelFactory, MembershipFactory, MentionFactory, UserFactory, segment

pytestmark = pytest.mark.django_db

SUPPORT_QUESTION = "@brand_events my order #48213 never arrived and tracking shows nothing. Can you help me?"
EVENT_QUESTION = (
    "@brand_help what time do doors open at the Lisbon meetup on Saturday? Is there a livestream?"
)


def received(text: str, *, on: str, **fields: object) -> Mention:
    channel = ChannelFactory(segment=segment(on))
    return MentionFactory(text=text, on_channels=[channel], **fields)


def team_of(segment_slug: str):
    return segment(segment_slug).team


def test_a_misdirected_support_question_is_escalated_to_customer_care() -> None:
    mention = received(SUPPORT_QUESTION, on="event-coverage")

    result = route.mentions_route(mention_ids=[mention.pk])

    assert (result.routed, result.escalated, result.skipped) == (1, 1, 0)
    mention.refresh_from_db()
    assert mention.routed_at is not None
    assert mention.intent == "support_question"
    assert mention.is_misdirected
    assert mention.team == team_of("customer-relations")
    assert mention.decision["rule_set_version"] == RuleSetVersion.objects.get().number
    assert mention.decision["model_version"] == 0
    assert any("support question" in line.lower() for line in mention.decision["explanation"])
    escalation = Escalation.objects.get(mention=mention)
    assert escalation.from_team == team_of("event-coverage")
    assert escalation.to_team == team_of("customer-relations")
    assert escalation.state == Escalation.State.PENDING
    care, events = segment("customer-relations"), segment("event-coverage")
    confidence = f"{mention.intent_confidence:.2f}"
    assert escalation.reason == (
        f"Support question ({confidence}) received on {events.name} account {mention.channels.get().handle}; "
        f"owned by {care.name} (team {care.team.name})."
    )
    window = segment("customer-relations").acceptance_window_minutes
    assert escalation.due_at - escalation.created_at == timedelta(minutes=window)
    assert DomainEvent.objects.filter(verb="mention.routed", object_id=str(mention.pk)).count() == 1


def test_a_post_on_its_own_account_stays_and_is_not_escalated() -> None:
    mention = received(SUPPORT_QUESTION.replace("brand_events", "brand_help"), on="customer-relations")

    route.mentions_route(mention_ids=[mention.pk])

    mention.refresh_from_db()
    assert not mention.is_misdirected
    assert mention.team == team_of("customer-relations")
    assert not Escalation.objects.exists()
    assert not DomainEvent.objects.filter(verb="mention.routed").exists()  # routine: kept on the mention


def test_routing_twice_applies_once_and_a_post_on_two_accounts_is_escalated_once() -> None:
    events = ChannelFactory(segment=segment("event-coverage"))
    advocacy = ChannelFactory(segment=segment("issue-advocacy"))
    mention = MentionFactory(text=SUPPORT_QUESTION, on_channels=[events, advocacy])

    first = route.mentions_route(mention_ids=[mention.pk])
    second = route.mentions_route(mention_ids=[mention.pk, mention.pk])

    assert (first.routed, second.routed, second.skipped) == (1, 0, 1)
    escalation = Escalation.objects.get(mention=mention)
    assert escalation.from_team == team_of("event-coverage")  # the account it arrived on first
    assert DomainEvent.objects.filter(verb="mention.routed").count() == 1


def test_a_batch_mixes_intents_and_keeps_each_decision_apart() -> None:
    support = received(SUPPORT_QUESTION, on="event-coverage")
    event = received(EVENT_QUESTION, on="customer-relations")
    own = received(
        "@brand_events can't wait for the Lisbon meetup this Saturday, what's the agenda?",
        on="event-coverage",
    )

    route.mentions_route(mention_ids=[support.pk, event.pk, own.pk])

    for mention in (support, event, own):
        mention.refresh_from_db()
    assert (support.team, support.is_misdirected) == (team_of("customer-relations"), True)
    assert (event.team, event.is_misdirected) == (team_of("event-coverage"), True)
    assert (own.team, own.is_misdirected) == (team_of("event-coverage"), False)
    assert Escalation.objects.count() == 2


def test_rules_route_label_prioritise_and_the_decision_names_the_version() -> None:
    admin = UserFactory(admin=True)
    agent = UserFactory(username="dana")
    rulesets.rule_save(
        user=admin,
        name="Recall goes to crisis",
        when={"all": [{"keywords": ["recall", "recalled"]}, {"not": {"kind": ["dm"]}}]},
        then=[
            {"route_to_segment": "crisis-management"},
            {"set_priority": "urgent"},
            {"add_labels": ["recall"]},
            {"assign_to": "dana"},
            {"require_approval": True},
        ],
    )
    version = RuleSetVersion.objects.order_by("-number").first()
    mention = received(
        "@brand_help is the kettle model K2 being recalled? Mine sparked", on="customer-relations"
    )

    route.mentions_route(mention_ids=[mention.pk])

    mention.refresh_from_db()
    assert mention.team == team_of("crisis-management")
    assert mention.priority == Mention.Priority.URGENT
    assert mention.labels == ["recall"]
    assert mention.assignee == agent
    assert mention.requires_approval
    assert mention.decision["rule_set_version"] == version.number
    assert mention.decision["rules_fired"] == [version.rules[0]["id"]]
    assert any("Recall goes to crisis" in line for line in mention.decision["explanation"])


def test_a_rule_that_does_not_compile_is_refused_and_nothing_is_published() -> None:
    admin = UserFactory(admin=True)
    rulesets.rule_set_current()
    versions = RuleSetVersion.objects.count()

    with pytest.raises(RuleError) as refused:
        rulesets.rule_save(
            user=admin, name="Broken", when={"regex": "refund(("}, then=[{"set_priority": "high"}]
        )
    assert "regex" in refused.value.path

    with pytest.raises(RuleError) as unknown:
        rulesets.rule_save(
            user=admin, name="Nowhere", when={"keywords": ["x"]}, then=[{"route_to_team": "nope"}]
        )
    assert "nope" in str(unknown.value)

    assert RuleSetVersion.objects.count() == versions


def test_a_rule_with_a_label_that_is_not_one_is_refused_on_save() -> None:
    admin = UserFactory(admin=True)
    rulesets.rule_set_current()
    versions = RuleSetVersion.objects.count()

    with pytest.raises(RuleError) as refused:
        rulesets.rule_save(
            user=admin, name="Shouty", when={"keywords": ["x"]}, then=[{"add_labels": ["!!!"]}]
        )

    assert str(refused.value) == (
        "rules[0].then[0].add_labels[0]: '!!!' is not a label: up to 40 letters, digits, spaces and "
        ". : / - _, starting with a letter or digit."
    )
    assert not Rule.objects.exists()
    assert RuleSetVersion.objects.count() == versions


def test_an_agent_can_remove_a_label_a_rule_added() -> None:
    admin = UserFactory(admin=True)
    rulesets.rule_save(
        user=admin, name="Recalls", when={"keywords": ["recalled"]}, then=[{"add_labels": ["Recall", "VIP"]}]
    )
    mention = received("@brand_help was my kettle recalled?", on="customer-relations")
    route.mentions_route(mention_ids=[mention.pk])
    mention.refresh_from_db()
    assert mention.labels == ["recall", "vip"]
    agent = MembershipFactory(team=mention.team).user  # of whichever team routing gave it to

    mention_label(actor=agent, mention=mention, remove=["Recall"])

    mention.refresh_from_db()
    assert mention.labels == ["vip"]


def test_every_rule_change_publishes_a_version_with_an_audit_trail() -> None:
    admin = UserFactory(admin=True)
    rule = rulesets.rule_save(
        user=admin, name="VIPs", when={"verified": True}, then=[{"set_priority": "high"}]
    )
    rulesets.rule_save(
        user=admin, name="VIPs", when={"verified": True}, then=[{"set_priority": "urgent"}], rule=rule
    )
    rulesets.rule_delete(user=admin, rule=rule)

    numbers = list(RuleSetVersion.objects.order_by("number").values_list("number", flat=True))
    assert numbers == [1, 2, 3]
    assert RuleSetVersion.objects.get(number=2).rules[0]["then"] == [{"set_priority": "urgent"}]
    assert RuleSetVersion.objects.get(number=3).rules == []
    assert DomainEvent.objects.filter(verb="rule_set.published").count() == 3


def escalated(text: str = SUPPORT_QUESTION, on: str = "event-coverage") -> Escalation:
    mention = received(text, on=on)
    route.mentions_route(mention_ids=[mention.pk])
    return Escalation.objects.get(mention=mention)


def test_the_owning_team_accepts_an_escalation_and_others_cannot() -> None:
    escalation = escalated()
    outsider = MembershipFactory(team=team_of("event-coverage")).user
    member = MembershipFactory(team=team_of("customer-relations")).user

    with pytest.raises(actions_base.TriageError):
        escalations.escalation_accept(escalation=escalation, actor=outsider)
    escalations.escalation_accept(escalation=escalation, actor=member)

    escalation.refresh_from_db()
    assert (escalation.state, escalation.decided_by) == (Escalation.State.ACCEPTED, member)
    with pytest.raises(actions_base.TriageError, match="already accepted"):
        escalations.escalation_accept(escalation=escalation, actor=member)
    assert DomainEvent.objects.filter(verb="escalation.accepted").count() == 1


def test_a_bounce_needs_a_reason_and_hands_the_post_back() -> None:
    escalation = escalated()
    member = MembershipFactory(team=team_of("customer-relations")).user

    with pytest.raises(actions_base.TriageError, match="why"):
        escalations.escalation_bounce(escalation=escalation, actor=member, reason="  ")
    escalations.escalation_bounce(
        escalation=escalation, actor=member, reason="This is about the event's cloakroom"
    )

    escalation.refresh_from_db()
    assert escalation.state == Escalation.State.BOUNCED
    assert escalation.bounce_reason == "This is about the event's cloakroom"
    mention = Mention.objects.get(pk=escalation.mention_id)
    assert mention.team == team_of("event-coverage")
    correction = Correction.objects.get(mention=mention)
    assert correction.intent_after == ""  # "not ours" does not say what it is


def test_an_escalation_nobody_accepts_in_time_goes_to_the_lead() -> None:
    escalation = escalated()
    lead = MembershipFactory(team=team_of("customer-relations"), role=Membership.Role.LEAD).user
    fresh = escalated(EVENT_QUESTION, on="customer-relations")
    # Its window is another segment's, and the clock moves between the two: pin it to an hour later.
    Escalation.objects.filter(pk=fresh.pk).update(due_at=escalation.due_at + timedelta(hours=1))

    raised = escalations.escalations_overdue_raise(now=escalation.due_at + timedelta(seconds=1))

    assert escalation.pk in raised
    escalation.refresh_from_db()
    assert escalation.state == Escalation.State.ESCALATED_TO_LEAD
    event = DomainEvent.objects.get(verb="escalation.to_lead", object_id=str(escalation.pk))
    assert event.after["leads"] == [lead.username]
    assert raised == [escalation.pk]
    fresh.refresh_from_db()
    assert fresh.state == Escalation.State.PENDING
    assert escalations.escalations_overdue_raise(now=escalation.due_at + timedelta(seconds=2)) == []


def test_a_reroute_is_a_correction_the_classifier_learns_from() -> None:
    text = "@brand_help does the zorblax come in teal? need 40 for the office"
    mention = received(text, on="customer-relations")
    route.mentions_route(mention_ids=[mention.pk])
    mention.refresh_from_db()
    routed_intent = mention.intent
    agent = MembershipFactory(team=team_of("customer-relations")).user

    routing_actions.mention_reroute(
        mention=mention, actor=agent, intent="purchase_question", reason="sales lead"
    )

    mention.refresh_from_db()
    assert mention.team == team_of("product-promotion")
    assert mention.intent == "purchase_question"
    correction = Correction.objects.get(mention=mention)
    assert (correction.intent_before, correction.intent_after) == (routed_intent, "purchase_question")
    assert correction.text == text
    assert DomainEvent.objects.filter(verb="mention.rerouted").count() == 1

    version = history.classifier_train()

    assert version is not None and version.number == 1 and version.is_active
    assert version.examples["corrections"] == 1 and version.examples["intent_labels"] == 1
    assert history.classifier_train() is None  # nothing new to learn
    assert learning.classifier_current().version == 1
    later = received("@brand_help zorblax in teal, 12 of them, price?", on="customer-relations")
    route.mentions_route(mention_ids=[later.pk])
    later.refresh_from_db()
    assert later.decision["model_version"] == 1


def test_a_reroute_to_a_team_learns_the_one_intent_that_team_owns() -> None:
    mention = received(
        "@brand_help we're marching for clean rivers on Sunday, stand with us", on="customer-relations"
    )
    agent = UserFactory(admin=True)

    routing_actions.mention_reroute(mention=mention, actor=agent, team=team_of("issue-advocacy"))
    routing_actions.mention_reroute(mention=mention, actor=agent, team=team_of("customer-relations"))

    learned = list(Correction.objects.order_by("id").values_list("intent_after", flat=True))
    assert learned == ["advocacy", ""]  # customer relations owns several intents: nothing to learn


# "sick" is praise in this customer's words; the shipped model reads it as negative.
SLANG_PRAISE = "@brand_help that new trail jacket is sick, proper sick"


def test_a_sentiment_correction_is_stored_and_the_model_learns_it() -> None:
    mention = received(SLANG_PRAISE, on="customer-relations")
    route.mentions_route(mention_ids=[mention.pk])
    mention.refresh_from_db()
    assert mention.sentiment_label == "negative"
    agent = MembershipFactory(team=team_of("customer-relations")).user

    routing_actions.mention_sentiment_correct(mention=mention, actor=agent, label="positive")

    mention.refresh_from_db()
    assert (mention.sentiment_label, mention.sentiment) == ("positive", None)
    assert mention.decision["sentiment_corrected_by"] == agent.username
    correction = SentimentCorrection.objects.get()
    assert (correction.label_before, correction.label_after, correction.text) == (
        "negative",
        "positive",
        SLANG_PRAISE,
    )
    assert learning.classifier_current().sentiment.adjustment is None  # not trained yet

    state = learning.sentiment_train()

    assert state is not None and (state.version, state.corrections) == (1, 1)
    assert learning.sentiment_train() is None  # nothing new
    assert SentimentState.objects.count() == 1
    later = received("@brand_help your new trail jacket is sick, proper sick!", on="customer-relations")
    route.mentions_route(mention_ids=[later.pk])
    later.refresh_from_db()
    assert later.sentiment_label == "positive"
    assert later.sentiment > 0
    assert not Correction.objects.exists()  # a sentiment correction teaches no intent


def test_sentiment_learning_is_the_same_one_by_one_or_in_one_batch() -> None:
    agent = UserFactory(admin=True)
    texts = [f"{SLANG_PRAISE} #{n}" for n in range(3)] + ["@brand_help delivery was fine I guess"]
    labels = ["positive", "positive", "positive", "neutral"]
    mentions = [received(text, on="customer-relations") for text in texts]

    one_by_one = []
    for mention, label in zip(mentions, labels, strict=True):
        routing_actions.mention_sentiment_correct(mention=mention, actor=agent, label=label)
        one_by_one.append(learning.sentiment_train())
    batch = SentimentState.objects.get(version=4).state
    SentimentState.objects.all().delete()
    in_one_batch = learning.sentiment_train()

    assert [state.version for state in one_by_one] == [1, 2, 3, 4]
    assert in_one_batch.corrections == 4
    assert bytes(in_one_batch.state) == bytes(batch)


def test_only_the_mentions_team_may_correct_its_sentiment() -> None:
    mention = received(SLANG_PRAISE, on="customer-relations", team=team_of("customer-relations"))
    outsider = MembershipFactory(team=team_of("event-coverage")).user

    with pytest.raises(actions_base.TriageError):
        routing_actions.mention_sentiment_correct(mention=mention, actor=outsider, label="positive")

    assert not SentimentCorrection.objects.exists()
    assert not DomainEvent.objects.filter(verb="mention.sentiment_corrected").exists()


def test_the_sweeper_routes_mentions_whose_task_was_lost() -> None:
    lost = received(SUPPORT_QUESTION, on="event-coverage")
    Mention.objects.filter(pk=lost.pk).update(received_at=timezone.now() - timedelta(minutes=5))
    just_in = received(EVENT_QUESTION, on="event-coverage")

    assert mentions_route_unrouted_task() == 1

    lost.refresh_from_db()
    just_in.refresh_from_db()
    assert lost.routed_at is not None
    assert just_in.routed_at is None  # its own route task is still on its way


def test_crisis_mode_is_a_fact_rules_can_test() -> None:
    admin = UserFactory(admin=True)
    rulesets.rule_save(
        user=admin,
        name="Crisis: everything negative is urgent",
        when={"all": [{"crisis_mode": True}, {"sentiment": {"max": -0.3}}]},
        then=[{"set_priority": "urgent"}],
    )
    calm = received("@brand_help this is the worst, terrible, awful service", on="customer-relations")
    route.mentions_route(mention_ids=[calm.pk])
    RoutingSettings.objects.filter(pk=1).update(crisis_mode=True)
    storm = received("@brand_help this is the worst, terrible, awful service again", on="customer-relations")
    route.mentions_route(mention_ids=[storm.pk])

    calm.refresh_from_db()
    storm.refresh_from_db()
    assert calm.priority != Mention.Priority.URGENT
    assert storm.priority == Mention.Priority.URGENT


@responses.activate
def test_rule_notifications_send_email_and_webhooks() -> None:
    responses.add(responses.POST, "https://hooks.example.com/socialops", json={"ok": True})
    admin = UserFactory(admin=True)
    rulesets.rule_save(
        user=admin,
        name="Tell the press office",
        when={"keywords": ["journalist", "reporter"]},
        then=[
            {"notify_email": "press@example.com"},
            {"notify_webhook": "https://hooks.example.com/socialops"},
        ],
    )
    mention = received(
        "@brand_help I'm a reporter at the Herald, can someone comment on the outage?",
        on="customer-relations",
    )
    route.mentions_route(mention_ids=[mention.pk])
    mention.refresh_from_db()
    assert mention.decision["rules_fired"]

    notification_send_task.apply(args=[mention.pk, "email", "press@example.com"], throw=True)
    notification_send_task.apply(
        args=[mention.pk, "webhook", "https://hooks.example.com/socialops"], throw=True
    )

    assert mail.outbox[0].to == ["press@example.com"]
    assert "reporter at the Herald" in mail.outbox[0].body
    sent = responses.calls[0].request
    assert b'"mention_id": %d' % mention.pk in sent.body


def test_backtest_reports_what_a_draft_would_change_and_changes_nothing() -> None:
    for n in range(3):
        mention = received(f"@brand_help is the K2 kettle recalled? ticket {n}", on="customer-relations")
        route.mentions_route(mention_ids=[mention.pk])
    other = received(EVENT_QUESTION, on="event-coverage")
    route.mentions_route(mention_ids=[other.pk])
    before = list(Mention.objects.order_by("id").values_list("team_id", "priority", "decision"))

    report = backtest.rules_backtest(
        rules=[
            {
                "id": 1,
                "name": "Recalls to crisis",
                "enabled": True,
                "when": {"keywords": ["recalled"]},
                "then": [
                    {"route_to_segment": "crisis-management"},
                    {"escalate": {"team": team_of("crisis-management").slug, "reason": "Recall"}},
                ],
            }
        ],
        days=7,
    )

    assert report.mentions == 4
    assert report.changed == 3
    crisis, care = team_of("crisis-management").slug, team_of("customer-relations").slug
    assert report.teams_after.get(crisis, 0) - report.teams_before.get(crisis, 0) == 3
    assert report.teams_before.get(care, 0) - report.teams_after.get(care, 0) == 3
    assert report.escalations_added == 3
    assert len(report.sample) == 3
    assert any("Recalls to crisis" in line for line in report.sample[0].after["explanation"])
    assert list(Mention.objects.order_by("id").values_list("team_id", "priority", "decision")) == before

    with pytest.raises(RuleError):
        backtest.rules_backtest(
            rules=[
                {"id": 1, "name": "bad", "enabled": True, "when": {"regex": "("}, "then": [{"stop": True}]}
            ]
        )


def test_routing_publishes_one_live_event_per_batch(django_capture_on_commit_callbacks) -> None:
    import json

    import redis
    from django.conf import settings

    from foundation.live import EVENTS_CHANNEL

    subscriber = redis.Redis.from_url(settings.REDIS_URL).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe(EVENTS_CHANNEL)
    subscriber.get_message(timeout=1)
    mentions = [
        received(SUPPORT_QUESTION, on="event-coverage"),
        received(EVENT_QUESTION, on="event-coverage"),
    ]

    with django_capture_on_commit_callbacks(execute=True):
        route.mentions_route(mention_ids=[m.pk for m in mentions])

    message = subscriber.get_message(timeout=5)
    assert message is not None, "no live event was published"
    event = json.loads(message["data"])
    assert event["kind"] == "mentions.routed"
    assert event["ids"] == sorted(m.pk for m in mentions)
    assert event["escalated"] == [mentions[0].pk]
    assert subscriber.get_message(timeout=0.5) is None  # one event for the batch
    subscriber.close()
