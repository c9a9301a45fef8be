"""The inbox's event stream served the ASGI way (what ``manage.py serve`` runs): an async generator on the
process's hub, each event with its id, a reconnecting browser first getting what it missed.

The requests go through Django's ASGI handler (``AsyncClient``), the handler uvicorn calls."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
import redis.asyncio
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import AsyncClient

from foundation import live
from foundation.live import event_publish, events_since
from tests.factories import MembershipFactory, TeamFactory
from tests.own_loop import run_in_own_loop

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def channel(monkeypatch) -> str:
    name = f"socialops:events:test:{uuid.uuid4().hex}"
    monkeypatch.setattr(live, "EVENTS_CHANNEL", name)
    return name


@pytest.fixture
def people():
    care, crisis = TeamFactory(slug="care"), TeamFactory(slug="crisis")
    agent = MembershipFactory(team=care, user__username="ada").user
    return agent, care, crisis


async def _frames(body, want: int, timeout: float = 5.0) -> list[bytes]:
    """Read whole SSE frames until ``want`` of them came (the retry line counts as one)."""
    frames: list[bytes] = []
    buffer = b""

    async def read() -> None:
        nonlocal buffer
        async for chunk in body:
            buffer += chunk
            while b"\n\n" in buffer:
                frame, buffer = buffer.split(b"\n\n", 1)
                if not frame.startswith(b": heartbeat") and b'"live.ready"' not in frame:
                    frames.append(frame)  # the stream's "live.ready" is checked where it matters
            if len(frames) >= want:
                return

    await asyncio.wait_for(read(), timeout=timeout)
    return frames


def _data(frame: bytes) -> dict:
    return json.loads(next(line[6:] for line in frame.split(b"\n") if line.startswith(b"data: ")))


async def _until_subscribed(channel: str) -> None:
    client = redis.asyncio.Redis.from_url(settings.REDIS_URL)
    try:
        for _ in range(100):
            if (await client.pubsub_numsub(channel))[0][1] >= 1:
                return
            await asyncio.sleep(0.05)
    finally:
        await client.aclose()


def test_the_async_stream_sends_my_teams_events_with_their_ids_as_they_come(channel, people):
    agent, care, crisis = people

    async def scenario() -> list[bytes]:
        client = AsyncClient()
        await client.aforce_login(agent)
        response = await client.get("/inbox/events/")
        assert response["Content-Type"] == "text/event-stream"
        assert response.is_async  # served by the hub, holding no thread
        body = aiter(response.streaming_content)
        first = await _frames(body, 1)
        await _until_subscribed(channel)
        await sync_to_async(event_publish)("mention.closed", {"ids": [1], "teams": [crisis.pk], "actor": "x"})
        await sync_to_async(event_publish)("mention.closed", {"ids": [2], "teams": [care.pk], "actor": "ada"})
        rest = await _frames(body, 1)
        await body.aclose()
        return first + rest

    retry, change = run_in_own_loop(scenario)

    assert retry == b"retry: 2000"
    head, event_line, _data_line = change.split(b"\n")
    event = _data(change)
    assert event_line == b"event: change"
    assert head == f"id: {event['id']}".encode()
    assert (event["ids"], event["mine"]) == ([2], True)


def test_a_browser_that_reconnects_with_its_last_id_first_gets_what_it_missed(channel, people):
    agent, care, crisis = people
    event_publish("mention.assigned", {"ids": [10], "teams": [care.pk]})
    seen = events_since(0)[-1]["id"]
    event_publish("mention.closed", {"ids": [11], "teams": [care.pk]})  # missed while away
    event_publish("mention.closed", {"ids": [12], "teams": [crisis.pk]})  # not theirs to see
    event_publish("mention.snoozed", {"ids": [13], "teams": [care.pk]})  # missed too

    async def scenario() -> list[bytes]:
        client = AsyncClient()
        await client.aforce_login(agent)
        response = await client.get("/inbox/events/", headers={"Last-Event-ID": str(seen)})
        body = aiter(response.streaming_content)
        frames = await _frames(body, 3)
        await body.aclose()
        return frames

    _retry, *missed = run_in_own_loop(scenario)

    assert [_data(frame)["ids"] for frame in missed] == [[11], [13]]


def test_a_browser_that_missed_more_than_is_kept_is_told_to_reload(channel, people, monkeypatch):
    agent, care, _crisis = people
    monkeypatch.setattr(live, "RECENT_KEEP", 2)
    for n in range(4):
        event_publish("mention.closed", {"ids": [n], "teams": [care.pk]})
    oldest_kept = events_since(0)[0]["id"]

    async def scenario() -> list[bytes]:
        client = AsyncClient()
        await client.aforce_login(agent)
        response = await client.get(f"/inbox/events/?last={oldest_kept - 2}")
        body = aiter(response.streaming_content)
        frames = await _frames(body, 2)
        await _until_subscribed(live.EVENTS_CHANNEL)
        await sync_to_async(event_publish)("mention.closed", {"ids": [99], "teams": [care.pk]})
        frames += await _frames(body, 1)
        await body.aclose()
        return frames

    _retry, resync, after = run_in_own_loop(scenario)

    assert resync == b"event: resync\ndata: {}"  # the page reloads what it shows, then follows along
    assert _data(after)["ids"] == [99]


def test_a_stream_asks_to_sign_in_rather_than_stream_to_nobody(channel):
    async def scenario():
        return await AsyncClient().get("/inbox/events/")

    response = run_in_own_loop(scenario)

    assert response.status_code in (302, 401, 403)
    assert response["Content-Type"] != "text/event-stream"


def test_the_stream_says_it_listens_after_what_was_missed_so_the_page_counts_itself_live_then(
    channel, people
):
    agent, care, _crisis = people
    event_publish("mention.closed", {"ids": [1], "teams": [care.pk]})
    seen = events_since(0)[-1]["id"]
    event_publish("mention.closed", {"ids": [2], "teams": [care.pk]})

    async def scenario() -> bytes:
        client = AsyncClient()
        await client.aforce_login(agent)
        response = await client.get("/inbox/events/", headers={"Last-Event-ID": str(seen)})
        body = aiter(response.streaming_content)
        buffer = b""
        while buffer.count(b"\n\n") < 3:
            buffer += await asyncio.wait_for(anext(body), timeout=5)
        await body.aclose()
        return buffer

    retry, missed, ready = run_in_own_loop(scenario).split(b"\n\n")[:3]

    assert retry == b"retry: 2000"
    assert _data(missed)["ids"] == [2]
    assert ready == b'event: status\ndata: {"kind": "live.ready"}'
