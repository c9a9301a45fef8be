"""Live events: published on Redis pub/sub after commit, or, with no Redis configured (the embedded default),
as rows of the LiveEvent table that the event stream polls and prunes."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis
import redis.asyncio
from django.conf import settings
from django.db import connection
from django.utils import timezone

from foundation import live
from foundation.live import event_publish, events_listen, events_since
from foundation.models import LiveEvent
from inbox.actions.triage import mention_close
from tests.factories import MembershipFactory, MentionFactory, TeamFactory
from tests.own_loop import run_in_own_loop


@pytest.fixture
def channel(monkeypatch) -> str:
    # Redis pub/sub ignores the database number, and other checkouts' suites publish on the same server at
    # the same time: this run listens on a channel of its own, through the same publish path.
    name = f"socialops:events:test:{uuid.uuid4().hex}"
    monkeypatch.setattr(live, "EVENTS_CHANNEL", name)
    return name


@pytest.fixture
def subscriber(channel) -> Iterator:
    client = redis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(channel)
    pubsub.get_message(timeout=1)  # the subscription is confirmed
    yield pubsub
    pubsub.close()
    client.close()


def received(pubsub, *, quiet: float = 0.3) -> list[dict]:
    out = []
    while (message := pubsub.get_message(timeout=quiet)) is not None:
        out.append(json.loads(message["data"]))
    return out


def without_ids(events: list[dict]) -> list[dict]:
    """The events as published, less the id each was given (checked by the tests of ids)."""
    return [{key: value for key, value in event.items() if key != "id"} for event in events]


@pytest.fixture
def no_redis(settings) -> None:
    """The embedded default: no REDIS_URL, so live events go through the LiveEvent table."""
    settings.REDIS_URL = None


def next_live_event_id(pk: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('inbox_liveevent', 'id'), %s)", [pk - 1])


# --- Redis --------------------------------------------------------------------------------------------------


def test_an_event_is_published_on_the_redis_channel_as_json(subscriber):
    at = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    handed_on = event_publish("mention.closed", {"ids": [7], "teams": [3], "actor": "ada", "at": at})

    assert handed_on is True
    assert without_ids(received(subscriber)) == [
        {
            "kind": "mention.closed",
            "ids": [7],
            "teams": [3],
            "actor": "ada",
            "at": "2026-03-02 12:00:00+00:00",
        }
    ]


@pytest.mark.django_db
def test_with_redis_no_live_event_row_is_written(subscriber):
    event_publish("mention.closed", {"ids": [7], "teams": [3]})

    assert len(received(subscriber)) == 1
    assert LiveEvent.objects.count() == 0


def test_listening_on_redis_yields_events_as_they_come_skips_what_is_not_json_and_ends_at_the_deadline(
    channel,
):
    stream = events_listen(deadline=time.monotonic() + 2.5)
    assert next(stream) is None  # subscribed, nothing yet
    publisher = redis.Redis.from_url(settings.REDIS_URL)

    event_publish("mention.assigned", {"ids": [1], "teams": [2]})
    publisher.publish(channel, "not json")
    event_publish("mention.closed", {"ids": [3], "teams": [2]})
    publisher.close()

    first, second = next(stream), next(stream)
    assert without_ids([first, second]) == [
        {"kind": "mention.assigned", "ids": [1], "teams": [2]},
        {"kind": "mention.closed", "ids": [3], "teams": [2]},
    ]
    assert second["id"] == first["id"] + 1
    started = time.monotonic()
    rest = list(stream)
    assert set(rest) <= {None}  # heartbeats only, then the stream ends
    assert time.monotonic() - started < 3.5


@pytest.mark.django_db
def test_a_triage_action_publishes_after_commit_and_not_before(
    subscriber, django_capture_on_commit_callbacks
):
    team = TeamFactory()
    ada = MembershipFactory(team=team, user__username="ada").user
    mention = MentionFactory(team=team)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        mention_close(actor=ada, mention=mention)
    before_commit = received(subscriber)
    for callback in callbacks:
        callback()

    assert before_commit == []
    assert without_ids(received(subscriber)) == [
        {"kind": "mention.closed", "ids": [mention.pk], "teams": [team.pk], "actor": "ada"}
    ]


# --- The LiveEvent table (no Redis) -------------------------------------------------------------------------


@pytest.mark.django_db
def test_without_redis_an_event_is_a_row_and_nothing_goes_to_redis(subscriber, no_redis):
    # (subscriber comes first: it connects to the test Redis before REDIS_URL is emptied)
    handed_on = event_publish("mention.closed", {"ids": [7], "teams": [3], "actor": "ada"})

    assert handed_on is True
    assert list(LiveEvent.objects.values_list("kind", "payload")) == [
        ("mention.closed", {"kind": "mention.closed", "ids": [7], "teams": [3], "actor": "ada"})
    ]
    assert received(subscriber) == []


@pytest.mark.django_db
def test_without_redis_a_triage_action_writes_one_row_after_commit(
    no_redis, django_capture_on_commit_callbacks
):
    team = TeamFactory()
    ada = MembershipFactory(team=team, user__username="ada").user
    mention = MentionFactory(team=team)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        mention_close(actor=ada, mention=mention)
    rows_before_commit = LiveEvent.objects.count()
    for callback in callbacks:
        callback()

    assert rows_before_commit == 0
    assert list(LiveEvent.objects.values_list("kind", "payload")) == [
        (
            "mention.closed",
            {"kind": "mention.closed", "ids": [mention.pk], "teams": [team.pk], "actor": "ada"},
        )
    ]


@pytest.mark.django_db
def test_every_hundredth_row_prunes_the_rows_older_than_ten_minutes(no_redis):
    now = timezone.now()
    stale = LiveEvent.objects.create(kind="old", payload={}, created_at=now - timedelta(minutes=11))
    recent = LiveEvent.objects.create(kind="recent", payload={}, created_at=now - timedelta(minutes=9))
    next_live_event_id(199)

    event_publish("mention.closed", {"ids": [1], "teams": [1]})
    kept_at_199 = set(LiveEvent.objects.values_list("pk", flat=True))
    event_publish("mention.closed", {"ids": [2], "teams": [1]})

    assert kept_at_199 == {stale.pk, recent.pk, 199}
    assert set(LiveEvent.objects.values_list("pk", flat=True)) == {recent.pk, 199, 200}


@pytest.mark.django_db(transaction=True)
def test_a_lost_event_is_logged_and_never_raised(no_redis, caplog):
    with caplog.at_level(logging.WARNING, logger="foundation.live"):
        handed_on = event_publish("x" * 61, {"ids": [1], "teams": [1]})  # longer than the kind column holds

    assert handed_on is False
    assert LiveEvent.objects.count() == 0
    assert [r.getMessage() for r in caplog.records] == [f"could not publish live event {'x' * 61}"]


@pytest.mark.django_db(transaction=True)
def test_listening_without_redis_yields_the_rows_written_since_it_started(no_redis, monkeypatch):
    monkeypatch.setattr(live, "POLL_SECONDS", 0.05)
    event_publish("before", {"ids": [1], "teams": [1]})
    stream = events_listen(deadline=time.monotonic() + 1.5)
    assert next(stream) is None  # nothing new yet; the row written before it started is not sent

    event_publish("mention.assigned", {"ids": [2], "teams": [1]})
    event_publish("mention.closed", {"ids": [3], "teams": [1]})

    first, second = next(stream), next(stream)
    assert without_ids([first, second]) == [
        {"kind": "mention.assigned", "ids": [2], "teams": [1]},
        {"kind": "mention.closed", "ids": [3], "teams": [1]},
    ]
    assert first["id"] < second["id"]  # the rows' keys
    rest = list(stream)  # heartbeats until the deadline, then the stream ends
    assert set(rest) <= {None}


# --- Ids and catching up ------------------------------------------------------------------------------------


def test_each_event_gets_the_next_id_and_a_browser_gets_what_it_missed_after_an_id(channel):
    for n in range(3):
        event_publish("mention.closed", {"ids": [n], "teams": [1]})
    kept = events_since(0)
    first = kept[0]["id"]

    missed = events_since(first)

    assert [event["id"] for event in kept] == [first, first + 1, first + 2]
    assert [(event["id"], event["ids"]) for event in missed] == [(first + 1, [1]), (first + 2, [2])]
    assert events_since(first + 2) == []


def test_when_what_a_browser_missed_is_no_longer_kept_it_is_told_to_reload(channel, monkeypatch):
    monkeypatch.setattr(live, "RECENT_KEEP", 3)
    for n in range(5):
        event_publish("mention.closed", {"ids": [n], "teams": [1]})
    kept = events_since(0)

    assert [event["ids"] for event in kept] == [[2], [3], [4]]  # the newest three
    assert events_since(kept[0]["id"] - 2) is None  # the one after it was dropped: reload
    assert [event["ids"] for event in events_since(kept[0]["id"] - 1)] == [[2], [3], [4]]


@pytest.mark.django_db(transaction=True)
def test_without_redis_the_rows_are_the_kept_events(no_redis):
    for n in range(3):
        event_publish("mention.closed", {"ids": [n], "teams": [1]})
    pks = list(LiveEvent.objects.order_by("pk").values_list("pk", flat=True))

    assert [(event["id"], event["ids"]) for event in events_since(pks[0])] == [(pks[1], [1]), (pks[2], [2])]
    LiveEvent.objects.filter(pk=pks[0]).delete()
    assert events_since(pks[0] - 1) is None  # pruned: reload


# --- The process's hub (ASGI) -------------------------------------------------------------------------------


def test_the_hub_feeds_every_stream_of_the_process_from_one_subscription(channel):
    async def scenario() -> tuple[list, list, int]:
        hub = live.live_hub()
        one, two = hub.subscribe(), hub.subscribe()
        client = redis.asyncio.Redis.from_url(settings.REDIS_URL)
        try:
            for _ in range(100):  # until the hub has subscribed
                if (await client.pubsub_numsub(channel))[0][1] >= 1:
                    break
                await asyncio.sleep(0.05)
            subscribers = (await client.pubsub_numsub(channel))[0][1]
            await asyncio.to_thread(event_publish, "mention.closed", {"ids": [5], "teams": [1]})
            got_one = await asyncio.wait_for(one.get(), timeout=5)
            got_two = await asyncio.wait_for(two.get(), timeout=5)
        finally:
            hub.unsubscribe(one)
            hub.unsubscribe(two)
            await client.aclose()
        return got_one, got_two, subscribers

    got_one, got_two, subscribers = run_in_own_loop(scenario)

    assert subscribers == 1  # two streams, one subscription
    assert got_one is got_two
    assert without_ids([got_one]) == [{"kind": "mention.closed", "ids": [5], "teams": [1]}]


def test_a_stream_that_falls_behind_is_dropped_and_the_others_are_not_held_up(monkeypatch):
    monkeypatch.setattr(live, "STREAM_BUFFER", 3)

    async def scenario() -> tuple[list, list, bool]:
        hub = live.LiveHub()
        slow, fast = asyncio.Queue(maxsize=3), asyncio.Queue(maxsize=100)
        hub.queues.update({slow, fast})
        for n in range(5):
            hub.fan_out({"id": n + 1, "kind": "x", "ids": [n], "teams": [1]})
        slow_got = [slow.get_nowait() for _ in range(slow.qsize())]
        fast_got = [fast.get_nowait() for _ in range(fast.qsize())]
        return slow_got, fast_got, slow in hub.queues

    slow_got, fast_got, slow_still_fed = run_in_own_loop(scenario)

    assert slow_got == [live.DROPPED]
    assert [event["id"] for event in fast_got] == [1, 2, 3, 4, 5]
    assert slow_still_fed is False


def test_when_the_subscription_breaks_the_streams_hear_it_paused_and_then_get_what_was_missed(
    channel, monkeypatch
):
    """Redis down: the hub tells its streams live updates paused; back up, it replays the kept events it
    missed and tells them live updates resumed."""
    broken = {"left": 1}
    real_listen = live.LiveHub._listen_redis

    async def flaky(self):
        if broken["left"]:
            broken["left"] -= 1
            await asyncio.to_thread(event_publish, "mention.closed", {"ids": [9], "teams": [1]})  # missed
            raise ConnectionError("Redis went away")
        await real_listen(self)

    monkeypatch.setattr(live.LiveHub, "_listen_redis", flaky)
    event_publish("mention.closed", {"ids": [8], "teams": [1]})
    seen_before = events_since(0)[-1]["id"]

    async def scenario() -> list:
        hub = live.live_hub()
        hub.last_id = seen_before
        queue = hub.subscribe()
        got = []
        try:
            while len(got) < 3:
                got.append(await asyncio.wait_for(queue.get(), timeout=5))
        finally:
            hub.unsubscribe(queue)
        return got

    paused, replayed, resumed = run_in_own_loop(scenario)

    assert paused == live.PAUSED
    assert (replayed["id"], replayed["ids"]) == (seen_before + 1, [9])
    assert resumed == {**live.RESUMED, "complete": True}
