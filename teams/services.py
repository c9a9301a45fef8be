"""What team leads (and admins) change about a team's people: who is in it, their role and capacity.

A lead manages only the teams they lead; admins manage every team. Each change writes an audit event. What a
change does to mentions lives with the mentions: taking someone off a team and choosing how its queue is
handed out are ``inbox.actions.assignment``; brand accounts changing team are ``routing.handovers``.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from foundation.access import may_lead
from foundation.events import event_record
from teams.models import Membership, Team
from teams.roles import actor_of, user_is_admin, user_name

CAPACITY_MAX = 500


class TeamActionError(ValueError):
    """A change this user cannot make, or that makes no sense; the message says why."""


def user_leads(user: Any, team: Team) -> bool:
    return may_lead(actor_of(user), team_id=team.pk)


def check_lead(actor: Any, team: Team) -> None:
    if not user_leads(actor, team):
        raise TeamActionError(f"Only a lead of {team} or an admin can change it.")


def team_member_add(
    *, actor: Any, team: Team, user: Any, role: str = Membership.Role.AGENT, capacity: int = 20
):
    check_lead(actor, team)
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
        event_record(actor=actor, verb="team.member_added", obj=team, after={"user": user.pk, "role": role})
    return membership


def team_member_update(
    *, actor: Any, membership: Membership, role: str | None = None, capacity: int | None = None
):
    check_lead(actor, membership.team)
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
        event_record(
            actor=actor,
            verb="team.member_changed",
            obj=membership.team,
            before={"user": membership.user_id, **before},
            after={"user": membership.user_id, "role": membership.role, "capacity": membership.capacity},
        )
    return membership
