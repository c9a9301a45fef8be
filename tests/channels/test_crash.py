"""A worker process killed mid-pull loses nothing and doubles nothing: after a restart every post of the
backlog is stored exactly once and the cursor stands at its end; with the pull lock's real lifetime and beat's
ticks, the channel is pulled again within a minute of the kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from channels.models import Channel
from inbox.models import Mention, MentionChannel
from inbox.tasks import channel_pull_task, channels_pull_due
from socialops.celery import app as celery_app
from tests.factories import ChannelFactory

BASE_DIR = Path(__file__).resolve().parent.parent.parent
BACKLOG = 6000
PAGE = 100
LOCK_SECONDS = 2  # the killed worker's lock must expire before the restarted one can pull


def start_worker(log: Path, *, lock_seconds: int = LOCK_SECONDS) -> subprocess.Popen:
    env = dict(os.environ)
    database = settings.DATABASES["default"]
    env.update(
        DATABASE_URL=(
            f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT']}/"
            f"{database['NAME']}"
        ),
        SOCIALOPS_PULL_LOCK_SECONDS=str(lock_seconds),
        LOG_LEVEL="WARNING",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "socialops", "worker", "--pool=solo", "--loglevel=WARNING"],
        cwd=BASE_DIR,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def kill_mid_pull(worker: subprocess.Popen, channel: Channel, pull, *, log: Path) -> None:
    """Start a pull with ``pull()`` and SIGKILL the worker while it walks the backlog: some pages stored,
    most not."""
    try:
        pull()
        wait_until(lambda: stored(channel) >= 3 * PAGE, timeout=60, log=log)
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()


def stop(worker: subprocess.Popen) -> None:
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=30)
    except subprocess.TimeoutExpired:
        worker.kill()


def stored(channel: Channel) -> int:
    return MentionChannel.objects.filter(channel=channel).count()


def wait_until(condition, *, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out; worker log:\n{log.read_text()[-3000:]}"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.usefixtures("six_segments")
def test_a_worker_killed_mid_pull_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    channel = ChannelFactory(credentials={"posts_per_pull": PAGE, "backlog": BACKLOG})
    with celery_app.connection_for_write() as broker:
        broker.default_channel.queue_purge("celery")
    log = tmp_path / "worker.log"

    kill_mid_pull(start_worker(log), channel, lambda: channel_pull_task.delay(channel.pk), log=log)
    connection.close()  # the test's own connection must not hold a stale view
    at_kill = stored(channel)
    cursor_at_kill = Channel.objects.get(pk=channel.pk).cursor
    assert PAGE <= at_kill < BACKLOG
    # The cursor stands exactly at the posts stored: page and cursor were committed together.
    assert cursor_at_kill == {"seq": at_kill}

    time.sleep(LOCK_SECONDS + 0.5)
    worker = start_worker(log)
    try:
        deadline = time.monotonic() + 120
        # Past the end of the backlog an empty pull counts itself in the cursor ("idle"); "seq" stays.
        while Channel.objects.get(pk=channel.pk).cursor.get("seq") != BACKLOG:
            assert time.monotonic() < deadline, f"backlog not done; worker log:\n{log.read_text()[-3000:]}"
            channel_pull_task.delay(channel.pk)
            time.sleep(0.5)
    finally:
        stop(worker)

    received = Mention.objects.filter(receipts__channel=channel)
    assert received.count() == BACKLOG
    assert received.values("external_id").distinct().count() == BACKLOG
    assert stored(channel) == BACKLOG


@pytest.mark.slow
@pytest.mark.usefixtures("six_segments")
def test_a_channel_whose_worker_was_killed_mid_pull_is_pulled_again_within_a_minute(tmp_path: Path) -> None:
    # Pulled every 15 s, so what bounds the wait is the dead worker's lock (the settings' lifetime, 30 s by
    # default), not the channel's cadence.
    channel = ChannelFactory(
        credentials={"posts_per_pull": PAGE, "backlog": BACKLOG}, poll_interval_seconds=15
    )
    with celery_app.connection_for_write() as broker:
        broker.default_channel.queue_purge("celery")
    log = tmp_path / "worker.log"
    lock_seconds = settings.SOCIALOPS_PULL_LOCK_SECONDS

    def beat_until(condition, *, timeout: float) -> None:
        """Run the due-pull tick every SOCIALOPS_PULL_TICK_SECONDS, as beat does, until ``condition``."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f"timed out; worker log:\n{log.read_text()[-3000:]}"
            channels_pull_due()
            time.sleep(settings.SOCIALOPS_PULL_TICK_SECONDS)

    kill_mid_pull(start_worker(log, lock_seconds=lock_seconds), channel, channels_pull_due, log=log)
    killed_at = time.monotonic()
    connection.close()
    at_kill = stored(channel)

    worker = start_worker(log, lock_seconds=lock_seconds)
    try:
        beat_until(lambda: stored(channel) > at_kill, timeout=60)
        pulled_again_after = time.monotonic() - killed_at
        beat_until(lambda: Channel.objects.get(pk=channel.pk).cursor.get("seq") == BACKLOG, timeout=120)
    finally:
        stop(worker)

    assert at_kill < BACKLOG
    assert pulled_again_after < 60
    received = Mention.objects.filter(receipts__channel=channel)
    assert received.values("external_id").distinct().count() == received.count() == BACKLOG
