"""Faults, end to end through real Celery workers and a real receiver on 127.0.0.1: a receiver down for a
while, then answering 500, then slow, then healthy gets every event exactly once and each mention's events
in order; a worker killed mid-delivery (SIGKILL) loses nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from django.conf import settings
from django.db import transaction

from foundation.events import event_record
from integrations.tasks import FANOUT_TASK, webhooks_deliver, webhooks_fanout
from socialops.celery import app as celery_app
from tests.factories import MentionFactory
from tests.integrations.conftest import FANOUT_WAIT_SECONDS, event_deliveries, subscribe
from tests.integrations.receiver import Receiver

BASE_DIR = Path(__file__).resolve().parent.parent.parent

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]


def wait_until(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def record_round(mentions, round_number: int) -> list[tuple[int, int]]:
    """One event per mention, each in its own transaction; returns (mention id, event id) pairs."""
    recorded = []
    for mention in mentions:
        with transaction.atomic():
            event = event_record(
                actor=None, verb="mention.assigned", obj=mention, after={"round": round_number}
            )
        recorded.append((mention.pk, event.pk))
    return recorded


def test_a_receiver_down_failing_slow_then_healthy_gets_every_event_once_in_order(worker, settings):
    settings.SOCIALOPS_EVENT_CONSUMERS = [FANOUT_TASK]  # commits wake the fan-out, as in production
    settings.SOCIALOPS_WEBHOOKS_RETRY_BASE_SECONDS = 0.2
    settings.SOCIALOPS_WEBHOOKS_PAUSE_AFTER_FAILURES = 10_000
    receiver = Receiver(slow_seconds=0.3).start()
    subscribe(receiver.url, event_types=["mention.assigned"])
    mentions = MentionFactory.create_batch(5)
    recorded: list[tuple[int, int]] = []
    try:
        receiver.stop()  # down: connections refused
        recorded += record_round(mentions, 1) + record_round(mentions, 2)
        wait_until(
            lambda: event_deliveries().filter(state="failed").count() == 5,
            timeout=FANOUT_WAIT_SECONDS,
            what="the first attempts to the receiver that is down",
        )
        receiver.mode = "fail"
        receiver.start()
        recorded += record_round(mentions, 3)
        wait_until(lambda: len(receiver.received) >= 10, timeout=FANOUT_WAIT_SECONDS, what="500s answered")
        receiver.mode = "slow"
        recorded += record_round(mentions, 4)
        wait_until(lambda: len(receiver.accepted()) >= 5, timeout=FANOUT_WAIT_SECONDS, what="slow answers")
        receiver.mode = "ok"
        recorded += record_round(mentions, 5)
        wait_until(
            lambda: event_deliveries().filter(state="delivered").count() == 25,
            timeout=FANOUT_WAIT_SECONDS * 2,
            what="every delivery",
        )
    finally:
        receiver.stop()

    accepted = receiver.accepted()
    assert sorted(r.event_id for r in accepted) == sorted(event for _, event in recorded)  # each once
    in_order: dict[int, list[int]] = defaultdict(list)
    for mention_id, event_id in recorded:
        in_order[mention_id].append(event_id)
    received_order: dict[int, list[int]] = defaultdict(list)
    for r in accepted:
        received_order[r.mention_id].append(r.event_id)
    assert received_order == in_order
    assert {r.status for r in receiver.received} == {200, 500}
    assert event_deliveries().count() == 25
    assert event_deliveries().exclude(state="delivered").count() == 0


def start_worker(log: Path, *, lease_seconds: int) -> subprocess.Popen:
    database = settings.DATABASES["default"]
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
        "SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE": "true",
        "SOCIALOPS_WEBHOOKS_LEASE_SECONDS": str(lease_seconds),
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "socialops", "worker", "--pool=solo", "--loglevel=WARNING"],
        cwd=BASE_DIR,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def test_a_worker_killed_mid_delivery_loses_nothing(tmp_path: Path) -> None:
    receiver = Receiver(mode="slow", slow_seconds=3.0).start()
    subscribe(receiver.url, event_types=["mention.assigned"])
    mentions = MentionFactory.create_batch(40)
    with celery_app.connection_for_write() as broker:
        broker.default_channel.queue_purge("celery")
    record_round(mentions, 1)
    log = tmp_path / "worker.log"
    lease = 3
    worker = start_worker(log, lease_seconds=lease)
    try:
        webhooks_fanout.delay()
        # Killed while the first POSTs are in flight: their rows are claimed, none has its result written.
        wait_until(
            lambda: len(receiver.received) >= 1, timeout=FANOUT_WAIT_SECONDS + 30, what="the first POST"
        )
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
    time.sleep(0.5)  # what was sent before the kill has arrived
    in_flight = {r.delivery_id for r in receiver.received}
    assert event_deliveries().count() == 40
    assert event_deliveries().filter(state="delivered").count() == 0

    receiver.mode = "ok"
    worker = start_worker(log, lease_seconds=lease)
    try:
        deadline = time.monotonic() + 120
        while event_deliveries().filter(state="delivered").count() < 40:
            assert time.monotonic() < deadline, f"not all delivered; worker log:\n{log.read_text()[-3000:]}"
            webhooks_deliver.delay()
            time.sleep(1)
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        receiver.stop()

    ids = set(event_deliveries().values_list("id", flat=True))
    received = [r.delivery_id for r in receiver.received]
    assert set(received) == ids  # nothing lost
    twice = {d for d in received if received.count(d) > 1}
    assert (
        twice <= in_flight
    )  # only what was in flight at the kill came twice (receivers deduplicate on the id)
    assert len(received) == 40 + len(twice)
