"""Inbox background work: sending replies, waking snoozed mentions."""

from __future__ import annotations

import logging

from celery import Task, shared_task

from inbox import triage
from inbox.models import Reply
from inbox.replies import ReplyDeferred, reply_deliver

logger = logging.getLogger(__name__)

REPLY_SEND_MAX_RETRIES = 4  # five tries in all; the last one fails the reply instead of waiting again
REPLY_RETRY_BACKOFF_SECONDS = 30  # the first wait after an outage, doubled after each try
REPLY_RETRY_BACKOFF_MAX_SECONDS = 600  # five tries then span about eight minutes of outage


def reply_retry_countdown(retries: int) -> int:
    """Seconds to wait after an outage before try number ``retries + 2``."""
    return min(REPLY_RETRY_BACKOFF_MAX_SECONDS, REPLY_RETRY_BACKOFF_SECONDS * 2**retries)


@shared_task(name="inbox.tasks.reply_send", bind=True, ignore_result=True, max_retries=REPLY_SEND_MAX_RETRIES)
def reply_send_task(self: Task, reply_id: int) -> None:
    """Send one queued reply through its channel's connector. Safe to run twice: only a reply still
    queued is sent, under a row lock.

    An outage is retried with a growing backoff and a rate limit after the network's own reset; the worker
    never sleeps. The last try fails the reply with a reason the agent can read.
    """
    try:
        reply_deliver(reply_id=reply_id, final_attempt=self.request.retries >= self.max_retries)
    except Reply.DoesNotExist:
        logger.info("reply %s was deleted before it could be sent", reply_id)
    except ReplyDeferred as exc:
        countdown = (
            exc.countdown if exc.countdown is not None else reply_retry_countdown(self.request.retries)
        )
        raise self.retry(exc=exc, countdown=countdown) from exc


@shared_task(name="inbox.tasks.mentions_wake")
def mentions_wake_task() -> int:
    """Snoozed mentions whose time has come go back to open. Safe to repeat: only due ones change."""
    return len(triage.mentions_wake())
