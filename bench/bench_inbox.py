"""inbox.*: the inbox at a million mentions in PostgreSQL (6 teams), through Django's test client.

Paths are the inbox app's (mounted at /inbox/). Every figure is a whole request: middleware, session, view,
selector, template.

- ``rows``: mentions in the benchmark database; ``load_s``: how long building it took (when it was built).
- ``list_p95_ms_first_page``: p95 of ``GET mentions/?queue=team`` (the list fragment htmx swaps in) for an
  agent of one team (Customer Care, the biggest queue); ``list_median_ms_first_page`` its median.
- ``list_p95_ms_first_page_admin``: the same for an admin, ``queue=all`` (every mention).
- ``page_p95_ms_first_page``: the whole inbox page, ``GET ?queue=team``, same agent.
- ``list_p95_ms_first_page_compact``, ``page_p95_ms_first_page_compact``: the same two with the agent's list
  set to compact on /me/, in the same run.
- ``list_p95_ms_deep_page``: ``GET mentions/?queue=team&after=<cursor>``, the cursor of the agent's row
  200 x 50 (page 201).
- ``queries_per_page``: SQL queries of one list request, at ``limit=`` 20, 50 and 100;
  ``queries_per_page_constant`` says whether the counts are equal at every size (for the request and for the
  selector), ``queries_per_page_selector`` counts ``mentions_for_inbox`` alone.
- ``search_p95_ms``: p95 of ``GET mentions/?queue=all&q=...`` over ``search_queries`` searches (words from
  the commonest to the rarest, phrases, an exclusion, an order number, an author's handle, a word that is
  nowhere), same agent.
- ``bulk_500_s``: the slowest of several ``POST mentions/bulk/`` closing 500 of the agent's team queue
  (``bulk_500_s_median`` the median, ``bulk_500_reopen_s`` the slowest reopening, done between rounds); the
  rows are put back as they were afterwards.
- ``load_average_1m``: the machine's load average when the measures began (other processes' work shows in
  the p95 figures).

The data set lives in its own database (``BENCH_INBOX_DATABASE``, default ``socialops_bench_inbox``; with
``--quick``, ``..._quick`` holding 50,000 mentions), built once by set-based SQL and reused while
``bench_inbox_dataset`` records the same size and ``DATASET_VERSION`` (``BENCH_INBOX_REBUILD=1`` forces a
rebuild). See bench/README.md.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench.__main__ import Report

DATASET_VERSION = 2  # bump when the shape of the generated data changes: the next run rebuilds
ROWS = 1_000_000
QUICK_ROWS = 50_000
DATABASE = os.environ.get("BENCH_INBOX_DATABASE", "socialops_bench_inbox")
MARKER_TABLE = "bench_inbox_dataset"
BULK_BACKUP_TABLE = "bench_inbox_bulk_backup"

DAYS = 180  # mentions spread over the last half year
RECENT_DAYS = 14  # younger than this, most mentions are still being worked
AUTHORS_PER_MENTION = 0.1  # 100,000 authors for a million mentions
CHANNELS_PER_SEGMENT = 4  # 24 channels
AGENTS_PER_TEAM = 5  # and one lead
# Share of the mentions received by each segment's channels, in segment order (customer relations first).
SEGMENT_SHARES = (0.30, 0.08, 0.12, 0.10, 0.24, 0.16)
CHUNK = 50_000  # mentions per INSERT ... SELECT, for the progress bar

PAGE_SIZE = 50  # INBOX_PAGE_SIZE
DEEP_PAGES = 200
REQUESTS = 100  # timed requests per figure, after WARMUP
WARMUP = 10
SEARCH_ROUNDS = 3  # each search query is timed this many times (after one warm-up)
BULK_SIZE = 500
BULK_ROUNDS = 5
QUERY_COUNT_SIZES = (20, 50, 100)


def _words(text: str) -> list[str]:
    """The distinct words of a text, in order."""
    return list(dict.fromkeys(text.split()))


# Vocabulary, roughly in the order of how often the generator uses each word (a Zipf-like draw).
WORDS = _words("""
the my to and is a i you for it this on with not order app your of please in help can thanks
still no account was just why have me get been again today what when time service who are working
we any does be customer support new how update delivery refund store but love that at now from
there days phone waiting great password login email card product week they problem issue back so
back tried will need would our all team since online price team checkout payment error shipping
package package address cancel website received through sale discount code offer launch event
ticket tickets venue stage speaker session schedule live stream video photo news press statement
report story article interview comment question answer policy return exchange store branch manager
staff agent chat call hold hours weekend morning evening tonight tomorrow yesterday month year
broken damaged missing wrong late slow crash crashes bug freezes battery screen charger cable
subscription plan upgrade downgrade invoice receipt bill charged twice fee fees tax shipping
tracking courier warehouse stock available sold out restock preorder color size fit quality
amazing awesome terrible awful disappointed happy excited frustrated angry confused grateful
recommend never always best worst fast quick easy hard simple finally seriously honestly really
donate donation volunteer cause campaign petition climate community local school charity support
fundraiser awareness members rally march vote change future kids families health safety recall
outage down offline restore restored fixed fix patch version android iphone ios windows mac
browser chrome settings notification notifications sync backup data privacy security hacked
fraud scam phishing spam blocked banned suspended verify verification identity documents form
survey feedback review rating stars loyalty points rewards gift voucher coupon promo bundle deal
""")
# Words that appear in about one mention in 20,000 each: searches for them find a handful of rows.
RARE_WORDS = _words("""
chargeback subpoena counterfeit allergic asbestos ombudsman arbitration lawsuit whistleblower
embargo insolvency misprint defamation tribunal quarantine sabotage espionage calibration
""")
# The long tail of real posts (names, brands, slang, typos): pseudo-words of four syllables, 810,000 of
# them, drawn Zipf-like, so the commonest is in a few percent of mentions and most are in one or none.
SYLLABLES = _words(
    "ka to mi ra ne lo vi su de po ba ri zu fe go la mo ni sa te ul or an el in ek as um ex ar"
)
HASHTAGS = _words("support fail launch2026 summit help customerservice sale giveaway news climate")
NAMES = _words("""
maria james sofia liam emma noah olivia lucas ava mateo mia ethan amara yusuf chen priya
kenji ana luca nina omar leila diego sara tom kate ben anna jonas elif
""")
INTENTS = (
    "support_question",
    "complaint",
    "praise",
    "purchase_question",
    "event_question",
    "press_question",
    "crisis_signal",
    "advocacy",
    "spam",
    "other",
)
PHRASES = 20_000

SEARCHES = (
    # The commonest words (in most mentions), then ever rarer ones, then phrases and combinations.
    "order",
    "refund",
    "delivery",
    "password reset",
    "login error",
    "app crashes",
    "charged twice",
    "cancel subscription",
    '"sold out"',
    "tickets venue",
    "battery charger",
    "recall",
    "phishing",
    "donation volunteer",
    "invoice -receipt",
    "loyalty points",
    "chargeback",
    "counterfeit",
    "ombudsman arbitration",
    "zyzzyva",  # in no mention
)


# --- The database -------------------------------------------------------------------------------------------


@contextmanager
def bench_database(name: str) -> Iterator[None]:
    """Point Django's default connection at the database ``name`` (made and migrated when missing).

    The runner has already moved the connection to its throwaway test database; this moves it once more
    and back, the way ``create_test_db`` does, so views, selectors and the test client all use it.
    """
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    with connection._nodb_cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name])
        if cursor.fetchone() is None:
            print(f"  creating database {name}", flush=True)
            cursor.execute(f'CREATE DATABASE "{name}"')
    saved = connection.settings_dict["NAME"]
    connection.close()
    settings.DATABASES[connection.alias]["NAME"] = name
    connection.settings_dict["NAME"] = name
    try:
        call_command("migrate", verbosity=0, interactive=False)
        yield
    finally:
        connection.close()
        settings.DATABASES[connection.alias]["NAME"] = saved
        connection.settings_dict["NAME"] = saved


# --- The data set -------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    rows: int
    authors: int
    version: int
    built_at: datetime
    load_seconds: float
    reused: bool
    team_ids: list[int]  # by segment position
    agent: Any  # an agent of team_ids[0]
    admin: Any


def _people(team_ids: Sequence[int]) -> tuple[dict[tuple[int, int], Any], Any]:
    """A lead and AGENTS_PER_TEAM agents per team, and an admin: {(team index, k): user}; k 0 is the lead."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from teams.models import Membership, Team
    from teams.roles import ADMINS_GROUP

    user_model = get_user_model()
    people: dict[tuple[int, int], Any] = {}
    for index, team_id in enumerate(team_ids):
        team = Team.objects.get(pk=team_id)
        for k in range(AGENTS_PER_TEAM + 1):
            username = f"bench-{team.slug}-{'lead' if k == 0 else f'agent{k}'}"
            user, created = user_model.objects.get_or_create(
                username=username,
                defaults={"first_name": username.split("-")[-1].title(), "last_name": team.name},
            )
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            Membership.objects.get_or_create(
                user=user,
                team=team,
                defaults={"role": Membership.Role.LEAD if k == 0 else Membership.Role.AGENT},
            )
            people[(index, k)] = user
    admin, created = user_model.objects.get_or_create(username="bench-admin")
    if created:
        admin.set_unusable_password()
        admin.save(update_fields=["password"])
    admin.groups.add(Group.objects.get(name=ADMINS_GROUP))
    return people, admin


