"""The report selectors: numbers read from the rollups, and who may read which teams' numbers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine

from foundation.events import consumer_start
from inbox.actions import routing as routing_actions
from inbox.actions import triage
from inbox.actions.replies import reply_create
from inbox.models import Mention
from inbox.services import mentions_ingest
from reports.models import LATENCY_BOUNDS
from reports.rollups import CONSUMER, rollups_consume
from reports.selectors import (
    ReportAccessDenied,
    ReportFilters,
    report_overview,
    report_people,
    report_responsiveness,
    report_routing,
    report_sentiment,
    report_totals,
)
from teams.models import Membership
from tests.factories import ChannelFactory, MembershipFactory, UserFactory, segment
from tests.inbox.test_services import make_post

NOON = (datetime.now(UTC) + timedelta(days=10)).replace(hour=12, minute=0, second=0, microsecond=0)
RANGE = ReportFilters(start=NOON - timedelta(days=1), end=NOON + timedelta(days=1))


@pytest.fixture
def world(db: None) -> SimpleNamespace:
    """Three posts on the customer-relations account and two on the promotion account; one care post
    answered after 10 minutes by Ada and closed, one re-routed to promotion by the admin, one given to Ada."""
    care, promo = segment("customer-relations"), segment("product-promotion")
    w = SimpleNamespace(care=care.team, promo=promo.team)
    w.care_channel, w.promo_channel = ChannelFactory(segment=care), ChannelFactory(segment=promo)
    w.admin = UserFactory(username="root", admin=True)
    w.lead = MembershipFactory(team=w.care, user__username="lea", role=Membership.Role.LEAD).user
    w.ada = MembershipFactory(team=w.care, user__username="ada").user
    consumer_start(consumer=CONSUMER)
    with time_machine.travel(NOON, tick=False) as clock:
        mentions_ingest(
            channel=w.care_channel, posts=[make_post(n, text="@brand where is my order?") for n in (1, 2, 3)]
        )
        mentions_ingest(
            channel=w.promo_channel, posts=[make_post(n, text="@brand any discount code?") for n in (4, 5)]
        )
        Mention.objects.filter(external_id__in=["ext-1", "ext-2", "ext-3"]).update(team=w.care)
        Mention.objects.filter(external_id__in=["ext-4", "ext-5"]).update(team=w.promo)
        answered = Mention.objects.get(external_id="ext-1")
        clock.move_to(NOON + timedelta(minutes=10))
        reply_create(actor=w.ada, mention=answered, text="On its way.")
        triage.mention_close(actor=w.ada, mention=answered)
        routing_actions.mention_reroute(
            actor=w.admin, mention=Mention.objects.get(external_id="ext-2"), team=w.promo, reason="a sale"
        )
        triage.mention_assign(actor=w.admin, mention=Mention.objects.get(external_id="ext-3"), assignee=w.ada)
    while rollups_consume():
        pass
    return w


def test_an_agent_who_leads_no_team_reads_no_reports(world: SimpleNamespace) -> None:
    with pytest.raises(ReportAccessDenied):
        report_overview(user=world.ada, filters=RANGE)


def test_a_lead_sees_their_teams_only_and_an_admin_sees_all(world: SimpleNamespace) -> None:
    lead = report_totals(user=world.lead, filters=RANGE)
    admin = report_totals(user=world.admin, filters=RANGE)
    other_team = report_totals(
        user=world.lead, filters=ReportFilters(RANGE.start, RANGE.end, (world.promo.pk,))
    )

    assert (lead.received, admin.received, other_team.received) == (
        2,
        5,
        0,
    )  # one care post went to promotion


def test_the_overview_counts_new_handled_and_the_open_backlog(world: SimpleNamespace) -> None:
    overview = report_overview(user=world.admin, filters=RANGE, by="segment")

    assert overview.granularity == "hour"
    assert (sum(v or 0 for v in overview.received.values), sum(v or 0 for v in overview.handled.values)) == (
        5,
        1,
    )
    assert overview.backlog.values[-1] == 4 == Mention.objects.exclude(status=Mention.Status.CLOSED).count()
    assert {s.label: sum(v or 0 for v in s.values) for s in overview.volume} == {
        "Customer relations": 3,
        "Product promotion / sales": 2,
    }
    assert (overview.totals.received, overview.previous.received) == (5, 0)


def test_responsiveness_reads_first_response_percentiles_from_the_histograms(world: SimpleNamespace) -> None:
    report = report_responsiveness(user=world.admin, filters=RANGE, by="team")

    first = report.totals.first_response
    ten_minutes = LATENCY_BOUNDS.index(600)
    assert first.count == 1
    assert LATENCY_BOUNDS[ten_minutes] <= first.median < LATENCY_BOUNDS[ten_minutes + 1]
    assert report.heat_counts[NOON.weekday()][NOON.hour] == 5
    assert {row.label: row.totals.received for row in report.rows} == {
        world.care.name: 2,
        world.promo.name: 3,
    }


def test_routing_shows_the_misroute_matrix_and_corrections(world: SimpleNamespace) -> None:
    report = report_routing(user=world.admin, filters=RANGE)

    cells = {(c.channel_id, c.team_id): (c.received, c.moved_auto, c.moved_by_agent) for c in report.matrix}
    assert cells[(world.care_channel.pk, world.promo.pk)] == (1, 0, 1)
    assert sum(c.received for c in report.matrix) == 5
    assert sum(v or 0 for v in report.corrections.values) == 1


def test_sentiment_shares_add_up_to_one(world: SimpleNamespace) -> None:
    report = report_sentiment(user=world.admin, filters=RANGE, by="channel")
    (point,) = [i for i, v in enumerate(report.negative.values) if v is not None]

    assert report.negative.values[point] + report.neutral.values[point] + report.positive.values[point] == 1
    assert len(report.groups) == 2


def test_people_counts_what_each_agent_did(world: SimpleNamespace) -> None:
    people = report_people(user=world.lead, filters=RANGE)
    ada = next(a for a in people.agents if a.user_id == world.ada.pk)

    assert (ada.handled, ada.replies, ada.first_response.count, ada.open_load) == (1, 1, 1, 1)
    assert [t.team_id for t in people.teams] == [world.care.pk]
    assert people.teams[0].backlog == 1  # two care posts, one closed


def test_a_long_range_is_read_by_the_day_with_the_same_numbers(world: SimpleNamespace) -> None:
    long = ReportFilters(start=NOON - timedelta(days=5), end=NOON + timedelta(days=5))

    overview = report_overview(user=world.admin, filters=long, by="intent")
    responsiveness = report_responsiveness(user=world.admin, filters=long, by="priority")

    assert overview.granularity == "day"
    assert sum(sum(v or 0 for v in s.values) for s in overview.volume) == 5 == overview.totals.received
    assert overview.backlog.values[-1] == 4
    assert sum(row.totals.received for row in responsiveness.rows) == 5
    assert responsiveness.totals.first_response.count == 1
