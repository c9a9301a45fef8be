"""admin.*: a backtest of a 1,000-rule draft over 100,000 stored mentions, end to end through the task the
rule builder's Backtest button queues (``inbox.tasks.rules_backtest_task``, run in this process): the draft
read from the cache, ``inbox.backtest.rules_backtest`` loading the mentions' facts from PostgreSQL batch by
batch and deciding each twice (published rules, draft), progress and the report written to the cache.

- ``backtest_1000_rules_100k_s``: seconds for that backtest (issue 6 asks for under 20).
- ``backtest_mentions``: mentions replayed; ``backtest_changed``: decisions the draft changes.
- ``load_s``: storing the mentions (COPY of authors, mentions and receipts), for the record.

The organisation is the one ``bench/routing_rules.py`` writes rules for: its teams, people and 31 accounts,
the six segments of the data migration owned by its teams, and its 1,000 rules published as the current
version. The mentions are the simulated network's posts (``bench_posts``) spread over the last six days,
each stored as the ingest would have left it: routed by the published rules, with its classification, its
decision and its author. The draft is the published rule set with one rule rewritten in place, which is what
the builder sends when an admin edits a rule and presses Backtest.
"""

from __future__ import annotations

import csv
import io
import json
import time
from datetime import timedelta
from typing import Any

from bench.__main__ import Report
from bench.routing_rules import (
    CHANNELS,
    REGIONAL_CHANNELS,
    SEGMENT_TEAMS,
    TEAMS,
    USERS,
    bench_posts,
    bench_rules,
)

MENTIONS = 100_000
QUICK_MENTIONS = 10_000
RULES = 1000
DAYS = 7  # the backtest's window; the mentions are spread over the six days before the run
SPREAD = timedelta(days=6)
EDITED_RULE = 500  # the rule the admin rewrites: one in the middle, so rules before and after it run
DRAFT_RULE = {
    "id": EDITED_RULE,
    "name": "Recalls go to crisis",
    "enabled": True,
    "when": {"all": [{"keywords": ["recall", "recalled", "overheats"]}, {"not": {"kind": ["dm"]}}]},
    "then": [
        {"route_to_segment": "crisis-management"},
        {"escalate": {"team": "crisis", "reason": "Possible product recall"}},
        {"set_priority": "urgent"},
    ],
}


def run(report: Report, *, quick: bool = False) -> None:
    from django.core.cache import cache
    from django.db import connection

    from inbox.tasks import rules_backtest_task
    from routing import learning, rulesets
    from routing.backtest import backtest_keys

    count = QUICK_MENTIONS if quick else MENTIONS
    rules = bench_rules(RULES)
    _organisation()
    _publish(rules)
    started = time.perf_counter()
    _store(count)
    report("load_s", time.perf_counter() - started)
    with connection.cursor() as cursor:
        # In a live database autovacuum has long vacuumed and analysed rows written days ago; rows copied a
        # second ago have neither statistics nor hint bits, and the first read of each would pay for them.
        cursor.execute("VACUUM ANALYZE inbox_mention, inbox_author, inbox_mentionchannel")

    # A worker that routes mentions has these loaded already; the draft is compiled inside the timing.
    rulesets.rule_set_current()
    learning.classifier_current()
    draft = [DRAFT_RULE if rule["id"] == EDITED_RULE else rule for rule in rules]
    backtest_id = "b" * 32
    draft_key, progress_key = backtest_keys(backtest_id)
    cache.set(
        draft_key, {"rules": draft, "days": DAYS, "rule": DRAFT_RULE, "rule_id": EDITED_RULE}, timeout=3600
    )

    started = time.perf_counter()
    rules_backtest_task(backtest_id)
    seconds = time.perf_counter() - started

    state = cache.get(progress_key)
    assert state["state"] == "done", state
    result = state["report"]
    assert result["mentions"] == count, result["mentions"]
    cache.delete_many([draft_key, progress_key])
    print(
        f"    {result['mentions']:,} mentions replayed against {RULES:,} rules in {seconds:.1f}s: "
        f"{result['changed']:,} decisions change, {result['escalations_added']:,} escalations added",
        flush=True,
    )
    report("backtest_1000_rules_100k_s", seconds)
    report("backtest_mentions", result["mentions"])
    report("backtest_changed", result["changed"])


def _organisation() -> None:
    """Teams, people, segments and accounts the bench rules name."""
    from django.contrib.auth import get_user_model

    from channels.models import Channel, Network, Segment
    from teams.models import Team

    teams = {
        slug: Team.objects.get_or_create(slug=slug, defaults={"name": slug.replace("-", " ").title()})[0]
        for slug in sorted(TEAMS)
    }
    for segment_slug, team_slug in SEGMENT_TEAMS.items():
        Segment.objects.filter(slug=segment_slug).update(team=teams[team_slug])
    for username in USERS:
        get_user_model().objects.get_or_create(username=username)
    segments = {segment.slug: segment for segment in Segment.objects.all()}
    accounts = {slug: segment for slug, (segment, _) in CHANNELS.items()} | REGIONAL_CHANNELS
    Channel.objects.bulk_create(
        [
            Channel(
                slug=slug,
                network=Network.SIMULATED,
                handle=f"@{slug.replace('-', '_')}",
                external_account_id=slug,
                segment=segments[segment],
            )
            for slug, segment in accounts.items()
        ]
    )


