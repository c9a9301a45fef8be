"""The live stores (Redis, and the Django cache of the embedded default) hold the same counters as the
replay's in-memory store, so the detector reads the same figures from each."""

from __future__ import annotations

import random
from collections import Counter

import pytest
import redis
from django.conf import settings
from django.core.cache import cache

from crisis.signals import REPOST_MINUTES, counts_by_minute, post_signal
from crisis.store import CacheStore, MemoryStore, RedisStore

WORDS = ["stove", "recall", "order", "late", "fire", "refund", "thanks", "site", "down"]


@pytest.fixture
def client():
    client = redis.Redis.from_url(settings.REDIS_URL)
    for name in client.scan_iter("crisis:*"):
        client.delete(name)
    yield client
    for name in client.scan_iter("crisis:*"):
        client.delete(name)


def batches(seed: int = 3):
    rng = random.Random(seed)
    start = 28_000_000
    for b in range(12):
        yield counts_by_minute(
            post_signal(
                minute=start + b * 7 + rng.randrange(9),
                text=" ".join(rng.sample(WORDS, 3)),
                channel=rng.choice(["help", "shop"]),
                segment="customer-relations",
                negative=rng.random() < 0.3,
                crisis=rng.random() < 0.1,
                reach=rng.randrange(1000),
            )
            for _ in range(40)
        )


@pytest.mark.parametrize("live", ["redis", "cache"])
def test_live_stores_hold_what_the_memory_store_holds(live: str, client) -> None:
    memory = MemoryStore()
    other = RedisStore(client) if live == "redis" else CacheStore(cache)
    for batch in batches():
        memory.add(batch)
        other.add(batch)
    start = 28_000_000
    for end in (start + 20, start + 50, start + 90):
        for length in (10, 30):
            a, b = memory.window(end, length, hot=3), other.window(end, length, hot=3)
            assert a.scopes == b.scopes and a.terms == b.terms and a.hot == b.hot
    hours = [start // 60 + h for h in (-1, 0, 1, 2)]
    keys = ["all|n", "channel:help|neg", "segment:customer-relations|cri", "term:stove|n"]
    assert memory.hours(hours, keys) == other.hours(hours, keys)
    assert memory.days([start // 1440 - 1, start // 1440], keys) == other.days(
        [start // 1440 - 1, start // 1440], keys
    )
    assert memory.hours(hours, keys)[start // 60]["term:stove|n"] == 0  # hours keep scopes only
    assert Counter(memory.days([start // 1440], keys)[start // 1440])["term:stove|n"] > 0


@pytest.mark.parametrize("live", ["redis", "cache"])
def test_cooldowns_and_minute_claims(live: str, client) -> None:
    store = RedisStore(client) if live == "redis" else CacheStore(cache)
    assert not store.cooling("all:volume", 100)
    store.cool("all:volume", 160)
    assert store.cooling("all:volume", 159) and not store.cooling("all:volume", 160)
    assert store.tick_claim(500) and not store.tick_claim(500) and store.tick_claim(501)


@pytest.mark.parametrize("live", ["memory", "redis", "cache"])
def test_a_text_is_new_once_within_the_repost_window(live: str, client) -> None:
    store = {"memory": MemoryStore(), "redis": RedisStore(client), "cache": CacheStore(cache)}[live]

    assert store.first_seen(["a", "b", "a"], 1000) == [True, True, False]
    assert store.first_seen(["b", "c"], 1010) == [False, True]
    if live == "memory":  # the live stores forget by expiry, after REPOST_MINUTES
        assert store.first_seen(["a"], 1000 + REPOST_MINUTES) == [True]