def _channels(segments: Sequence[Any]) -> list[Any]:
    """CHANNELS_PER_SEGMENT channels per segment, X and Mastodon in turn: index = segment * 4 + k."""
    from channels.models import Channel, Network

    channels = []
    for s, segment in enumerate(segments):
        for k in range(CHANNELS_PER_SEGMENT):
            index = s * CHANNELS_PER_SEGMENT + k
            network = Network.X if index % 2 == 0 else Network.MASTODON
            channel, _ = Channel.objects.get_or_create(
                slug=f"bench-inbox-{segment.slug}-{k}",
                defaults={
                    "network": network,
                    "handle": f"@acme_{segment.slug.split('-')[0]}{k}",
                    "external_account_id": f"bench-inbox-{index}",
                    "segment": segment,
                },
            )
            channels.append(channel)
    return channels


def _marker(cursor) -> tuple | None:
    cursor.execute(
        f"CREATE TABLE IF NOT EXISTS {MARKER_TABLE} (id int PRIMARY KEY, version int NOT NULL, "
        "rows bigint NOT NULL, authors int NOT NULL, built_at timestamptz NOT NULL, "
        "load_seconds double precision NOT NULL)"
    )
    cursor.execute(f"SELECT version, rows, authors, built_at, load_seconds FROM {MARKER_TABLE} WHERE id = 1")
    return cursor.fetchone()


