"""Waking the webhook delivery task: at most one run queued and not yet started at a time (beat's sweep
every few seconds covers a wake that is lost)."""

from __future__ import annotations

import logging
from datetime import datetime

from celery import current_app
from django.core.cache import cache
from django.utils import timezone

logger = logging.getLogger(__name__)

DELIVER_TASK = "integrations.tasks.webhooks_deliver"
WAKE_KEY = "webhooks:deliver:wake"
LATER_KEY = "webhooks:deliver:later"
WAKE_PENDING_SECONDS = 30  # a wake whose task never started blocks others this long at most


def deliveries_wake() -> None:
    """Queue a delivery run unless one is queued and not yet started (beat sweeps every few seconds too)."""
    try:
        if cache.add(WAKE_KEY, 1, timeout=WAKE_PENDING_SECONDS):
            current_app.send_task(DELIVER_TASK)
    except Exception:  # a lost wake costs latency, never a delivery
        logger.warning("could not wake the webhook delivery task", exc_info=True)


def deliveries_wake_at(when: datetime) -> None:
    """Queue a delivery run for when the next retry is due (one such run queued at a time)."""
    countdown = max(0.0, (when - timezone.now()).total_seconds())
    try:
        if cache.add(LATER_KEY, 1, timeout=int(countdown) + 5):
            current_app.send_task(DELIVER_TASK, countdown=countdown, kwargs={"later": True})
    except Exception:
        logger.warning("could not schedule the webhook delivery task", exc_info=True)


def deliveries_woke(*, later: bool) -> None:
    cache.delete(LATER_KEY if later else WAKE_KEY)
