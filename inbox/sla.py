"""SLA clocks: first response, next response and resolution targets per segment, in business hours.

A clock starts for a mention shortly after it arrives (the SLA tick, every minute, takes new mentions in id
order): its segment is the one routing decided owns it, else the account's that received it. The deadline
counts only business hours of the segment's policy (days, start and end, time zone, holidays) from when the
post was received. A reply switches the clock from first (or next) response to resolution; closing stops it.
Before a breach the mention turns "warning"; on breach it is raised to the team's leads, or the admins
when the team has none (priority, label, audit, live event, email: teams.roles.team_leaders).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from foundation.events import events_record_many
from foundation.live import event_publish
from inbox.models import Mention, MentionChannel, Reply, SlaCursor, SlaPolicy

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


def business_deadline(policy: SlaPolicy, start: datetime, minutes: int) -> datetime | None:
    """``start`` plus ``minutes`` of the policy's business time; None if none comes within a year."""
    days = set(policy.business_days or range(7))
    holidays = {date.fromisoformat(d) for d in policy.holidays or []}
    around_the_clock = policy.business_start is None or policy.business_end is None
    if around_the_clock and days == set(range(7)) and not holidays:
        return start + timedelta(minutes=minutes)
    zone = _zone(policy)
    local = start.astimezone(zone)
    left = timedelta(minutes=minutes)
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
                if begin + left <= closes:
                    return (begin + left).astimezone(start.tzinfo or ZoneInfo("UTC"))
                left -= closes - begin
        day += timedelta(days=1)
    return None


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


def _clock(policy: SlaPolicy, kind: str, received_at: datetime) -> tuple[datetime | None, datetime | None]:
    minutes = {
        FIRST_RESPONSE: policy.first_response_minutes,
        NEXT_RESPONSE: policy.next_response_minutes,
        RESOLUTION: policy.resolution_minutes,
    }[kind]
    due = business_deadline(policy, received_at, minutes)
    if due is None:
        return None, None
    return due - timedelta(minutes=policy.warn_before_minutes), due


def _policies() -> dict[str, SlaPolicy]:
    return {p.segment.slug: p for p in SlaPolicy.objects.filter(enabled=True).select_related("segment")}


def sla_clocks_start(*, now: datetime | None = None, limit: int = START_BATCH) -> int:
    """Start the clocks of mentions that arrived since the last run; returns how many got one."""
    now = now or timezone.now()
    with transaction.atomic():
        cursor, _ = SlaCursor.objects.select_for_update().get_or_create(pk=1)
        rows = list(
            Mention.objects.filter(pk__gt=cursor.last_mention_id, received_at__lte=now - SETTLE)
            .order_by("pk")
            .values_list("pk", "received_at", "decision", "network", "conversation_key", "status", "intent")[
                :limit
            ]
        )
        if not rows:
            return 0
        cursor.last_mention_id = rows[-1][0]
        cursor.save(update_fields=["last_mention_id"])
        policies = _policies()
        if not policies:
            return 0
        ids = [r[0] for r in rows]
        received_on = {}
        for mention_id, slug in (
            MentionChannel.objects.filter(mention_id__in=ids)
            .order_by("id")
            .values_list("mention_id", "channel__segment__slug")
        ):
            received_on.setdefault(mention_id, slug)
        conversations = {(r[3], r[4]) for r in rows if r[4]}
        answered = set()
        if conversations:
            answered = set(
                Reply.objects.filter(
                    mention__conversation_key__in={c for _, c in conversations},
                    state__in=(Reply.State.QUEUED, Reply.State.SENT),
                ).values_list("mention__network", "mention__conversation_key")
            )
        updates = []
        for mention_id, received_at, decision, network, conversation, status, intent in rows:
            if status == Mention.Status.CLOSED or intent == Mention.SPAM_INTENT:
                continue
            slug = (decision or {}).get("segment") or received_on.get(mention_id)
            policy = policies.get(slug)
            if policy is None:
                continue
            kind = NEXT_RESPONSE if (network, conversation) in answered else FIRST_RESPONSE
            try:
                warn_at, due_at = _clock(policy, kind, received_at)
            except SlaPolicyError:
                logger.warning("SLA policy of %s has an unknown time zone; no clock started", slug)
                continue
            if due_at is not None:
                updates.append(Mention(pk=mention_id, sla_kind=kind, sla_warn_at=warn_at, sla_due_at=due_at))
        Mention.objects.bulk_update(updates, ["sla_kind", "sla_warn_at", "sla_due_at"], batch_size=1000)
    return len(updates)


def _segment_slug(mention: Mention) -> str | None:
    """The segment whose policy times the mention: routing's, else the first account it arrived on."""
    return (mention.decision or {}).get("segment") or (
        MentionChannel.objects.filter(mention=mention)
        .order_by("id")
        .values_list("channel__segment__slug", flat=True)
        .first()
    )


def sla_replied(*, mention: Mention) -> None:
    """A reply answers the first (or next) response target; the resolution clock runs from now on."""
    if mention.sla_kind not in (FIRST_RESPONSE, NEXT_RESPONSE):
        return
    policy = _policies().get(_segment_slug(mention))
    warn_at, due_at = _clock(policy, RESOLUTION, mention.received_at) if policy else (None, None)
    Mention.objects.filter(pk=mention.pk).update(
        sla_kind=RESOLUTION if due_at else "", sla_warn_at=warn_at, sla_due_at=due_at, sla_state=""
    )