def dataset_ensure(rows: int = ROWS, *, rebuild: bool = False, progress: bool = True) -> Dataset:
    """The data set of ``rows`` mentions in the current database: reused when the marker says it is there
    (same size, same DATASET_VERSION, and that many bench mentions stored), otherwise built."""
    from django.db import connection

    from channels.models import Segment

    segments = list(Segment.objects.select_related("team").order_by("position", "id"))
    assert len(segments) == 6, f"expected the six segments of the data migration, found {len(segments)}"
    team_ids = [segment.team_id for segment in segments]
    people, admin = _people(team_ids)
    channels = _channels(segments)
    with connection.cursor() as cursor:
        _bulk_restore(cursor)  # an earlier run stopped in the middle of the bulk benchmark
        marker = _marker(cursor)
        if marker and not rebuild and marker[0] == DATASET_VERSION and marker[1] == rows:
            cursor.execute("SELECT count(*) FROM inbox_mention WHERE external_id LIKE 'bench-%'")
            if cursor.fetchone()[0] == rows:
                print(
                    f"  reusing the data set: {rows:,} mentions, version {DATASET_VERSION}, built "
                    f"{marker[3]:%Y-%m-%d %H:%M} in {marker[4]:.0f}s",
                    flush=True,
                )
                return Dataset(
                    rows=rows,
                    authors=marker[2],
                    version=DATASET_VERSION,
                    built_at=marker[3],
                    load_seconds=marker[4],
                    reused=True,
                    team_ids=team_ids,
                    agent=people[(0, 1)],
                    admin=admin,
                )
    return _build(rows, team_ids, people, admin, channels, progress=progress)


def _functions(rows: int) -> list[str]:
    """Deterministic per-row draws as SQL functions (inlined by PostgreSQL), so every statement of the load
    derives the same facts about row g: its channel, team, status and so on."""
    cumulative = [round(sum(SEGMENT_SHARES[: i + 1]), 6) for i in range(len(SEGMENT_SHARES) - 1)]

    def fn(name: str, args: str, returns: str, body: str) -> str:
        return (
            f"CREATE OR REPLACE FUNCTION pg_temp.{name}({args}) RETURNS {returns} "
            f"LANGUAGE sql IMMUTABLE AS $$ SELECT {body} $$"
        )

    return [
        # A uniform draw in [0, 1) for row g and stream k.
        fn("u", "g bigint, k int", "float8", "(hashint8extended(g, k) & 4294967295)::float8 / 4294967296.0"),
        fn(
            "tail",
            "g bigint, k int",
            "text",
            " || ".join(
                f"(ARRAY{SYLLABLES})[1 + floor({len(SYLLABLES) ** 4} * power(pg_temp.u(g, k), 4))::int"
                f" / {len(SYLLABLES) ** i} % {len(SYLLABLES)}]"
                for i in range(4)
            ),
        ),
        fn("age", "g bigint", "float8", f"{DAYS}.0 * (1.0 - (g - 1)::float8 / {rows})"),
        fn("seg", "g bigint", "int", f"width_bucket(pg_temp.u(g, 1), ARRAY{cumulative}::float8[])"),
        fn(
            "ch",
            "g bigint",
            "int",
            f"pg_temp.seg(g) * {CHANNELS_PER_SEGMENT} + floor(pg_temp.u(g, 2) * 4)::int",
        ),
        fn("misdirected", "g bigint", "boolean", "pg_temp.u(g, 7) < 0.10"),
        fn(
            "owner",
            "g bigint",
            "int",
            "CASE WHEN pg_temp.misdirected(g) "
            "THEN (pg_temp.seg(g) + 1 + floor(pg_temp.u(g, 8) * 5)::int) % 6 ELSE pg_temp.seg(g) END",
        ),
        fn(
            "esc_state",
            "g bigint",
            "text",
            "CASE WHEN NOT pg_temp.misdirected(g) THEN NULL "
            "WHEN pg_temp.age(g) < 1 AND pg_temp.u(g, 9) < 0.6 THEN 'pending' "
            "WHEN pg_temp.age(g) < 1 AND pg_temp.u(g, 9) < 0.7 THEN 'to_lead' "
            "WHEN pg_temp.u(g, 9) < 0.85 THEN 'accepted' ELSE 'bounced' END",
        ),
        # Bounced back: the receiving team kept it; otherwise the owning team has it.
        fn(
            "team",
            "g bigint",
            "int",
            "CASE WHEN pg_temp.esc_state(g) = 'bounced' THEN pg_temp.seg(g) ELSE pg_temp.owner(g) END",
        ),
        # Recent mentions are mostly being worked; older ones mostly closed.
        fn(
            "status",
            "g bigint",
            "text",
            "(ARRAY['new', 'open', 'pending', 'snoozed', 'closed'])[1 + CASE WHEN pg_temp.age(g) < "
            f"{RECENT_DAYS} THEN width_bucket(pg_temp.u(g, 3), ARRAY[0.45, 0.75, 0.85, 0.90]) "
            "ELSE width_bucket(pg_temp.u(g, 3), ARRAY[0.03, 0.10, 0.12, 0.13]) END]",
        ),
        # New mentions nobody has taken; 60 % of those being worked and 30 % of closed ones have an assignee.
        fn(
            "assignee_k",
            "g bigint",
            "int",
            "CASE WHEN pg_temp.status(g) = 'new' THEN NULL "
            "WHEN pg_temp.u(g, 5) < (CASE WHEN pg_temp.status(g) = 'closed' THEN 0.3 ELSE 0.6 END) "
            f"THEN floor(pg_temp.u(g, 6) * {AGENTS_PER_TEAM + 1})::int END",
        ),
    ]


