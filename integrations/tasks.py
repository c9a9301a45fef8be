"""Webhook tasks: the fan-out of domain events into deliveries, and the sending of due deliveries."""

from __future__ import annotations

import time

from celery import shared_task
from django.core.cache import cache

from foundation.events import consumer_woke
from integrations.delivery import deliveries_run, deliveries_send_due
from integrations.delivery_wake import deliveries_wake, deliveries_woke
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