def sla_clock_restart(*, mention: Mention) -> list[str]:
    """Give a mention back the clock it would have had from when it was received (it was taken for spam and
    is not): first response, next response in a conversation we answered, or resolution once it has a reply.
    Sets the fields on ``mention`` and returns their names; the caller saves them."""
    answered = (Reply.State.QUEUED, Reply.State.SENT)
    if Reply.objects.filter(mention=mention, state__in=answered).exists():
        kind = RESOLUTION
    elif (
        mention.conversation_key
        and Reply.objects.filter(
            mention__network=mention.network,
            mention__conversation_key=mention.conversation_key,
            state__in=answered,
        ).exists()
    ):
        kind = NEXT_RESPONSE
    else:
        kind = FIRST_RESPONSE
    slug = _segment_slug(mention)
    policy = _policies().get(slug)
    warn_at = due_at = None
    if policy is not None:
        try:
            warn_at, due_at = _clock(policy, kind, mention.received_at)
        except SlaPolicyError:
            logger.warning("SLA policy of %s has an unknown time zone; no clock started", slug)
    mention.sla_kind = kind if due_at else ""
    mention.sla_warn_at, mention.sla_due_at, mention.sla_state = warn_at, due_at, ""
    return ["sla_kind", "sla_warn_at", "sla_due_at", "sla_state"]


# Closing stops the clock; the state (met, or breached) stays as history.
SLA_STOPPED = {"sla_warn_at": None, "sla_due_at": None}


def sla_tick(*, now: datetime | None = None) -> tuple[list[int], list[int]]:
    """Start new clocks, then warn and raise breaches; returns (warned ids, breached ids). Safe to repeat:
    a mention is warned once and raised once per clock."""
    now = now or timezone.now()
    sla_clocks_start(now=now)
    # Spam runs no clock; this also stops one started before routing said it was spam.
    running = (
        Mention.objects.filter(sla_due_at__isnull=False, status__in=OPEN_STATUSES)
        .exclude(sla_state=BREACHED)
        .exclude(intent=Mention.SPAM_INTENT)
    )
    with transaction.atomic():
        breached = list(
            running.filter(sla_due_at__lte=now)
            .select_for_update(skip_locked=True, of=("self",))
            .only("id", "team_id", "network", "external_id", "sla_kind", "sla_due_at", "labels", "priority")[
                :1000
            ]
        )
        if breached:
            _breach(breached, now)
        warned = list(
            running.filter(sla_warn_at__lte=now, sla_due_at__gt=now)
            .exclude(sla_state=WARNING)
            .select_for_update(skip_locked=True, of=("self",))
            .only("id", "team_id", "network", "external_id", "sla_kind", "sla_due_at")[:1000]
        )
        if warned:
            Mention.objects.filter(pk__in=[m.pk for m in warned]).update(sla_state=WARNING)
            events_record_many(
                actor=None,
                verb="sla.warning",
                objects=warned,
                before=[{}] * len(warned),
                after=[{"kind": m.sla_kind, "due_at": m.sla_due_at.isoformat()} for m in warned],
            )
            _publish("sla.warning", warned)
    return [m.pk for m in warned], [m.pk for m in breached]


def _breach(mentions: list[Mention], now: datetime) -> None:
    from inbox.tasks import sla_breach_notify_task
    from inbox.triage import mentions_labels_append  # triage imports this module

    ids = [m.pk for m in mentions]
    Mention.objects.filter(pk__in=ids).update(sla_state=BREACHED)
    Mention.objects.filter(pk__in=ids, priority__lt=Mention.Priority.HIGH).update(
        priority=Mention.Priority.HIGH
    )
    mentions_labels_append(mentions, ["sla-breached"], now)
    events_record_many(
        actor=None,
        verb="sla.breached",
        objects=mentions,
        before=[{"priority": m.priority} for m in mentions],
        after=[
            {"kind": m.sla_kind, "due_at": m.sla_due_at.isoformat(), "raised_to": "team leads"}
            for m in mentions
        ],
    )
    _publish("sla.breached", mentions)
    for mention_id in ids:
        transaction.on_commit(lambda m=mention_id: sla_breach_notify_task.delay(m))


def _publish(kind: str, mentions: Iterable[Mention]) -> None:
    mentions = list(mentions)
    payload: dict[str, Any] = {
        "ids": [m.pk for m in mentions],
        "teams": sorted({m.team_id for m in mentions if m.team_id}),
        "actor": "",
    }
    transaction.on_commit(lambda: event_publish(kind, payload))


def sla_at_risk_count(*, team_id: int) -> int:
    """Open mentions of a team whose clock warns or is breached."""
    return (
        Mention.objects.filter(team_id=team_id, status__in=OPEN_STATUSES, sla_due_at__isnull=False)
        .exclude(intent=Mention.SPAM_INTENT)
        .filter(Q(sla_state=WARNING) | Q(sla_state=BREACHED))
        .count()
    )
