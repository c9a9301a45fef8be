"""Redis down for 20 s while agents reply and channels are pulled: the inbox answers throughout, replies
written during the outage are delivered exactly once when it is back, and pulls wait and then resume.

One redis-server of the test's own (another port) is everything Redis is to the product: the cache (locks,
presence), the live events and the Celery broker. A real Celery worker (solo pool, in a thread of this
process) takes the tasks; the test plays beat, running the replies' sweeper as its schedule would once Redis
is back. The simulated network counts every reply it is sent.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.urls import reverse

from channels.connectors.simulated import SimulatedConnector
from channels.models import Channel
from foundation import cache as resilient
from foundation import live
from inbox.actions.replies import replies_send_due
from inbox.models import MentionChannel, Reply
from inbox.outbox import QUEUE_UNREACHABLE
from inbox.tasks import channel_pull_task
from socialops.celery import app as celery_app
from tests.factories import ChannelFactory, MembershipFactory, MentionFactory, segment
from tests.inbox.test_outbox_faults import _use_broker
from tests.redis_server import RedisServer

OUTAGE_SECONDS = 20  # the issue's outage: two ticks of the replies' sweeper (every 10 s)
BACKLOG = 300  # posts waiting on the pulled channel
PAGE = 100
HTMX = {"HTTP_HX_REQUEST": "true"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.usefixtures("six_segments"),
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
]


@pytest.fixture
def redis_of_our_own(settings, monkeypatch) -> Iterator[RedisServer]:
    """Cache, live events and broker all on one Redis server the test stops and starts; a worker on it."""
    server = RedisServer().start()
    url = f"redis://127.0.0.1:{server.port}/0"
    settings.REDIS_URL = url
    settings.CACHES = {
        "default": {
            "BACKEND": "foundation.cache.ResilientRedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
    monkeypatch.setattr(resilient, "RETRY_SECONDS", 0.5)
    monkeypatch.setattr(resilient, "_down_until", 0.0)
    monkeypatch.setattr(live, "_local", threading.local())  # no client of another Redis kept by a thread
    broker_url, options = celery_app.conf.broker_url, dict(celery_app.conf.broker_transport_options)
    _use_broker(url, options)
    try:
        with start_worker(
            celery_app, pool="solo", perform_ping_check=False, loglevel="WARNING", shutdown_timeout=30
        ):
            yield server
    finally:
        server.stop()
        _use_broker(broker_url, options)
        resilient._down_until = 0.0


@pytest.fixture
def posts(monkeypatch) -> list[tuple[str, str]]:
    """(post answered, text) of every reply the simulated network received, in order."""
    received: list[tuple[str, str]] = []
    real = SimulatedConnector.reply

    def reply(self: SimulatedConnector, channel: Any, *, in_reply_to: str, text: str) -> Any:
        received.append((in_reply_to, text))
        return real(self, channel, in_reply_to=in_reply_to, text=text)

    monkeypatch.setattr(SimulatedConnector, "reply", reply)
    return received


def wait_until(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)


def stored(channel: Channel) -> int:
    return MentionChannel.objects.filter(channel=channel).count()


def test_redis_down_20_s_during_replies_and_pulls_delivers_every_reply_once_and_the_inbox_keeps_answering(
    client: Any, redis_of_our_own: RedisServer, posts: list[tuple[str, str]]
) -> None:
    team = segment("customer-relations").team
    agent = MembershipFactory(team=team).user
    answering = ChannelFactory()
    mentions = [
        MentionFactory(team=team, on_channels=[answering], text=f"Order {n} never came") for n in range(4)
    ]
    pulled = ChannelFactory(credentials={"posts_per_pull": PAGE, "backlog": BACKLOG})
    client.force_login(agent)

    def reply(n: int) -> Any:
        url = reverse("inbox:reply", args=[mentions[n].pk])
        return client.post(url, {"text": f"Sorry, on its way ({n})"}, **HTMX)

    assert reply(0).status_code == 200
    wait_until(lambda: len(posts) == 1, timeout=30, what="the reply before the outage is sent")

    redis_of_our_own.stop()
    down_at = time.monotonic()
    during = [reply(1), reply(2)]
    pull_during = channel_pull_task.apply(args=[pulled.pk]).get()  # a worker holding a pull task
    pages, slowest = [], 0.0
    while time.monotonic() - down_at < OUTAGE_SECONDS:
        for url, headers in (
            (reverse("inbox:index"), {}),
            (reverse("inbox:mention_list"), HTMX),
            (reverse("inbox:detail", args=[mentions[1].pk]), HTMX),
        ):
            started = time.monotonic()
            pages.append(client.get(url, **headers))
            slowest = max(slowest, time.monotonic() - started)
        time.sleep(1)
    swept_during = replies_send_due()
    queued_during = list(
        Reply.objects.filter(mention__in=mentions[1:3]).order_by("pk").values_list("state", "error")
    )
    pulled_during = stored(pulled)
    posts_during = len(posts)
    assert reply(3).status_code == 200  # the last one just before Redis comes back
    redis_of_our_own.start()

    # Beat's next sweep after Redis is back, then the worker; the channel's next due pull.
    time.sleep(resilient.RETRY_SECONDS)
    swept = replies_send_due()
    channel_pull_task.delay(pulled.pk)
    wait_until(
        lambda: Reply.objects.filter(state=Reply.State.SENT).count() == 4,
        timeout=30,
        what="every reply is sent",
    )
    wait_until(lambda: stored(pulled) == BACKLOG, timeout=30, what="the pull resumes")
    swept_again = replies_send_due()  # the next tick: nothing left to hand off
    time.sleep(1)  # anything handed off twice would reach the worker by now

    assert [response.status_code for response in during] == [200, 200]
    assert {response.status_code for response in pages} == {200}
    # No page waited on the dead server (a cache call may wait up to its 1 s connect and 2 s read timeouts).
    assert slowest < 5
    assert "the cache server (Redis) is not answering" in pages[0].content.decode()
    assert "Order 3 never came" in pages[0].content.decode()  # not replied to yet: still in the queue
    assert QUEUE_UNREACHABLE in pages[-1].content.decode()  # the reply's pane says why it waits
    assert queued_during == [(Reply.State.QUEUED, QUEUE_UNREACHABLE)] * 2
    assert (swept_during, pull_during, pulled_during, posts_during) == ([], None, 0, 1)
    assert sorted(swept) == sorted(
        Reply.objects.filter(mention__in=mentions[1:]).values_list("pk", flat=True)
    )
    assert swept_again == []
    assert Counter(posts) == {
        (mention.external_id, f"Sorry, on its way ({n})"): 1 for n, mention in enumerate(mentions)
    }
    assert (
        list(Reply.objects.order_by("pk").values_list("state", "attempts", "error"))
        == [(Reply.State.SENT, 1, "")] * 4
    )
    assert MentionChannel.objects.filter(channel=pulled).values(
        "mention__external_id"
    ).distinct().count() == (BACKLOG)
