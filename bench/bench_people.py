"""People: merge suggestions at scale, a busy person's profile, segments keeping up with ingest.

* ``people.suggest_100k_s``: seconds to find merge suggestions for 100,000 new authors (Mastodon handles,
  one in ten the handle of a known X author) against 1,000,000 known authors whose keys are stored, in
  batches of 1,000 as the consumer takes them (``people.services.suggestions_find``: keys stored, then
  indexed lookups by (kind, value)). Goal: < 60 s. ``people.suggestions_opened``: how many it opened.
* ``people.profile_p95_ms``: the whole request for the profile of a person with 500 mentions across three
  handles, as an agent of one of the two teams they wrote to (Django's test client, 100 requests after
  one to warm up; ``people.profile_median_ms`` beside it). Goal: < 100 ms.
* ``people.segments_update_per_s``: posts per second through the people consumer (``events_consume`` with
  ``people_events_handle``: persons for new authors, their suggestions, their persons' segments) over
  simulated posts ingested beforehand with routing on (pages of 500). Goal: ≥ 5,000.
  ``people.ingest_routed_per_s``: the same posts' ingest; ``people.segments_added_to_ingest_routed_pct``:
  the consumer's time over the ingest's, in per cent.
* ``people.segments_added_to_ingest_new_pct``: what the consumer adds to the ingest's time measured as
  ``ingest.new_per_s`` is (pages of 100, routing left to the sweeper), each page followed by the consumer;
  ``people.ingest_new_per_s`` and ``people.ingest_new_with_people_per_s`` beside it. Goal: ≤ 10.
* ``people.load_average_1m``: the machine's load when the measures began.
"""

from __future__ import annotations

import os
import statistics
import time

from bench.__main__ import Report, simulated_channel

KNOWN = 1_000_000
NEW = 100_000
BATCH = 1_000
PROFILE_MENTIONS = 500
PROFILE_REQUESTS = 100
PAGE = 500
PAGES = 40  # 20,000 posts
NEW_PAGE = 100  # ingest.new_per_s's page size


def _known_authors(count: int) -> None:
    """``count`` X authors with unique names, and their stored keys, written by SQL in one pass each."""
    from django.db import connection

    with connection.cursor() as sql:
        sql.execute(
            """
            INSERT INTO inbox_author (network, external_id, handle, display_name, follower_count, is_verified,
                                      tags, segments, first_seen_at, last_seen_at)
            SELECT 'x', 'known-' || i, 'user' || i, 'Given' || i || ' Family' || (i %% 1000), i %% 5000,
                   false, '[]'::jsonb, '[]'::jsonb, now(), now()
            FROM generate_series(1, %s) AS i
            """,
            [count],
        )
        sql.execute(
            """
            INSERT INTO people_authorkey (author_id, kind, value)
            SELECT id, 'handle', handle FROM inbox_author WHERE external_id LIKE 'known-%%'
            UNION ALL
            SELECT id, 'name', lower(display_name) FROM inbox_author WHERE external_id LIKE 'known-%%'
            """
        )
        sql.execute("ANALYZE inbox_author")
        sql.execute("ANALYZE people_authorkey")


def _new_authors(count: int, known: int) -> list[int]:
    from django.db import connection

    with connection.cursor() as sql:
        sql.execute(
            """
            INSERT INTO inbox_author (network, external_id, handle, display_name, follower_count, is_verified,
                                      tags, segments, first_seen_at, last_seen_at)
            SELECT 'mastodon', 'new-' || i,
                   CASE WHEN i %% 10 = 0 THEN 'user' || (i * 7 %% %s + 1) ELSE 'newbie' || i END
                       || '@mastodon.social',
                   'Newcomer' || i || ' Person', 0, false, '[]'::jsonb, '[]'::jsonb, now(), now()
            FROM generate_series(1, %s) AS i
            RETURNING id
            """,
            [known, count],
        )
        return sorted(row[0] for row in sql.fetchall())


def _suggest(report: Report, *, known: int, new: int) -> None:
    from people.models import MergeSuggestion
    from people.services import suggestions_find

    _known_authors(known)
    ids = _new_authors(new, known)
    started = time.perf_counter()
    for start in range(0, len(ids), BATCH):
        suggestions_find(author_ids=ids[start : start + BATCH])
    report("suggest_100k_s", time.perf_counter() - started)
    report("suggestions_opened", MergeSuggestion.objects.count())