def _publish(rules: list[dict[str, Any]]) -> None:
    """The 1,000 rules as Rule rows, published as the current version."""
    from routing import rulesets
    from routing.models import Rule

    Rule.objects.bulk_create(
        Rule(
            pk=rule["id"],
            position=index * 10,
            name=rule["name"],
            enabled=True,
            when=rule["when"],
            then=rule["then"],
        )
        for index, rule in enumerate(rules, start=1)
    )
    started = time.perf_counter()
    rulesets.rule_set_publish(summary=f"{len(rules):,} rules")
    print(f"    published {len(rules):,} rules in {time.perf_counter() - started:.1f}s", flush=True)


def _store(count: int) -> None:
    """``count`` routed mentions, as the ingest leaves them, by COPY: authors, mentions, then receipts."""
    from django.db import connection
    from django.utils import timezone

    from channels.models import Channel
    from inbox.models import Author, Mention, MentionChannel
    from routing import learning, rulesets
    from routing.engine import decide_many
    from teams.models import Team

    posts = bench_posts(count)
    rule_set = rulesets.rule_set_current()
    decisions = decide_many(posts, rule_set, learning.classifier_current())
    team_ids = dict(Team.objects.values_list("slug", "id"))
    channel_ids = dict(Channel.objects.values_list("slug", "id"))
    now = timezone.now()

    authors: dict[str, Any] = {}
    for facts in posts:
        authors.setdefault(facts.author_handle, facts)
    _copy(connection, Author._meta.db_table, AUTHOR_COLUMNS, (_author_row(f, now) for f in authors.values()))
    author_ids = dict(Author.objects.filter(external_id__in=list(authors)).values_list("external_id", "id"))
    rows = (
        _mention_row(
            i,
            f,
            d,
            created=now - SPREAD * (i / count),
            author=author_ids[f.author_handle],
            team=team_ids[d.team],
        )
        for i, (f, d) in enumerate(zip(posts, decisions, strict=True))
    )
    _copy(connection, Mention._meta.db_table, MENTION_COLUMNS, rows)
    mention_ids = dict(
        Mention.objects.filter(external_id__startswith="bench-admin-").values_list("external_id", "id")
    )
    _copy(
        connection,
        MentionChannel._meta.db_table,
        ["mention_id", "channel_id", "received_at"],
        (
            [mention_ids[f"bench-admin-{i}"], channel_ids[facts.channel], now.isoformat()]
            for i, facts in enumerate(posts)
        ),
    )
    print(f"    stored {count:,} mentions from {len(authors):,} authors", flush=True)


AUTHOR_COLUMNS = [
    *("network", "external_id", "handle", "display_name", "follower_count", "is_verified", "tags"),
    *("first_seen_at", "last_seen_at"),
]
MENTION_COLUMNS = [
    *("network", "external_id", "kind", "text", "url", "created_at", "received_at", "author_id"),
    *(
        "conversation_key",
        "in_reply_to",
        "raw",
        "status",
        "team_id",
        "priority",
        "intent",
        "intent_confidence",
    ),
    *(
        "sentiment",
        "sentiment_label",
        "is_misdirected",
        "labels",
        "requires_approval",
        "decision",
        "routed_at",
    ),
]


def _author_row(facts: Any, now: Any) -> list[Any]:
    handle = facts.author_handle
    tags = json.dumps(sorted(facts.author_tags))
    verified = _bool(facts.author_verified)
    return [facts.network, handle, handle, handle.title(), facts.author_followers, verified, tags, now, now]


def _mention_row(i: int, facts: Any, d: Any, *, created: Any, author: int, team: int) -> list[Any]:
    """A mention as the ingest stores it and routing leaves it."""
    from routing.decisions import decision_record
    from routing.facts import PRIORITIES

    c = facts.classification
    return [
        facts.network,
        f"bench-admin-{i}",
        facts.kind,
        facts.text,
        "",
        created,
        created,
        author,
        "",
        "",
        json.dumps({"lang": facts.language}),
        "new",
        team,
        PRIORITIES[d.priority],
        d.intent,
        c.confidence,
        c.sentiment,
        c.sentiment_label,
        _bool(d.is_misdirected),
        json.dumps(list(d.labels)),
        _bool(d.require_approval),
        json.dumps(decision_record(d)),
        created,
    ]


def _bool(value: bool) -> str:
    return "t" if value else "f"


def _copy(connection, table: str, columns: list[str], rows) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)  # quoted "" is an empty string, not NULL
    writer.writerows(rows)
    buffer.seek(0)
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH CSV", buffer)
