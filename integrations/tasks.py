"""Integration tasks: the webhooks' fan-out of domain events into deliveries and their sending; hand-offs to
CRMs and helpdesks; Slack notifications. Each takes ids, looks objects up and calls one service."""

from __future__ import annotations

import time

from celery import shared_task
from django.core.cache import cache

from foundation.events import consumer_woke, events_consume
from integrations import notifications, slack
from integrations.delivery import deliveries_run, deliveries_send_due
from integrations.delivery_wake import deliveries_wake, deliveries_woke
from integrations.handoff import services as handoff
from integrations.webhooks import webhooks_fan_out, webhooks_fan_out_held_back

FANOUT_TASK = "integrations.tasks.webhooks_fanout"
HELD_BACK_KEY = "webhooks:fanout:held-back"
PUMP_SECONDS = 5.0  # a run hands over to a fresh task after this, so one busy run cannot hog a worker
HELD_BACK_POLL_SECONDS = 0.05
HELD_BACK_PATIENCE_SECONDS = 1.0  # looked for that long, the run hands over to a task queued for later
HELD_BACK_SECONDS = 0.5  # that task's countdown


@shared_task(name=FANOUT_TASK)
def webhooks_fanout() -> int:
    """Turn the domain events committed since the last run into deliveries and send them, in turns of one
    batch each, until neither is left (or ``PUMP_SECONDS`` have passed: then a fresh run is queued).

    Turns rather than "fan out everything, then send": with a few workers shared by both, an event committed
    while others are being sent waits one batch, not a whole run. Safe to run twice, or side by side: the
    consumer position moves in the transaction that writes the deliveries (two runs take turns on it), so
    each event is fanned out once; sending claims rows under locks and a lease (``integrations.delivery``)."""
    consumer_woke(task=FANOUT_TASK)
    made = 0
    started = time.monotonic()
    held_back_since: float | None = None
    while time.monotonic() - started < PUMP_SECONDS:
        fanned = webhooks_fan_out(made_some=deliveries_wake)
        sent = deliveries_send_due()
        made += fanned
        if fanned or sent:
            held_back_since = None
            continue
        if not webhooks_fan_out_held_back():
            return made
        # Committed but not readable yet: an older transaction of this database is still open, usually for
        # milliseconds. A short look again beats a queued task, which may wait behind a delivery run.
        held_back_since = held_back_since or time.monotonic()
        if time.monotonic() - held_back_since > HELD_BACK_PATIENCE_SECONDS:
            break
        time.sleep(HELD_BACK_POLL_SECONDS)
    if cache.add(HELD_BACK_KEY, 1, timeout=5):
        webhooks_fanout_again.apply_async(countdown=HELD_BACK_SECONDS)
    return made


@shared_task(name="integrations.tasks.webhooks_fanout_again")
def webhooks_fanout_again() -> int:
    """The fan-out again, shortly after a run that found events it could not read yet (see
    ``webhooks_fan_out_held_back``). Safe twice for the same reasons as ``webhooks_fanout``."""
    cache.delete(HELD_BACK_KEY)
    return webhooks_fanout()


@shared_task(name="integrations.tasks.webhooks_deliver")
def webhooks_deliver(later: bool = False) -> int:
    """Send the due deliveries (new ones, retries, and rows a dead worker left once their lease ran out).

    Safe to run twice, or side by side: each run claims rows under row locks (skip_locked) and a lease, and
    writes results only to rows still carrying its lease mark."""
    deliveries_woke(later=later)
    return deliveries_run()


# --- Hand-off and Slack notifications ----------------------------------------------------------------------

SLACK_NOTIFY = "integrations.tasks.slack_notify"
CONSUME_ROUNDS = 20  # batches per run; a longer backlog is left to the next run (beat, or the next wake)


