"""What team leads (and admins) change about a team: people, capacity, assignment mode, channels.

A lead manages only the teams they lead; admins manage every team. Each change writes an audit event.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from channels.models import Channel
from inbox.audit import audit_record
from teams.models import Membership, Team
from teams.roles import user_is_admin, user_leads_team, user_name

CAPACITY_MAX = 500


class TeamActionError(ValueError):
    """A change this user cannot make, or that makes no sense; the message says why."""


def user_leads(user: Any, team: Team) -> bool:
    return user_leads_team(user, team.pk)


def _check_lead(actor: Any, team: Team) -> None:
    if not user_leads(actor, team):
        raise TeamActionError(f"Only a lead of {team} or an admin can change it.")


def team_member_add(
    *, actor: Any, team: Team, user: Any, role: str = Membership.Role.AGENT, capacity: int = 20
):
    _check_lead(actor, team)
    if role not in Membership.Role.values:
        raise TeamActionError(f"Unknown role {role!r}.")
    if not 1 <= capacity <= CAPACITY_MAX:
        raise TeamActionError(f"Capacity is between 1 and {CAPACITY_MAX} open mentions.")
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(
            user=user, team=team, defaults={"role": role, "capacity": capacity}
        )
        if not created:
            raise TeamActionError(f"{user_name(user)} is already in {team}.")
        audit_record(actor=actor, verb="team.member_added", obj=team, after={"user": user.pk, "role": role})
    return membership


def team_member_update(
    *, actor: Any, membership: Membership, role: str | None = None, capacity: int | None = None
):
    _check_lead(actor, membership.team)
    before = {"role": membership.role, "capacity": membership.capacity}
    if role is not None:
        if role not in Membership.Role.values:
            raise TeamActionError(f"Unknown role {role!r}.")
        if (
            membership.user_id == actor.pk
            and role != Membership.Role.LEAD
            and not user_is_admin(actor)
            and not Membership.objects.filter(team=membership.team, role=Membership.Role.LEAD)
            .exclude(pk=membership.pk)
            .exists()
        ):
            raise TeamActionError("A team keeps at least one lead: make someone else lead first.")
        membership.role = role
    if capacity is not None:
        if not 1 <= capacity <= CAPACITY_MAX:
            raise TeamActionError(f"Capacity is between 1 and {CAPACITY_MAX} open mentions.")
        membership.capacity = capacity
    with transaction.atomic():
        membership.save(update_fields=["role", "capacity"])
        audit_record(
            actor=actor,
            verb="team.member_changed",
            obj=membership.team,
            before={"user": membership.user_id, **before},
            after={"user": membership.user_id, "role": membership.role, "capacity": membership.capacity},
        )
    return membership


def team_member_remove(*, actor: Any, membership: Membership) -> None:
    """Take someone off a team; their open mentions in it go back to its queue."""
    from inbox.models import Mention
    from teams.assignment import LOAD_STATUSES, mentions_auto_assign

    team = membership.team
    _check_lead(actor, team)
    with transaction.atomic():
        returned = list(
            Mention.objects.filter(
                team=team, assignee_id=membership.user_id, status__in=LOAD_STATUSES
            ).values_list("id", flat=True)
        )
        Mention.objects.filter(pk__in=returned).update(assignee=None)
        audit_record(
            actor=actor,
            verb="team.member_removed",
            obj=team,
            before={"user": membership.user_id, "role": membership.role},
            after={"returned_to_queue": len(returned)},
        )
        membership.delete()
        if returned:
            mentions_auto_assign(mention_ids=returned)


def team_assignment_set(*, actor: Any, team: Team, mode: str) -> Team:
    """Choose how the team's queue is handed out; switching to an automatic mode hands out the queue now."""
    from teams.assignment import mentions_auto_assign

    _check_lead(actor, team)
    if mode not in Team.Assignment.values:
        raise TeamActionError(f"Unknown assignment mode {mode!r}.")
    with transaction.atomic():
        before = team.assignment
        team.assignment = mode
        team.save(update_fields=["assignment"])
        audit_record(
            actor=actor,
            verb="team.assignment_changed",
            obj=team,
            before={"mode": before},
            after={"mode": mode},
        )
        if mode != Team.Assignment.MANUAL:
            mentions_auto_assign(team_ids=[team.pk])
    return team


def channel_assign(*, actor: Any, team: Team, channel: Channel) -> Channel:
    """The team owns the brand account from now on (its posts are routed as received by this team)."""
    _check_lead(actor, team)
    with transaction.atomic():
        before = channel.owning_team_id
        channel.team_override = None if channel.segment.team_id == team.pk else team
        channel.save(update_fields=["team_override"])
        audit_record(
            actor=actor,
            verb="channel.team_assigned",
            obj=channel,
            before={"team": before},
            after={"team": team.pk},
        )
    return channel


def channel_release(*, actor: Any, team: Team, channel: Channel) -> Channel:
    """Give a channel back to its segment's team."""
    _check_lead(actor, team)
    if channel.team_override_id != team.pk:
        raise TeamActionError(
            f"{channel.handle} is not assigned to {team} by hand; there is nothing to release."
        )
    with transaction.atomic():
        channel.team_override = None
        channel.save(update_fields=["team_override"])
        audit_record(
            actor=actor,
            verb="channel.team_released",
            obj=channel,
            before={"team": team.pk},
            after={"team": channel.segment.team_id},
        )
    return channel
