"""Auto-assignment: teams that do not assign by hand get their queued mentions handed to available people.

Round-robin gives each available person the next mention in turn; load-balanced gives it to whoever has the
most room. Both go oldest first, never past a person's capacity (their open mentions in that team), and skip
people who are away. A mention nobody has room for waits in the queue; beat retries every minute.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from foundation.events import events_record_many
from foundation.live import event_publish
from inbox.models import Mention
from teams.models import Membership, Team

# Statuses that count towards a person's load, and the ones a queued mention can have to be handed out.
LOAD_STATUSES = (Mention.Status.NEW, Mention.Status.OPEN, Mention.Status.PENDING)
QUEUED_STATUSES = (Mention.Status.NEW, Mention.Status.OPEN)
BATCH_MAX = 5000  # mentions per run; the rest waits for the next run (beat, every minute)


@dataclass
class _Person:
    user_id: int
    capacity: int
    load: int

    @property
    def has_room(self) -> bool:
        return self.load < self.capacity


def _people(team_ids: Sequence[int]) -> dict[int, list[_Person]]:
    loads = {
        (row["team_id"], row["assignee_id"]): row["n"]
        for row in Mention.objects.filter(
            team_id__in=team_ids, assignee__isnull=False, status__in=LOAD_STATUSES
        )
        .exclude(intent=Mention.SPAM_INTENT)
        .values("team_id", "assignee_id")
        .annotate(n=Count("id"))
    }
    people: dict[int, list[_Person]] = defaultdict(list)
    for team_id, user_id, capacity in (
        Membership.objects.filter(team_id__in=team_ids, is_away=False, user__is_active=True)
        .order_by("team_id", "user_id")
        .values_list("team_id", "user_id", "capacity")
    ):
        people[team_id].append(_Person(user_id, capacity, loads.get((team_id, user_id), 0)))
    return people


def _round_robin(mentions: list[int], people: list[_Person], after: int | None) -> dict[int, int]:
    if not people:
        return {}
    start = next((i + 1 for i, p in enumerate(people) if p.user_id == after), 0)
    chosen: dict[int, int] = {}
    turn = start
    for mention_id in mentions:
        for step in range(len(people)):
            person = people[(turn + step) % len(people)]
            if person.has_room:
                chosen[mention_id] = person.user_id
                person.load += 1
                turn = (turn + step + 1) % len(people)
                break
        else:
            break  # everyone is full: the rest wait
    return chosen


def _load_balanced(mentions: list[int], people: list[_Person]) -> dict[int, int]:
    # Most room first: the lowest share of capacity in use, then the fewest open mentions, then by id.
    heap = [(p.load / p.capacity, p.load, p.user_id, p) for p in people if p.has_room]
    heapq.heapify(heap)
    chosen: dict[int, int] = {}
    for mention_id in mentions:
        if not heap:
            break
        _, _, _, person = heapq.heappop(heap)
        chosen[mention_id] = person.user_id
        person.load += 1
        if person.has_room:
            heapq.heappush(heap, (person.load / person.capacity, person.load, person.user_id, person))
    return chosen


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
        people = _people(list(by_team))
        chosen: dict[int, int] = {}
        for team_id, mentions in by_team.items():
            team = locked[team_id]
            if team.assignment == Team.Assignment.ROUND_ROBIN:
                picked = _round_robin(mentions, people.get(team_id, []), team.last_assigned_user_id)
                if picked:
                    team.last_assigned_user_id = picked[mentions[len(picked) - 1]]
                    team.save(update_fields=["last_assigned_user"])
            else:
                picked = _load_balanced(mentions, people.get(team_id, []))
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
    from teams.roles import user_is_admin

    led = set(
        Membership.objects.filter(user=actor, role=Membership.Role.LEAD).values_list("team_id", flat=True)
    )
    theirs = set(Membership.objects.filter(user=user).values_list("team_id", flat=True))
    if actor.pk != user.pk and not user_is_admin(actor) and not theirs & led:
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
            if mentions:
                Mention.objects.filter(pk__in=returned).update(assignee=None, updated_at=now)
                events_record_many(
                    actor=actor,
                    verb="mention.returned_to_queue",
                    objects=mentions,
                    before=[{"assignee": user.pk}] * len(mentions),
                    after=[{"assignee": None, "reason": "away"}] * len(mentions),
                )
                teams_touched = sorted({m.team_id for m in mentions if m.team_id})
                transaction.on_commit(
                    lambda: event_publish(
                        "mentions.returned",
                        {"ids": returned, "teams": teams_touched, "actor": actor.username},
                    )
                )
        from foundation.events import event_record

        event_record(actor=actor, verb="member.away" if is_away else "member.back", obj=user)
        if returned:
            mentions_auto_assign(mention_ids=returned)
    return returned


def mention_back_to_last_assignee(*, mention: Mention) -> bool:
    """A reopened mention stays with its last assignee when they are available (in its team, not away);
    otherwise it goes back to the queue for auto-assignment. Returns whether the assignee was kept."""
    if mention.assignee_id is None:
        mentions_auto_assign(mention_ids=[mention.pk])
        return False
    available = Membership.objects.filter(
        user_id=mention.assignee_id, team_id=mention.team_id, is_away=False, user__is_active=True
    ).exists()
    if available:
        return True
    Mention.objects.filter(pk=mention.pk).update(assignee=None)
    mention.assignee = None
    mentions_auto_assign(mention_ids=[mention.pk])
    return False
