"""Live events: what changed, published for the browsers' server-sent-event streams.

With Redis configured they go through a Redis pub/sub channel. With the embedded default (no Redis) they are
rows of the LiveEvent table, which the web process polls: slower to notice (a second) but it works across
the web server, worker and beat processes with nothing to install. Publishing is best effort and happens
after commit: a lost event costs a browser one refresh, never data, so an error is logged, not raised.

Every event is ``{"id": n, "kind": ..., "ids": [mention ids], "teams": [team ids], ...}``; the stream sends
each browser only the events of its user's teams. ``id`` grows with each event (a Redis counter; the table's
primary key), and the newest ``RECENT_KEEP`` events are kept (a capped Redis list; the table's rows of the
last minutes), so a browser that reconnects with the last id it saw gets what it missed (``events_since``).

Under ASGI, one subscription per process feeds every stream of that process (``live_hub``): a stream costs
a queue, not a thread nor a connection, and a stream whose browser reads too slowly is dropped rather than
waited on.
"""

from __future__ import annotations

import asyncio
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
RECENT_KEEP = 1000  # events kept in Redis for browsers that reconnect (a few minutes of a busy deployment)

# One round trip, atomic: the next id, the event with its id kept in the capped list and published. Atomic,
# so ids reach the subscribers in increasing order.
_PUBLISH_SCRIPT = """
local id = redis.call('INCR', KEYS[1])
local data = '{"id": ' .. id .. ', ' .. string.sub(ARGV[1], 2)
redis.call('RPUSH', KEYS[2], data)
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[2]), -1)
redis.call('PUBLISH', ARGV[3], data)
return id
"""

_local = threading.local()


def event_publish(kind: str, payload: dict[str, Any]) -> bool:
    """Publish ``{"kind": kind, **payload}``; returns whether it was handed on."""
    event = {"kind": kind, **payload}
    event.pop("id", None)
    try:
        if settings.REDIS_URL:
            _client().eval(
                _PUBLISH_SCRIPT, 2, *_keys(), json.dumps(event, default=str), RECENT_KEEP, EVENTS_CHANNEL
            )
        else:
            _table_publish(event)
    except Exception:  # a lost live event must not undo or fail committed work
        logger.warning("could not publish live event %s", kind, exc_info=True)
        return False
    return True


def _keys() -> tuple[str, str]:
    """The id counter and the list of recent events, beside the channel (named after it)."""
    return f"{EVENTS_CHANNEL}:seq", f"{EVENTS_CHANNEL}:recent"


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
                yield {"id": pk, **payload}
    finally:
        close_old_connections()


def events_since(last_id: int) -> list[dict[str, Any]] | None:
    """The events after ``last_id`` still kept, oldest first; None when some after it are no longer kept
    (the browser should reload what it shows rather than trust the events)."""
    if settings.REDIS_URL:
        rows = []
        for data in _client().lrange(_keys()[1], 0, -1):
            try:
                rows.append(json.loads(data))
            except (TypeError, ValueError):
                continue
        oldest = rows[0]["id"] if rows else None
        newer = [event for event in rows if event.get("id", 0) > last_id]
    else:
        kept = LiveEvent.objects.order_by("pk")
        oldest = kept.values_list("pk", flat=True).first()
        rows = kept.filter(pk__gt=last_id).values_list("pk", "payload")
        newer = [{"id": pk, **payload} for pk, payload in rows]
        close_old_connections()
    if oldest is not None and oldest > last_id + 1 and last_id > 0:
        return None
    return newer


# --- One subscription per process, for the async streams --------------------------------------------------

PAUSED = {"kind": "live.paused"}  # the hub lost its subscription (Redis down): live updates pause
RESUMED = {"kind": "live.resumed"}  # and came back; what was missed has been replayed
DROPPED = object()  # put in a stream's queue when it is dropped for reading too slowly
STREAM_BUFFER = 500  # events a stream may fall behind before it is dropped
RESUBSCRIBE_MAX_SECONDS = 10.0


