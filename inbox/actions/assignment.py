"""Handing mentions to people: auto-assignment of team queues (``inbox.workload`` chooses who), and
mentions going back to the queue when their assignee goes away or leaves the team; a lead choosing how the
team's queue is handed out, and taking someone off the team, which returns their mentions.

Round-robin gives each available person the next mention in turn; load-balanced gives it to whoever has the
most room. Both go oldest first, never past a person's capacity (their open mentions in that team), and skip
people who are away. A mention nobody has room for waits in the queue; beat retries every minute.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from foundation.access import may_set_away
from foundation.events import event_record, events_record_many
from foundation.live import event_publish
from inbox.models import Mention
from inbox.workload import (
    BATCH_MAX,
    LOAD_STATUSES,
    QUEUED_STATUSES,
    load_balanced,
    people_with_room,
    round_robin,
)
from teams.models import Membership, Team
from teams.roles import actor_of
from teams.services import TeamActionError, check_lead


def mentions_auto_assign(
    *, mention_ids: Sequence[int] | None = None, team_ids: Sequence[int] | None = None
) -> dict[int, int]:
    """Hand queued mentions of auto-assigning teams to people with room; returns {mention id: user id}.

    With ``mention_ids``, only those are considered (the ingest's new mentions); otherwise every queued
    mention of those teams, oldest first. Safe to repeat and to run concurrently: each team's row is locked
    while its mentions are handed out, and only mentions still unassigned are written.
    """
    teams = Team.objects.exclude(assignment=Team.Assignment.MANUAL)
    if team_ids is not None:
        teams = teams.filter(pk__in=team_ids)
    with transaction.atomic():
        locked = {t.pk: t for t in teams.select_for_update().order_by("pk")}
        if not locked:
            return {}
        # Spam is handed to nobody: it is out of the queues.
        queued = Mention.objects.filter(
            team_id__in=list(locked), assignee=None, status__in=QUEUED_STATUSES
        ).exclude(intent=Mention.SPAM_INTENT)
        if mention_ids is not None:
            queued = queued.filter(pk__in=list(mention_ids))
        rows = list(
            queued.select_for_update(skip_locked=True, of=("self",))
            .order_by("created_at", "id")
            .only("id", "team_id", "status", "network", "external_id")[:BATCH_MAX]
        )
        if not rows:
            return {}
        by_team: dict[int, list[int]] = defaultdict(list)
        for m in rows:
            by_team[m.team_id].append(m.pk)
        people = people_with_room(list(by_team))
        chosen: dict[int, int] = {}
        for team_id, mentions in by_team.items():
            team = locked[team_id]
            if team.assignment == Team.Assignment.ROUND_ROBIN:
                picked = round_robin(mentions, people.get(team_id, []), team.last_assigned_user_id)
                if picked:
                    team.last_assigned_user_id = picked[mentions[len(picked) - 1]]
                    team.save(update_fields=["last_assigned_user"])
            else:
                picked = load_balanced(mentions, people.get(team_id, []))
            chosen.update(picked)
        if not chosen:
            return {}
        now = timezone.now()
        assigned = [m for m in rows if m.pk in chosen]
        for m in assigned:
            m.assignee_id = chosen[m.pk]
            m.status = Mention.Status.OPEN
            m.updated_at = now
        Mention.objects.bulk_update(assigned, ["assignee", "status", "updated_at"], batch_size=1000)
        events_record_many(
            actor=None,
            verb="mention.auto_assigned",
            objects=assigned,
            before=[{"assignee": None}] * len(assigned),
            after=[{"assignee": chosen[m.pk], "mode": locked[m.team_id].assignment} for m in assigned],
        )
        ids = sorted(chosen)
        teams_touched = sorted({m.team_id for m in assigned})
        transaction.on_commit(
            lambda: event_publish("mentions.assigned", {"ids": ids, "teams": teams_touched, "actor": ""})
        )
    return chosen


def member_set_away(*, actor: Any, user: Any, is_away: bool) -> list[int]:
    """Mark a person away (or back) in all their teams. Going away returns their open mentions to their teams'
    queues, where auto-assignment hands them to others; returns those mention ids."""
    theirs = set(Membership.objects.filter(user=user).values_list("team_id", flat=True))
    if not may_set_away(actor_of(actor), user_id=user.pk, user_team_ids=theirs):
        raise PermissionError(
            "Only the person, a lead of their team or an admin can change their away state."
        )
    now = timezone.now()
    returned: list[int] = []
    with transaction.atomic():
        Membership.objects.filter(user=user).update(is_away=is_away, away_since=now if is_away else None)
        if is_away:
            mentions = list(
                Mention.objects.select_for_update(of=("self",))
                .filter(assignee=user, status__in=LOAD_STATUSES)
                .only("id", "team_id", "network", "external_id")
            )
            returned = [m.pk for m in mentions]
            _returned_to_queue(actor, mentions, user, reason="away")
        event_record(actor=actor, verb="member.away" if is_away else "member.back", obj=user)
        if returned:
            mentions_auto_assign(mention_ids=returned)
    return returned


def mentions_return_to_queue(*, actor: Any, team_id: int, assignee_id: int, reason: str) -> list[int]:
    """Someone left the team: their open mentions in it go back to its queue (handed out again when the
    team assigns automatically). In the caller's transaction; returns the mention ids."""
    mentions = list(
        Mention.objects.select_for_update(of=("self",))
        .filter(team_id=team_id, assignee_id=assignee_id, status__in=LOAD_STATUSES)
        .only("id", "team_id", "network", "external_id")
    )
    _returned_to_queue(actor, mentions, None, reason=reason, assignee_id=assignee_id)
    if mentions:
        mentions_auto_assign(mention_ids=[m.pk for m in mentions])
    return [m.pk for m in mentions]


def _returned_to_queue(
    actor: Any, mentions: Sequence[Mention], user: Any, *, reason: str, assignee_id: int | None = None
) -> None:
    if not mentions:
        return
    assignee_id = user.pk if user is not None else assignee_id
    ids = [m.pk for m in mentions]
    Mention.objects.filter(pk__in=ids).update(assignee=None, updated_at=timezone.now())
    events_record_many(
        actor=actor,
        verb="mention.returned_to_queue",
        objects=mentions,
        before=[{"assignee": assignee_id}] * len(mentions),
        after=[{"assignee": None, "reason": reason}] * len(mentions),
    )
    teams_touched = sorted({m.team_id for m in mentions if m.team_id})
    username = getattr(actor, "username", "")
    transaction.on_commit(
        lambda: event_publish("mentions.returned", {"ids": ids, "teams": teams_touched, "actor": username})
    )


def team_member_remove(*, actor: Any, membership: Membership) -> None:
    """Take someone off a team; their open mentions in it go back to its queue."""
    team = membership.team
    check_lead(actor, team)
    with transaction.atomic():
        user_id, role = membership.user_id, membership.role
        # Off the team first: the queue is handed out again without them.
        membership.delete()
        returned = mentions_return_to_queue(
            actor=actor, team_id=team.pk, assignee_id=user_id, reason="left the team"
        )
        event_record(
            actor=actor,
            verb="team.member_removed",
            obj=team,
            before={"user": user_id, "role": role},
            after={"returned_to_queue": len(returned)},
        )


def team_assignment_set(*, actor: Any, team: Team, mode: str) -> Team:
    """Choose how the team's queue is handed out; switching to an automatic mode hands out the queue now."""
    check_lead(actor, team)
    if mode not in Team.Assignment.values:
        raise TeamActionError(f"Unknown assignment mode {mode!r}.")
    with transaction.atomic():
        before = team.assignment
        team.assignment = mode
        team.save(update_fields=["assignment"])
        event_record(
            actor=actor,
            verb="team.assignment_changed",
            obj=team,
            before={"mode": before},
            after={"mode": mode},
        )
        if mode != Team.Assignment.MANUAL:
            mentions_auto_assign(team_ids=[team.pk])
    return team
