"""pipeline.e2e_per_s_1_worker and pipeline.e2e_scaling_2_workers: mentions per second from pull to an
applied routing decision, on real Celery worker processes (solo pool) through Redis into PostgreSQL.

Each round creates simulated channels with a backlog, queues one pull per channel, and times until every
mention of the round is stored *and routed* (routed_at set: classified, decided, applied, escalations
opened). The pull task walks the backlog in pages of 100; each page's new posts are classified, decided and
stored with their decisions in one transaction, as in production. Workers are started and warmed up
(imports, classifier and rule set loaded) before the clock starts.
"""

from __future__ import annotations

import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.__main__ import Report

PAGE = 100
BACKLOG = 1000  # posts per channel: 10 pages, what one pull task takes (MAX_PAGES_PER_PULL)
CHANNELS = 24
ROUNDS = 3
ROOT = Path(__file__).resolve().parent.parent
LOGS = ROOT / "var"  # the workers' logs, for when a round does not finish


def run(report: Report, *, quick: bool = False) -> None:
    channels = 4 if quick else CHANNELS
    rounds = 1 if quick else ROUNDS
    rates: dict[int, list[float]] = {}
    for workers in (1, 2):
        with _workers(workers):
            _round(f"warm-{workers}", channels=workers * 2, backlog=PAGE * 2)
            rates[workers] = [
                _round(f"w{workers}-r{n}", channels=channels, backlog=BACKLOG) for n in range(rounds)
            ]
    report("e2e_per_s_1_worker", rates[1])
    report("e2e_per_s_2_workers", rates[2])
    report("e2e_scaling_2_workers", statistics.median(rates[2]) / statistics.median(rates[1]))


def backlog_channels(prefix: str, *, channels: int, backlog: int) -> list:
    """``channels`` simulated channels named ``prefix``-0, -1, ..., each with ``backlog`` posts waiting,
    pulled in pages of ``PAGE``, dealt over the segments in turn."""
    from channels.models import Channel, Network, Segment

    segments = list(Segment.objects.order_by("position"))
    return [
        Channel.objects.create(
            slug=f"{prefix}-{i}",
            network=Network.SIMULATED,
            handle=f"@{prefix.replace('-', '_')}_{i}",
            external_account_id=f"{prefix}-{i}",
            segment=segments[i % len(segments)],
            credentials={"posts_per_pull": PAGE, "backlog": backlog},
        )
        for i in range(channels)
    ]


def _round(name: str, *, channels: int, backlog: int) -> float:
    from inbox.models import Mention
    from inbox.tasks import channel_pull_task

    created = backlog_channels(f"bench-e2e-{name}", channels=channels, backlog=backlog)
    expected = channels * backlog
    baseline = Mention.objects.order_by("-id").values_list("id", flat=True).first() or 0
    started = time.perf_counter()
    for channel in created:
        channel_pull_task.delay(channel.pk)
    deadline = started + 600
    mentions = Mention.objects.filter(id__gt=baseline)
    while True:
        # Cheap while the round runs (one count on the primary key five times a second, so the polling
        # takes little from the workers); routed_at is checked once everything is stored.
        stored = mentions.count()
        if stored >= expected and not mentions.filter(routed_at=None).exists():
            break
        if time.perf_counter() > deadline:
            raise RuntimeError(
                f"round {name}: {stored} of {expected} mentions stored in 10 minutes, not all routed; "
                f"the workers' logs are {LOGS}/bench-worker-*.log"
            )
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    stored = Mention.objects.filter(id__gt=baseline).count()
    assert stored == expected, f"round {name}: expected {expected} mentions, stored {stored}"
    print(f"    round {name}: {expected} mentions pulled and routed in {elapsed:.1f}s", flush=True)
    return expected / elapsed


class _workers:
    """N Celery worker processes, each one process (solo pool), on the benchmark database."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.processes: list[subprocess.Popen] = []

    def __enter__(self) -> None:
        from django.conf import settings
        from django.db import connection

        from socialops.celery import app

        with app.connection_for_write() as conn:
            conn.default_channel.queue_purge("celery")
        LOGS.mkdir(exist_ok=True)
        db = connection.settings_dict
        env = {
            **os.environ,
            "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "REDIS_URL": settings.REDIS_URL,
            "LOG_LEVEL": "WARNING",
            "DEBUG": "false",
        }
        for n in range(self.count):
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "celery",
                        "-A",
                        "socialops",
                        "worker",
                        "--pool",
                        "solo",
                        "--loglevel",
                        "WARNING",
                        "--without-gossip",
                        "--without-mingle",
                        "--without-heartbeat",
                        "-n",
                        f"bench{n}@%h",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=open(LOGS / f"bench-worker-{n}.log", "w"),
                )
            )
        deadline = time.monotonic() + 60
        while len(app.control.ping(timeout=0.5) or []) < self.count:
            if time.monotonic() > deadline:
                raise RuntimeError("the benchmark's Celery workers did not start within 60 s")

    def __exit__(self, *exc: object) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
