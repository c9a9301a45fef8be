"""The weekly digest email: a lead's teams' headline numbers for last week (against the week before) and the
week's worst SLA misses. Off by default; each lead or admin switches it on for themselves on the report
pages. Beat sends it on Monday morning (``reports.tasks.digests_send_task``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from foundation.models import DomainEvent
from inbox.models import Mention, Reply
from inbox.sla import KIND_NAMES, RESOLUTION
from reports.models import DigestSubscription
from reports.selectors import (
    ReportAccessDenied,
    ReportFilters,
    Totals,
    day_start,
    report_team_scope,
    report_totals,
)
from teams.models import Team

WORST_MISSES = 5  # a digest names the few breaches worth a look, not all of them


@dataclass(frozen=True)
class SlaMiss:
    """A breached SLA clock: how long past its deadline the mention waited (until answered, closed, or the
    end of the week when it still waits)."""

    mention_id: int
    handle: str
    team: str
    kind: str
    due_at: datetime
    late_seconds: int
    still_waiting: bool


def digest_enabled(*, user: Any) -> bool:
    return DigestSubscription.objects.filter(user_id=user.pk, enabled=True).exists()


def digest_set(*, user: Any, enabled: bool) -> DigestSubscription:
    """Switch the user's weekly digest on or off."""
    subscription, _ = DigestSubscription.objects.update_or_create(user=user, defaults={"enabled": enabled})
    return subscription


def week_before(now: datetime) -> tuple[date, date]:
    """The last whole week (Monday to the next Monday, UTC) before ``now``."""
    monday = now.astimezone(UTC).date() - timedelta(days=now.astimezone(UTC).weekday())
    return monday - timedelta(days=7), monday


def sla_misses_worst(
    *, user: Any, start: datetime, end: datetime, limit: int = WORST_MISSES
) -> list[SlaMiss]:
    """The SLA breaches raised in [start, end) on mentions of the user's teams (every team for admins), the
    longest past their deadline first. Reads the breach events (the audit trail), their mentions and
    replies."""
    scope = report_team_scope(user)
    events = DomainEvent.objects.filter(
        verb="sla.breached",
        created_at__gte=start,
        created_at__lt=end,
        object_type=ContentType.objects.get_for_model(Mention),
    ).values_list("object_id", "after")
    breaches = [(int(object_id), after) for object_id, after in events if str(object_id).isdigit()]
    mentions = Mention.objects.filter(pk__in={m for m, _ in breaches}).select_related("author", "team")
    if scope is not None:
        mentions = mentions.filter(team_id__in=scope)
    by_id = {m.pk: m for m in mentions}
    replies: dict[int, list[datetime]] = {}
    for mention_id, created_at in (
        Reply.objects.filter(mention_id__in=by_id)
        .exclude(state=Reply.State.REJECTED)
        .order_by("created_at")
        .values_list("mention_id", "created_at")
    ):
        replies.setdefault(mention_id, []).append(created_at)
    misses = []
    for mention_id, after in breaches:
        mention = by_id.get(mention_id)
        due_at = parse_datetime(str(after.get("due_at", ""))) if isinstance(after, dict) else None
        if mention is None or due_at is None:
            continue
        kind = after.get("kind", "")
        stops = [c for c in [mention.closed_at] if c is not None and c >= due_at]
        if kind != RESOLUTION:
            stops += [r for r in replies.get(mention_id, []) if r >= due_at][:1]
        stop = min(stops) if stops else None
        misses.append(
            SlaMiss(
                mention_id=mention_id,
                handle=mention.author.handle,
                team=mention.team.name if mention.team else "No team",
                kind=KIND_NAMES.get(kind, "SLA"),
                due_at=due_at,
                late_seconds=max(0, int(((stop or end) - due_at).total_seconds())),
                still_waiting=stop is None,
            )
        )
    misses.sort(key=lambda m: (-m.late_seconds, m.mention_id))
    return misses[:limit]


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "no first responses"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _totals_line(name: str, now: Totals, before: Totals) -> str:
    sla = "no SLA policy" if now.sla_share is None else f"{100 * now.sla_share:.0f}% within SLA"
    return (
        f"{name}: {now.received:,} received (week before: {before.received:,}), {now.handled:,} handled, "
        f"first response median {_hours(now.first_response.median)}, {sla}, "
        f"{now.breaches:,} SLA breach{'' if now.breaches == 1 else 'es'}"
    )


def digest_compose(*, user: Any, week: tuple[date, date]) -> tuple[str, str]:
    """The subject and plain-text body of the user's digest of ``week`` (Monday, next Monday)."""
    scope = report_team_scope(user)
    start, end = day_start(week[0]), day_start(week[1])
    this_week = ReportFilters(start, end)
    teams = Team.objects.order_by("name")
    if scope is not None:
        teams = teams.filter(pk__in=scope)
    lines = [
        f"Your teams' week, {week[0]:%d %b} to {week[1] - timedelta(days=1):%d %b %Y} (UTC).",
        "",
        _totals_line(
            "All your teams" if scope is not None else "All teams",
            report_totals(user=user, filters=this_week),
            report_totals(user=user, filters=this_week.previous()),
        ),
    ]
    for team in teams:
        one = ReportFilters(start, end, team_ids=(team.pk,))
        lines.append(
            _totals_line(
                team.name,
                report_totals(user=user, filters=one),
                report_totals(user=user, filters=one.previous()),
            )
        )
    base = settings.SOCIALOPS_BASE_URL
    misses = sla_misses_worst(user=user, start=start, end=end)
    lines += ["", "The week's worst SLA misses:" if misses else "No SLA breach this week."]
    for miss in misses:
        waited = "still waiting at the end of the week" if miss.still_waiting else "late"
        lines.append(
            f"- @{miss.handle} ({miss.team}): {miss.kind.lower()} {_hours(miss.late_seconds)} {waited}"
            + (f" {base}{reverse('inbox:index')}?open={miss.mention_id}" if base else "")
        )
    reports_url = f"{base}{reverse('reports:overview')}" if base else reverse("reports:overview")
    lines += [
        "",
        f"The reports: {reports_url}",
        "You get this because you switched the weekly digest on in the reports; switch it off there.",
    ]
    subject = f"[socialops] Your week: {report_totals(user=user, filters=this_week).received:,} mentions"
    return subject, "\n".join(lines)


def digests_send(*, now: datetime | None = None) -> int:
    """Email last week's digest to everyone who switched it on and still reads reports; returns how many
    were sent. Each subscription is locked, sent and marked with its week in one transaction, so a second
    run (or one beside it) sends no one the same week twice; a failed send is tried again on the next run."""
    now = now or timezone.now()
    week = week_before(now)
    sent = 0
    for subscription_id in DigestSubscription.objects.filter(enabled=True).values_list("pk", flat=True):
        with transaction.atomic():
            subscription = (
                DigestSubscription.objects.select_for_update(skip_locked=True)
                .select_related("user")
                .filter(pk=subscription_id, enabled=True)
                .first()
            )
            if subscription is None or subscription.last_week == week[0]:
                continue
            user = subscription.user
            if not user.is_active or not user.email:
                continue
            try:
                subject, body = digest_compose(user=user, week=week)
            except ReportAccessDenied:
                continue  # no longer a lead: the switch stays, the email stops
            send_mail(subject, body, None, [user.email])
            subscription.last_week = week[0]
            subscription.save(update_fields=["last_week"])
            sent += 1
    return sent
