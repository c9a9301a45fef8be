"""The rollups kept from the domain events equal a rebuild from scratch, after any sequence of ingests,
routes, replies, re-routes, closes and reopens done through the real actions."""

from __future__ import annotations

import io
import random
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.db.models import Sum

from foundation.events import consumer_start
from foundation.models import DomainEvent
from inbox.actions import routing as routing_actions
from inbox.actions import triage
from inbox.actions.escalations import escalation_accept, escalation_bounce, escalations_overdue_raise
from inbox.actions.replies import reply_create
from inbox.actions.sla import sla_tick
from inbox.models import Mention, SlaPolicy
from inbox.services import mentions_ingest
from reports.models import (
    AgentDayRollup,
    DayRollup,
    HourRollup,
    LoadRollup,
    MentionState,
    TallyRollup,
    TeamDayRollup,
    TeamHourRollup,
)
from reports.rollups import CONSUMER, rollups_consume, rollups_rebuild, states_refresh
from reports.tasks import CONSUME_TASK, rollups_consume_task
from routing.models import Escalation
from teams.models import Membership
from tests.factories import ChannelFactory, MembershipFactory, UserFactory, segment
from tests.inbox.test_services import make_post

# A Monday 08:00 UTC a week ahead: the sequence runs through business hours and out of them.
START = datetime.combine(
    (datetime.now(UTC) + timedelta(days=7 - datetime.now(UTC).weekday())).date(), time(8), tzinfo=UTC
)
TEXTS = (
    "@brand where is my order? it never arrived",
    "@brand your app crashes every time, this is terrible",
    "@brand love the new release, great work",
    "@brand do you have a discount code for the sale?",
    "@brand is the event still on tomorrow?",
    "@brand press inquiry: can we get a comment?",
)


def rollups() -> dict[str, list[tuple]]:
    """Every rollup row, without ids, in key order."""
    out = {}
    for model in (
        HourRollup,
        DayRollup,
        TeamHourRollup,
        TeamDayRollup,
        AgentDayRollup,
        TallyRollup,
        LoadRollup,
    ):
        fields = [f.attname for f in model._meta.concrete_fields if f.attname != "id"]
        out[model.__name__] = sorted(model.objects.values_list(*fields))
    return out


def consume_all() -> None:
    while rollups_consume(limit=7):  # small batches: events of one mention fall into different batches
        pass


class World:
    def __init__(self) -> None:
        self.care_segment = segment("customer-relations")
        self.promo_segment = segment("product-promotion")
        self.care, self.promo = self.care_segment.team, self.promo_segment.team
        self.channels = [
            ChannelFactory(segment=self.care_segment),
            ChannelFactory(segment=self.promo_segment),
        ]
        self.admin = UserFactory(username="root", admin=True)
        self.agents = [
            MembershipFactory(team=self.care, user__username="ada").user,
            MembershipFactory(team=self.promo, user__username="ben").user,
        ]
        Membership.objects.create(user=self.agents[0], team=self.promo)
        SlaPolicy.objects.update_or_create(
            segment=self.care_segment,
            defaults={
                "enabled": True,
                "first_response_minutes": 60,
                "timezone": "Europe/Paris",
                "business_days": [0, 1, 2, 3, 4],
                "business_start": time(9),
                "business_end": time(17),
            },
        )
        self.posts = 0

    def ingest(self, rng: random.Random) -> None:
        posts = []
        for _ in range(rng.randint(1, 3)):
            self.posts += 1
            posts.append(make_post(self.posts, by=rng.randint(1, 4), text=rng.choice(TEXTS)))
        mentions_ingest(channel=rng.choice(self.channels), posts=posts)

    def close_reopen_reroute(self) -> None:
        first, last = Mention.objects.order_by("pk").first(), Mention.objects.order_by("pk").last()
        triage.mention_close(actor=self.admin, mention=first)
        triage.mention_reopen(actor=self.admin, mention=first)
        triage.mention_close(actor=self.admin, mention=last)
        team = self.promo if first.team_id == self.care.pk else self.care
        routing_actions.mention_reroute(actor=self.admin, mention=first, team=team, reason="misrouted")

    def act(self, rng: random.Random) -> None:
        mention = Mention.objects.order_by("?").first()
        actor = rng.choice([self.admin, *self.agents])
        step = rng.choice(
            [
                "reply",
                "reply",
                "close",
                "close",
                "reopen",
                "reopen",
                "reroute",
                "assign",
                "escalation",
                "spam",
                "tick",
            ]
        )
        try:
            if step == "reply":
                reply_create(actor=actor, mention=mention, text="We are on it.", confirm=True)
            elif step == "close":
                triage.mention_close(actor=actor, mention=mention)
            elif step == "reopen" and mention.status == Mention.Status.CLOSED:
                triage.mention_reopen(actor=actor, mention=mention)
            elif step == "reroute":
                team = self.promo if mention.team_id == self.care.pk else self.care
                routing_actions.mention_reroute(actor=actor, mention=mention, team=team, reason="misrouted")
            elif step == "assign" and mention.team_id is not None:
                triage.mention_assign(actor=self.admin, mention=mention, assignee=self.agents[0])
            elif step == "escalation":
                escalation = Escalation.objects.filter(state=Escalation.State.PENDING).first()
                if escalation is not None and rng.random() < 0.5:
                    escalation_accept(actor=self.admin, escalation=escalation)
                elif escalation is not None:
                    escalation_bounce(actor=self.admin, escalation=escalation, reason="not ours")
            elif step == "tick":  # beat's SLA clocks and overdue escalations, as of now
                sla_tick()
                escalations_overdue_raise()
            elif step == "spam":
                triage.mention_mark_spam(actor=self.admin, mention=mention)
        except triage.TriageError:
            pass  # refused in words (not a member, not in that state): nothing changed


