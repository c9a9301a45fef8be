"""Reports: rebuilding the rollups of a million mentions, how long an event takes to show in them, the
report selectors over 90 days as an admin, and the report pages as whole requests (an admin, 90 days: the
selectors, the charts, their table views and the template, through Django's middleware).

The data set is the inbox benchmark's (``bench_inbox``: six teams, 24 accounts, statuses, assignees,
escalations of the misdirected 10 %), spread over 90 days instead of 180, plus replies: 70 % of the mentions
someone took have one, a few a second, first responses from a minute to a couple of days after arrival.
It is built in the area's throwaway database. ``BENCH_REPORTS_ROWS`` sets the size (default 1,000,000;
``--quick``: 50,000).

The figures are described in bench/README.md ("reports").
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench.__main__ import Report

ROWS = int(os.environ.get("BENCH_REPORTS_ROWS", "1000000"))
QUICK_ROWS = 50_000
DAYS = 90
LAG_ROUNDS = 5
SELECTOR_RUNS = 20  # timed calls per selector (and requests per page), after WARMUP
WARMUP = 3
LAG_GIVE_UP_S = 600
PAGE = 500  # posts in the page whose events the consumer applies (the ingest's largest page)


def _replies_insert() -> str:
    """Replies to 70 % of the mentions someone took (status other than new), by their assignee or the
    admin, from a minute to two days after arrival (log-uniform), never after the mention was closed; 10 %
    of those get a second reply an hour later."""
    return """
    INSERT INTO inbox_reply (mention_id, channel_id, author_id, text, is_direct, state, error, attempts,
        attempts_at_retry, outcome_unknown, external_id, url, review_note, created_at, sent_at)
    SELECT m.id, mc.channel_id, coalesce(m.assignee_id, %(admin)s), 'Thanks, we are on it.', false,
        'sent', '', 1, 0, false, 'bench-r-' || m.id || '-' || s.n, '', '',
        r.at + interval '1 hour' * (s.n - 1),
        r.at + interval '1 hour' * (s.n - 1) + interval '2 seconds'
    FROM inbox_mention m
    JOIN LATERAL (SELECT channel_id FROM inbox_mentionchannel WHERE mention_id = m.id ORDER BY id LIMIT 1) mc
        ON true
    CROSS JOIN LATERAL (SELECT least(
        m.received_at + interval '1 second' * (60 * power(2880, (hashint8extended(m.id, 101) & 65535)
            / 65536.0)),
        coalesce(m.closed_at - interval '1 minute', 'infinity')) AS at) r
    CROSS JOIN LATERAL generate_series(1, CASE WHEN (hashint8extended(m.id, 102) & 1023) < 102 THEN 2 ELSE 1
        END) AS s(n)
    WHERE m.status <> 'new' AND (hashint8extended(m.id, 103) & 1023) < 717 AND r.at > m.received_at
    """


def _p95_ms(call: Callable[[], Any]) -> float:
    for _ in range(WARMUP):
        call()
    samples = []
    for _ in range(SELECTOR_RUNS):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return samples[max(0, round(0.95 * len(samples)) - 1)]


def _page_p95_ms(client: Any, path: str, query: dict[str, str]) -> float:
    """A report page as a browser asks for it, through the test client (middleware, session, template)."""

    def get() -> None:
        response = client.get(path, query)
        if response.status_code != 200:
            raise RuntimeError(f"{path} answered {response.status_code}")

    return _p95_ms(get)


def run(report: Report, *, quick: bool = False) -> None:
    from django.db import connection
    from django.utils import timezone

    from bench import bench_inbox
    from bench.__main__ import simulated_channel
    from channels.connectors.base import AuthorData, Post
    from inbox.services import mentions_ingest
    from reports.rollups import rollups_rebuild
    from reports.selectors import (
        ReportFilters,
        report_overview,
        report_people,
        report_responsiveness,
        report_routing,
        report_sentiment,
        report_totals,
    )
    from reports.tasks import rollups_consume_task

    rows = QUICK_ROWS if quick else ROWS
    bench_inbox.DAYS = DAYS  # the inbox data set's draws read it when they are made
    dataset = bench_inbox.dataset_ensure(rows, rebuild=True)
    with connection.cursor() as cursor:
        print("  replies", flush=True)
        cursor.execute(_replies_insert(), {"admin": dataset.admin.pk})
        cursor.execute("SELECT count(*) FROM inbox_reply")
        replies = cursor.fetchone()[0]
        cursor.execute("ANALYZE")  # autovacuum is off: the planner needs the new rows' statistics
    report("rows", rows)
    report("replies", replies)

    started = time.perf_counter()
    rebuilt = rollups_rebuild(progress=None)
    rebuild_s = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE reports_hour, reports_day, reports_teamhour, reports_teamday, reports_agentday, "
            "reports_tally, reports_load"
        )
    report("rebuild_s", rebuild_s)
    if rows >= 1_000_000:
        report("rebuild_1m_s", rebuild_s)
    report("hour_rows", rebuilt.hour_rows)
    report("day_rows", rebuilt.day_rows)
    report("agent_rows", rebuilt.agent_rows)

    channel = simulated_channel("bench-reports-lag")
    admin = dataset.admin
    lags = []
    for n in range(LAG_ROUNDS):
        now = timezone.now()
        window = ReportFilters(start=now - timedelta(hours=2), end=now + timedelta(hours=2))
        before = report_totals(user=admin, filters=window).received
        post = Post(
            network="simulated",
            external_id=f"bench-lag-{n}",
            kind="mention",
            text="@brand where is my order?",
            created_at=now,
            author=AuthorData(external_id="bench-lag", handle="lagger", display_name="Lag", follower_count=1),
            conversation_key=f"bench-lag-{n}",
            raw={},
        )
        started = time.perf_counter()
        mentions_ingest(channel=channel, posts=[post])
        while report_totals(user=admin, filters=window).received == before:
            rollups_consume_task()  # what the woken task (or beat's run) does
            if time.perf_counter() - started > LAG_GIVE_UP_S:
                raise RuntimeError(f"the ingested post did not show in the rollups within {LAG_GIVE_UP_S}s")
        lags.append(time.perf_counter() - started)
    report("rollup_lag_s", max(lags))

    posts = [
        Post(
            network="simulated",
            external_id=f"bench-page-{n}",
            kind="mention",
            text=f"@brand order {n} never arrived",
            created_at=timezone.now(),
            author=AuthorData(
                external_id=f"bench-p{n % 50}", handle=f"p{n % 50}", display_name="", follower_count=1
            ),
            conversation_key=f"bench-page-{n}",
            raw={},
        )
        for n in range(PAGE)
    ]
    mentions_ingest(channel=channel, posts=posts)
    started = time.perf_counter()
    rollups_consume_task()
    report("consume_500_s", time.perf_counter() - started)

    now = timezone.now()
    ninety = ReportFilters(start=now - timedelta(days=DAYS), end=now)
    report("overview_selectors_p95_ms", _p95_ms(lambda: report_overview(user=admin, filters=ninety)))
    report(
        "responsiveness_selectors_p95_ms", _p95_ms(lambda: report_responsiveness(user=admin, filters=ninety))
    )
    report("routing_selectors_p95_ms", _p95_ms(lambda: report_routing(user=admin, filters=ninety)))
    report("sentiment_selectors_p95_ms", _p95_ms(lambda: report_sentiment(user=admin, filters=ninety)))
    report("people_selectors_p95_ms", _p95_ms(lambda: report_people(user=admin, filters=ninety)))

    # The pages: whole requests as the admin, the last 90 days (the form's days, both ends included).
    from django.test import Client

    client = Client(HTTP_HOST="127.0.0.1")  # a host ALLOWED_HOSTS has with DEBUG off
    client.force_login(admin)
    today = timezone.localdate()
    days = {"since": (today - timedelta(days=DAYS - 1)).isoformat(), "until": today.isoformat()}
    for name, path in (
        ("overview", "/reports/"),
        ("responsiveness", "/reports/responsiveness/"),
        ("routing", "/reports/routing/"),
        ("sentiment", "/reports/sentiment/"),
        ("people", "/reports/people/"),
    ):
        report(f"{name}_p95_ms", _page_p95_ms(client, path, days))
