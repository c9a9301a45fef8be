"""Webhook tasks: the fan-out of domain events into deliveries, and the sending of due deliveries."""

from __future__ import annotations

from celery import shared_task

from foundation.events import consumer_woke
from integrations.delivery import deliveries_run, deliveries_wake, deliveries_woke
from integrations.webhooks import webhooks_fan_out

FANOUT_TASK = "integrations.tasks.webhooks_fanout"


@shared_task(name=FANOUT_TASK)
def webhooks_fanout() -> int:
    """Turn the domain events committed since the last run into deliveries, then wake the sender.

    Safe to run twice, or side by side: the consumer position moves in the transaction that writes the
    deliveries (two runs take turns on it), so each event is fanned out once."""
    consumer_woke(task=FANOUT_TASK)
    made = webhooks_fan_out()
    if made:
        deliveries_wake()
    return made


@shared_task(name="integrations.tasks.webhooks_deliver")
def webhooks_deliver(later: bool = False) -> int:
    """Send the due deliveries (new ones, retries, and rows a dead worker left once their lease ran out).

    Safe to run twice, or side by side: each run claims rows under row locks (skip_locked) and a lease, and
    writes results only to rows still carrying its lease mark."""
    deliveries_woke(later=later)
    return deliveries_run()
