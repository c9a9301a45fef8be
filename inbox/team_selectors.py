"""Reads for the team pages about the team's work: each member's open load, and how its queue is doing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Min, Q

from inbox.models import Mention, SlaPolicy
from inbox.sla import sla_at_risk_count
from routing.models import Escalation
from teams.models import Membership, Team

OPEN_STATUSES = (Mention.Status.NEW, Mention.Status.OPEN, Mention.Status.PENDING)


@dataclass(frozen=True)
class MemberRow:
    membership: Membership
    open_load: int

    @property
    def is_full(self) -> bool:
        return self.open_load >= self.membership.capacity


@dataclass(frozen=True)
class QueueHealth:
    open: int
    unassigned: int
    oldest_waiting: datetime | None
    escalations_waiting: int
    sla_at_risk: int | None  # None until SLA policies exist for the team's segments


def team_members(*, team: Team) -> list[MemberRow]:
    loads = dict(
        Mention.objects.filter(team=team, assignee__isnull=False, status__in=OPEN_STATUSES)
        .exclude(intent=Mention.SPAM_INTENT)
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    memberships = (
        Membership.objects.filter(team=team).select_related("user").order_by("-role", "user__username")
    )
    return [MemberRow(m, loads.get(m.user_id, 0)) for m in memberships]


def team_health(*, team: Team) -> QueueHealth:
    counts = (
        Mention.objects.filter(team=team, status__in=OPEN_STATUSES)
        .exclude(intent=Mention.SPAM_INTENT)
        .aggregate(
            open=Count("id"),
            unassigned=Count("id", filter=Q(assignee=None)),
            oldest=Min("created_at", filter=Q(assignee=None)),
        )
    )
    waiting = Escalation.objects.filter(
        to_team=team, state__in=(Escalation.State.PENDING, Escalation.State.ESCALATED_TO_LEAD)
    ).count()
    has_policy = SlaPolicy.objects.filter(enabled=True, segment__team=team).exists()
    at_risk = sla_at_risk_count(team_id=team.pk) if has_policy else None
    return QueueHealth(counts["open"], counts["unassigned"], counts["oldest"], waiting, at_risk)