def _mention_insert(anchor: datetime) -> tuple[str, dict[str, Any]]:
    authors_sql = "%(authors)s"
    sql = f"""
    INSERT INTO inbox_mention (
        network, external_id, kind, text, url, created_at, received_at, author_id, conversation_key,
        in_reply_to, raw, status, team_id, assignee_id, priority, intent, sentiment, sentiment_label,
        is_misdirected, intent_confidence, labels, requires_approval, decision, routed_at, snoozed_until,
        closed_at, updated_at)
    SELECT r.network, 'bench-' || r.g, r.kind, r.text,
        CASE WHEN r.network = 'x' THEN 'https://x.com/' || r.handle || '/status/' || r.g
             ELSE 'https://mastodon.social/@' || r.handle || '/' || r.g END,
        r.created_at, r.received_at, r.author_id, 'bench-c-' || (r.g / 4),
        CASE WHEN r.kind = 'reply' THEN 'bench-' || (r.g - 1) ELSE '' END,
        jsonb_build_object(
            'id', 'bench-' || r.g, 'text', r.text, 'created_at', r.created_at, 'lang', 'en',
            'author_id', 'bench-a-' || r.author_n, 'conversation_id', 'bench-c-' || (r.g / 4),
            'public_metrics', jsonb_build_object(
                'like_count', floor(pg_temp.u(r.g, 40) * 40)::int,
                'reply_count', floor(pg_temp.u(r.g, 41) * 6)::int,
                'repost_count', floor(pg_temp.u(r.g, 42) * 10)::int, 'quote_count', 0),
            'entities', jsonb_build_object('mentions', jsonb_build_array(
                jsonb_build_object('username', ltrim(r.channel_handle, '@')))),
            'source', 'socialops bench'),
        r.status, r.team_id, r.assignee_id,
        (ARRAY[20, 10, 30, 40])[1 + width_bucket(pg_temp.u(r.g, 17), ARRAY[0.80, 0.88, 0.97])],
        (%(intents)s::text[])[1 + floor(10 * power(pg_temp.u(r.g, 14), 1.6))::int],
        r.sentiment,
        CASE WHEN r.sentiment < -0.05 THEN 'negative' WHEN r.sentiment > 0.05 THEN 'positive'
             ELSE 'neutral' END,
        r.misdirected, 0.4 + 0.6 * pg_temp.u(r.g, 15),
        CASE WHEN pg_temp.u(r.g, 16) < 0.04 THEN '["vip"]'::jsonb
             WHEN pg_temp.u(r.g, 16) < 0.07 THEN '["bug"]'::jsonb ELSE '[]'::jsonb END,
        false, '{{}}'::jsonb, r.received_at,
        CASE WHEN r.status = 'snoozed'
             THEN %(anchor)s::timestamptz + interval '1 hour' * (1 + 71 * pg_temp.u(r.g, 20)) END,
        r.closed_at,
        CASE WHEN r.status = 'closed' THEN r.closed_at
             WHEN r.assignee_id IS NOT NULL THEN r.received_at + interval '30 minutes' END
    FROM (
        SELECT d.*, c.network, c.handle AS channel_handle, a.id AS author_id, a.handle, t.team_id,
            bu.user_id AS assignee_id,
            CASE WHEN d.status = 'closed' THEN least(%(anchor)s::timestamptz,
                d.created_at + interval '1 hour' * (0.5 + 47.5 * pg_temp.u(d.g, 19))) END AS closed_at,
            CASE width_bucket(pg_temp.u(d.g, 22), ARRAY[0.5, 0.7, 0.85])
                WHEN 0 THEN c.handle || ' ' || p1.phrase || '. ' || p2.phrase
                WHEN 1 THEN 'hey ' || c.handle || ' ' || p1.phrase || ' ' || p2.phrase
                WHEN 2 THEN p1.phrase || ' ' || c.handle || ' ' || p2.phrase || '?'
                ELSE 'thanks ' || c.handle || ', ' || p1.phrase || '. ' || p2.phrase || '!' END
            || CASE WHEN pg_temp.u(d.g, 23) < 0.10 THEN ' order #' || (5000000 + d.g) ELSE '' END
            || CASE WHEN pg_temp.u(d.g, 44) < 0.6 THEN ' ' || pg_temp.tail(d.g, 45) ELSE '' END
            || CASE WHEN pg_temp.u(d.g, 46) < 0.3 THEN ' ' || pg_temp.tail(d.g, 47) ELSE '' END
            || CASE WHEN pg_temp.u(d.g, 25) < %(rare_share)s
                    THEN ' ' || (%(rare)s::text[])[1 + floor(pg_temp.u(d.g, 26) * %(rare_n)s)::int]
                    ELSE '' END
            || CASE WHEN pg_temp.u(d.g, 27) < 0.15
                    THEN ' #' || (%(tags)s::text[])[1 + floor(pg_temp.u(d.g, 28) * %(tags_n)s)::int]
                    ELSE '' END AS text
        FROM (
            SELECT g, pg_temp.ch(g) AS ch, pg_temp.team(g) AS team_idx, pg_temp.status(g) AS status,
                pg_temp.assignee_k(g) AS assignee_k, pg_temp.misdirected(g) AS misdirected,
                (ARRAY['mention', 'reply', 'dm', 'keyword'])[
                    1 + width_bucket(pg_temp.u(g, 18), ARRAY[0.70, 0.90, 0.98])] AS kind,
                round((2 * power(pg_temp.u(g, 29), 0.8) - 1)::numeric, 4)::float8 AS sentiment,
                floor(pg_temp.u(g, 11) * {PHRASES})::int AS p1,
                floor(pg_temp.u(g, 12) * {PHRASES})::int AS p2,
                1 + (pg_temp.ch(g) %% 2)
                  + 2 * floor(({authors_sql} / 2 - 1) * power(pg_temp.u(g, 4), 2))::int AS author_n,
                %(anchor)s::timestamptz - interval '1 day' * pg_temp.age(g)
                    - interval '1 second' * floor(600 * pg_temp.u(g, 30)) AS created_at,
                %(anchor)s::timestamptz - interval '1 day' * pg_temp.age(g)
                    - interval '1 second' * floor(600 * pg_temp.u(g, 30))
                    + interval '1 second' * (5 + floor(55 * pg_temp.u(g, 31))) AS received_at
            FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) g
            OFFSET 0
        ) d
        JOIN bench_channel c ON c.idx = d.ch
        JOIN bench_team t ON t.idx = d.team_idx
        JOIN bench_phrase p1 ON p1.id = d.p1
        JOIN bench_phrase p2 ON p2.id = d.p2
        JOIN bench_author a ON a.n = d.author_n
        LEFT JOIN bench_user bu ON bu.team_idx = d.team_idx AND bu.k = d.assignee_k
    ) r
    ORDER BY r.g
    """
    params = {
        "anchor": anchor,
        "intents": list(INTENTS),
        "rare": RARE_WORDS,
        "rare_n": len(RARE_WORDS),
        "rare_share": len(RARE_WORDS) / 20_000,
        "tags": HASHTAGS,
        "tags_n": len(HASHTAGS),
    }
    return sql, params


