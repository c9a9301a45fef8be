"""Inbox background work: sending replies, waking snoozed mentions."""

from __future__ import annotations

from celery import shared_task

from inbox import triage


@shared_task(name="inbox.tasks.reply_send")
def reply_send_task(reply_id: int) -> None:
    """Send one queued reply through its channel's connector. Safe to run twice: only a reply still
    queued is sent, under a row lock."""
    from inbox.replies import reply_deliver

    reply_deliver(reply_id=reply_id)


@shared_task(name="inbox.tasks.mentions_wake")
def mentions_wake_task() -> int:
    """Snoozed mentions whose time has come go back to open. Safe to repeat: only due ones change."""
    return len(triage.mentions_wake())
