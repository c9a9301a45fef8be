"""Celery tasks that pull channels. Tasks take ids, look objects up and call one service."""

from __future__ import annotations

import logging
from dataclasses import asdict

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

from channels.connectors.base import ConnectorUnavailable
from channels.services import channel_pull, channels_claim_due

logger = logging.getLogger(__name__)


@shared_task(name="channels.tasks.channels_pull_due", ignore_result=True)
def channels_pull_due() -> list[int]:
    """Fan out one pull task per channel that is due.

    Safe to run twice: claiming moves each channel's next pull on, so a second run finds nothing due.
    """
    channel_ids = channels_claim_due()
    for channel_id in channel_ids:
        channel_pull_task.delay(channel_id)
    return channel_ids


@shared_task(
    name="channels.tasks.channel_pull",
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