def _secondary_indexes(cursor, table: str) -> list[tuple[str, str]]:
    """The indexes of a table that back no constraint: (name, definition). Dropped while loading, rebuilt
    afterwards: building an index once is far cheaper than updating it a million times."""
    cursor.execute(
        """
        SELECT i.relname, pg_get_indexdef(i.oid)
        FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = %s::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid)
        ORDER BY i.relname
        """,
        [table],
    )
    return list(cursor.fetchall())


def _build(
    rows: int, team_ids: list[int], people: dict, admin: Any, channels: list[Any], *, progress: bool
) -> Dataset:
    from django.db import DatabaseError, connection, transaction
    from django.utils import timezone
    from tqdm import tqdm

    authors = max(100, int(rows * AUTHORS_PER_MENTION))
    anchor = timezone.now().replace(microsecond=0)
    started = time.perf_counter()
    bar = tqdm(total=rows, unit=" mentions", desc="  inbox data set", disable=not progress, mininterval=2)

    def step(message: str) -> None:
        if progress:
            tqdm.write(f"  [{time.perf_counter() - started:6.1f}s] {message}")

    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
        cursor.execute("SET LOCAL work_mem = '64MB'")
        # Django's foreign keys are deferred: checked per statement instead, or the index builds at the
        # end would wait on a million queued checks (PostgreSQL refuses them while checks are pending).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        step("emptying the mention tables")
        cursor.execute(f"DELETE FROM {MARKER_TABLE}")
        cursor.execute("TRUNCATE inbox_mention, inbox_author, inbox_auditevent, inbox_liveevent CASCADE")
        indexes = _secondary_indexes(cursor, "inbox_mention") + _secondary_indexes(
            cursor, "inbox_mentionchannel"
        )
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        for statement in _functions(rows):
            cursor.execute(statement)

        for table in ("bench_channel", "bench_team", "bench_user", "bench_phrase", "bench_author"):
            cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{table}")
        cursor.execute(
            "CREATE TEMP TABLE bench_channel (idx int PRIMARY KEY, id bigint, network text, handle text)"
        )
        cursor.executemany(
            "INSERT INTO bench_channel VALUES (%s, %s, %s, %s)",
            [(i, c.pk, c.network, c.handle) for i, c in enumerate(channels)],
        )
        cursor.execute("CREATE TEMP TABLE bench_team (idx int PRIMARY KEY, team_id bigint)")
        cursor.executemany("INSERT INTO bench_team VALUES (%s, %s)", list(enumerate(team_ids)))
        cursor.execute("CREATE TEMP TABLE bench_user (team_idx int, k int, user_id bigint)")
        cursor.executemany(
            "INSERT INTO bench_user VALUES (%s, %s, %s)", [(t, k, u.pk) for (t, k), u in people.items()]
        )

        step(f"{PHRASES:,} phrases")
        # Phrases of 4 to 9 words, each word a Zipf-like draw: the first words of WORDS are in most
        # mentions, the last ones in a few percent.
        cursor.execute(
            f"""
            CREATE TEMP TABLE bench_phrase AS
            SELECT p AS id,
                (SELECT string_agg(
                    (%s::text[])[1 + floor(%s * power(pg_temp.u(p * 16 + s, 21), 2.2))::int], ' ' ORDER BY s)
                 FROM generate_series(1, 4 + (p %% 6)) s) AS phrase
            FROM generate_series(0, {PHRASES - 1}) p
            """,
            [WORDS, len(WORDS)],
        )
        cursor.execute("ALTER TABLE bench_phrase ADD PRIMARY KEY (id)")

        step(f"{authors:,} authors")
        # Odd authors post on X, even ones on Mastodon; mentions draw their author on their channel's network.
        cursor.execute(
            """
            INSERT INTO inbox_author (network, external_id, handle, display_name, follower_count, is_verified,
                first_seen_at, last_seen_at)
            SELECT CASE WHEN n %% 2 = 1 THEN 'x' ELSE 'mastodon' END, 'bench-a-' || n,
                h.first || '_' || h.word || (n %% 997), initcap(h.first) || ' ' || initcap(h.word),
                floor(power(10, 1 + 5 * power(pg_temp.u(n, 34), 2)))::int, pg_temp.u(n, 35) < 0.01,
                %(anchor)s::timestamptz - interval '1 day' * (200 * pg_temp.u(n, 36)), %(anchor)s
            FROM generate_series(1, %(authors)s) n,
            LATERAL (SELECT (%(names)s::text[])[1 + floor(pg_temp.u(n, 32) * %(names_n)s)::int] AS first,
                            (%(words)s::text[])[1 + floor(pg_temp.u(n, 33) * %(words_n)s)::int] AS word) h
            ORDER BY n
            """,
            {
                "anchor": anchor,
                "authors": authors,
                "names": NAMES,
                "names_n": len(NAMES),
                "words": WORDS,
                "words_n": len(WORDS),
            },
        )
        cursor.execute(
            "CREATE TEMP TABLE bench_author AS SELECT substr(external_id, 9)::int AS n, id, handle "
            "FROM inbox_author WHERE external_id LIKE 'bench-a-%'"
        )
        cursor.execute("ALTER TABLE bench_author ADD PRIMARY KEY (n)")
        cursor.execute("ANALYZE bench_channel, bench_team, bench_user, bench_phrase, bench_author")

        step("mentions")
        sql, params = _mention_insert(anchor)
        params["authors"] = authors
        for lo in range(1, rows + 1, CHUNK):
            hi = min(rows, lo + CHUNK - 1)
            cursor.execute(sql, {**params, "lo": lo, "hi": hi})
            bar.update(hi - lo + 1)

        step("channel receipts")
        # Each mention on the channel it was drawn for; 3 % also on another account of the same segment and
        # network (channels alternate X and Mastodon, so two apart).
        cursor.execute(
            f"""
            INSERT INTO inbox_mentionchannel (mention_id, channel_id, received_at)
            SELECT m.id, c.id, m.received_at
            FROM (SELECT id, received_at, substr(external_id, 7)::bigint AS g FROM inbox_mention
                  WHERE external_id LIKE 'bench-%') m
            JOIN bench_channel c ON c.idx = pg_temp.ch(m.g)
            UNION ALL
            SELECT m.id, c.id, m.received_at + interval '2 seconds'
            FROM (SELECT id, received_at, substr(external_id, 7)::bigint AS g FROM inbox_mention
                  WHERE external_id LIKE 'bench-%') m
            JOIN bench_channel c ON c.idx = pg_temp.seg(m.g) * {CHANNELS_PER_SEGMENT}
                + (pg_temp.ch(m.g) + 2) % {CHANNELS_PER_SEGMENT}
            WHERE pg_temp.u(m.g, 13) < 0.03
            """
        )

        step("escalations")
        # The misdirected 10 %: handed from the receiving team to the owner; the last day's still wait.
        cursor.execute(
            """
            INSERT INTO routing_escalation (mention_id, from_team_id, to_team_id, reason, state, created_at,
                due_at, bounce_reason, escalated_to_lead_at, decided_at, decided_by_id)
            SELECT m.id, ft.team_id, tt.team_id,
                'Misdirected: the post is about ' || replace(m.intent, '_', ' ') || '.',
                pg_temp.esc_state(m.g), m.received_at + interval '10 seconds',
                m.received_at + interval '1 hour',
                CASE WHEN pg_temp.esc_state(m.g) = 'bounced' THEN 'Not ours: back to you.' ELSE '' END,
                CASE WHEN pg_temp.esc_state(m.g) = 'to_lead' THEN m.received_at + interval '1 hour' END,
                CASE WHEN pg_temp.esc_state(m.g) IN ('accepted', 'bounced')
                     THEN m.received_at + interval '1 second' * (60 + 3000 * pg_temp.u(m.g, 37)) END,
                NULL
            FROM (SELECT id, received_at, intent, substr(external_id, 7)::bigint AS g FROM inbox_mention
                  WHERE is_misdirected AND external_id LIKE 'bench-%') m
            JOIN bench_team ft ON ft.idx = pg_temp.seg(m.g)
            JOIN bench_team tt ON tt.idx = pg_temp.owner(m.g)
            ORDER BY m.id
            """
        )

        for name, definition in indexes:
            step(f"index {name}")
            cursor.execute(definition)
        load_seconds = time.perf_counter() - started
        cursor.execute(
            f"INSERT INTO {MARKER_TABLE} (id, version, rows, authors, built_at, load_seconds) "
            "VALUES (1, %s, %s, %s, %s, %s)",
            [DATASET_VERSION, rows, authors, anchor, load_seconds],
        )
    bar.close()
    with connection.cursor() as cursor:
        # Planner statistics for the new rows; outside a transaction also the visibility map and hint bits,
        # which the first reads of freshly loaded rows would otherwise write.
        if connection.in_atomic_block:
            cursor.execute("ANALYZE")
        else:
            if progress:
                print("  VACUUM ANALYZE", flush=True)
            cursor.execute("VACUUM ANALYZE")
            # The load leaves gigabytes of dirty buffers that the checkpointer would write out during the
            # first measures (a first-page p95 of 51 ms right after a build, 39 ms on the same data set a
            # minute later): write them now. Only a superuser (or pg_checkpoint) may; others measure as is.
            with contextlib.suppress(DatabaseError):  # autocommit: a refusal leaves nothing to roll back
                cursor.execute("CHECKPOINT")
    total = time.perf_counter() - started
    print(f"  built the data set: {rows:,} mentions, {authors:,} authors in {total:.0f}s", flush=True)
    return Dataset(
        rows=rows,
        authors=authors,
        version=DATASET_VERSION,
        built_at=anchor,
        load_seconds=total,
        reused=False,
        team_ids=team_ids,
        agent=people[(0, 1)],
        admin=admin,
    )

    # (the temporary tables and functions go with the session)


