"""Shared fixtures. The suite runs against real PostgreSQL and Redis (see `make test`)."""

from __future__ import annotations

import importlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.clock import clock_shift_start, clock_shift_stop

SHARED_FIXTURES = Path(__file__).resolve().parent.parent.parent / "shared" / "fixtures"


def pytest_configure(config: pytest.Config) -> None:
    clock_shift_start()  # `make test-future`: a year ahead, before anything is collected
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        raise pytest.UsageError(
            "socialops tests run against PostgreSQL, but DATABASE_URL is not set to one. "
            "Run `make test`, or set DATABASE_URL=postgres://postgres@127.0.0.1:5432/socialops "
            "and REDIS_URL=redis://127.0.0.1:6379/15."
        )
    if not settings.REDIS_URL:
        raise pytest.UsageError(
            "socialops tests run against Redis, but REDIS_URL is not set. Run `make test`, or set "
            "REDIS_URL=redis://127.0.0.1:6379/15."
        )


def pytest_unconfigure(config: pytest.Config) -> None:
    clock_shift_stop()


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The recorded real network responses beside the clone (../shared/fixtures).

    Without them, tests that replay them skip; with REQUIRE_SHARED_FIXTURES=1 (as in CI) they fail instead.
    """
    if not SHARED_FIXTURES.is_dir():
        reason = f"recorded network responses not found at {SHARED_FIXTURES}"
        if os.environ.get("REQUIRE_SHARED_FIXTURES") == "1":
            pytest.fail(f"{reason}, and REQUIRE_SHARED_FIXTURES=1 says they must be there")
        pytest.skip(reason)
    return SHARED_FIXTURES


@pytest.fixture(autouse=True)
def _no_event_consumers_woken(settings) -> None:
    """A commit that records domain events queues each consumer's task (SOCIALOPS_EVENT_CONSUMERS, which
    names the integrations' consumers by default). Tests that read the broker's queue expect only the tasks
    their action queues, so no consumer is woken unless a test sets the list itself."""
    settings.SOCIALOPS_EVENT_CONSUMERS = []


@pytest.fixture(autouse=True)
def _clean_cache() -> None:
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def six_segments(transactional_db: None) -> None:
    """Transactional tests start from emptied tables: put back what the data migration wrote."""
    from django.apps import apps

    migration = importlib.import_module("channels.migrations.0002_six_segments")
    migration.create_segments(apps, None)


WAIT_SECONDS = 30


def wait_until(condition, *, timeout: float = WAIT_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the worker did not finish in time"
        time.sleep(0.1)


@pytest.fixture
def worker() -> Iterator[None]:
    """A real Celery worker (solo pool, in a thread) consuming from Redis."""
    from celery.contrib.testing.worker import start_worker

    from socialops.celery import app as celery_app

    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge("celery")  # nothing left over from an earlier run
    with start_worker(
        celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
    ):
        yield


@pytest.fixture
def radar_redis_store():
    """The crisis radar's Redis store, emptied of its keys before and after the test."""
    import redis

    from crisis.store import RedisStore

    client = redis.Redis.from_url(settings.REDIS_URL)

    def clear() -> None:
        for name in client.scan_iter(f"{RedisStore.PREFIX}:*"):
            client.delete(name)

    clear()
    yield RedisStore(client)
    clear()
