"""webhooks.delivered_per_s and webhooks.p95_latency_s: domain events to a local receiver through the
fan-out and the delivery tasks, on two real Celery worker processes (solo pool) through Redis.

- ``delivered_per_s``: a burst of events committed in one transaction (one event per mention, one
  subscription for every event), timed from the commit until the receiver has accepted the last one.
- ``p95_latency_s``: a steady stream (a transaction of ``STREAM_BATCH`` events every ``1 / STREAM_TPS`` s),
  each event timed from its transaction's commit to its arrival at the receiver; p95 by nearest rank per
  round (``median_latency_s`` too).

The receiver is an HTTP server in this process (tests/integrations/receiver.py), on 127.0.0.1, so the
workers run with ``SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE``. No beat: the fan-out is woken by the commits (and
looks again by itself while committed events cannot be read yet), as in production minus the safety net.
"""

from __future__ import annotations

import math
import os
import statistics
import time

from bench.__main__ import Report

BURST = 3000
ROUNDS = 3
STREAM_SECONDS = 5.0
STREAM_TPS = 20  # transactions a second
STREAM_BATCH = 5  # events per transaction: 100 events a second
TIMEOUT = 300


def run(report: Report, *, quick: bool = False) -> None:
    from django.conf import settings
    from django.core.cache import cache

    from bench.bench_pipeline import _workers
    from integrations.webhooks import SubscriptionFields, webhook_subscription_create
    from tests.integrations.receiver import Receiver

    burst = 500 if quick else BURST
    rounds = 1 if quick else ROUNDS
    os.environ["SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE"] = "true"  # the workers inherit it
    settings.SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE = True
    receiver = Receiver().start()
    try:
        webhook_subscription_create(
            actor=None,
            fields=SubscriptionFields(name="bench", url=receiver.url, event_types=["mention.assigned"]),
        )
        mentions = _mentions(burst * rounds + int(STREAM_SECONDS * STREAM_TPS * STREAM_BATCH) * rounds + 100)
        with _workers(2):
            # Starting the workers purged the queue, with the wake the subscription's own event queued; its
            # "already queued" mark would hold back the next wake for half a minute (beat would cover it).
            cache.clear()
            _burst(receiver, mentions[:50])  # warm-up: imports, connections, the receiver's threads
            mentions = mentions[50:]
            rates = []
            for n in range(rounds):
                rates.append(_burst(receiver, mentions[:burst]))
                mentions = mentions[burst:]
                print(f"    burst {n}: {burst} events delivered at {rates[-1]:.0f}/s", flush=True)
            p95s, medians = [], []
            for n in range(rounds):
                latencies, mentions = _stream(receiver, mentions)
                p95s.append(_nearest_rank(latencies, 0.95))
                medians.append(statistics.median(latencies))
                print(f"    stream {n}: {len(latencies)} events, p95 {p95s[-1]:.3f}s", flush=True)
    finally:
        receiver.stop()
    report("delivered_per_s", rates)
    report("p95_latency_s", p95s)
    report("median_latency_s", medians)
    report("load_average_1m", os.getloadavg()[0])


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def _mentions(count: int) -> list:
    from django.utils import timezone

    from inbox.models import Author, Mention

    author = Author.objects.create(network="simulated", external_id="bench-webhooks", handle="bench")
    now = timezone.now()
    return Mention.objects.bulk_create(
        [
            Mention(
                network="simulated",
                external_id=f"bench-webhooks-{n}",
                text=f"post {n}",
                created_at=now,
                author=author,
            )
            for n in range(count)
        ],
        batch_size=2000,
    )


def _record(mentions: list, verb: str = "mention.assigned") -> float:
    """One transaction recording one event per mention; returns when it committed (wall clock)."""
    from django.db import transaction

    from foundation.events import events_record_many

    with transaction.atomic():
        events_record_many(
            actor=None,
            verb=verb,
            objects=mentions,
            before=[{} for _ in mentions],
            after=[{"bench": True} for _ in mentions],
        )
    return time.time()


def _wait_for(receiver, count: int) -> None:
    deadline = time.monotonic() + TIMEOUT
    while len(receiver.accepted()) < count:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {len(receiver.accepted())} of {count} webhooks arrived in {TIMEOUT} s; "
                "the workers' logs are var/bench-worker-*.log"
            )
        time.sleep(0.02)


def _burst(receiver, mentions: list) -> float:
    receiver.received.clear()
    committed = _record(mentions)
    _wait_for(receiver, len(mentions))
    last = max(r.at for r in receiver.accepted())
    _timeline(committed, receiver, [m.pk for m in mentions])
    return len(mentions) / (last - committed)


def _stream_split(commits: dict[int, float], receiver) -> None:
    """The stream's latency split: commit to fan-out, fan-out to arrival (medians and p95s)."""
    from integrations.models import WebhookDelivery

    made = dict(
        WebhookDelivery.objects.filter(mention_id__in=list(commits)).values_list("mention_id", "created_at")
    )
    arrived = {r.mention_id: r.at for r in receiver.accepted()}
    fan = [made[m].timestamp() - commits[m] for m in commits]
    send = [arrived[m] - made[m].timestamp() for m in commits]
    print(
        f"      commit to fan-out: median {statistics.median(fan):.2f}s p95 {_nearest_rank(fan, 0.95):.2f}s; "
        f"fan-out to arrival: median {statistics.median(send):.2f}s p95 {_nearest_rank(send, 0.95):.2f}s",
        flush=True,
    )


def _timeline(committed: float, receiver, mention_ids: list[int]) -> None:
    """Where the time went: the fan-out (deliveries made) and the sending (first and last arrival)."""
    from django.db.models import Max, Min

    from integrations.models import WebhookDelivery

    span = WebhookDelivery.objects.filter(mention_id__in=mention_ids).aggregate(
        first=Min("created_at"), last=Max("created_at")
    )
    first, last = (span[k].timestamp() - committed for k in ("first", "last"))
    arrivals = sorted(r.at - committed for r in receiver.accepted())
    print(
        f"      fanned out {first:.2f}-{last:.2f}s after the commit; "
        f"arrived {arrivals[0]:.2f}-{arrivals[-1]:.2f}s",
        flush=True,
    )


def _stream(receiver, mentions: list) -> tuple[list[float], list]:
    from foundation.models import DomainEvent

    receiver.received.clear()
    commits: dict[int, float] = {}  # mention id -> commit time (one event per mention in a stream)
    transactions = int(STREAM_SECONDS * STREAM_TPS)
    started = time.monotonic()
    for n in range(transactions):
        batch, mentions = mentions[:STREAM_BATCH], mentions[STREAM_BATCH:]
        committed = _record(batch)
        for mention in batch:
            commits[mention.pk] = committed
        time.sleep(max(0.0, started + (n + 1) / STREAM_TPS - time.monotonic()))
    _wait_for(receiver, len(commits))
    latencies = [r.at - commits[r.mention_id] for r in receiver.accepted()]
    _stream_split(commits, receiver)
    assert len(latencies) == len(commits) == DomainEvent.objects.filter(mention_id__in=list(commits)).count()
    return latencies, mentions
