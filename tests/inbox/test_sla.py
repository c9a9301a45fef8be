"""SLA clocks in business hours: starting, switching on reply, stopping on close, warning and breaching."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.core import mail
from django.urls import reverse

from foundation.models import DomainEvent
from inbox.actions.replies import reply_create
from inbox.actions.sla import sla_clocks_start, sla_tick
from inbox.actions.triage import mention_close
from inbox.models import Mention, SlaCursor, SlaPolicy
from inbox.sla import BREACHED, FIRST_RESPONSE, NEXT_RESPONSE, RESOLUTION, WARNING, business_deadline
from teams.models import Membership
from tests.factories import ChannelFactory, MembershipFactory, MentionFactory, UserFactory, segment

pytestmark = pytest.mark.django_db

MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday


def office_hours(**extra) -> SlaPolicy:
    fields = {
        "timezone": "UTC",
        "business_days": [0, 1, 2, 3, 4],
        "business_start": time(9, 0),
        "business_end": time(17, 0),
        **extra,
    }
    return SlaPolicy(segment=segment("customer-relations"), **fields)


def test_around_the_clock_is_plain_minutes():
    policy = SlaPolicy(segment=segment("customer-relations"))

    assert business_deadline(policy, MONDAY_10, 90) == MONDAY_10 + timedelta(minutes=90)


def test_business_hours_carry_over_the_night_and_the_weekend():
    policy = office_hours()
    friday_16 = datetime(2026, 11, 27, 16, 0, tzinfo=UTC)

    assert business_deadline(policy, MONDAY_10, 60) == datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    assert business_deadline(policy, datetime(2026, 11, 23, 16, 30, tzinfo=UTC), 60) == datetime(
        2026, 11, 24, 9, 30, tzinfo=UTC
    )
    assert business_deadline(policy, friday_16, 120) == datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
    # Received on Saturday night: the clock starts Monday at nine.
    assert business_deadline(policy, datetime(2026, 11, 28, 22, 0, tzinfo=UTC), 30) == datetime(
        2026, 11, 30, 9, 30, tzinfo=UTC
    )


def test_holidays_stop_the_clock_and_time_zones_count():
    policy = office_hours(holidays=["2026-11-24"])
    assert business_deadline(policy, datetime(2026, 11, 23, 16, 30, tzinfo=UTC), 60) == datetime(
        2026, 11, 25, 9, 30, tzinfo=UTC
    )
    paris = office_hours(timezone="Europe/Paris")  # 09:00 in Paris is 08:00 UTC in November
    assert business_deadline(paris, datetime(2026, 11, 23, 7, 0, tzinfo=UTC), 30) == datetime(
        2026, 11, 23, 8, 30, tzinfo=UTC
    )


@pytest.fixture
def care():
    return segment("customer-relations")


@pytest.fixture
def policy(care):
    return SlaPolicy.objects.create(
        segment=care,
        first_response_minutes=60,
        next_response_minutes=30,
        resolution_minutes=600,
        warn_before_minutes=15,
    )


@pytest.fixture
def channel(care):
    return ChannelFactory(segment=care, handle="@acme_help")


def arrived(channel, minutes_ago: int, **fields) -> Mention:
    received = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return MentionFactory(
        team=channel.segment.team, on_channels=[channel], received_at=received, created_at=received, **fields
    )


def test_clocks_start_for_settled_mentions_of_segments_with_a_policy(policy, channel):
    old = arrived(channel, 10)
    fresh = arrived(channel, 0)  # may still be in an uncommitted ingest: next run
    other = arrived(ChannelFactory(segment=segment("event-coverage")), 10)

    started = sla_clocks_start()

    old.refresh_from_db()
    assert started == 1
    assert old.sla_kind == FIRST_RESPONSE
    assert old.sla_due_at == old.received_at + timedelta(minutes=60)
    assert old.sla_warn_at == old.sla_due_at - timedelta(minutes=15)
    assert Mention.objects.get(pk=other.pk).sla_due_at is None
    assert Mention.objects.get(pk=fresh.pk).sla_due_at is None
    assert SlaCursor.objects.get().last_mention_id == other.pk


def test_the_owning_segment_of_the_decision_sets_the_policy(policy, channel):
    events = ChannelFactory(segment=segment("event-coverage"))
    misdirected = arrived(events, 10, decision={"segment": "customer-relations"})

    sla_clocks_start()

    assert Mention.objects.get(pk=misdirected.pk).sla_kind == FIRST_RESPONSE


def test_a_new_post_in_a_conversation_we_answered_gets_the_next_response_target(
    policy, channel, django_capture_on_commit_callbacks
):
    agent = MembershipFactory(team=channel.segment.team).user
    first = arrived(channel, 30, conversation_key="c1")
    with django_capture_on_commit_callbacks():
        reply_create(actor=agent, mention=first, text="On it")
    follow_up = arrived(channel, 5, conversation_key="c1")

    sla_clocks_start()

    follow_up.refresh_from_db()
    assert follow_up.sla_kind == NEXT_RESPONSE
    assert follow_up.sla_due_at == follow_up.received_at + timedelta(minutes=30)


def test_a_reply_switches_to_resolution_and_closing_stops_the_clock(
    policy, channel, django_capture_on_commit_callbacks
):
    agent = MembershipFactory(team=channel.segment.team).user
    mention = arrived(channel, 20)
    sla_clocks_start()

    with django_capture_on_commit_callbacks():
        reply_create(actor=agent, mention=Mention.objects.get(pk=mention.pk), text="Looking into it")
    replied = Mention.objects.get(pk=mention.pk)
    mention_close(actor=agent, mention=replied)

    assert (replied.sla_kind, replied.sla_due_at) == (
        RESOLUTION,
        replied.received_at + timedelta(minutes=600),
    )
    closed = Mention.objects.get(pk=mention.pk)
    assert (closed.sla_due_at, closed.sla_warn_at) == (None, None)


def test_tick_warns_once_then_raises_the_breach_to_the_leads_once(
    policy, channel, django_capture_on_commit_callbacks, monkeypatch
):
    from socialops.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)  # the email task runs here, after commit
    lead = MembershipFactory(
        team=channel.segment.team, role=Membership.Role.LEAD, user__email="lead@example.com"
    )
    MembershipFactory(team=channel.segment.team, user__email="agent@example.com")
    mention = arrived(channel, 50)  # due in 10 minutes, warned from 15 before
    sla_clocks_start()

    warned, breached = sla_tick()
    again = sla_tick()
    assert (warned, breached) == ([mention.pk], [])
    assert again == ([], [])
    assert Mention.objects.get(pk=mention.pk).sla_state == WARNING

    later = datetime.now(UTC) + timedelta(minutes=11)
    with django_capture_on_commit_callbacks(execute=True):
        warned, breached = sla_tick(now=later)
    assert breached == [mention.pk]
    assert sla_tick(now=later) == ([], [])

    raised = Mention.objects.get(pk=mention.pk)
    assert raised.sla_state == BREACHED
    assert raised.priority == Mention.Priority.HIGH
    assert "sla-breached" in raised.labels
    assert list(
        DomainEvent.objects.filter(object_id=str(mention.pk)).values_list("verb", flat=True).order_by("id")
    ) == [
        "sla.warning",
        "sla.breached",
    ]
    assert [m.to for m in mail.outbox] == [[lead.user.email]]
    assert "SLA breached: first response" in mail.outbox[0].subject


def test_a_closed_mention_is_never_breached(policy, channel):
    agent = MembershipFactory(team=channel.segment.team).user
    mention = arrived(channel, 50)
    sla_clocks_start()
    mention_close(actor=agent, mention=Mention.objects.get(pk=mention.pk))

    assert sla_tick(now=datetime.now(UTC) + timedelta(days=1)) == ([], [])


def test_spam_routing_classified_runs_no_clock(policy, channel):
    spam = arrived(channel, 10, intent="spam", labels=["spam"])
    ham = arrived(channel, 10, intent="support_question")

    started = sla_clocks_start()

    assert started == 1
    assert Mention.objects.get(pk=spam.pk).sla_due_at is None
    assert Mention.objects.get(pk=ham.pk).sla_kind == FIRST_RESPONSE
    assert SlaCursor.objects.get().last_mention_id == ham.pk


def test_a_clock_started_before_routing_said_spam_never_warns_or_breaches(policy, channel):
    mention = arrived(channel, 50)  # due in 10 minutes
    sla_clocks_start()
    Mention.objects.filter(pk=mention.pk).update(intent="spam")  # the sweeper routed it late

    assert sla_tick(now=datetime.now(UTC) + timedelta(days=1)) == ([], [])
    assert Mention.objects.get(pk=mention.pk).sla_state == ""
    assert not DomainEvent.objects.filter(verb__startswith="sla.").exists()


def test_the_inbox_shows_the_clock(client, policy, channel):
    agent = MembershipFactory(team=channel.segment.team).user
    arrived(channel, 10)
    sla_clocks_start()
    client.force_login(agent)

    html = client.get("/inbox/").content.decode()

    assert 'class="badge sla sla--running"' in html
    assert "First response due in" in html


# --- The admin page -----------------------------------------------------------------------------------------


def test_only_admins_reach_the_sla_pages(client, care):
    agent = MembershipFactory(team=care.team, role=Membership.Role.LEAD).user
    client.force_login(agent)

    assert client.get(reverse("sla:index")).status_code == 404
    assert (
        client.post(reverse("sla:edit", args=[care.slug]), {"first_response_minutes": 5}).status_code == 404
    )
    assert not SlaPolicy.objects.exists()


def test_admin_sets_a_policy_and_bad_values_are_named(client, care):
    client.force_login(UserFactory(admin=True))
    form = {
        "enabled": "on",
        "first_response_minutes": 30,
        "next_response_minutes": 30,
        "resolution_minutes": 480,
        "warn_before_minutes": 10,
        "timezone": "Mars/Olympus",
        "business_days": [0, 1, 2, 3, 4],
        "business_start": "17:00",
        "business_end": "09:00",
        "holidays": "2026-12-25\nnext tuesday",
    }

    bad = client.post(reverse("sla:edit", args=[care.slug]), form).content.decode()
    form.update(timezone="Europe/Paris", business_start="09:00", business_end="17:00", holidays="2026-12-25")
    good = client.post(reverse("sla:edit", args=[care.slug]), form)

    assert "Unknown time zone" in bad
    assert "&#x27;next tuesday&#x27; is not a date" in bad
    assert good.status_code == 302
    policy = SlaPolicy.objects.get(segment=care)
    assert (policy.first_response_minutes, policy.business_days, policy.holidays) == (
        30,
        [0, 1, 2, 3, 4],
        ["2026-12-25"],
    )
    assert DomainEvent.objects.filter(verb="sla_policy.saved").count() == 1
