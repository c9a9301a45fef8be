"""The rollups' consumer of the domain events, woken after each commit that records events and run by beat."""

from __future__ import annotations

from celery import shared_task

from foundation.events import consumer_woke
from reports.rollups import rollups_consume

CONSUME_TASK = "reports.tasks.rollups_consume_task"
CONSUME_ROUNDS = 20  # batches per run; a longer backlog is left to the next run (beat, or the next wake)


@shared_task(name=CONSUME_TASK)
def rollups_consume_task() -> int:
    """Apply the events committed since the last run to the rollups. Safe to run twice, or side by side:
    the position moves in the transaction that writes the rollups (two runs take turns on it), and
    applying an event again refreshes states that are already current."""
    consumer_woke(task=CONSUME_TASK)
    handled = 0
    for _ in range(CONSUME_ROUNDS):
        done = rollups_consume()
        handled += done
        if not done:
            break
    return handled


DIGEST_TASK = "reports.tasks.digests_send_task"


@shared_task(name=DIGEST_TASK)
def digests_send_task() -> int:
    """Email last week's digest to the leads who switched it on. Safe to run twice: each subscription
    remembers the week it was sent, in the transaction that sends it."""
    from reports.digest import digests_send

    return digests_send()
