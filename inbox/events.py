"""Live events: what changed, published for the browsers' server-sent-event streams.

Published on a Redis pub/sub channel when Redis is configured. Publishing is best effort and happens after
commit: a lost event costs a browser one refresh, never data, so a publishing error is logged, not raised.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

EVENTS_CHANNEL = "socialops:events"

_local = threading.local()


def event_publish(kind: str, payload: dict[str, Any]) -> bool:
    """Publish ``{"kind": kind, **payload}``; returns whether it was handed to Redis."""
    if not settings.REDIS_URL:
        logger.debug("no Redis configured; live event %s not published", kind)
        return False
    try:
        _client().publish(EVENTS_CHANNEL, json.dumps({"kind": kind, **payload}, default=str))
    except Exception:  # a lost live event must not undo or fail committed work
        logger.warning("could not publish live event %s", kind, exc_info=True)
        return False
    return True


def _client():
    import redis

    client = getattr(_local, "client", None)
    if client is None:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        _local.client = client
    return client
