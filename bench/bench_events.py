"""events.ingest_overhead_ratio: ingest speed with three active webhook subscriptions over ingest speed with
none, in the same run.

Every ingested mention records a ``mention.received`` domain event in the ingest's transaction whether or
not anyone subscribes; what subscriptions add is the work that follows the commit: the fan-out consumer
and the deliveries. So each round ingests the same number of pages of 100 simulated posts (routing off, as
``ingest.new_per_s``) twice, with a real Celery worker (solo pool) running the event consumers in both
halves: once with no subscription, once with three active subscriptions to every event type, delivering
to a local receiver while the ingest runs. The halves alternate which goes first. Between halves the
deliveries drain. Also reported: the rates of each half (``events.ingest_per_s_without``, ``..._with``).
"""

from __future__ import annotations

import os
import statistics
import time

from bench.__main__ import Report, simulated_channel

PAGE_SIZE = 100
PAGES = 30  # 3,000 posts a half: 9,000 deliveries to drain at a few hundred a second
ROUNDS = 5
SUBSCRIPTIONS = 3
DRAIN_TIMEOUT = 300


def run(report: Report, *, quick: bool = False) -> None:
    from django.conf import settings
    from django.core.cache import cache
    from django.db import connection

    from bench.bench_pipeline import _workers
    from channels.connectors.simulated import SimulatedConnector
    from channels.services import channel_ref
    from inbox.services import mentions_ingest
    from integrations.models import WebhookSubscription
    from integrations.webhooks import SubscriptionFields, webhook_subscription_create
    from tests.integrations.receiver import Receiver

    pages_per_half = 5 if quick else PAGES
    rounds = 1 if quick else ROUNDS
    os.environ["SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE"] = "true"  # the worker inherits it
    settings.SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE = True
    connector = SimulatedConnector(page_size=PAGE_SIZE)
    receiver = Receiver().start()
    for n in range(SUBSCRIPTIONS):
        webhook_subscription_create(
            actor=None, fields=SubscriptionFields(name=f"bench {n}", url=receiver.url, event_types=["*"])
        )
    WebhookSubscription.objects.update(is_active=False)

    def half(name: str, subscribed: bool) -> float:
        WebhookSubscription.objects.update(is_active=subscribed)
        channel = simulated_channel(f"bench-events-{name}")
        ref = channel_ref(channel)
        pages, cursor = [], {}
        for _ in range(pages_per_half):
            page = connector.fetch(ref, cursor)
            pages.append(page)
            cursor = dict(page.cursor)
        with connection.cursor() as sql:
            sql.execute("ANALYZE inbox_mention, inbox_author, inbox_mentionchannel, inbox_auditevent")
        arrived = len(receiver.received)
        started = time.perf_counter()
        for page in pages:
            result = mentions_ingest(channel=channel, posts=page.posts, cursor=page.cursor, route=False)
            assert result.inserted == PAGE_SIZE, result
        rate = pages_per_half * PAGE_SIZE / (time.perf_counter() - started)
        expected = arrived + (SUBSCRIPTIONS * pages_per_half * PAGE_SIZE if subscribed else 0)
        deadline = time.monotonic() + DRAIN_TIMEOUT
        while len(receiver.received) < expected:  # the next half starts with nothing left to send
            if time.monotonic() > deadline:
                raise RuntimeError(f"{expected - len(receiver.received)} deliveries did not arrive")
            time.sleep(0.2)
        return rate

    without: list[float] = []
    with_subscriptions: list[float] = []
    ratios: list[float] = []
    try:
        with _workers(1):
            cache.clear()  # starting the worker purged the queue: no wake may stay marked as queued
            half("warm-up", True)
            for n in range(rounds):
                order = (False, True) if n % 2 == 0 else (True, False)
                rates = {subscribed: half(f"{n}-{subscribed}", subscribed) for subscribed in order}
                without.append(rates[False])
                with_subscriptions.append(rates[True])
                ratios.append(rates[True] / rates[False])
                print(
                    f"    round {n}: {rates[False]:.0f}/s without, {rates[True]:.0f}/s with "
                    f"{SUBSCRIPTIONS} subscriptions ({ratios[-1]:.2f})",
                    flush=True,
                )
    finally:
        receiver.stop()
    report("ingest_overhead_ratio", ratios)
    report("ingest_per_s_without", without)
    report("ingest_per_s_with", with_subscriptions)
    report(
        "ingest_overhead_ratio_of_medians", statistics.median(with_subscriptions) / statistics.median(without)
    )