@shared_task(name="integrations.tasks.handoff_send", bind=True, ignore_result=True, max_retries=None)
def handoff_send_task(self, handoff_id: int) -> str:
    """Create the case of a pending hand-off in its external system.

    Safe to run twice: only a pending hand-off is sent, under its row lock; a linked or failed one is left
    alone. A failure that can heal comes back with a wait, and the task runs again then (the service counts
    the attempts and stops)."""
    outcome = handoff.handoff_send(handoff_id=handoff_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.state


@shared_task(name="integrations.tasks.mention_hand_off_by_rule", ignore_result=True)
def mention_hand_off_by_rule_task(mention_id: int, integration_slug: str) -> int | None:
    """A routing rule's hand_off action. Safe to run twice: a mention already handed off to the integration
    is left alone."""
    made = handoff.mention_hand_off_by_rule(mention_id=mention_id, integration_slug=integration_slug)
    return made.pk if made else None


@shared_task(name="integrations.tasks.handoffs_status_pull", ignore_result=True)
def handoffs_status_pull_task() -> int:
    """Read back the status of open cases. Beat runs it. Safe to run twice: it only stores what it read."""
    return handoff.handoffs_status_pull()


@shared_task(name="integrations.tasks.handoffs_resend", ignore_result=True)
def handoffs_resend_task() -> int:
    """Queue again the hand-offs whose send task was lost. Safe to run twice: see handoff_send_task."""
    return len(handoff.handoffs_resend())


@shared_task(name=SLACK_NOTIFY, ignore_result=True)
def slack_notify_task() -> int:
    """Consume the domain events into Slack messages (consumer ``slack``); woken after commits, and by beat.

    Safe to run twice or at once: ``events_consume`` moves the consumer's position in the transaction that
    writes the messages, under a row lock, so each event makes its messages once."""
    consumer_woke(task=SLACK_NOTIFY)
    handled = 0
    for _ in range(CONSUME_ROUNDS):
        count = events_consume(consumer=slack.CONSUMER, handle=slack.slack_events_handle)
        handled += count
        if count == 0:
            break
    return handled


@shared_task(name="integrations.tasks.slack_message_send", bind=True, ignore_result=True, max_retries=None)
def slack_message_send_task(self, message_id: int) -> str:
    """Post one Slack message. Safe to run twice: only a pending message is posted, under its row lock."""
    outcome = slack.slack_message_send(message_id=message_id)
    if outcome.retry_in is not None:
        raise self.retry(countdown=outcome.retry_in)
    return outcome.state


@shared_task(name="integrations.tasks.slack_messages_resend", ignore_result=True)
def slack_messages_resend_task() -> int:
    """Queue again the messages whose send task was lost. Beat runs it. Safe to run twice: see above."""
    return len(slack.slack_messages_resend())


# --- Notifications to people -------------------------------------------------------------------------------

NOTIFICATIONS_CONSUME = "integrations.tasks.notifications_consume"


@shared_task(name=NOTIFICATIONS_CONSUME, ignore_result=True)
def notifications_consume_task() -> int:
    """Consume the domain events into people's notifications (consumer ``notifications``); woken after
    commits, and by beat. Safe to run twice or at once: ``events_consume`` moves the position in the
    transaction that writes the notifications (and each is unique per person, event and kind)."""
    consumer_woke(task=NOTIFICATIONS_CONSUME)
    handled = 0
    for _ in range(CONSUME_ROUNDS):
        count = events_consume(consumer=notifications.CONSUMER, handle=notifications.notifications_handle)
        handled += count
        if count == 0:
            break
    return handled


# Acknowledged on receipt: a second e-mail is worse than a lost one (the notification stays under the bell).
@shared_task(name=notifications.EMAIL_TASK, ignore_result=True, acks_late=False)
def notification_emails_send_task(event_ids: list[int]) -> int:
    """E-mail the notifications of these events to the people who chose e-mail for their kind."""
    return notifications.notification_emails_send(event_ids=event_ids)
