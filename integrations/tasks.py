"""Webhook tasks: the fan-out of domain events into deliveries, and the sending of due deliveries."""

from __future__ import annotations

from celery import shared_task
from django.core.cache import cache

from foundation.events import consumer_woke
from integrations.delivery import deliveries_run, deliveries_wake, deliveries_woke
from integrations.webhooks import webhooks_fan_out, webhooks_fan_out_held_back

FANOUT_TASK = "integrations.tasks.webhooks_fanout"
HELD_BACK_KEY = "webhooks:fanout:held-back"
HELD_BACK_SECONDS = 0.5  # look again this soon when committed events could not be read yet


@shared_task(name=FANOUT_TASK)
def webhooks_fanout() -> int:
    """Turn the domain events committed since the last run into deliveries, then wake the sender.

    Safe to run twice, or side by side: the consumer position moves in the transaction that writes the
    deliveries (two runs take turns on it), so each event is fanned out once."""
    consumer_woke(task=FANOUT_TASK)
    made = webhooks_fan_out()
    if made:
        deliveries_wake()
    if webhooks_fan_out_held_back() and cache.add(HELD_BACK_KEY, 1, timeout=5):
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
