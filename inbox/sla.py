"""SLA clocks: first response, next response and resolution targets per segment, in business hours.

A clock starts for a mention shortly after it arrives (the SLA tick, every minute, takes new mentions in id
order): its segment is the one routing decided owns it, else the account's that received it. The deadline
counts only business hours of the segment's policy (days, start and end, time zone, holidays) from when the
post was received. A reply switches the clock from first (or next) response to resolution; closing stops it.
Before a breach the mention turns "warning"; on breach it is raised to the team's leads, or the admins
when the team has none (priority, label, audit, live event, email: teams.roles.team_leaders).

This module computes (deadlines in business hours, policies); ``inbox.actions.sla`` writes the clocks.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import Q

from inbox.models import Mention, MentionChannel, SlaPolicy

logger = logging.getLogger(__name__)

FIRST_RESPONSE = "first_response"
NEXT_RESPONSE = "next_response"
RESOLUTION = "resolution"
KIND_NAMES = {FIRST_RESPONSE: "First response", NEXT_RESPONSE: "Next response", RESOLUTION: "Resolution"}
WARNING, BREACHED = "warning", "breached"
SETTLE = timedelta(seconds=60)  # mentions younger than this may still be in an uncommitted ingest
START_BATCH = 5000
OPEN_STATUSES = (Mention.Status.NEW, Mention.Status.OPEN, Mention.Status.PENDING, Mention.Status.SNOOZED)
MAX_DAYS_SEARCHED = 400  # a policy whose every day is a holiday has no deadline within a year


class SlaPolicyError(ValueError):
    """A policy that cannot be computed with (unknown time zone, end before start)."""


def _zone(policy: SlaPolicy) -> ZoneInfo:
    try:
        return ZoneInfo(policy.timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise SlaPolicyError(
            f"Unknown time zone {policy.timezone!r}; use a name like Europe/Paris."
        ) from None


def _business_hours(policy: SlaPolicy, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """The policy's business hours from ``start`` on, as (opens, closes) intervals in the policy's zone, the
    first one clipped to ``start``; none after ``MAX_DAYS_SEARCHED`` days. The one calendar both the SLA
    clocks (``business_deadline``) and the reports (``business_seconds_between``) count in."""
    days = set(policy.business_days or range(7))
    holidays = {date.fromisoformat(d) for d in policy.holidays or []}
    around_the_clock = policy.business_start is None or policy.business_end is None
    zone = _zone(policy)
    local = start.astimezone(zone)
    day = local.date()
    for _ in range(MAX_DAYS_SEARCHED):
        if day.weekday() in days and day not in holidays:
            opens = datetime.combine(
                day, time.min if around_the_clock else policy.business_start, tzinfo=zone
            )
            closes = (
                datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone)
                if around_the_clock
                else datetime.combine(day, policy.business_end, tzinfo=zone)
            )
            begin = max(opens, local)
            if begin < closes:
                yield begin, closes
        day += timedelta(days=1)


def _always_open(policy: SlaPolicy) -> bool:
    days = set(policy.business_days or range(7))
    around_the_clock = policy.business_start is None or policy.business_end is None
    return around_the_clock and days == set(range(7)) and not policy.holidays


def business_deadline(policy: SlaPolicy, start: datetime, minutes: int) -> datetime | None:
    """``start`` plus ``minutes`` of the policy's business time; None if none comes within a year."""
    if _always_open(policy):
        return start + timedelta(minutes=minutes)
    left = timedelta(minutes=minutes)
    for begin, closes in _business_hours(policy, start):
        if begin + left <= closes:
            return (begin + left).astimezone(start.tzinfo or ZoneInfo("UTC"))
        left -= closes - begin
    return None


def business_seconds_between(policy: SlaPolicy, start: datetime, end: datetime) -> int:
    """Whole seconds of the policy's business time from ``start`` to ``end`` (0 when ``end`` is not later):
    the inverse of ``business_deadline``, so a response at a mention's deadline took exactly its target."""
    if end <= start:
        return 0
    if _always_open(policy):
        return int((end - start).total_seconds())
    total = timedelta()
    for begin, closes in _business_hours(policy, start):
        if begin >= end:
            break
        total += min(closes, end) - begin
    return int(total.total_seconds())


def policy_validate(policy: SlaPolicy) -> dict[str, str]:
    """Field → message for what is wrong with a policy (empty when it is fine)."""
    errors = {}
    try:
        _zone(policy)
    except SlaPolicyError as exc:
        errors["timezone"] = str(exc)
    if (policy.business_start is None) != (policy.business_end is None):
        errors["business_end"] = (
            "Give both the start and the end of business hours, or neither (around the clock)."
        )
    elif policy.business_start and policy.business_end and policy.business_end <= policy.business_start:
        errors["business_end"] = "Business hours end after they start."
    if any(d not in range(7) for d in policy.business_days or []):
        errors["business_days"] = "Days are 0 (Monday) to 6 (Sunday)."
    for value in policy.holidays or []:
        try:
            date.fromisoformat(str(value))
        except ValueError:
            errors["holidays"] = f"{value!r} is not a date (YYYY-MM-DD)."
            break
    for name in ("first_response_minutes", "next_response_minutes", "resolution_minutes"):
        if getattr(policy, name) < 1:
            errors[name] = "At least one minute."
    return errors


def clock_of(policy: SlaPolicy, kind: str, received_at: datetime) -> tuple[datetime | None, datetime | None]:
    minutes = {
        FIRST_RESPONSE: policy.first_response_minutes,
        NEXT_RESPONSE: policy.next_response_minutes,
        RESOLUTION: policy.resolution_minutes,
    }[kind]
    due = business_deadline(policy, received_at, minutes)
    if due is None:
        return None, None
    return due - timedelta(minutes=policy.warn_before_minutes), due


def policies_enabled() -> dict[str, SlaPolicy]:
    return {p.segment.slug: p for p in SlaPolicy.objects.filter(enabled=True).select_related("segment")}


def segment_slug_of(mention: Mention) -> str | None:
    """The segment whose policy times the mention: routing's, else the first account it arrived on."""
    return (mention.decision or {}).get("segment") or (
        MentionChannel.objects.filter(mention=mention)
        .order_by("id")
        .values_list("channel__segment__slug", flat=True)
        .first()
    )


def sla_at_risk_count(*, team_id: int) -> int:
    """Open mentions of a team whose clock warns or is breached."""
    return (
        Mention.objects.filter(team_id=team_id, status__in=OPEN_STATUSES, sla_due_at__isnull=False)
        .exclude(intent=Mention.SPAM_INTENT)
        .filter(Q(sla_state=WARNING) | Q(sla_state=BREACHED))
        .count()
    )
