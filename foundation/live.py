"""Live events: what changed, published for the browsers' server-sent-event streams.

With Redis configured they go through a Redis pub/sub channel. With the embedded default (no Redis) they are
rows of the LiveEvent table, which the web process polls: slower to notice (a second) but it works across
the web server, worker and beat processes with nothing to install. Publishing is best effort and happens
after commit: a lost event costs a browser one refresh, never data, so an error is logged, not raised.

Every event is ``{"kind": ..., "ids": [mention ids], "teams": [team ids], ...}``; the stream sends each
browser only the events of its user's teams.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections
from django.utils import timezone

from foundation.models import LiveEvent

logger = logging.getLogger(__name__)

EVENTS_CHANNEL = settings.SOCIALOPS_EVENTS_CHANNEL
POLL_SECONDS = 1.0  # how often a stream without Redis looks for new rows (events arrive within 2 s)
LIVE_EVENT_KEEP = timedelta(minutes=10)  # rows older than this are pruned; streams reconnect sooner

_local = threading.local()


def event_publish(kind: str, payload: dict[str, Any]) -> bool:
    """Publish ``{"kind": kind, **payload}``; returns whether it was handed on."""
    event = {"kind": kind, **payload}
    try:
        if settings.REDIS_URL:
            _client().publish(EVENTS_CHANNEL, json.dumps(event, default=str))
        else:
            _table_publish(event)
    except Exception:  # a lost live event must not undo or fail committed work
        logger.warning("could not publish live event %s", kind, exc_info=True)
        return False
    return True


def _table_publish(event: dict[str, Any]) -> None:
    row = LiveEvent.objects.create(kind=event["kind"], payload=json.loads(json.dumps(event, default=str)))
    if row.pk % 100 == 0:
        LiveEvent.objects.filter(created_at__lt=timezone.now() - LIVE_EVENT_KEEP).delete()


def _client():
    import redis

    client = getattr(_local, "client", None)
    if client is None:
        client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=2)
        _local.client = client
    return client


def events_listen(*, deadline: float) -> Iterator[dict[str, Any] | None]:
    """Yield events published from now until ``deadline`` (a ``time.monotonic()`` value), and None about once
    a second when nothing came, so the caller can send heartbeats.

    "From now" is the moment of the call, not of the first ``next()``: the subscription (or the table's
    high-water mark) is taken here, so a caller that tells the browser it is connected only after calling
    this loses nothing published in between.
    """
    if settings.REDIS_URL:
        return _redis_listen(deadline)
    return _table_listen(deadline)


def _redis_listen(deadline: float) -> Iterator[dict[str, Any] | None]:
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL, socket_timeout=None, socket_connect_timeout=2)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(EVENTS_CHANNEL)
    return _redis_messages(client, pubsub, deadline)


def _redis_messages(client: Any, pubsub: Any, deadline: float) -> Iterator[dict[str, Any] | None]:
    try:
        while time.monotonic() < deadline:
            message = pubsub.get_message(timeout=1.0)
            if message is None:
                yield None
                continue
            try:
                yield json.loads(message["data"])
            except (TypeError, ValueError):
                logger.warning("ignored a live event that is not JSON")
    finally:
        pubsub.close()
        client.close()


def _table_listen(deadline: float) -> Iterator[dict[str, Any] | None]:
    last = LiveEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    return _table_rows(last, deadline)


def _table_rows(last: int, deadline: float) -> Iterator[dict[str, Any] | None]:
    try:
        while time.monotonic() < deadline:
            rows = list(
                LiveEvent.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "payload")[:200]
            )
            if not rows:
                yield None
                time.sleep(POLL_SECONDS)
                continue
            for pk, payload in rows:
                last = pk
                yield payload
    finally:
        close_old_connections()
