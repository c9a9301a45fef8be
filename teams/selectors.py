"""Reads for the team pages: who is in a team, how loaded they are, and how its queue is doing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Min, Q, QuerySet

from channels.models import Channel
from inbox.models import Mention
from routing.models import Escalation
from teams.models import ChannelHandover, Membership, Team
from teams.roles import user_is_admin, user_team_ids

OPEN_STATUSES = (Mention.Status.NEW, Mention.Status.OPEN, Mention.Status.PENDING)


def teams_for(*, user: Any) -> QuerySet[Team]:
    """The teams whose page the user may open: admins all, everyone else their own."""
    teams = Team.objects.order_by("name")
    return teams if user_is_admin(user) else teams.filter(pk__in=user_team_ids(user))


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


@dataclass(frozen=True)
class AccountRow:
    """A brand account on its team's page; ``give_back_to`` is set when the team holds it by hand."""

    channel: Channel
    give_back_to: Team | None


def team_accounts(*, team: Team) -> list[AccountRow]:
    """The team's brand accounts, each with where "give back" would send it when the team holds it by hand:
    the team a crisis take-over took it from, else its segment's team."""
    channels = list(
        Channel.objects.filter(Q(team_override=team) | Q(team_override=None, segment__team=team))
        .select_related("segment__team")
        .order_by("handle")
    )
    taken_from = {
        h.channel_id: h.from_team
        for h in ChannelHandover.objects.filter(
            channel__in=channels, state=ChannelHandover.State.TAKEN, to_team=team
        ).select_related("from_team")
    }
    return [
        AccountRow(c, taken_from.get(c.pk, c.segment.team) if c.team_override_id == team.pk else None)
        for c in channels
    ]


@dataclass(frozen=True)
class TeamHandovers:
    """What the team page shows of hand-overs: those waiting for this team's answer, those it started and
    that wait for the other team, and its accounts the crisis team holds."""

    to_answer: list[ChannelHandover]
    started: list[ChannelHandover]
    taken_in_crisis: list[ChannelHandover]


def team_handovers(*, team: Team) -> TeamHandovers:
    Kind = ChannelHandover.Kind
    rows = list(
        ChannelHandover.objects.filter(
            Q(from_team=team) | Q(to_team=team),
            state__in=(ChannelHandover.State.PENDING, ChannelHandover.State.TAKEN),
        )
        .select_related("channel__segment", "from_team", "to_team", "requested_by")
        .order_by("created_at", "id")
    )
    pending = [h for h in rows if h.state == ChannelHandover.State.PENDING]
    return TeamHandovers(
        to_answer=[h for h in pending if h.answering_team_id == team.pk],
        started=[h for h in pending if h.initiating_team_id == team.pk],
        taken_in_crisis=[h for h in rows if h.kind == Kind.CRISIS and h.from_team_id == team.pk],
    )


def team_handover_get(*, team: Team, handover_id: int, answering: bool) -> ChannelHandover:
    """A waiting hand-over this team answers (accept, decline) or, with ``answering`` false, started
    (withdraw). Any other id, another team's included, raises ``ChannelHandover.DoesNotExist``."""
    Kind = ChannelHandover.Kind
    if answering:
        side = Q(kind=Kind.OFFER, to_team=team) | Q(kind=Kind.REQUEST, from_team=team)
    else:
        side = Q(kind=Kind.OFFER, from_team=team) | Q(kind=Kind.REQUEST, to_team=team)
    return (
        ChannelHandover.objects.filter(side, state=ChannelHandover.State.PENDING)
        .select_related("channel", "from_team", "to_team")
        .get(pk=handover_id)
    )


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
    from inbox.models import SlaPolicy
    from inbox.sla import sla_at_risk_count

    has_policy = SlaPolicy.objects.filter(enabled=True, segment__team=team).exists()
    at_risk = sla_at_risk_count(team_id=team.pk) if has_policy else None
    return QueueHealth(counts["open"], counts["unassigned"], counts["oldest"], waiting, at_risk)
