"""Locks that live as long as their holder: short-lived in the cache, renewed while the work runs.

A pull takes its channel's lock for ``ttl`` seconds and a heartbeat renews it every ``ttl / 3`` while the
pull runs, so a worker that dies (SIGKILL, the machine gone) lets its lock lapse within ``ttl`` and another
worker pulls the channel again; a live pull, however long, keeps it. With the cache unreachable the lock is
not granted (``foundation.cache``), and the work waits.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache

logger = logging.getLogger(__name__)


@contextmanager
def held_lock(key: str, *, ttl: int) -> Iterator[bool]:
    """Yield whether the lock was taken; while it is, renew it every ``ttl / 3`` s and release it at the end.

    Renewal and release check that the lock is still ours first (a get, then a touch or delete: a lock that
    lapsed between the two could be another's; the work it guards is idempotent, so the rare overlap costs
    a repeated pull, never data)."""
    token = uuid.uuid4().hex
    if not cache.add(key, token, timeout=ttl):
        yield False
        return
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(ttl / 3):
            try:
                if cache.get(key) != token:
                    logger.warning("lock %s was lost while held (it lapsed or the cache was down)", key)
                    return
                cache.touch(key, ttl)
            except Exception:  # a missed renewal is retried at the next beat
                logger.warning("could not renew lock %s", key, exc_info=True)

    heartbeat = threading.Thread(target=beat, name=f"lock-heartbeat:{key}", daemon=True)
    heartbeat.start()
    try:
        yield True
    finally:
        stop.set()
        heartbeat.join(timeout=5)
        if cache.get(key) == token:
            cache.delete(key)
