"""The crisis radar keeps up with ingest.

* ``crisis.posts_per_s``: mentions counted per second by the radar on one core: for each batch of 500
  ``mention.received`` events, ``crisis_events_handle`` reads their mention rows in one query, turns each
  into its counters (scopes and terms) and adds the batch to Redis in one round trip. Simulated posts,
  ingested beforehand (routing on, so the rows carry their sentiment and intent). Goal: 5,000.
* ``crisis.consumer_posts_per_s``: the same through ``events_consume``, which also reads the events from
  the outbox (as ORM rows) and moves the consumer's position: the whole live path.
* ``crisis.signals_per_s``: the pure part alone (signals and counters into the in-memory store).
* ``crisis.tick_ms``: one minute's detector run against Redis (three windows, the baselines of every scope,
  the hot terms), with a week of counters behind it.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import replace

from bench.__main__ import Report, simulated_channel

PAGE = 500
PAGES = 40  # 20,000 posts
ROUNDS = 3


def run(report: Report, *, quick: bool = False) -> None:
    import redis
    from django.conf import settings
    from django.db import connection

    from channels.connectors.simulated import SimulatedConnector
    from channels.services import channel_ref
    from crisis.detector import Detector
    from crisis.services import CONSUMER, crisis_events_handle, post_signals
    from crisis.signals import ALL, CRI, NEG, N, counts_by_minute, key
    from crisis.store import MemoryStore, RedisStore
    from foundation.events import consumer_start, events_consume
    from foundation.models import ConsumerPosition, DomainEvent
    from inbox.services import mentions_ingest

    pages = 4 if quick else PAGES
    client = redis.Redis.from_url(settings.REDIS_URL)
    store = RedisStore(client)

    def clean() -> None:
        for name in client.scan_iter("crisis:*"):
            client.delete(name)

    clean()
    channel = simulated_channel("bench-crisis")
    ref = channel_ref(channel)
    connector = SimulatedConnector(page_size=PAGE)
    start = consumer_start(consumer=CONSUMER)
    cursor: dict = {}
    for _ in range(pages):
        page = connector.fetch(ref, cursor)
        mentions_ingest(channel=channel, posts=page.posts, cursor=page.cursor)
        cursor = dict(page.cursor)
    with connection.cursor() as sql:
        sql.execute("ANALYZE inbox_mention, inbox_author, inbox_auditevent")
    received = DomainEvent.objects.filter(verb="mention.received").count()

    events = list(DomainEvent.objects.filter(verb="mention.received").order_by("id"))
    rates, consumed = [], []
    for _ in range(1 if quick else ROUNDS):
        clean()
        began = time.perf_counter()
        for i in range(0, len(events), PAGE):
            crisis_events_handle(events[i : i + PAGE])
        rates.append(len(events) / (time.perf_counter() - began))

        ConsumerPosition.objects.filter(name=CONSUMER).update(xid=start.xid, event_id=start.event_id)
        clean()
        began = time.perf_counter()
        while events_consume(consumer=CONSUMER, handle=crisis_events_handle, limit=PAGE):
            pass
        consumed.append(received / (time.perf_counter() - began))
    report("posts_per_s", rates)
    report("consumer_posts_per_s", consumed)

    signals = post_signals(events)
    pure = []
    for _ in range(1 if quick else ROUNDS):
        memory = MemoryStore()
        began = time.perf_counter()
        for i in range(0, len(signals), PAGE):
            memory.add(counts_by_minute(signals[i : i + PAGE]))
        pure.append(len(signals) / (time.perf_counter() - began))
    report("signals_per_s", pure)

    # A week of counters behind the current minute (one minute an hour stands for the hour), the ingested
    # posts spread over the last ten minutes, then one minute's detector run, five times.
    now = int(time.time()) // 60
    clean()
    usual = Counter(
        {key(ALL, N): 300, key(ALL, NEG): 40, key(ALL, CRI): 5, key(f"channel:{channel.slug}", N): 300}
    )
    store.add({minute: usual for minute in range(now - 7 * 24 * 60, now - 60, 60)})
    spread = [replace(s, minute=now - 9 + i % 10) for i, s in enumerate(signals)]
    store.add(counts_by_minute(spread))
    ticks = []
    for n in range(5):
        began = time.perf_counter()
        Detector(store).detect(now + n)
        ticks.append(1000 * (time.perf_counter() - began))
    report("tick_ms", ticks)
    clean()