def _profile(report: Report, *, mentions: int) -> None:
    from django.test import Client
    from django.urls import reverse
    from django.utils import timezone

    from inbox.models import Author, Mention
    from people.services import person_for_author, persons_merge
    from teams.models import Membership, Team
    from tests.factories import UserFactory

    care = Team.objects.create(name="Bench care", slug="bench-care")
    sales = Team.objects.create(name="Bench sales", slug="bench-sales")
    agent = UserFactory(username="bench-people-agent")
    Membership.objects.create(user=agent, team=care)
    handles = [
        Author.objects.create(
            network=network, external_id=f"busy-{network}", handle="busy_one", display_name="Busy One"
        )
        for network in ("x", "mastodon", "bluesky")
    ]
    now = timezone.now()
    Mention.objects.bulk_create(
        Mention(
            network=handles[i % 3].network,
            external_id=f"busy-post-{i}",
            text=f"Post number {i} about my order",
            created_at=now,
            author=handles[i % 3],
            team=care if i % 2 else sales,
            intent=("support_question", "complaint", "praise")[i % 3],
            sentiment=((i % 7) - 3) / 3,
            sentiment_label=("negative", "neutral", "positive")[i % 3],
        )
        for i in range(mentions)
    )
    person = person_for_author(author=handles[0])
    for other in handles[1:]:
        persons_merge(actor=None, keep=person, other=person_for_author(author=other))
    client = Client()
    client.force_login(agent)
    url = reverse("people:profile", args=[person.pk])
    assert client.get(url).status_code == 200
    samples = []
    for _ in range(PROFILE_REQUESTS):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    report("profile_p95_ms", statistics.quantiles(samples, n=20)[-1])
    report("profile_median_ms", statistics.median(samples))


def _segments(report: Report, *, pages: int) -> None:
    from channels.connectors.simulated import SimulatedConnector
    from channels.services import channel_ref
    from foundation.events import consumer_start, events_consume
    from inbox.services import mentions_ingest
    from people.tasks import CONSUMER, FIELDS, people_events_handle

    consumer_start(consumer=CONSUMER)

    def consume() -> float:
        started = time.perf_counter()
        while events_consume(consumer=CONSUMER, handle=people_events_handle, limit=PAGE, fields=FIELDS):
            pass
        return time.perf_counter() - started

    # Pulls as the workers make them: pages of 500, routed as they are stored; then the consumer.
    channel = simulated_channel("bench-people")
    connector = SimulatedConnector(page_size=PAGE)
    fetched, cursor = [], {}
    for _ in range(pages):
        page = connector.fetch(channel_ref(channel), cursor)
        fetched.append(page)
        cursor = dict(page.cursor)
    posts, started = 0, time.perf_counter()
    for page in fetched:
        posts += mentions_ingest(channel=channel, posts=page.posts, cursor=page.cursor).inserted
    ingest_seconds = time.perf_counter() - started
    consume_seconds = consume()
    report("segments_update_per_s", posts / consume_seconds)
    report("segments_posts", posts)
    report("ingest_routed_per_s", posts / ingest_seconds)
    report("segments_added_to_ingest_routed_pct", 100 * consume_seconds / ingest_seconds)

    # As ``ingest.new_per_s`` measures the ingest (pages of 100, routing left to the sweeper), each page
    # followed by the consumer as a worker would run it: what the consumer adds to the ingest's time.
    channel = simulated_channel("bench-people-new")
    connector = SimulatedConnector(page_size=NEW_PAGE)
    fetched, cursor = [], {}
    for _ in range(pages * PAGE // NEW_PAGE // 2):
        page = connector.fetch(channel_ref(channel), cursor)
        fetched.append(page)
        cursor = dict(page.cursor)
    posts, ingest_seconds, consume_seconds = 0, 0.0, 0.0
    for page in fetched:
        started = time.perf_counter()
        posts += mentions_ingest(channel=channel, posts=page.posts, cursor=page.cursor, route=False).inserted
        ingest_seconds += time.perf_counter() - started
        consume_seconds += consume()
    report("ingest_new_per_s", posts / ingest_seconds)
    report("ingest_new_with_people_per_s", posts / (ingest_seconds + consume_seconds))
    report("segments_added_to_ingest_new_pct", 100 * consume_seconds / ingest_seconds)


def run(report: Report, *, quick: bool = False) -> None:
    report("load_average_1m", os.getloadavg()[0])
    _profile(report, mentions=PROFILE_MENTIONS)
    _segments(report, pages=4 if quick else PAGES)
    _suggest(report, known=20_000 if quick else KNOWN, new=2_000 if quick else NEW)