# --- Measures -----------------------------------------------------------------------------------------------


def p95(samples: Sequence[float]) -> float:
    """The 95th percentile (nearest rank)."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def logged_in_client(user: Any):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def url(name: str, **query: Any) -> str:
    """An inbox URL by its name (the app is mounted under a prefix) with a query string."""
    from urllib.parse import urlencode

    from django.urls import reverse

    return reverse(f"inbox:{name}") + (f"?{urlencode(query)}" if query else "")


def rows_shown(content: bytes) -> int:
    """Mentions a rendered list shows (each has one selection box)."""
    return content.count(b'class="mention__select"')


def get_ms(
    client, address: str, *, requests: int = REQUESTS, warmup: int = WARMUP, htmx: bool = True
) -> tuple[list[float], bytes]:
    """Milliseconds per whole GET request (middleware, session, view, template) after ``warmup`` untimed ones;
    and the last response's body."""
    headers = {"HX-Request": "true"} if htmx else {}
    samples: list[float] = []
    content = b""
    for number in range(warmup + requests):
        started = time.perf_counter()
        response = client.get(address, headers=headers)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, f"GET {address}: {response.status_code}"
        content = response.content
        if number >= warmup:
            samples.append(elapsed * 1000)
    return samples, content


def team_queue_filter(team_id: int) -> tuple[str, list[Any]]:
    """The team queue (new and open, unassigned) as SQL, as the selector builds it."""
    return (
        "team_id = %s AND assignee_id IS NULL AND status IN ('new', 'open')",
        [team_id],
    )


