"""The weekly digest: off by default, sent by beat's task to the leads who switched it on, with their teams'
numbers and the week's worst SLA misses, and never twice for one week."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.conf import settings
from django.core import mail

from foundation.events import consumer_start
from inbox.actions.replies import reply_create
from inbox.actions.sla import sla_tick
from inbox.models import Mention, SlaPolicy
from inbox.services import mentions_ingest
from reports.digest import digest_set, digests_send, sla_misses_worst, week_before
from reports.models import DigestSubscription
from reports.rollups import CONSUMER, rollups_consume
from reports.tasks import DIGEST_TASK, digests_send_task
from socialops.celery import app
from teams.models import Membership
from tests.factories import ChannelFactory, MembershipFactory, UserFactory, segment
from tests.inbox.test_services import make_post

# Beat's Monday 07:00 UTC, a week from now or less; the digest covers the seven days before that Monday.
_today = datetime.now(UTC).date()
SEND = datetime.combine(_today + timedelta(days=7 - _today.weekday()), time(7), tzinfo=UTC)
WEDNESDAY = datetime.combine(SEND.date() - timedelta(days=5), time(10), tzinfo=UTC)


@pytest.fixture
def world(db: None) -> SimpleNamespace:
    """On last week's Wednesday, three care posts and one promotion post under a 30-minute first-response
    target around the clock: one care post answered in 10 minutes, one answered two hours late, one never
    answered; the promotion post breached too."""
    care, promo = segment("customer-relations"), segment("product-promotion")
    for s in (care, promo):
        SlaPolicy.objects.create(segment=s, first_response_minutes=30)
    w = SimpleNamespace(care=care.team, promo=promo.team)
    help_desk, shop = ChannelFactory(segment=care), ChannelFactory(segment=promo)
    w.lead = MembershipFactory(
        team=w.care, role=Membership.Role.LEAD, user__username="lea", user__email="lea@example.com"
    ).user
    w.promo_lead = MembershipFactory(
        team=w.promo, role=Membership.Role.LEAD, user__username="pat", user__email="pat@example.com"
    ).user
    w.agent = MembershipFactory(team=w.care, user__username="ada", user__email="ada@example.com").user
    consumer_start(consumer=CONSUMER)
    with time_machine.travel(WEDNESDAY, tick=False) as clock:
        mentions_ingest(
            channel=help_desk,
            posts=[
                make_post(n, by=n, text="@brand where is my order?", created_at=WEDNESDAY) for n in (1, 2, 3)
            ],
        )
        mentions_ingest(
            channel=shop, posts=[make_post(4, by=4, text="@brand discount?", created_at=WEDNESDAY)]
        )
        Mention.objects.filter(external_id__in=["ext-1", "ext-2", "ext-3"]).update(team=w.care)
        Mention.objects.filter(external_id="ext-4").update(team=w.promo)
        w.quick, w.late, w.waiting = (Mention.objects.get(external_id=f"ext-{n}") for n in (1, 2, 3))
        clock.move_to(WEDNESDAY + timedelta(minutes=10))
        reply_create(actor=w.agent, mention=w.quick, text="On its way.")
        clock.move_to(WEDNESDAY + timedelta(minutes=45))
        sla_tick()
        clock.move_to(WEDNESDAY + timedelta(hours=2, minutes=30))
        reply_create(actor=w.agent, mention=w.late, text="Sorry for the wait.")
    while rollups_consume():
        pass
    return w


def test_the_digest_is_off_until_a_lead_switches_it_on(world: SimpleNamespace) -> None:
    sent = digests_send(now=SEND)

    assert sent == 0
    assert mail.outbox == []
    assert DigestSubscription.objects.count() == 0


def test_a_lead_gets_their_team_s_week_and_its_worst_sla_misses_once(world: SimpleNamespace) -> None:
    digest_set(user=world.lead, enabled=True)
    digest_set(user=world.agent, enabled=True)  # no longer (or never) a lead: nothing is sent

    first = digests_send(now=SEND)
    again = digests_send(now=SEND + timedelta(hours=1))

    (message,) = mail.outbox
    body = message.body
    assert (first, again) == (1, 0)
    assert message.to == ["lea@example.com"]
    assert message.subject == "[socialops] Your week: 3 mentions"
    assert f"{world.care.name}: 3 received (week before: 0), 0 handled" in body
    assert "50% within SLA, 2 SLA breaches" in body
    misses = body.split("The week's worst SLA misses:\n")[1].split("\n\n")[0].splitlines()
    assert misses == [
        f"- @person3 ({world.care.name}): first response 109.5 h still waiting at the end of the week "
        f"{settings.SOCIALOPS_BASE_URL}/inbox/?open={world.waiting.pk}",
        f"- @person2 ({world.care.name}): first response 2.0 h late "
        f"{settings.SOCIALOPS_BASE_URL}/inbox/?open={world.late.pk}",
    ]
    assert "@person4" not in body  # the promotion team's breach is not this lead's
    assert DigestSubscription.objects.get(user=world.lead).last_week == week_before(SEND)[0]


def test_the_worst_misses_of_an_admin_cover_every_team(world: SimpleNamespace) -> None:
    admin = UserFactory(username="root", admin=True)
    start, end = (datetime.combine(d, time.min, tzinfo=UTC) for d in week_before(SEND))

    misses = sla_misses_worst(user=admin, start=start, end=end)
    lead_misses = sla_misses_worst(user=world.promo_lead, start=start, end=end)

    assert [m.handle for m in misses] == ["person3", "person4", "person2"]
    assert [m.handle for m in lead_misses] == ["person4"]
    assert misses[0].still_waiting and not misses[2].still_waiting


def test_beat_sends_it_weekly_through_the_task(world: SimpleNamespace) -> None:
    digest_set(user=world.promo_lead, enabled=True)
    entry = settings.CELERY_BEAT_SCHEDULE["reports-weekly-digest"]

    with time_machine.travel(SEND, tick=False):
        sent = digests_send_task()

    assert entry["task"] == DIGEST_TASK
    assert DIGEST_TASK in app.tasks
    assert (entry["schedule"].day_of_week, entry["schedule"].hour, entry["schedule"].minute) == (
        {1},
        {7},
        {0},
    )
    assert sent == 1
    assert [m.to for m in mail.outbox] == [["pat@example.com"]]
    assert "1 SLA breach" in mail.outbox[0].body
