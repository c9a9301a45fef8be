"""With Redis away the product degrades instead of failing: pages and actions work, presence and live
updates pause (a banner says so), locks are never granted blind, and /healthz says "degraded" while /readyz
stays ready. A real redis-server of the test's own, on another port, is stopped and started again."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.urls import reverse

from foundation import cache as resilient
from inbox.actions.triage import mention_close
from inbox.models import Mention
from tests.factories import MembershipFactory, MentionFactory, segment
from tests.redis_server import RedisServer, free_port


@pytest.fixture
def redis_of_our_own(settings, monkeypatch) -> Iterator[RedisServer]:
    """The cache on a Redis server this test starts and stops; the breaker's memory reset around it."""
    server = RedisServer().start()
    settings.CACHES = {
        "default": {
            "BACKEND": "foundation.cache.ResilientRedisCache",
            "LOCATION": f"redis://127.0.0.1:{server.port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
    monkeypatch.setattr(resilient, "RETRY_SECONDS", 0.5)
    monkeypatch.setattr(resilient, "_down_until", 0.0)
    yield server
    server.stop()
    resilient._down_until = 0.0


def test_the_cache_answers_as_an_empty_one_while_redis_is_down_and_recovers_by_itself(redis_of_our_own):
    cache.set("kept", 1)
    assert cache.get("kept") == 1

    redis_of_our_own.stop()
    started = time.monotonic()
    missed = cache.get("kept", "gone")
    locked = cache.add("lock", 1)
    again = cache.get("kept", "gone")  # the breaker is open: no second wait for a connection
    elapsed = time.monotonic() - started

    assert (missed, locked, again) == ("gone", False, "gone")
    assert resilient.cache_available() is False
    assert elapsed < 2.5
    with pytest.raises(ValueError):
        cache.incr("counter")

    redis_of_our_own.start()
    time.sleep(0.6)  # past RETRY_SECONDS
    cache.set("kept", 2)
    assert cache.get("kept") == 2
    assert resilient.cache_available() is True


@pytest.mark.django_db
def test_with_redis_down_the_inbox_works_and_says_live_updates_paused(client, redis_of_our_own):
    team = segment("customer-relations").team
    agent = MembershipFactory(team=team).user
    mention = MentionFactory(team=team, text="Where is my order?")
    client.force_login(agent)
    redis_of_our_own.stop()

    page = client.get(reverse("inbox:index"))
    presence = client.post(reverse("inbox:presence", args=[mention.pk]), {"state": "viewing"})
    mention_close(actor=agent, mention=mention)

    assert page.status_code == 200
    assert "Where is my order?" in page.content.decode()
    assert "the cache server (Redis) is not answering" in page.content.decode()
    assert presence.status_code == 200
    assert presence.json() == {"viewers": []}
    assert Mention.objects.get(pk=mention.pk).status == Mention.Status.CLOSED


@pytest.mark.django_db
def test_healthz_reports_each_dependency_and_readyz_stays_ready_without_redis(client, redis_of_our_own):
    healthy = client.get("/healthz").json()
    redis_of_our_own.stop()

    degraded = client.get("/healthz")
    ready = client.get("/readyz")

    assert healthy == {"status": "ok", "database": "ok", "cache": "ok"}
    assert (degraded.status_code, degraded.json()) == (
        200,
        {"status": "degraded", "database": "ok", "cache": "unreachable"},
    )
    assert (ready.status_code, ready.json()) == (200, {"ready": True})


def test_without_the_database_healthz_and_readyz_answer_503():
    """A process whose database does not answer (a port nothing listens on) is neither healthy nor ready."""
    from tests.test_settings import manage

    script = (
        "import json; from django.test import Client; c = Client(HTTP_HOST='inbox.example.com'); "
        "h, r = c.get('/healthz', secure=True), c.get('/readyz', secure=True); "
        "print(json.dumps([h.status_code, h.json()['database'], r.status_code, r.json()]))"
    )

    result = manage(
        "shell", "--no-imports", "-c", script, database_url=f"postgres://x@127.0.0.1:{free_port()}/x"
    )

    assert json.loads(result.stdout) == [503, "unreachable", 503, {"ready": False}]
