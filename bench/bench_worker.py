"""worker.*: how long the Celery worker takes to stop when compose stops it, idle and in the middle of pulls,
and whether a stop in the middle of pulls loses or doubles anything.

The worker runs as compose runs it (``celery -A socialops worker -l info``: the prefork pool, one process
per core) on the benchmark database. ``docker compose stop`` sends SIGTERM, waits ``stop_grace_period`` and
then kills; SIGTERM is Celery's warm shutdown, which lets the tasks under way finish and returns the rest to
the broker.

- ``stop_s_idle``: SIGTERM to exit of a worker with nothing to do, ``ROUNDS`` times.
- ``stop_s_busy``: the same, sent while the worker is pulling: ``CHANNELS`` simulated channels each with a
  backlog of ``BACKLOG`` posts are queued (one pull task walks up to 10 pages of 100), and SIGTERM goes as
  soon as the first of their mentions is stored, so pulls are under way and more wait in the queue.
- ``busy_stop_exactly_once``: after each busy stop a fresh worker drains the queue; every post of the
  round's backlogs is then stored exactly once (no post lost to the stop, none stored twice).
- ``stop_grace_period_s``: the grace period docker-compose.yml gives the worker, for comparison.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.__main__ import Report

ROUNDS = 3
CHANNELS = 8
BACKLOG = 1000
ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "var"


def run(report: Report, *, quick: bool = False) -> None:
    from django.core.management import call_command

    call_command("demo_setup", stdout=open(os.devnull, "w"))  # noqa: SIM115 - closed with the process
    rounds = 1 if quick else ROUNDS
    idle: list[float] = []
    busy: list[float] = []
    exact = True
    for n in range(rounds):
        idle.append(_stop_idle(n))
        seconds, right = _stop_busy(n, channels=2 if quick else CHANNELS)
        busy.append(seconds)
        exact = exact and right
    report("stop_s_idle", idle)
    report("stop_s_busy", busy)
    report("busy_stop_exactly_once", exact)
    report("stop_grace_period_s", _grace_period())


def _start(name: str) -> subprocess.Popen:
    """The compose command, on this benchmark's database; returns once the worker answers a ping."""
    from django.conf import settings
    from django.db import connection

    from socialops.celery import app

    LOGS.mkdir(exist_ok=True)
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "DEBUG": "false",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "socialops", "worker", "-l", "info", "-n", f"{name}@%h"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(LOGS / f"bench-worker-stop-{name}.log", "w"),  # noqa: SIM115 - the child holds it
    )
    deadline = time.monotonic() + 60
    while not any(node.startswith(f"{name}@") for answer in _ping(app) for node in answer):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError(f"the worker {name} did not start within 60 s; see {LOGS}")
    return process


def _ping(app) -> list[dict]:
    return app.control.ping(timeout=0.5) or []


def _stop(process: subprocess.Popen) -> float:
    started = time.perf_counter()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        raise RuntimeError("the worker did not stop within 120 s of SIGTERM") from None
    return time.perf_counter() - started


def _stop_idle(n: int) -> float:
    seconds = _stop(_start(f"idle{n}"))
    print(f"    idle worker stopped in {seconds:.1f}s", flush=True)
    return seconds


def _stop_busy(n: int, *, channels: int) -> tuple[float, bool]:
    from bench.bench_pipeline import backlog_channels
    from inbox.models import Mention
    from inbox.tasks import channel_pull_task
    from socialops.celery import app

    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge("celery")
    created = backlog_channels(f"bench-stop-{n}", channels=channels, backlog=BACKLOG)
    round_mentions = Mention.objects.filter(receipts__channel__in=created)
    worker = _start(f"busy{n}")
    for channel in created:
        channel_pull_task.delay(channel.pk)
    deadline = time.monotonic() + 60
    while not round_mentions.exists():
        if time.monotonic() > deadline:
            worker.kill()
            raise RuntimeError("no mention stored within 60 s of queueing the pulls")
        time.sleep(0.05)
    stored_at_stop = round_mentions.count()
    seconds = _stop(worker)
    print(
        f"    busy worker stopped in {seconds:.1f}s ({stored_at_stop} of {channels * BACKLOG} posts stored "
        "when SIGTERM was sent)",
        flush=True,
    )
    # A fresh worker finishes the round: queued pulls, and new pulls for channels whose backlog is not done
    # (a pull task takes up to 10 pages; the beat that would queue the next is not running here).
    drainer = _start(f"drain{n}")
    try:
        deadline = time.monotonic() + 300
        expected = channels * BACKLOG
        while round_mentions.count() < expected and time.monotonic() < deadline:
            for channel in created:
                channel_pull_task.delay(channel.pk)
            time.sleep(3)
    finally:
        _stop(drainer)
    stored = round_mentions.values("id").distinct().count()
    distinct = round_mentions.values("network", "external_id").distinct().count()  # the network's posts
    right = stored == expected and distinct == stored
    print(f"    after the stop: {stored} stored ({distinct} distinct) of {expected}", flush=True)
    return seconds, right


def _grace_period() -> float:
    text = (ROOT / "docker-compose.yml").read_text()
    worker = text[text.index("\n  worker:") :]
    found = re.search(r"stop_grace_period:\s*(\d+)s", worker)
    return float(found.group(1)) if found else 10.0
