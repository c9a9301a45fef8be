"""Auto-assignment's choosing: who gets which queued mention (``inbox.actions.assignment`` writes it).

Round-robin gives each available person the next mention in turn; load-balanced gives it to whoever has the
most room. Both go oldest first, never past a person's capacity (their open mentions in that team), and skip
people who are away. A mention nobody has room for waits in the queue; beat retries every minute.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Count

from inbox.models import Mention
from teams.models import Membership

# Statuses that count towards a person's load, and the ones a queued mention can have to be handed out.
LOAD_STATUSES = (Mention.Status.NEW, Mention.Status.OPEN, Mention.Status.PENDING)
QUEUED_STATUSES = (Mention.Status.NEW, Mention.Status.OPEN)
BATCH_MAX = 5000  # mentions per run; the rest waits for the next run (beat, every minute)


@dataclass
class Person:
    user_id: int
    capacity: int
    load: int

    @property
    def has_room(self) -> bool:
        return self.load < self.capacity


def people_with_room(team_ids: Sequence[int]) -> dict[int, list[Person]]:
    loads = {
        (row["team_id"], row["assignee_id"]): row["n"]
        for row in Mention.objects.filter(
            team_id__in=team_ids, assignee__isnull=False, status__in=LOAD_STATUSES
        )
        .exclude(intent=Mention.SPAM_INTENT)
        .values("team_id", "assignee_id")
        .annotate(n=Count("id"))
    }
    people: dict[int, list[Person]] = defaultdict(list)
    for team_id, user_id, capacity in (
        Membership.objects.filter(team_id__in=team_ids, is_away=False, user__is_active=True)
        .order_by("team_id", "user_id")
        .values_list("team_id", "user_id", "capacity")
    ):
        people[team_id].append(Person(user_id, capacity, loads.get((team_id, user_id), 0)))
    return people


def round_robin(mentions: list[int], people: list[Person], after: int | None) -> dict[int, int]:
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


def load_balanced(mentions: list[int], people: list[Person]) -> dict[int, int]:
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