def deep_cursor(team_id: int, depth: int) -> str:
    """The cursor a reader holds after ``depth`` rows of the team's queue (one query, then cursor_encode)."""
    from django.db import connection

    from inbox.selectors import cursor_encode

    where, params = team_queue_filter(team_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT created_at, id FROM inbox_mention WHERE {where} "
            "ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
            [*params, depth - 1],
        )
        row = cursor.fetchone()
    assert row is not None, f"the team queue has fewer than {depth} mentions"
    return cursor_encode(row[0], row[1])


def queries_per_page(
    client, user: Any, sizes: Sequence[int] = QUERY_COUNT_SIZES
) -> dict[str, dict[int, int]]:
    """SQL queries of one list request (after a warm-up, so one-off lookups such as content types do not
    count), and of the selector alone for a freshly loaded user, at each page size."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from inbox.selectors import InboxFilters, mentions_for_inbox

    view: dict[int, int] = {}
    selector: dict[int, int] = {}
    for size in sizes:
        address = url("mention_list", queue="team", limit=size)
        client.get(address)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(address, headers={"HX-Request": "true"})
        assert response.status_code == 200
        shown = rows_shown(response.content)
        assert shown == size, f"{address} showed {shown} rows"
        view[size] = len(captured.captured_queries)
        fresh = type(user).objects.get(pk=user.pk)  # as a request has: nothing remembered on it yet
        with CaptureQueriesContext(connection) as captured:
            page = mentions_for_inbox(user=fresh, filters=InboxFilters(queue="team"), limit=size)
        assert len(page.mentions) == size
        selector[size] = len(captured.captured_queries)
    return {"view": view, "selector": selector}


def tail_word(rank: int) -> str:
    """The long-tail pseudo-word of this rank (0 the commonest), as pg_temp.tail spells it."""
    n = len(SYLLABLES)
    return "".join(SYLLABLES[rank // n**i % n] for i in range(4))


def search_queries(team_id: int) -> list[str]:
    """SEARCHES, three long-tail words (in about 1,300, 250 and 15 mentions in a million), an order number
    and an author's handle seen in the team's newest mentions."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT substring(m.text from 'order #([0-9]+)'), a.handle FROM inbox_mention m "
            "JOIN inbox_author a ON a.id = m.author_id WHERE m.team_id = %s "
            "ORDER BY m.created_at DESC, m.id DESC LIMIT 500",
            [team_id],
        )
        rows = cursor.fetchall()
    orders = [order for order, _ in rows if order]
    handles = [handle for _, handle in rows]
    extra = [tail_word(10), tail_word(100), tail_word(5000)]
    if orders:
        extra.append(orders[len(orders) // 2])
    if handles:
        extra.append("@" + handles[len(handles) // 3])
    return [*SEARCHES, *extra]


def search_ms(client, queries: Sequence[str], *, rounds: int = SEARCH_ROUNDS) -> dict[str, list[float]]:
    """Milliseconds per search request, ``rounds`` times each query (after one warm-up each), interleaved."""
    urls = {q: url("mention_list", queue="all", q=q) for q in queries}
    timings: dict[str, list[float]] = {q: [] for q in queries}
    for round_number in range(rounds + 1):
        for q, address in urls.items():
            started = time.perf_counter()
            response = client.get(address, headers={"HX-Request": "true"})
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, f"GET {address}: {response.status_code}"
            assert b"alert--error" not in response.content, f"GET {address} reported an error"
            if round_number:
                timings[q].append(elapsed * 1000)
    return timings


def _bulk_restore(cursor) -> None:
    """Put back the rows the bulk benchmark changed, if its backup is there (also after a crash)."""
    cursor.execute("SELECT to_regclass(%s)", [BULK_BACKUP_TABLE])
    if cursor.fetchone()[0] is None:
        return
    cursor.execute(
        f"""
        UPDATE inbox_mention m SET status = b.status, closed_at = b.closed_at,
            snoozed_until = b.snoozed_until, updated_at = b.updated_at, assignee_id = b.assignee_id
        FROM {BULK_BACKUP_TABLE} b WHERE m.id = b.id
        """
    )
    cursor.execute(
        "DELETE FROM inbox_auditevent WHERE id > (SELECT coalesce(max(audit_before), 0) FROM "
        f"{BULK_BACKUP_TABLE})"
    )
    cursor.execute(f"DROP TABLE {BULK_BACKUP_TABLE}")


def bulk_seconds(
    client, team_id: int, *, size: int = BULK_SIZE, rounds: int = BULK_ROUNDS
) -> tuple[list[float], list[float]]:
    """Seconds per ``POST /mentions/bulk/`` closing ``size`` mentions of the team queue, and per reopening
    POST. The rows are backed up first and put back as they were afterwards (audit events removed too)."""
    from django.db import connection

    where, params = team_queue_filter(team_id)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE {BULK_BACKUP_TABLE} AS SELECT id, status, closed_at, snoozed_until, updated_at, "
            f"assignee_id, (SELECT max(id) FROM inbox_auditevent) AS audit_before FROM inbox_mention "
            f"WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %s",
            [*params, size],
        )
        cursor.execute(f"SELECT id FROM {BULK_BACKUP_TABLE}")
        ids = [row[0] for row in cursor.fetchall()]
    assert len(ids) == size, f"the team queue has {len(ids)} mentions, fewer than {size}"
    closing: list[float] = []
    reopening: list[float] = []
    try:
        for _ in range(rounds):
            for action, timings, status in (("close", closing, "closed"), ("reopen", reopening, "open")):
                started = time.perf_counter()
                response = client.post(
                    url("bulk"), {"ids": ids, "action": action}, headers={"HX-Request": "true"}
                )
                elapsed = time.perf_counter() - started
                assert response.status_code == 200, f"bulk {action}: {response.status_code}"
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT count(*) FROM inbox_mention WHERE id = ANY(%s) AND status = %s", [ids, status]
                    )
                    done = cursor.fetchone()[0]
                assert done == size, f"bulk {action} changed {done} of {size}: {response.content[:300]!r}"
                timings.append(elapsed)
    finally:
        with connection.cursor() as cursor:
            _bulk_restore(cursor)
    return closing, reopening


@contextmanager
def compact_density(user: Any) -> Iterator[None]:
    """The person's list in compact density for the block, as they were afterwards."""
    from users.models import Preferences

    Preferences.objects.filter(user=user).delete()
    Preferences.objects.create(user=user, density=Preferences.Density.COMPACT)
    try:
        yield
    finally:
        Preferences.objects.filter(user=user).delete()


# --- The benchmark ------------------------------------------------------------------------------------------


def measure(
    report: Report,
    dataset: Dataset,
    *,
    requests: int = REQUESTS,
    warmup: int = WARMUP,
    deep_pages: int = DEEP_PAGES,
    search_rounds: int = SEARCH_ROUNDS,
    bulk_size: int = BULK_SIZE,
    bulk_rounds: int = BULK_ROUNDS,
) -> None:
    """Every figure, on the data set in the current database."""
    from django.core.cache import cache

    cache.clear()  # presence entries of an earlier run (Redis database of the benchmarks)
    # Other work on the machine stretches the tail of every latency here: say how busy it was.
    report("load_average_1m", round(os.getloadavg()[0], 2))
    team_id = dataset.team_ids[0]
    agent = logged_in_client(dataset.agent)
    admin = logged_in_client(dataset.admin)

    samples, content = get_ms(agent, url("mention_list", queue="team"), requests=requests, warmup=warmup)
    assert rows_shown(content) == PAGE_SIZE, f"the first page showed {rows_shown(content)} rows"
    report("list_p95_ms_first_page", p95(samples))
    report("list_median_ms_first_page", sorted(samples)[len(samples) // 2])

    samples, content = get_ms(admin, url("mention_list", queue="all"), requests=requests, warmup=warmup)
    assert rows_shown(content) == PAGE_SIZE
    report("list_p95_ms_first_page_admin", p95(samples))

    samples, content = get_ms(agent, url("index", queue="team"), requests=requests, warmup=warmup, htmx=False)
    assert rows_shown(content) == PAGE_SIZE
    report("page_p95_ms_first_page", p95(samples))

    # The same two requests with the agent's list set to compact on /me/ (the list is drawn one line a row).
    with compact_density(dataset.agent):
        samples, content = get_ms(agent, url("mention_list", queue="team"), requests=requests, warmup=warmup)
        assert rows_shown(content) == PAGE_SIZE
        report("list_p95_ms_first_page_compact", p95(samples))
        samples, content = get_ms(
            agent, url("index", queue="team"), requests=requests, warmup=warmup, htmx=False
        )
        assert rows_shown(content) == PAGE_SIZE and b'data-density="compact"' in content
        report("page_p95_ms_first_page_compact", p95(samples))

    cursor = deep_cursor(team_id, deep_pages * PAGE_SIZE)
    samples, content = get_ms(
        agent, url("mention_list", queue="team", after=cursor), requests=requests, warmup=warmup
    )
    assert rows_shown(content) == PAGE_SIZE, f"the deep page showed {rows_shown(content)} rows"
    report("list_p95_ms_deep_page", p95(samples))

    counts = queries_per_page(agent, dataset.agent)
    view_counts = set(counts["view"].values())
    print(f"    queries per list request by page size: {counts['view']}; selector: {counts['selector']}")
    report("queries_per_page", max(view_counts))
    report("queries_per_page_constant", len(view_counts) == 1 and len(set(counts["selector"].values())) == 1)
    report("queries_per_page_selector", max(counts["selector"].values()))

    timings = search_ms(agent, search_queries(team_id), rounds=search_rounds)
    for q, values in timings.items():
        print(f"    search {q!r}: median {sorted(values)[len(values) // 2]:.1f} ms, max {max(values):.1f} ms")
    report("search_p95_ms", p95([value for values in timings.values() for value in values]))
    report("search_queries", len(timings))

    closing, reopening = bulk_seconds(agent, team_id, size=bulk_size, rounds=bulk_rounds)
    report("bulk_500_s", max(closing))
    report("bulk_500_s_median", sorted(closing)[len(closing) // 2])
    report("bulk_500_reopen_s", max(reopening))


def run(report: Report, *, quick: bool = False) -> None:
    rows = QUICK_ROWS if quick else ROWS
    with bench_database(DATABASE + ("_quick" if quick else "")):
        dataset = dataset_ensure(rows, rebuild=os.environ.get("BENCH_INBOX_REBUILD") == "1")
        report("rows", dataset.rows)
        report("load_s", dataset.load_seconds)
        measure(report, dataset, deep_pages=min(DEEP_PAGES, 20) if quick else DEEP_PAGES)
