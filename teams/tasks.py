"""Team background work: handing out queued mentions as people free up room."""

from __future__ import annotations

from celery import shared_task

from inbox.actions.assignment import mentions_auto_assign


@shared_task(name="teams.tasks.queues_assign")
def queues_assign_task() -> int:
    """Auto-assigning teams' queued mentions go to people who have room now (someone closed one, came back,
    or joined). Safe to repeat and to overlap: teams are locked while their queue is handed out."""
    return len(mentions_auto_assign())
