"""The live radar: the ingest's events feed the counters (one query per batch), the minute tick opens an
incident, records its domain event, and later alerts join it."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from channels.connectors.base import AuthorData, Post
from crisis.detector import VOLUME
from crisis.models import Incident
from crisis.services import CONSUMER, crisis_events_handle, post_signals, radar_tick
from crisis.signals import ALL, NEG, REACH, N, key
from crisis.store import MemoryStore, RedisStore
from foundation.events import consumer_start, events_consume
from foundation.live import EVENTS_CHANNEL
from foundation.models import DomainEvent
from inbox.services import mentions_ingest
from teams.models import Team
from tests.factories import ChannelFactory, TeamFactory, segment

WEEK = 7 * 24 * 60


@pytest.fixture
def store(radar_redis_store):
    return radar_redis_store


def posts(
    count: int,
    *,
    start: int = 0,
    text: str = "@northwind_help my order is late, still waiting",
    created=None,
    reposts: bool = False,
) -> list[Post]:
    created = created or timezone.now() - timedelta(minutes=5)
    return [
        Post(
            network="simulated",
            external_id=f"radar-{start + i}",
            kind="mention",
            text=text if reposts else f"{text} (order {start + i})",
            created_at=created,
            author=AuthorData(
                external_id=f"a-{i % 7}", handle=f"person{i % 7}", display_name="P", follower_count=1000
            ),
            conversation_key=f"radar-{start + i}",
            raw={"id": f"radar-{start + i}"},
        )
        for i in range(count)
    ]


def consume(store: RedisStore) -> int:
    return events_consume(consumer=CONSUMER, handle=lambda batch: crisis_events_handle(batch, store=store))


@pytest.mark.django_db
def test_received_mentions_are_counted_in_their_scopes(store: RedisStore) -> None:
    channel = ChannelFactory(slug="help", segment=segment("customer-relations"))
    consumer_start(consumer=CONSUMER)
    mentions_ingest(channel=channel, posts=posts(12))
    mentions_ingest(
        channel=channel,
        posts=posts(
            3,
            start=100,
            text="THE STOVE CAUGHT FIRE, explosion, evacuate",
            created=timezone.now() - timedelta(days=2),
        ),
    )

    assert consume(store) >= 15  # the received events, and routing's own
    minute = int(timezone.now().timestamp()) // 60
    window = store.window(minute, 5, hot=1)

    # The two-day-old posts are a backfill: received now, but no news.
    assert window.scopes[key(ALL, N)] == 12
    assert window.scopes[key("channel:help", N)] == 12
    assert window.scopes[key("segment:customer-relations", N)] == 12
    assert window.scopes[key(ALL, REACH)] == 12 * 1000
    assert window.terms[key("term:order", N)] == 12 and key("term:stove", N) not in window.terms


@pytest.mark.django_db
def test_reposts_add_reach_only(store: RedisStore) -> None:
    channel = ChannelFactory(slug="help3")
    consumer_start(consumer=CONSUMER)
    mentions_ingest(
        channel=channel, posts=posts(8, start=500, reposts=True, text="RT @x: the stove caught fire")
    )

    consume(store)
    window = store.window(int(timezone.now().timestamp()) // 60, 5, hot=1)

    assert window.scopes[key(ALL, N)] == 1  # one voice, seven times amplified
    assert window.scopes[key(ALL, REACH)] == 8 * 1000
    assert window.terms[key("term:stove", N)] == 1
    assert consume(store) == 0  # nothing is counted twice


@pytest.mark.django_db
def test_a_batch_costs_the_same_queries_whatever_its_size(store: RedisStore) -> None:
    channel = ChannelFactory(slug="help2")
    consumer_start(consumer=CONSUMER)
    mentions_ingest(channel=channel, posts=posts(3, start=200))
    small = list(DomainEvent.objects.filter(verb="mention.received"))
    mentions_ingest(channel=channel, posts=posts(60, start=300))
    large = list(DomainEvent.objects.filter(verb="mention.received"))
    post_signals(small)  # the channel is read once per process

    with CaptureQueriesContext(connection) as few:
        assert len(post_signals(small)) == 3
    with CaptureQueriesContext(connection) as many:
        assert len(post_signals(large)) == 63
    assert len(many.captured_queries) == len(few.captured_queries) == 1


def quiet_weeks(store: MemoryStore, end: int) -> None:
    """Three weeks of 2 posts a minute, a tenth negative, before ``end``."""
    counts = Counter({key(ALL, N): 2, key("channel:help", N): 2})
    for minute in range(end - 3 * WEEK, end):
        extra = Counter({key(ALL, NEG): 1}) if minute % 5 == 0 else Counter()
        store.add({minute: counts + extra})


@pytest.mark.django_db
def test_a_tick_opens_an_incident_and_later_alerts_join_it(django_capture_on_commit_callbacks) -> None:
    teams = [TeamFactory().pk, TeamFactory().pk]
    now = timezone.now()
    minute = int(now.timestamp()) // 60
    store = MemoryStore()
    quiet_weeks(store, minute - 20)
    for m in range(minute - 20, minute):
        store.add({m: Counter({key(ALL, N): 30, key("channel:help", N): 30, key(ALL, NEG): 25})})
    listener = redis.Redis.from_url(settings.REDIS_URL).pubsub(ignore_subscribe_messages=True)
    listener.subscribe(EVENTS_CHANNEL)
    listener.get_message(timeout=1)

    with django_capture_on_commit_callbacks(execute=True):
        alerts = radar_tick(now=now, store=store)

    message = listener.get_message(timeout=5)
    listener.close()
    published = json.loads(message["data"])
    assert published["kind"] == "crisis.alert" and published["leads_only"] is True
    assert set(teams) <= set(published["teams"]) == set(Team.objects.values_list("pk", flat=True))

    assert alerts
    incident = Incident.objects.get()
    assert incident.status == Incident.Status.OPEN
    assert incident.summary == sorted(alerts, key=lambda a: (a.minute, -a.score))[0].text
    assert published["incident"] == incident.pk and published["summary"] == incident.summary
    assert {a["signal"] for a in incident.alerts} >= {VOLUME}
    opened = DomainEvent.objects.get(verb="incident.opened")
    assert opened.object_id == str(incident.pk) and opened.after["alerts"]
    assert radar_tick(now=now, store=store) == []  # each minute is looked at once

    later = now + timedelta(minutes=30)
    for m in range(minute, minute + 30):
        store.add(
            {
                m: Counter(
                    {
                        key(ALL, N): 30,
                        key("channel:help", N): 30,
                        key(ALL, NEG): 25,
                        key("segment:customer-relations", N): 30,
                    }
                )
            }
        )
    more = radar_tick(now=later, store=store)

    assert more, "a new scope alerts while the first ones cool down"
    assert Incident.objects.count() == 1
    incident.refresh_from_db()
    assert len(incident.alerts) == len(alerts) + len(more)
    assert DomainEvent.objects.filter(verb="incident.alerted").count() == 1
