"""Bulk is the same action, many rows: each action done alone on mention A (its single form) and through the
bulk bar on an identical mention B (``mentions_bulk_apply``, its many form) leaves the two in the same state
and records the same events, field by field, at the same instant."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import time_machine

from foundation.models import DomainEvent
from inbox.actions import escalations, triage
from inbox.actions import routing as routing_actions
from inbox.models import Mention
from routing.models import Correction, Escalation
from teams.models import Membership, Team
from tests.factories import ChannelFactory, MembershipFactory, MentionFactory, UserFactory, segment

NOW = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)  # the instant both forms run at

STATE = (
    "status",
    "team_id",
    "assignee_id",
    "priority",
    "labels",
    "intent",
    "sentiment",
    "sentiment_label",
    "is_misdirected",
    "snoozed_until",
    "closed_at",
    "updated_at",
    "sla_kind",
    "sla_warn_at",
    "sla_due_at",
    "sla_state",
)


class World:
    def __init__(self) -> None:
        self.care: Team = segment("customer-relations").team
        self.crisis: Team = segment("crisis-management").team
        self.ada = MembershipFactory(team=self.care, user__username="ada").user
        self.ben_membership = MembershipFactory(team=self.care, user__username="ben")
        self.ben = self.ben_membership.user
        self.channel = ChannelFactory(segment=segment("customer-relations"))


# Each case: how the two identical mentions start, the single form, and the bulk bar's arguments.
Case = tuple[dict[str, Any], Callable[[World, Mention], Any], Callable[[World], dict[str, Any]]]
CASES: dict[str, Case] = {
    "assign": (
        {},
        lambda w, m: triage.mention_assign(actor=w.ada, mention=m, assignee=w.ben),
        lambda w: {"action": "assign", "assignee": w.ben},
    ),
    "unassign": (
        {"status": Mention.Status.OPEN, "assignee": "ben"},
        lambda w, m: triage.mention_assign(actor=w.ada, mention=m, assignee=None),
        lambda w: {"action": "unassign"},
    ),
    "close": (
        {"status": Mention.Status.OPEN},
        lambda w, m: triage.mention_close(actor=w.ada, mention=m),
        lambda w: {"action": "close"},
    ),
    "reopen_keeps_an_available_assignee": (
        {"status": Mention.Status.CLOSED, "assignee": "ben"},
        lambda w, m: triage.mention_reopen(actor=w.ada, mention=m),
        lambda w: {"action": "reopen"},
    ),
    "reopen_lets_go_of_an_assignee_who_is_away": (
        {"status": Mention.Status.CLOSED, "assignee": "ben", "ben_away": True},
        lambda w, m: triage.mention_reopen(actor=w.ada, mention=m),
        lambda w: {"action": "reopen"},
    ),
    "label": (
        {"labels": ["vip"]},
        lambda w, m: triage.mention_label(actor=w.ada, mention=m, add=["refund", "VIP"]),
        lambda w: {"action": "label", "labels": ["refund", "VIP"]},
    ),
    "priority": (
        {},
        lambda w, m: triage.mention_prioritize(actor=w.ada, mention=m, priority=Mention.Priority.URGENT),
        lambda w: {"action": "priority", "priority": Mention.Priority.URGENT},
    ),
    "snooze": (
        {"status": Mention.Status.OPEN},
        lambda w, m: triage.mention_snooze(actor=w.ada, mention=m, until=NOW + timedelta(hours=3)),
        lambda w: {"action": "snooze", "until": NOW + timedelta(hours=3)},
    ),
    "spam": (
        {"intent": "other", "labels": ["vip"]},
        lambda w, m: triage.mention_mark_spam(actor=w.ada, mention=m),
        lambda w: {"action": "spam"},
    ),
    "not_spam": (
        {"intent": "spam", "labels": ["spam"], "status": Mention.Status.CLOSED},
        lambda w, m: triage.mention_mark_not_spam(actor=w.ada, mention=m, intent="praise"),
        lambda w: {"action": "not_spam", "intent": "praise"},
    ),
    "reroute": (
        {"status": Mention.Status.OPEN, "assignee": "ben", "intent": "other"},
        lambda w, m: routing_actions.mention_reroute(actor=w.ada, mention=m, team=w.crisis, reason="Recall"),
        lambda w: {"action": "reroute", "team": w.crisis, "reason": "Recall"},
    ),
    # Routing escalated the post from the crisis team's account to care, where ada works.
    "accept_escalation": (
        {"escalated": True},
        lambda w, m: escalations.escalation_accept(actor=w.ada, escalation=Escalation.objects.get(mention=m)),
        lambda w: {"action": "accept_escalation"},
    ),
    "bounce_escalation": (
        {"escalated": True},
        lambda w, m: escalations.escalation_bounce(
            actor=w.ada, escalation=Escalation.objects.get(mention=m), reason="A delivery question"
        ),
        lambda w: {"action": "bounce_escalation", "reason": "A delivery question"},
    ),
}


def _mention(w: World, start: dict[str, Any]) -> Mention:
    fields = {k: v for k, v in start.items() if k not in {"assignee", "ben_away", "escalated"}}
    if start.get("assignee") == "ben":
        fields["assignee"] = w.ben
    if start.get("escalated"):
        fields.update(team=w.crisis, is_misdirected=True)
    mention = MentionFactory(**{"team": w.care, **fields}, on_channels=[w.channel], text="Where is my order?")
    if start.get("escalated"):
        Escalation.objects.create(mention=mention, from_team=w.crisis, to_team=w.care, reason="Ours")
    return mention


def _arrange(w: World, start: dict[str, Any]) -> Mention:
    Membership.objects.filter(pk=w.ben_membership.pk).update(is_away=bool(start.get("ben_away")))
    return _mention(w, start)


def _state(m: Mention) -> dict[str, Any]:
    m = Mention.objects.get(pk=m.pk)
    return {name: getattr(m, name) for name in STATE}


def _events(m: Mention) -> list[tuple]:
    """The events about the mention: its own, and those of what belongs to it (an escalation)."""
    return list(
        DomainEvent.objects.filter(mention_id=m.pk)
        .order_by("id")
        .values_list("verb", "actor_id", "before", "after")
    )


def _corrections(m: Mention) -> list[tuple]:
    return list(
        Correction.objects.filter(mention=m)
        .order_by("id")
        .values_list("kind", "user_id", "intent_before", "intent_after", "team_before_id", "team_after_id")
    )


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.django_db
def test_single_and_bulk_leave_the_same_state_and_record_the_same_events(name: str) -> None:
    start, alone, bulk = CASES[name]
    w = World()
    a, b = _arrange(w, start), _arrange(w, start)

    with time_machine.travel(NOW, tick=False):
        alone(w, a)
        result = triage.mentions_bulk_apply(actor=w.ada, mentions=[b], **bulk(w))

    assert (result.done, result.skipped) == ([b.pk], {})
    assert _state(a) == _state(b)
    assert _state(a) != {name: getattr(a, name) for name in STATE}  # the action did change something
    assert _events(a) == _events(b)
    assert _events(a) != []
    assert _corrections(a) == _corrections(b)


@pytest.mark.django_db
def test_reopen_in_bulk_lets_go_of_an_assignee_who_is_away_as_the_single_reopen_does() -> None:
    # The drift this parity fixes: the bulk reopen used to keep an assignee who had gone away.
    w = World()
    closed = _mention(w, {"status": Mention.Status.CLOSED, "assignee": "ben"})
    Membership.objects.filter(pk=w.ben_membership.pk).update(is_away=True)

    triage.mentions_bulk_apply(actor=w.ada, mentions=[closed], action="reopen")

    stored = Mention.objects.get(pk=closed.pk)
    assert (stored.status, stored.assignee_id) == (Mention.Status.OPEN, None)


@pytest.mark.django_db
def test_bulk_skips_what_the_single_form_refuses_and_records_nothing_for_it() -> None:
    w = World()
    theirs = MentionFactory(team=w.crisis)
    outsider = UserFactory(username="out")

    result = triage.mentions_bulk_apply(actor=outsider, mentions=[theirs], action="close")

    assert (result.done, result.skipped) == ([], {theirs.pk: "belongs to another team"})
    with pytest.raises(triage.TriageError, match="belongs to another team now"):
        triage.mention_close(actor=outsider, mention=theirs)
    assert _events(theirs) == []
    assert Mention.objects.get(pk=theirs.pk).status == Mention.Status.NEW


def test_every_bulk_action_has_a_parity_case() -> None:
    # A new bulk action without a case here could drift from its single form unseen.
    nobody = SimpleNamespace(ben=None, crisis=None)  # the bulk arguments' people and teams do not matter here
    assert {bulk(nobody)["action"] for _, _, bulk in CASES.values()} == set(triage.BULK_ACTIONS)