def _cancel_requested() -> bool:
    """Whether this task was asked to stop. On Python 3.11 ``asyncio.wait_for`` (redis-py uses it to write
    a command) can swallow a cancellation that lands as the write finishes (fixed in 3.12): the request stays
    counted, so the hub's loops look at it rather than listen for ever."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class LiveHub:
    """The process's one subscription to the live events, shared by all of its streams (one per event loop).

    Each stream gets a bounded queue. The hub never waits for a stream: when a queue is full its browser reads
    too slowly, and the stream is dropped (the browser reconnects and catches up from its last id). When the
    subscription breaks (Redis down), the streams are told the live updates paused; the hub subscribes again
    with backoff, replays what it missed from the kept events, and tells them they resumed."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue] = set()
        self.last_id = 0
        self.healthy = True
        self._task: asyncio.Task | None = None

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(maxsize=STREAM_BUFFER)
        self.queues.add(queue)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.queues.discard(queue)

    def fan_out(self, event: Any) -> None:
        if isinstance(event, dict) and isinstance(event.get("id"), int):
            self.last_id = max(self.last_id, event["id"])
        for queue in list(self.queues):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self.queues.discard(queue)
                while not queue.empty():  # make room for the one message that matters now
                    queue.get_nowait()
                queue.put_nowait(DROPPED)

    async def _run(self) -> None:
        backoff = 0.5
        while self.queues and not _cancel_requested():
            try:
                if settings.REDIS_URL:
                    await self._listen_redis()
                else:
                    await self._listen_table()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("live events: subscription lost; trying again", exc_info=True)
                if self.healthy:
                    self.healthy = False
                    self.fan_out(PAUSED)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RESUBSCRIBE_MAX_SECONDS)
        self._task = None
        if _cancel_requested():
            raise asyncio.CancelledError

    async def _replay_after_outage(self) -> None:
        if self.healthy:
            return
        from asgiref.sync import sync_to_async

        missed = await sync_to_async(events_since, thread_sensitive=False)(self.last_id)
        for event in missed or []:
            self.fan_out(event)
        self.healthy = True
        self.fan_out({**RESUMED, "complete": missed is not None})

    async def _listen_redis(self) -> None:
        import redis.asyncio as aioredis

        client = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=2, health_check_interval=10
        )
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(EVENTS_CHANNEL)
            await self._replay_after_outage()
            while self.queues and not _cancel_requested():
                message = await pubsub.get_message(timeout=1.0)
                if message is None:
                    continue
                try:
                    self.fan_out(json.loads(message["data"]))
                except (TypeError, ValueError):
                    logger.warning("ignored a live event that is not JSON")
        finally:
            await pubsub.aclose()
            await client.aclose()

    async def _listen_table(self) -> None:
        from asgiref.sync import sync_to_async

        def newest() -> int:
            try:
                return LiveEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            finally:
                close_old_connections()

        def after(last: int) -> list[tuple[int, dict]]:
            try:
                rows = LiveEvent.objects.filter(pk__gt=last).order_by("pk").values_list("pk", "payload")
                return list(rows[:200])
            finally:
                close_old_connections()

        last = self.last_id or await sync_to_async(newest, thread_sensitive=False)()
        await self._replay_after_outage()
        while self.queues:
            rows = await sync_to_async(after, thread_sensitive=False)(last)
            for pk, payload in rows:
                last = pk
                self.fan_out({"id": pk, **payload})
            if not rows:
                await asyncio.sleep(POLL_SECONDS)


_hubs: dict[asyncio.AbstractEventLoop, LiveHub] = {}


def live_hub() -> LiveHub:
    """The hub of the running event loop (a server process has one loop; tests may run several)."""
    loop = asyncio.get_running_loop()
    for other in [other for other in _hubs if other.is_closed()]:
        del _hubs[other]
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = LiveHub()
    return hub
