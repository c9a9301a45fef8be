"""Inbox background work: pulling channels into the inbox, sending replies, waking snoozed mentions."""

from __future__ import annotations

import logging
from dataclasses import asdict

from celery import Task, shared_task
from django.conf import settings
from django.core.cache import cache

from channels.connectors.base import ConnectorUnavailable
from channels.services import channels_claim_due
from inbox.actions import triage
from inbox.actions.replies import ReplyDeferred, reply_deliver
from inbox.models import Reply
from inbox.pulls import channel_pull

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


@shared_task(name="inbox.tasks.sla_tick")
def sla_tick_task() -> tuple[int, int]:
    """Start new SLA clocks, warn before breaches and raise breaches to team leads. Safe to repeat: each
    mention is warned once and raised once per clock."""
    from inbox.actions.sla import sla_tick

    warned, breached = sla_tick()
    return len(warned), len(breached)


@shared_task(name="inbox.tasks.sla_breach_notify")
def sla_breach_notify_task(mention_id: int) -> int:
    """Email the leads of the mention's team (the admins when it has none) that its SLA was breached.
    Running twice sends twice (the tick raises each breach once)."""
    from django.core.mail import send_mail

    from inbox.models import Mention
    from inbox.sla import KIND_NAMES
    from teams.roles import team_leaders

    mention = Mention.objects.select_related("author", "team").filter(pk=mention_id).first()
    if mention is None or mention.team_id is None:
        return 0
    # A team without a lead: the admins stand in, so a breach is never raised to nobody.
    leads = [user.email for user in team_leaders(team_id=mention.team_id).users if user.email]
    if not leads:
        return 0
    kind = KIND_NAMES.get(mention.sla_kind, "SLA")
    body = "\n".join(
        [
            f"{kind} target breached for a mention of {mention.team}.",
            f"Due: {mention.sla_due_at:%Y-%m-%d %H:%M %Z}" if mention.sla_due_at else "",
            "",
            f"@{mention.author.handle} on {mention.get_network_display()}:",
            mention.text,
            "",
            f"Open it: /inbox/?open={mention.pk}",
        ]
    )
    send_mail(f"[socialops] SLA breached: {kind.lower()} for @{mention.author.handle}", body, None, leads)
    return len(leads)


@shared_task(name="inbox.tasks.channels_pull_due", ignore_result=True)
def channels_pull_due() -> list[int]:
    """Fan out one pull task per channel that is due.

    Safe to run twice: claiming moves each channel's next pull on, so a second run finds nothing due.
    """
    channel_ids = channels_claim_due()
    for channel_id in channel_ids:
        channel_pull_task.delay(channel_id)
    return channel_ids


@shared_task(
    name="inbox.tasks.channel_pull",
    bind=True,
    ignore_result=True,
    autoretry_for=(ConnectorUnavailable,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=5,
)
def channel_pull_task(self, channel_id: int) -> dict | None:
    """Pull one channel.

    Safe to run twice: a per-channel lock keeps pulls of one channel apart, the cursor only advances with
    the posts it covers, and the ingest skips posts already stored.
    """
    lock_key = f"channels:pull-lock:{channel_id}"
    # Longer than any single pull; the lock of a worker that died mid-pull expires by itself.
    if not cache.add(lock_key, self.request.id or "local", timeout=settings.SOCIALOPS_PULL_LOCK_SECONDS):
        logger.info("channel %s is already being pulled; skipping", channel_id)
        return None
    try:
        result = channel_pull(channel_id=channel_id)
    finally:
        cache.delete(lock_key)
    logger.info("pulled channel %s: %s", channel_id, result)
    return asdict(result)
