"""Replies through broker faults, with a Redis server of the test's own (another port) as the Celery broker:
a reply written while the broker is down is saved without an error and sent once by the sweeper when the
broker is back; a retry waiting when Redis restarts (losing everything it held) still happens when due.

The send tasks are read from the broker's queue as a worker would take them and run in this process.
Mastodon is faked at the HTTP layer with its recorded answers (../shared/fixtures).
"""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
import responses
import time_machine
from django.urls import reverse

from inbox.actions.replies import replies_send_due
from inbox.models import Reply
from inbox.outbox import QUEUE_UNREACHABLE
from inbox.tasks import reply_send_task
from socialops.celery import app as celery_app
from teams.models import Team
from tests import redis_server
from tests.channels.connectors.test_mastodon_contract import serve
from tests.inbox.test_replies import (
    STATUSES_URL,
    mastodon_channel,
    mastodon_mention,
    mastodon_own_statuses,
    mastodon_recordings,
    posts_made,
    queued_reply,
    serve_original,
)

BROKER_PORT = 6397  # this suite's own Redis (the shared one is 6379)
HTMX = {"HTTP_HX_REQUEST": "true"}

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


class RedisServer(redis_server.RedisServer):
    """The broker's own Redis, with a look at its queue."""

    def tasks(self) -> list[tuple[str, str]]:
        """(task name, arguments) of the messages waiting in the broker's queue, oldest first."""
        raw = redis.Redis(port=self.port).lrange("celery", 0, -1)
        messages = [json.loads(item) for item in reversed(raw)]
        return [(m["headers"]["task"], m["headers"]["argsrepr"]) for m in messages]

    def take(self) -> list[int]:
        """Take every queued send task's reply id off the queue, as a worker would."""
        client = redis.Redis(port=self.port)
        ids = []
        while (raw := client.rpop("celery")) is not None:
            message = json.loads(raw)
            assert message["headers"]["task"] == reply_send_task.name
            ids.append(int(message["headers"]["argsrepr"].strip("(),")))
        return ids


def _port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0


def _use_broker(url: str, transport_options: dict[str, Any]) -> None:
    celery_app.conf.broker_url = url
    celery_app.conf.broker_transport_options = transport_options
    # Connections and producers are pooled per app: drop them so the next task goes to ``url``.
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker() -> Iterator[RedisServer]:
    """The Celery broker moved to a Redis on BROKER_PORT, not started yet (the broker is down)."""
    assert _port_is_free(BROKER_PORT), f"something already listens on {BROKER_PORT}"
    server = RedisServer(BROKER_PORT)
    url, options = celery_app.conf.broker_url, dict(celery_app.conf.broker_transport_options)
    _use_broker(f"redis://127.0.0.1:{BROKER_PORT}/0", options)
    try:
        yield server
    finally:
        server.stop()
        _use_broker(url, options)


def run_sent_tasks(broker: RedisServer) -> list[int]:
    ids = broker.take()
    for reply_id in ids:
        reply_send_task.apply(args=[reply_id])
    return ids


@pytest.mark.django_db
def test_a_reply_written_while_the_broker_is_down_is_saved_without_an_error_and_sent_once_when_it_is_back(
    client: Any,
    team: Team,
    agent: Any,
    broker: RedisServer,
    network: responses.RequestsMock,
    shared_fixtures: Path,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    original, answer = mastodon_recordings(shared_fixtures)
    serve_original(network, original)
    serve(network, answer)
    mention = mastodon_mention(mastodon_channel(), team)
    client.force_login(agent)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("inbox:reply", args=[mention.pk]), {"text": "same!"}, **HTMX)

    assert response.status_code == 200
    reply = Reply.objects.get(mention=mention)
    assert (reply.state, reply.error, reply.handed_off_at, reply.attempts) == (
        Reply.State.QUEUED,
        QUEUE_UNREACHABLE,
        None,
        0,
    )
    pane = client.get(reverse("inbox:detail", args=[mention.pk]), **HTMX).content.decode()
    assert QUEUE_UNREACHABLE in pane
    assert reverse("inbox:reply_retry", args=[reply.pk]) in pane
    # Still down: the sweeper cannot hand it off either, and keeps it due.
    assert replies_send_due() == []

    broker.start()
    assert replies_send_due() == [reply.pk]
    assert replies_send_due() == []  # handed off once, not on every sweep
    assert broker.tasks() == [(reply_send_task.name, f"({reply.pk},)")]
    reply.refresh_from_db()
    assert reply.error == ""  # no longer waiting for the queue
    with django_capture_on_commit_callbacks(execute=True):
        assert run_sent_tasks(broker) == [reply.pk]
        reply_send_task.apply(args=[reply.pk])  # the broker delivering it again changes nothing

    reply.refresh_from_db()
    assert (reply.state, reply.attempts, reply.error) == (Reply.State.SENT, 1, "")
    assert posts_made(network) == 1


@pytest.mark.django_db
def test_a_retry_waiting_when_redis_restarts_still_happens_when_due(
    team: Team,
    agent: Any,
    broker: RedisServer,
    network: responses.RequestsMock,
    shared_fixtures: Path,
    django_capture_on_commit_callbacks: Callable[..., Any],
) -> None:
    original, answer = mastodon_recordings(shared_fixtures)
    serve_original(network, original)
    network.add(responses.POST, STATUSES_URL, status=502, json={"error": "Bad Gateway"})
    mastodon_own_statuses(network)
    serve(network, answer)
    broker.start()
    with django_capture_on_commit_callbacks(execute=True):
        reply = queued_reply(mastodon_mention(mastodon_channel(), team), agent, "same!")
    assert run_sent_tasks(broker) == [reply.pk]
    reply.refresh_from_db()
    assert (reply.state, reply.attempts) == (Reply.State.QUEUED, 1)
    retry_at = reply.next_attempt_at

    broker.stop()
    broker.start()  # nothing on disk: whatever Redis held is gone
    assert broker.tasks() == []
    assert replies_send_due() == []  # not due yet

    with time_machine.travel(retry_at + timedelta(seconds=1), tick=True):
        assert replies_send_due() == [reply.pk]
        with django_capture_on_commit_callbacks(execute=True):
            assert run_sent_tasks(broker) == [reply.pk]

    reply.refresh_from_db()
    assert (reply.state, reply.attempts) == (Reply.State.SENT, 2)
    assert posts_made(network) == 2  # the 502, then the reply, after looking for it
