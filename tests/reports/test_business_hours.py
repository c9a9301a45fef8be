"""Response times in reports count the business hours of the SLA calendar exactly as the SLA clocks do."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine

from inbox.actions.replies import reply_create
from inbox.models import Mention, SlaPolicy
from inbox.services import mentions_ingest
from inbox.sla import business_deadline, business_seconds_between
from reports.models import HourRollup, MentionState
from reports.rollups import states_refresh
from tests.factories import ChannelFactory, UserFactory, segment
from tests.inbox.test_services import make_post

PARIS = ZoneInfo("Europe/Paris")


def _friday(hour: int, minute: int = 0) -> datetime:
    """A Friday a few weeks ahead, at this time in Paris."""
    today = datetime.now(UTC).date() + timedelta(days=21)
    friday = today + timedelta(days=(4 - today.weekday()) % 7)
    return datetime.combine(friday, time(hour, minute), tzinfo=PARIS)


def office_hours(**changes: object) -> SlaPolicy:
    fields: dict[str, object] = {
        "timezone": "Europe/Paris",
        "business_days": [0, 1, 2, 3, 4],
        "business_start": time(9),
        "business_end": time(17),
        "first_response_minutes": 60,
    }
    fields.update(changes)
    return SlaPolicy(**fields)  # type: ignore[arg-type]


def test_business_seconds_are_the_inverse_of_the_sla_deadline() -> None:
    rng = random.Random(7)
    policy = office_hours(holidays=[(_friday(9) + timedelta(days=3)).date().isoformat()])
    for _ in range(200):
        start = _friday(0) + timedelta(minutes=rng.randint(0, 14 * 24 * 60))
        minutes = rng.randint(1, 3000)

        due = business_deadline(policy, start, minutes)

        assert business_seconds_between(policy, start, due) == minutes * 60


def test_a_weekend_and_a_holiday_do_not_count() -> None:
    friday = _friday(16)
    monday = friday + timedelta(days=3)
    policy = office_hours(holidays=[monday.date().isoformat()])

    # Friday 16:00 to 17:00, nothing on the weekend nor the Monday holiday, Tuesday 09:00 to 10:00.
    assert business_seconds_between(policy, friday, friday + timedelta(days=4, hours=-6)) == 2 * 3600
    assert business_seconds_between(policy, friday, friday) == 0
    assert business_seconds_between(policy, friday, friday - timedelta(hours=1)) == 0
    assert (
        business_seconds_between(
            office_hours(business_start=None, business_end=None, business_days=[]), friday, monday
        )
        == 3 * 86400
    )


@pytest.mark.django_db
def test_a_first_response_over_the_weekend_counts_its_business_hours_in_the_rollups() -> None:
    care = segment("customer-relations")
    SlaPolicy.objects.update_or_create(
        segment=care,
        defaults={
            "enabled": True,
            "timezone": "Europe/Paris",
            "business_days": [0, 1, 2, 3, 4],
            "business_start": time(9),
            "business_end": time(17),
            "first_response_minutes": 60,
            "holidays": [],
        },
    )
    channel = ChannelFactory(segment=care)
    admin = UserFactory(username="root", admin=True)
    received = _friday(16, 30)
    answered = datetime.combine(received.date() + timedelta(days=3), time(9, 30), tzinfo=PARIS)  # Monday
    with time_machine.travel(received, tick=False) as clock:
        mentions_ingest(channel=channel, posts=[make_post(1, text="@brand where is my parcel?")])
        mention = Mention.objects.get()
        Mention.objects.filter(pk=mention.pk).update(decision={**mention.decision, "segment": care.slug})
        clock.move_to(answered)
        reply_create(actor=admin, mention=mention, text="Sorry, looking now.")
        states_refresh([mention.pk])

    state = MentionState.objects.get()
    wall = int((answered - received).total_seconds())
    assert (state.frt_seconds, state.frt_business_seconds, state.sla) == (wall, 3600, 1)
    row = HourRollup.objects.get()
    assert (row.frt_count, row.frt_business_seconds, row.sla_measured, row.sla_answered) == (1, 3600, 1, 1)
    assert date.fromisoformat(str(state.first_reply_day)) == answered.astimezone(UTC).date()
