"""ingest.*: the ingest service on pages of 100 against PostgreSQL, next to a plain COPY of the same rows.

- ``new_per_s``: new mentions per second through ``mentions_ingest`` (insert, dedupe, author upsert, channel
  link; routing excluded), pages of 100.
- ``copy_per_s``: the same rows (other external ids) by ``COPY ... FROM STDIN`` into the same table.
- ``ratio_to_copy``: ingest over COPY (1.0 would be as fast as COPY).
- ``reingest_cost_ratio``: time to ingest already stored pages over the time to ingest them new.
"""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import replace

from bench.__main__ import Report, simulated_channel

PAGE_SIZE = 100  # the page size the issue names, and X's largest mentions page
PAGES = 100
ROUNDS = 5


def run(report: Report, *, quick: bool = False) -> None:
    from django.db import connection

    from channels.connectors.simulated import SimulatedConnector
    from channels.services import channel_ref
    from inbox.models import Mention
    from inbox.services import mentions_ingest

    pages_per_round = 10 if quick else PAGES
    rounds = 2 if quick else ROUNDS
    connector = SimulatedConnector(page_size=PAGE_SIZE)
    new_rates: list[float] = []
    copy_rates: list[float] = []
    ratios: list[float] = []
    reingest_ratios: list[float] = []
    for round_number in range(rounds):
        channel = simulated_channel(f"bench-ingest-{round_number}")
        ref = channel_ref(channel)
        with connection.cursor() as cursor:
            # A live database has planner statistics (autovacuum keeps them); a database made a minute
            # ago has none until autovacuum's thresholds are crossed, and plans the joins badly meanwhile.
            cursor.execute("ANALYZE inbox_mention, inbox_author, inbox_mentionchannel")
        pages = []
        cursor: dict = {}
        for _ in range(pages_per_round):
            page = connector.fetch(ref, cursor)
            pages.append(page)
            cursor = dict(page.cursor)
        total = pages_per_round * PAGE_SIZE

        started = time.perf_counter()
        for page in pages:
            result = mentions_ingest(channel=channel, posts=page.posts, cursor=page.cursor, route=False)
            assert result.inserted == PAGE_SIZE, result
        new_seconds = time.perf_counter() - started

        started = time.perf_counter()
        for page in pages:
            result = mentions_ingest(channel=channel, posts=page.posts, cursor=page.cursor, route=False)
            assert result.inserted == 0 and result.duplicates == PAGE_SIZE, result
        reingest_seconds = time.perf_counter() - started

        copy_seconds = _copy(connection, pages, round_number, Mention, channel.owning_team_id)

        new_rates.append(total / new_seconds)
        reingest = reingest_seconds / new_seconds
        print(
            f"    round {round_number}: new {total / new_seconds:.0f}/s, re-ingest {reingest:.2f}", flush=True
        )
        copy_rates.append(total / copy_seconds)
        ratios.append(copy_seconds / new_seconds)
        reingest_ratios.append(reingest_seconds / new_seconds)

    report("new_per_s", new_rates)
    report("copy_per_s", copy_rates)
    report("ratio_to_copy", ratios)
    report("reingest_cost_ratio", reingest_ratios)


def _copy(connection, pages, round_number: int, mention_model, team_id: int) -> float:
    """COPY the same mention rows (fresh external ids, authors already stored) into inbox_mention."""
    from inbox.models import Author

    authors = dict(Author.objects.values_list("external_id", "id"))
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)  # quoted "" is an empty string, not NULL
    now = "2026-11-23T00:00:00+00:00"
    for page in pages:
        for post in page.posts:
            post = replace(post, external_id=f"copy-{round_number}-{post.external_id}")
            writer.writerow(
                [
                    post.network,
                    post.external_id,
                    post.kind,
                    post.text,
                    post.url,
                    post.created_at.isoformat(),
                    now,
                    authors[post.author.external_id],
                    post.conversation_key,
                    post.in_reply_to,
                    json.dumps(dict(post.raw)),
                    "new",
                    team_id,
                    20,
                    "",
                    "",
                    "f",
                ]
            )
    columns = (
        "network, external_id, kind, text, url, created_at, received_at, author_id, conversation_key, "
        "in_reply_to, raw, status, team_id, priority, intent, sentiment_label, is_misdirected"
    )
    started = time.perf_counter()
    with connection.cursor() as cursor:
        buffer.seek(0)
        table = mention_model._meta.db_table
        cursor.cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH CSV", buffer)
    return time.perf_counter() - started
