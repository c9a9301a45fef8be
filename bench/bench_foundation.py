"""foundation.simulated_pull_per_s: mentions per second through the simulated connector, the pull task
(with its Redis lock) and the ingest service into PostgreSQL."""

from __future__ import annotations

import time

from bench.__main__ import Report, simulated_channel

POSTS_PER_PULL = 500  # a full page, the size a busy real channel returns
PULLS = 20
ROUNDS = 5


def run(report: Report, *, quick: bool = False) -> None:
    from inbox.models import Mention
    from inbox.tasks import channel_pull_task

    pulls = 4 if quick else PULLS
    rounds = 2 if quick else ROUNDS
    rates: list[float] = []
    for round_number in range(rounds):
        channel = simulated_channel(f"bench-pull-{round_number}", posts_per_pull=POSTS_PER_PULL)
        before = Mention.objects.count()
        started = time.perf_counter()
        for _ in range(pulls):
            channel_pull_task.apply(args=[channel.pk], throw=True)
        elapsed = time.perf_counter() - started
        stored = Mention.objects.count() - before
        assert stored == pulls * POSTS_PER_PULL, (
            f"expected {pulls * POSTS_PER_PULL} new mentions, got {stored}"
        )
        rates.append(stored / elapsed)
    report("simulated_pull_per_s", rates)
