"""assign.*: auto-assignment of a burst of new mentions.

- ``burst_1000_s``: 1,000 new unassigned mentions land at once in a load-balanced team of 20 agents, each
  with room for 60 (some already hold a few); seconds for ``mentions_auto_assign`` to hand them all out,
  through the database (locks, load counts, one bulk update, audit events). Median of several rounds; every
  round starts from the same state.
- ``burst_1000_round_robin_s``: the same burst in round-robin mode.
- ``burst_within_capacity``: true when, after every round, no agent holds more open mentions than their
  capacity and every mention that could be assigned was.
"""

from __future__ import annotations

import time
from datetime import timedelta

from bench.__main__ import Report

AGENTS = 20
CAPACITY = 60
BURST = 1000
ROUNDS = 5


def run(report: Report, *, quick: bool = False) -> None:
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.utils import timezone

    from foundation.models import DomainEvent
    from inbox.actions.assignment import mentions_auto_assign
    from inbox.models import Author, Mention
    from inbox.workload import LOAD_STATUSES
    from teams.models import Membership, Team

    rounds = 2 if quick else ROUNDS
    team = Team.objects.create(name="Bench assignment", slug="bench-assignment")
    users = [get_user_model().objects.create(username=f"bench-agent-{i}") for i in range(AGENTS)]
    Membership.objects.bulk_create([Membership(user=u, team=team, capacity=CAPACITY) for u in users])
    author = Author.objects.create(network="simulated", external_id="bench-author", handle="bench_author")
    now = timezone.now()
    # A few already-open mentions, unevenly spread, so load-balancing has something to balance.
    held = [
        Mention(
            network="simulated",
            external_id=f"bench-held-{i}",
            text="already being handled",
            created_at=now - timedelta(hours=1),
            author=author,
            team=team,
            assignee=users[i % 5],
            status=Mention.Status.OPEN,
        )
        for i in range(40)
    ]
    Mention.objects.bulk_create(held)

    within = True
    for mode, name in (
        (Team.Assignment.LOAD_BALANCED, "burst_1000_s"),
        (Team.Assignment.ROUND_ROBIN, "burst_1000_round_robin_s"),
    ):
        Team.objects.filter(pk=team.pk).update(assignment=mode, last_assigned_user=None)
        samples = []
        for r in range(rounds):
            burst = Mention.objects.bulk_create(
                [
                    Mention(
                        network="simulated",
                        external_id=f"bench-burst-{mode}-{r}-{i}",
                        text=f"new mention {i}",
                        created_at=now - timedelta(seconds=BURST - i),
                        author=author,
                        team=team,
                    )
                    for i in range(BURST)
                ]
            )
            ids = [m.pk for m in burst]
            started = time.perf_counter()
            chosen = mentions_auto_assign(mention_ids=ids)
            samples.append(time.perf_counter() - started)
            loads = dict(
                Mention.objects.filter(team=team, status__in=LOAD_STATUSES, assignee__isnull=False)
                .values("assignee_id")
                .annotate(n=Count("id"))
                .values_list("assignee_id", "n")
            )
            room = AGENTS * CAPACITY - len(held)
            within = within and max(loads.values()) <= CAPACITY and len(chosen) == min(BURST, room)
            # Back to the starting state for the next round.
            Mention.objects.filter(pk__in=ids).delete()
            DomainEvent.objects.filter(verb="mention.auto_assigned").delete()
        report(name, samples)
    report("burst_within_capacity", within)
