"""The inbox's event stream (server-sent events): what changed in a user's teams, as it happens.

Under ASGI (the server ``make run``, the Dockerfile and compose use) a stream is an async generator fed by
the process's one subscription (``foundation.live.live_hub``): it holds no thread and no database
connection while it waits. Under WSGI (Django's test server) it is the blocking generator of
``events_listen``. Either way each event carries its id; a browser that reconnects with the last id it saw
(the ``Last-Event-ID`` header its ``EventSource`` sends, or ``?last=`` when the page reconnects by itself)
first gets what it missed, or a ``resync`` when that is no longer kept; then ``live.ready``, or
``live.paused`` while Redis is away (the stream then ends, and the browser comes back after ``retry``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from asgiref.sync import sync_to_async

from foundation.live import DROPPED, events_listen, events_since, live_hub

logger = logging.getLogger(__name__)

STREAM_SECONDS = 300  # a stream ends after this; the browser reconnects (and re-authenticates)
HEARTBEAT_SECONDS = 15
RETRY = b"retry: 2000\n\n"
RESYNC = b"event: resync\ndata: {}\n\n"
# Sent once the stream listens (after what the browser missed): the page counts itself live from then on, not
# from the connection's opening, which a stream with nothing to listen to answers too.
READY = {"kind": "live.ready"}


def last_event_id(headers: Any, query: Any) -> int | None:
    """The last event id the browser saw: the ``Last-Event-ID`` header (an ``EventSource`` reconnecting)
    or ``?last=`` (the page reconnecting after the stream failed); None when it has seen none."""
    for raw in (headers.get("Last-Event-ID"), query.get("last")):
        if raw and str(raw).isdigit():
            return int(raw)
    return None


def framer(
    *, admin: bool, team_ids: set[int], username: str, led_team_ids: set[int] | None = None
) -> Callable[[dict], bytes | None]:
    """Turns an event into its SSE frame for this user, or None when it is not theirs to see. An event for
    leads only (``leads_only``: the crisis radar's alert) goes to the leads of its teams and to admins; one
    for named people (``users``: a notification) to them alone."""
    led = led_team_ids or set()

    def frame(event: dict) -> bytes | None:
        kind = event.get("kind", "")
        if kind.startswith("live."):  # the stream's own news: live updates paused or resumed
            return f"event: status\ndata: {json.dumps(event)}\n\n".encode()
        if "users" in event:  # addressed to people by name (a notification): theirs alone
            if username not in event["users"]:
                return None
            return _encoded(event, False)
        audience = led if event.get("leads_only") else team_ids
        if not admin and not audience.intersection(event.get("teams") or []):
            return None
        return _encoded(event, event.get("actor") == username)

    return frame


_ENCODED_KEEP = 512
_encoded_frames: dict[tuple[int, bool], tuple[dict, bytes]] = {}


def _encoded(event: dict, mine: bool) -> bytes:
    """The frame of an event as the actor's own (``mine``) or as someone else's. The process's hub hands the
    same event object to every stream, so each frame is encoded once per process, not once per open inbox
    (the cache holds the event itself, so its identity cannot be taken by another)."""
    key = (id(event), mine)
    cached = _encoded_frames.get(key)
    if cached is not None and cached[0] is event:
        return cached[1]
    event_id = event.get("id")
    data = json.dumps({**event, "mine": mine}, default=str)
    head = f"id: {event_id}\n" if isinstance(event_id, int) else ""
    encoded = f"{head}event: change\ndata: {data}\n\n".encode()
    if len(_encoded_frames) >= _ENCODED_KEEP:
        _encoded_frames.clear()
    _encoded_frames[key] = (event, encoded)
    return encoded


def _backlog(last_id: int | None) -> tuple[list[dict], bool]:
    if last_id is None:
        return [], False
    missed = events_since(last_id)
    return (missed or []), missed is None


def stream_sync(*, frame: Callable[[dict], bytes | None], last_id: int | None) -> Iterator[bytes]:
    """The blocking stream (WSGI): subscribes now, before the first byte, so nothing published after the
    call is missed."""
    try:
        listener = events_listen(deadline=time.monotonic() + STREAM_SECONDS)
        missed, gap = _backlog(last_id)
    except Exception:  # Redis away: say live updates paused; the browser comes back after ``retry``
        logger.warning("event stream: no live events to listen to", exc_info=True)
        return iter([RETRY, frame({"kind": "live.paused"}) or b""])

    def body() -> Iterator[bytes]:
        yield RETRY
        if gap:
            yield RESYNC
        sent = last_id or 0
        for event in missed:
            sent = max(sent, event.get("id", 0))
            if (data := frame(event)) is not None:
                yield data
        yield frame(READY) or b""
        last_beat = time.monotonic()
        try:
            for event in listener:
                if event is None:
                    if time.monotonic() - last_beat >= HEARTBEAT_SECONDS:
                        last_beat = time.monotonic()
                        yield b": heartbeat\n\n"
                    continue
                event_id = event.get("id")
                if isinstance(event_id, int):
                    if event_id <= sent:
                        continue
                    sent = event_id
                if (data := frame(event)) is not None:
                    yield data
        except Exception:  # Redis went away mid-stream: say so and end; the browser reconnects with its id
            logger.warning("event stream: lost the live events", exc_info=True)
            yield frame({"kind": "live.paused"}) or b""

    return body()


async def stream_async(*, frame: Callable[[dict], bytes | None], last_id: int | None) -> AsyncIterator[bytes]:
    """The stream that costs no thread (ASGI): a queue on the process's hub, heartbeats while it is quiet,
    dropped when the browser reads too slowly (the hub puts ``DROPPED`` in its queue)."""
    hub = live_hub()
    queue = hub.subscribe()
    try:
        yield RETRY
        missed, gap = await sync_to_async(_backlog, thread_sensitive=False)(last_id)
        if gap:
            yield RESYNC
        sent = last_id or 0
        for event in missed:
            sent = max(sent, event.get("id", 0))
            if (data := frame(event)) is not None:
                yield data
        yield frame(READY if hub.healthy else {"kind": "live.paused"}) or b""
        deadline = time.monotonic() + STREAM_SECONDS
        while (remaining := deadline - time.monotonic()) > 0:
            try:
                event = await asyncio.wait_for(queue.get(), timeout=min(HEARTBEAT_SECONDS, remaining))
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            if event is DROPPED:
                return
            event_id = event.get("id")
            if isinstance(event_id, int):
                if event_id <= sent:
                    continue
                sent = event_id
            if (data := frame(event)) is not None:
                yield data
    finally:
        hub.unsubscribe(queue)
