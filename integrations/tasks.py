"""Integration tasks. Each takes ids, looks objects up and calls one service."""

from __future__ import annotations

from celery import shared_task

from foundation.events import consumer_woke, events_consume
from integrations import slack
from integrations.handoff import services as handoff

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
