"""Webhook tasks: the fan-out of domain events into deliveries, and the sending of due deliveries."""

from __future__ import annotations

import time

from celery import shared_task
from django.core.cache import cache

from foundation.events import consumer_woke
from integrations.delivery import deliveries_run, deliveries_wake, deliveries_woke
from integrations.webhooks import webhooks_fan_out, webhooks_fan_out_held_back

FANOUT_TASK = "integrations.tasks.webhooks_fanout"
HELD_BACK_KEY = "webhooks:fanout:held-back"
FANOUT_SENDS_SECONDS = 1.0
HELD_BACK_POLL_SECONDS = 0.05
HELD_BACK_PATIENCE_SECONDS = 1.0  # looked for that long, the run hands over to a task queued for later
HELD_BACK_SECONDS = 0.5  # that task's countdown


@shared_task(name=FANOUT_TASK)
def webhooks_fanout() -> int:
    """Turn the domain events committed since the last run into deliveries, wake the sender and send.

    Safe to run twice, or side by side: the consumer position moves in the transaction that writes the
    deliveries (two runs take turns on it), so each event is fanned out once."""
    consumer_woke(task=FANOUT_TASK)
    made = 0
    waited_until = time.monotonic() + HELD_BACK_PATIENCE_SECONDS
    while True:
        batch = webhooks_fan_out()
        if batch:
            made += batch
            deliveries_wake()
        if not webhooks_fan_out_held_back():
            if made:
                # Send from here too for a moment (no hop through the queue for the first ones), then leave
                # the rest to the delivery task, so that the next fan-out is not kept waiting.
                deliveries_run(seconds=FANOUT_SENDS_SECONDS)
            return made
        if time.monotonic() > waited_until:
            break
        # Committed but not readable yet: an older transaction on the server is still open, usually for
        # milliseconds. A short look again beats a queued task, which may wait behind a delivery run.
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
