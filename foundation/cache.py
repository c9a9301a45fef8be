"""The cache when Redis is away: a Redis cache backend that degrades instead of failing.

Presence, sign-in counters, locks, backtest drafts and "already queued" marks live in the cache. With Redis
down, Django's own backend raises on every call, so the inbox answered 500 while ``/healthz`` said 200. This
backend answers as an empty cache instead: reads miss, writes are dropped, and ``add`` (what locks use)
reports the key as taken, so work that needs a lock waits for Redis rather than running twice. After a
failure it does not try Redis again for ``RETRY_SECONDS`` (a call would wait for the connect timeout each
time), and ``cache_available()`` says so (the page banner and ``/healthz``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0
_down_until = 0.0
_lock = threading.Lock()


def _failures() -> tuple[type[BaseException], ...]:
    import redis

    return (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def cache_available() -> bool:
    """False while the cache server is known to be unreachable (since a failure, for ``RETRY_SECONDS``)."""
    return time.monotonic() >= _down_until


def cache_ping() -> bool:
    """Ask the cache server now (``/healthz``): True when it answers."""
    try:
        backend = cache._cache  # the backend's client (Django's RedisCache)
        client = backend.get_client(write=True)
        return bool(client.ping())
    except AttributeError:  # not Redis (the embedded default's file cache): nothing to ask
        return True
    except _failures():
        _mark_down()
        return False


def _mark_down() -> None:
    global _down_until
    with _lock:
        first = time.monotonic() >= _down_until
        _down_until = time.monotonic() + RETRY_SECONDS
    if first:
        logger.warning(
            "the cache (Redis) is unreachable: presence pauses; trying again in %ss", RETRY_SECONDS
        )


def _guarded(name: str, fallback: Callable[..., Any]) -> Callable[..., Any]:
    def method(self: ResilientRedisCache, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < _down_until:
            return fallback(*args, **kwargs)
        try:
            return getattr(RedisCache, name)(self, *args, **kwargs)
        except _failures():
            _mark_down()
            return fallback(*args, **kwargs)

    method.__name__ = name
    return method


def _default(key: Any, default: Any = None, *args: Any, **kwargs: Any) -> Any:
    return default


def _not_counted(key: Any, *args: Any, **kwargs: Any) -> int:
    raise ValueError(f"{key!r} is not counted while the cache is unreachable")


class ResilientRedisCache(RedisCache):
    """Django's Redis cache, answering as an empty cache while Redis is unreachable (see the module)."""

    get = _guarded("get", _default)
    get_many = _guarded("get_many", lambda keys, *a, **k: {})
    has_key = _guarded("has_key", lambda *a, **k: False)
    add = _guarded("add", lambda *a, **k: False)  # taken: a lock is never granted blind
    set = _guarded("set", lambda *a, **k: None)
    set_many = _guarded("set_many", lambda data, *a, **k: list(data))
    touch = _guarded("touch", lambda *a, **k: False)
    delete = _guarded("delete", lambda *a, **k: False)
    delete_many = _guarded("delete_many", lambda *a, **k: None)
    incr = _guarded("incr", _not_counted)
    clear = _guarded("clear", lambda *a, **k: False)
