"""The replies' outbox: how long each step of sending a reply may take, and what a waiting reply tells the
agent about why it waits.

:mod:`inbox.actions.replies` sends by these times; the detail pane reads :func:`reply_waiting`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from inbox.models import Reply

REPLY_MAX_ATTEMPTS = 5  # the fifth attempt the network cannot take fails the reply instead of waiting again
REPLY_RETRY_BACKOFF_SECONDS = 30  # the first wait after an outage, doubled after each attempt
REPLY_RETRY_BACKOFF_MAX_SECONDS = 600
# Five attempts span about eight minutes of outage, well inside the hour Mastodon keeps a reply's
# idempotency key; a reply retried later than that (an agent's Retry) is looked for on the network first
# whenever an earlier attempt's outcome is unknown, so the key is never what stands between us and a double.
#
# How long an attempt owns a reply: longer than the slowest attempt (a token refresh, a look for an earlier
# attempt's post, the post itself and the lookup of its target, each cut off by the connectors' 20-35 s
# timeouts). A worker that dies mid-attempt leaves the reply due again after this, and the next attempt looks
# for the post before sending it.
REPLY_SEND_LEASE_SECONDS = 150
# A send task queued but not started within this is taken for lost (a broker restart, a purged queue): the
# sweeper queues another. Within the minute a queued reply may wait without saying why.
REPLY_HANDOFF_SECONDS = 30
# Networks' clocks and ours disagree by seconds: a post is looked for from this long before its reply's row.
REPLY_LOOK_BACK_SECONDS = 120
REPLY_SWEEP_BATCH = 500  # replies handed to send tasks per sweep; the next sweep takes the rest
# A queued reply younger than this is on its way; older, the pane says why it waits and offers Retry.
REPLY_QUIET_SECONDS = 60

QUEUE_UNREACHABLE = (
    "Not sent yet: the task queue could not be reached; it will be sent as soon as the queue is back "
    "(checked every few seconds)."
)


def reply_retry_countdown(attempts: int) -> int:
    """Seconds to wait after an outage that stopped attempt number ``attempts``."""
    return min(REPLY_RETRY_BACKOFF_MAX_SECONDS, REPLY_RETRY_BACKOFF_SECONDS * 2 ** max(0, attempts - 1))


def reply_in_flight(reply: Reply, now: datetime) -> bool:
    """Whether an attempt is talking to the network about this reply now (its lease has not ended)."""
    started = reply.attempt_started_at
    return started is not None and started > now - timedelta(seconds=REPLY_SEND_LEASE_SECONDS)


@dataclass(frozen=True)
class ReplyWaiting:
    """Why a queued reply has not gone yet, for the agent, and whether Retry is offered."""

    reason: str
    can_retry: bool


def reply_waiting(reply: Reply, *, now: datetime) -> ReplyWaiting | None:
    """What the reply's status line says while it is queued; None once it is settled or not queued."""
    if reply.state != Reply.State.QUEUED:
        return None
    network = reply.channel.get_network_display()
    if reply_in_flight(reply, now):
        return ReplyWaiting(f"Sending to {network} now.", can_retry=False)
    if reply.attempt_started_at is not None:
        return ReplyWaiting(
            f"The last try stopped before {network} answered; before sending again we look on {network} "
            "for it, so it is not posted twice.",
            can_retry=True,
        )
    if reply.error:
        return ReplyWaiting(reply.error, can_retry=True)
    if reply.created_at > now - timedelta(seconds=REPLY_QUIET_SECONDS):
        return ReplyWaiting("Sending…", can_retry=False)
    return ReplyWaiting(
        "Not sent yet: no worker has picked it up (the background workers may be busy or stopped). It is "
        "handed to them again every few seconds; Retry hands it over now.",
        can_retry=True,
    )