@pytest.mark.django_db
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_kept_from_events_equal_a_rebuild_from_scratch(seed: int) -> None:
    rng = random.Random(seed)
    world = World()
    consumer_start(consumer=CONSUMER)
    now = START
    with time_machine.travel(now, tick=False) as clock:
        for _ in range(60):
            now += timedelta(minutes=rng.choice([1, 7, 30, 95, 400]))
            clock.move_to(now)
            if world.posts == 0 or rng.random() < 0.3:
                world.ingest(rng)
            else:
                world.act(rng)
            if rng.random() < 0.2:
                consume_all()
        world.close_reopen_reroute()  # each of these at least once, whatever the draws
        consume_all()
        kept = rollups()

        rollups_rebuild(chunk=5)
        rebuilt = rollups()
        consume_all()  # the events the rebuild also read: applying them again changes nothing
        again = rollups()

    assert kept == rebuilt
    assert again == rebuilt
    totals = HourRollup.objects.values_list(
        "received", "handled", "replies", "frt_count", "corrections", "reopened", "escalations"
    )
    received, handled, replies, first_responses, corrections, reopened, escalations = (
        sum(col) for col in zip(*totals, strict=True)
    )
    assert received == Mention.objects.count() == MentionState.objects.count()
    assert handled == Mention.objects.filter(status=Mention.Status.CLOSED).count()
    # the team rollups are the account rollups' cells summed per team
    team_hours = sorted(TeamHourRollup.objects.values_list("hour", "team_id", "received"))
    hours = HourRollup.objects.values("hour", "team_id").annotate(n=Sum("received"))
    assert team_hours == sorted(hours.values_list("hour", "team_id", "n"))
    team_days = sorted(TeamDayRollup.objects.values_list("day", "team_id", "handled"))
    days = DayRollup.objects.filter(dim="").values("day", "team_id").annotate(n=Sum("handled"))
    assert team_days == sorted(days.values_list("day", "team_id", "n"))
    assert min(len(team_hours), len(team_days)) > 0
    # the sequence did exercise them
    assert min(handled, replies, first_responses, corrections, reopened, escalations) > 0


@pytest.mark.django_db
def test_refreshing_a_mention_twice_changes_nothing_and_a_reroute_moves_its_counts() -> None:
    world = World()
    with time_machine.travel(START, tick=False):
        mentions_ingest(channel=world.channels[0], posts=[make_post(1, text=TEXTS[0])])
        mention = Mention.objects.get()
        states_refresh([mention.pk])
        states_refresh([mention.pk])
        before = list(HourRollup.objects.values_list("team_id", "received", "moved_by_agent"))
        elsewhere = world.promo if mention.team_id == world.care.pk else world.care
        routing_actions.mention_reroute(actor=world.admin, mention=mention, team=elsewhere, reason="theirs")
        states_refresh([mention.pk])
        after = list(HourRollup.objects.values_list("team_id", "received", "moved_by_agent"))

    assert before == [(mention.team_id, 1, 0)]
    assert after == [(elsewhere.pk, 1, int(elsewhere != world.care))]


@pytest.mark.django_db
def test_the_consumer_task_applies_what_was_committed_and_beat_runs_it(settings) -> None:
    world = World()
    consumer_start(consumer=CONSUMER)
    before = DomainEvent.objects.count()
    mentions_ingest(channel=world.channels[0], posts=[make_post(n) for n in (1, 2)])

    handled = rollups_consume_task()

    assert handled == DomainEvent.objects.count() - before > 0
    assert sum(HourRollup.objects.values_list("received", flat=True)) == 2
    assert rollups_consume_task() == 0
    assert settings.CELERY_BEAT_SCHEDULE["reports-rollups"]["task"] == CONSUME_TASK


@pytest.mark.django_db
def test_the_rebuild_command_rebuilds_and_says_what_it_made() -> None:
    world = World()
    mentions_ingest(channel=world.channels[0], posts=[make_post(n) for n in (1, 2, 3)])
    out = io.StringIO()

    call_command("reports_rebuild", "--no-progress", stdout=out)

    assert "Rebuilt the rollups of 3 mentions" in out.getvalue()
    assert sum(HourRollup.objects.values_list("received", flat=True)) == 3
    assert MentionState.objects.count() == 3
