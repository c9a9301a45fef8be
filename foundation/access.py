"""Who may do what: the one access policy every action checks, as pure functions over an ``Actor``.

``teams.roles.actor_of`` builds the ``Actor`` for a user (one query per fact, remembered for the request);
the functions here read only it, so the rules are cheap to test and the same for pages, the API and bulk.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: a person (their id, whether they are an admin, the teams they are in and lead), or the
    system (``user_id`` None: beat, the ingest), which may do everything."""

    user_id: int | None
    is_admin: bool = False
    team_ids: frozenset[int] = frozenset()
    led_team_ids: frozenset[int] = frozenset()


SYSTEM = Actor(user_id=None, is_admin=True)


def may_work_on(actor: Actor, *, team_id: int | None) -> bool:
    """Act on a mention of ``team_id`` (assign, close, label, reply, ...): its team's members and admins.
    A mention of no team is the admins' until it is routed."""
    return actor.is_admin or (team_id is not None and team_id in actor.team_ids)


def may_lead(actor: Actor, *, team_id: int | None) -> bool:
    """Decide for a team (approve replies, decide who owns a post, manage people): its leads and admins."""
    return actor.is_admin or (team_id is not None and team_id in actor.led_team_ids)


def may_reroute(actor: Actor, *, team_id: int | None, receiving_team_ids: Iterable[int]) -> bool:
    """Move a mention to another team. A mention with a team: that team's members. A mention of no team
    (routing found none): admins, and members or leads of the teams of the channels that received it, never
    anyone else, or any agent could pull posts of accounts they do not work on into their own queue."""
    if team_id is not None:
        return may_work_on(actor, team_id=team_id)
    if actor.is_admin:
        return True
    return bool((actor.team_ids | actor.led_team_ids) & set(receiving_team_ids))


def may_answer_escalation(actor: Actor, *, to_team_id: int) -> bool:
    """Accept or bounce an escalation: members of the team it was escalated to, and admins."""
    return may_work_on(actor, team_id=to_team_id)


def may_be_assigned(assignee: Actor, *, team_id: int | None) -> bool:
    """Whether a mention of ``team_id`` can be given to this person: its members, and admins."""
    return may_work_on(assignee, team_id=team_id)


def may_set_away(actor: Actor, *, user_id: int, user_team_ids: Iterable[int]) -> bool:
    """Mark someone away or back: the person, a lead of one of their teams, or an admin."""
    return actor.is_admin or actor.user_id == user_id or bool(actor.led_team_ids & set(user_team_ids))
