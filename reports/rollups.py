"""Keeping the rollups: each mention's report state computed from its rows, the consumer of the domain events
that refreshes the states of the mentions a batch of events touched (applying new minus old to the rollups,
in the transaction that moves its position), and the rebuild from scratch.

Why states and not per-event increments: an event says what changed, not what a mention now contributes
(a re-route moves its whole history to another team; a reopen takes a handled mention back). Recomputing a
touched mention's state from its rows and applying the difference makes a consumer run idempotent: handling
an event twice, or after a rebuild already counted it, changes nothing. So the rebuild may hand the consumer
a position slightly behind what it read, and nothing is missed or counted twice.
"""

from __future__ import annotations

import csv
import io
import json
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction

from foundation.events import Position, consumer_start, events_consume, events_settled
from foundation.models import ConsumerPosition, DomainEvent
from inbox.models import Mention, MentionChannel, Reply, SlaPolicy
from inbox.sla import SlaPolicyError, business_seconds_between, policies_enabled
from reports.models import (
    AGENT_KEYS,
    AGENT_MEASURES,
    BUCKETS,
    DAY_KEYS,
    HOUR_KEYS,
    HOUR_MEASURES,
    INTENT,
    LATENCY_BOUNDS,
    LOAD_KEYS,
    LOAD_MEASURES,
    RULE,
    SPLITS,
    TALLY_KEYS,
    TALLY_MEASURES,
    TEAM_DAY_KEYS,
    TEAM_HOUR_KEYS,
    AgentDayRollup,
    DayRollup,
    HourRollup,
    LoadRollup,
    MentionState,
    ReplyState,
    TallyRollup,
    TeamDayRollup,
    TeamHourRollup,
)
from routing.models import Correction, Escalation

CONSUMER = "reports.rollups"
COUNTED_VERBS = ("mention.reopened", "sla.breached")  # counted from the events: the rows keep no history
ERRORS = (Correction.Kind.REROUTE, Correction.Kind.BOUNCE)  # a person said routing got the owner wrong
HELD = (Mention.Status.NEW, Mention.Status.OPEN, Mention.Status.PENDING)  # a person's open load
REBUILD_CHUNK = 20_000  # mentions per step of the rebuild
SQLITE_CHUNK = 5_000  # under SQLite's limit of bound variables per statement


# --- A mention's state --------------------------------------------------------------------------------------


def _hour(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _day(when: datetime) -> date:
    return when.astimezone(UTC).date()


def _seconds(start: datetime, end: datetime) -> int:
    return max(0, int((end - start).total_seconds()))


def _business_seconds(policy: SlaPolicy | None, start: datetime, end: datetime) -> int:
    """Business seconds of the mention's SLA calendar (the one the SLA clocks count in); wall-clock when its
    segment has no policy (or one that cannot be computed with)."""
    if policy is None:
        return _seconds(start, end)
    try:
        return business_seconds_between(policy, start, end)
    except SlaPolicyError:
        return _seconds(start, end)


def states_compute(
    mention_ids: Sequence[int] = (),
    *,
    id_range: tuple[int, int] | None = None,
    counted: dict[tuple[int, str], int] | None = None,
) -> tuple[list[dict], list[dict]]:
    """The report states (``MentionState`` and ``ReplyState`` fields) of the mentions that exist among
    ``mention_ids`` (or with ids in ``id_range``, both ends included), from their rows as committed now. A
    few queries whatever the number of mentions. ``counted``: the events counted per mention, when the
    caller has read them already (``events_counted``)."""
    if id_range is not None:
        of_mentions = {"mention_id__gte": id_range[0], "mention_id__lte": id_range[1]}
        mention_filter = {"pk__gte": id_range[0], "pk__lte": id_range[1]}
    else:
        of_mentions = {"mention_id__in": list(mention_ids)}
        mention_filter = {"pk__in": of_mentions["mention_id__in"]}
    mentions = list(
        Mention.objects.filter(**mention_filter).values_list(
            "id",
            "received_at",
            "closed_at",
            "status",
            "team_id",
            "assignee_id",
            "intent",
            "kind",
            "network",
            "priority",
            "sentiment_label",
            "routed_at",
            "decision__segment",
            "decision__rules_fired",
        )
    )
    if not mentions:
        return [], []
    arrival: dict[int, tuple[int, int, int | None, str]] = {}
    for mention_id, channel_id, segment_id, override, segment_team, slug in (
        MentionChannel.objects.filter(**of_mentions)
        .order_by("mention_id", "id")
        .values_list(
            "mention_id",
            "channel_id",
            "channel__segment_id",
            "channel__team_override_id",
            "channel__segment__team_id",
            "channel__segment__slug",
        )
    ):
        arrival.setdefault(mention_id, (channel_id, segment_id, override or segment_team, slug))
    replies: dict[int, list[tuple[int, int | None, datetime]]] = defaultdict(list)
    for reply_id, mention_id, author_id, created_at in (
        Reply.objects.filter(**of_mentions)
        .exclude(state=Reply.State.REJECTED)
        .order_by("mention_id", "created_at", "id")
        .values_list("id", "mention_id", "author_id", "created_at")
    ):
        replies[mention_id].append((reply_id, author_id, created_at))
    corrections: dict[int, list[tuple]] = defaultdict(list)
    for row in Correction.objects.filter(**of_mentions, kind__in=ERRORS).values_list(
        "mention_id", "kind", "intent_before", "intent_after", "team_before_id", "team_after_id"
    ):
        corrections[row[0]].append(row[1:])
    escalations: dict[int, list[tuple]] = defaultdict(list)
    for row in Escalation.objects.filter(**of_mentions).values_list(
        "mention_id", "state", "created_at", "decided_at", "escalated_to_lead_at"
    ):
        escalations[row[0]].append(row[1:])
    if counted is None:
        counted = events_counted([m[0] for m in mentions])
    policies = policies_enabled()

    states, reply_states = [], []
    for (
        mention_id,
        received_at,
        closed_at,
        status,
        team_id,
        assignee_id,
        intent,
        kind,
        network,
        priority,
        sentiment,
        routed_at,
        decided_segment,
        rules_fired,
    ) in mentions:
        channel_id, segment_id, arrival_team, slug = arrival.get(mention_id, (0, 0, None, None))
        policy = policies.get(decided_segment or slug)
        team = team_id or 0
        closed = status == Mention.Status.CLOSED and closed_at is not None
        its_replies = replies.get(mention_id, [])
        first = its_replies[0] if its_replies else None
        frt = frt_business = None
        sla = None
        if first is not None:
            frt = _seconds(received_at, first[2])
            frt_business = _business_seconds(policy, received_at, first[2])
            if policy is not None:
                sla = int(frt_business <= policy.first_response_minutes * 60)
        res = _seconds(received_at, closed_at) if closed else None
        res_business = _business_seconds(policy, received_at, closed_at) if closed else None
        its_corrections = corrections.get(mention_id, [])
        moved = ""
        if team_id is not None and arrival_team is not None and team_id != arrival_team:
            by_agent = any(c[0] == Correction.Kind.REROUTE and c[4] != c[3] for c in its_corrections)
            moved = "agent" if by_agent else "auto"
        its_escalations = escalations.get(mention_id, [])
        accepted = [e for e in its_escalations if e[0] == Escalation.State.ACCEPTED and e[2] is not None]
        states.append(
            {
                "mention_id": mention_id,
                "received_hour": _hour(received_at),
                "closed_hour": _hour(closed_at) if closed else None,
                "team_id": team,
                "segment_id": segment_id or 0,
                "channel_id": channel_id or 0,
                "network": network,
                "intent": intent,
                "kind": kind,
                "priority": priority,
                "sentiment": sentiment or "",
                "replies": len(its_replies),
                "first_reply_day": _day(first[2]) if first else None,
                "first_reply_author_id": (first[1] or 0) if first else 0,
                "frt_seconds": frt,
                "frt_business_seconds": frt_business,
                "res_seconds": res,
                "res_business_seconds": res_business,
                "frt_w_bucket": None if frt is None else bucket(frt),
                "frt_b_bucket": None if frt_business is None else bucket(frt_business),
                "res_w_bucket": bucket(res) if closed else None,
                "res_b_bucket": bucket(res_business) if closed else None,
                "closer_id": (assignee_id or 0) if closed else 0,
                "holder_id": (assignee_id or 0) if status in HELD else 0,
                "routed": routed_at is not None,
                "moved": moved,
                "corrections": len(its_corrections),
                "reopened": counted.get((mention_id, "mention.reopened"), 0),
                "breaches": counted.get((mention_id, "sla.breached"), 0),
                "sla": sla,
                "escalations": len(its_escalations),
                "esc_accepted": len(accepted),
                "esc_bounced": sum(1 for e in its_escalations if e[0] == Escalation.State.BOUNCED),
                "esc_to_lead": sum(1 for e in its_escalations if e[3] is not None),
                "esc_accept_seconds": sum(_seconds(e[1], e[2]) for e in accepted),
                "rules": [str(r) for r in rules_fired or []] if isinstance(rules_fired, list) else [],
                "corrected_intents": [c[1] or "" for c in its_corrections if c[2] and c[2] != c[1]],
            }
        )
        reply_states.extend(
            {
                "reply_id": reply_id,
                "mention_id": mention_id,
                "author_id": author_id or 0,
                "day": _day(created_at),
                "team_id": team,
            }
            for reply_id, author_id, created_at in its_replies
        )
    return states, reply_states


def events_counted(mention_ids: Sequence[int] | None = None) -> dict[tuple[int, str], int]:
    """(mention id, verb) -> how many ``COUNTED_VERBS`` events the mention has: of these mentions, or of
    all (``None``: the rebuild reads them in one pass)."""
    events = DomainEvent.objects.filter(
        object_type=ContentType.objects.get_for_model(Mention), verb__in=COUNTED_VERBS
    )
    if mention_ids is not None:
        events = events.filter(object_id__in=[str(i) for i in mention_ids])
    counted: dict[tuple[int, str], int] = defaultdict(int)
    for object_id, verb in events.values_list("object_id", "verb").iterator(chunk_size=10_000):
        counted[(int(object_id), verb)] += 1
    return counted


# --- What a state contributes to the rollups (the rebuild's SQL below says the same in SQL) -----------------


def bucket(seconds: int) -> int:
    """The latency histogram bucket of ``seconds`` (PostgreSQL: width_bucket(seconds, LATENCY_BOUNDS))."""
    return bisect_right(LATENCY_BOUNDS, seconds)


Cells = dict[tuple, dict[str, int]]


def _add(cells: Cells, key: tuple, values: dict[str, int], sign: int) -> None:
    cell = cells.setdefault(key, {})
    for name, value in values.items():
        if value:
            cell[name] = cell.get(name, 0) + sign * value


def contributions(
    states: Iterable[dict],
    reply_states: Iterable[dict],
    *,
    sign: int = 1,
    into: dict[str, Cells] | None = None,
) -> dict[str, Cells]:
    """What the states add to each rollup (``sign`` -1: take away), as cells: table -> key -> measures."""
    out = into if into is not None else {name: {} for name in TABLES}
    hour, days, agent, tally = out["hour"], out["day"], out["agent"], out["tally"]
    team_hour, team_day = out["team_hour"], out["team_day"]

    def add(at: datetime, dims: tuple, splits: tuple, values: dict[str, int]) -> None:
        _add(hour, (at, *dims), values, sign)
        _add(team_hour, (at, dims[0]), values, sign)
        day = _day(at)
        _add(days, (day, *dims, "", ""), values, sign)
        _add(team_day, (day, dims[0]), values, sign)
        for split in splits:
            _add(days, (day, *dims, *split), values, sign)

    for s in states:
        dims = (s["team_id"], s["segment_id"], s["channel_id"], s["network"])
        splits = (("intent", s["intent"]), ("kind", s["kind"]), ("priority", str(s["priority"])))
        frt, frt_b = s["frt_seconds"], s["frt_business_seconds"]
        arrived = {
            "received": 1,
            "replied": int(s["replies"] > 0),
            "replies": s["replies"],
            "routed": int(s["routed"]),
            "moved_auto": int(s["moved"] == "auto"),
            "moved_by_agent": int(s["moved"] == "agent"),
            "corrections": s["corrections"],
            "intent_corrections": len(s["corrected_intents"]),
            "reopened": s["reopened"],
            "breaches": s["breaches"],
            "sla_measured": int(s["sla"] is not None),
            "sla_answered": s["sla"] or 0,
            "negative": int(s["sentiment"] == "negative"),
            "neutral": int(s["sentiment"] == "neutral"),
            "positive": int(s["sentiment"] == "positive"),
            "escalations": s["escalations"],
            "esc_accepted": s["esc_accepted"],
            "esc_bounced": s["esc_bounced"],
            "esc_to_lead": s["esc_to_lead"],
            "esc_accept_seconds": s["esc_accept_seconds"],
        }
        if frt is not None:
            arrived.update(
                {
                    "frt_count": 1,
                    "frt_seconds": frt,
                    "frt_business_seconds": frt_b,
                    f"frt_w_{s['frt_w_bucket']}": 1,
                    f"frt_b_{s['frt_b_bucket']}": 1,
                }
            )
        add(s["received_hour"], dims, splits, arrived)
        if s["closed_hour"] is not None:
            res, res_b = s["res_seconds"], s["res_business_seconds"]
            closed = {
                "handled": 1,
                "res_seconds": res,
                "res_business_seconds": res_b,
                f"res_w_{s['res_w_bucket']}": 1,
                f"res_b_{s['res_b_bucket']}": 1,
            }
            add(s["closed_hour"], dims, splits, closed)
            if s["closer_id"]:
                _add(agent, (_day(s["closed_hour"]), s["closer_id"], s["team_id"]), {"handled": 1}, sign)
        if frt is not None and s["first_reply_author_id"]:
            first = {
                "frt_count": 1,
                "frt_seconds": frt,
                "frt_business_seconds": frt_b,
                f"frt_w_{s['frt_w_bucket']}": 1,
                f"frt_b_{s['frt_b_bucket']}": 1,
            }
            _add(agent, (s["first_reply_day"], s["first_reply_author_id"], s["team_id"]), first, sign)
        if s["holder_id"]:
            _add(out["load"], (s["holder_id"], s["team_id"]), {"open": 1}, sign)
        day = _day(s["received_hour"])
        for rule in s["rules"]:
            _add(tally, (day, s["team_id"], RULE, rule), {"count": 1}, sign)
        for intent in s["corrected_intents"]:
            _add(tally, (day, s["team_id"], INTENT, intent), {"count": 1}, sign)
    for r in reply_states:
        if r["author_id"]:
            _add(agent, (r["day"], r["author_id"], r["team_id"]), {"replies": 1}, sign)
    return out


TABLES: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    "hour": (HourRollup._meta.db_table, HOUR_KEYS, HOUR_MEASURES),
    "day": (DayRollup._meta.db_table, DAY_KEYS, HOUR_MEASURES),
    "team_hour": (TeamHourRollup._meta.db_table, TEAM_HOUR_KEYS, HOUR_MEASURES),
    "team_day": (TeamDayRollup._meta.db_table, TEAM_DAY_KEYS, HOUR_MEASURES),
    "agent": (AgentDayRollup._meta.db_table, AGENT_KEYS, AGENT_MEASURES),
    "tally": (TallyRollup._meta.db_table, TALLY_KEYS, TALLY_MEASURES),
    "load": (LoadRollup._meta.db_table, LOAD_KEYS, LOAD_MEASURES),
}


def _cells_apply(table: str, keys: Sequence[str], measures: Sequence[str], cells: Cells) -> None:
    """Add each cell's measures to its rollup row (made when missing); rows left all zero go, as a rebuild
    would not make them."""
    rows = [
        (*key, *(values.get(m, 0) for m in measures)) for key, values in cells.items() if any(values.values())
    ]
    if not rows:
        return
    columns = ", ".join([*keys, *measures])
    updates = ", ".join(f"{m} = {table}.{m} + EXCLUDED.{m}" for m in measures)
    empty = " AND ".join(f"{m} = 0" for m in measures)
    sql = (
        f"INSERT INTO {table} ({columns}) VALUES %s ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates} "  # noqa: S608
        f"RETURNING id, ({empty})"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            from psycopg2.extras import execute_values

            returned = execute_values(cursor.cursor, sql, rows, page_size=1000, fetch=True)
        else:
            one = sql.replace("%s", "(" + ", ".join(["%s"] * len(rows[0])) + ")")
            returned = []
            for row in rows:
                cursor.execute(one, row)
                returned.extend(cursor.fetchall())
        gone = [pk for pk, is_empty in returned if is_empty]
        if gone:
            cursor.execute(f"DELETE FROM {table} WHERE id IN ({', '.join(['%s'] * len(gone))})", gone)  # noqa: S608


def states_refresh(mention_ids: Sequence[int]) -> None:
    """Bring the report states of these mentions up to date and apply the difference to the rollups. Runs in
    the caller's transaction; refreshing a mention that has not changed changes nothing."""
    ids = sorted(set(mention_ids))
    if not ids:
        return
    old = list(MentionState.objects.filter(mention_id__in=ids).values())
    old_replies = list(ReplyState.objects.filter(mention_id__in=ids).values())
    new, new_replies = states_compute(ids)
    cells = contributions(old, old_replies, sign=-1)
    contributions(new, new_replies, into=cells)
    MentionState.objects.filter(mention_id__in=ids).delete()
    ReplyState.objects.filter(mention_id__in=ids).delete()
    MentionState.objects.bulk_create([MentionState(**s) for s in new], batch_size=1000)
    ReplyState.objects.bulk_create([ReplyState(**r) for r in new_replies], batch_size=1000)
    for name, (table, keys, measures) in TABLES.items():
        _cells_apply(table, keys, measures, cells[name])


def events_apply(events: Sequence[DomainEvent]) -> None:
    """The consumer's handler: refresh the mentions the events are about (events about nothing else, such as
    a webhook's, change no report)."""
    ids = [e.mention_id for e in events if e.mention_id is not None]
    for start in range(0, len(ids), SQLITE_CHUNK):
        states_refresh(ids[start : start + SQLITE_CHUNK])


def rollups_consume(*, limit: int = 500) -> int:
    """One batch of events applied to the rollups, together with the consumer's position."""
    return events_consume(consumer=CONSUMER, handle=events_apply, limit=limit)


# --- The rebuild --------------------------------------------------------------------------------------------


def _when(column: str) -> str:
    return f"(({column}) AT TIME ZONE 'UTC')::date"


def _histogram(name: str) -> dict[str, str]:
    return {f"{name}_{i}": f"CASE WHEN {name}_bucket = {i} THEN 1 ELSE 0 END" for i in range(BUCKETS)}


_DIMS = "team_id, segment_id, channel_id, network"
_FINE = "reports_rebuild_day"  # a temporary table: states summed per day and every dimension
_ARRIVED = {
    "received": "1",
    "replied": "CASE WHEN replies > 0 THEN 1 ELSE 0 END",
    "replies": "replies",
    "routed": "routed::int",
    "moved_auto": "(moved = 'auto')::int",
    "moved_by_agent": "(moved = 'agent')::int",
    "corrections": "corrections",
    "intent_corrections": "jsonb_array_length(corrected_intents)",
    "reopened": "reopened",
    "breaches": "breaches",
    "sla_measured": "(sla IS NOT NULL)::int",
    "sla_answered": "coalesce(sla, 0)",
    "negative": "(sentiment = 'negative')::int",
    "neutral": "(sentiment = 'neutral')::int",
    "positive": "(sentiment = 'positive')::int",
    "escalations": "escalations",
    "esc_accepted": "esc_accepted",
    "esc_bounced": "esc_bounced",
    "esc_to_lead": "esc_to_lead",
    "esc_accept_seconds": "esc_accept_seconds",
    "frt_count": "(frt_seconds IS NOT NULL)::int",
    "frt_seconds": "coalesce(frt_seconds, 0)",
    "frt_business_seconds": "coalesce(frt_business_seconds, 0)",
    **_histogram("frt_w"),
    **_histogram("frt_b"),
}
_CLOSED = {
    "handled": "1",
    "res_seconds": "res_seconds",
    "res_business_seconds": "res_business_seconds",
    **_histogram("res_w"),
    **_histogram("res_b"),
}
_FIRST = {
    "frt_count": "1",
    "frt_seconds": "frt_seconds",
    "frt_business_seconds": "frt_business_seconds",
    **_histogram("frt_w"),
    **_histogram("frt_b"),
}


def _select(keys: str, measures: Sequence[str], exprs: dict[str, str], source: str) -> str:
    return (
        f"SELECT {keys}, " + ", ".join(exprs.get(m, "0") + f" AS {m}" for m in measures) + f" FROM {source}"  # noqa: S608
    )


def _rollup_sql(table: str, keys: Sequence[str], measures: Sequence[str], parts: Sequence[str]) -> str:
    key_list = ", ".join(keys)
    sums = ", ".join(f"sum({m})" for m in measures)
    union = " UNION ALL ".join(parts)
    return (
        f"INSERT INTO {table} ({key_list}, {', '.join(measures)}) "  # noqa: S608  (our table and column names)
        f"SELECT {key_list}, {sums} FROM ({union}) AS part GROUP BY {key_list}"
    )


def rollups_sql() -> list[str]:
    """The statements that sum the states into the (empty) rollups: ``contributions`` in SQL."""
    states = MentionState._meta.db_table
    hour = _rollup_sql(
        HourRollup._meta.db_table,
        HOUR_KEYS,
        HOUR_MEASURES,
        [
            _select(f"received_hour AS hour, {_DIMS}", HOUR_MEASURES, _ARRIVED, states),
            _select(f"closed_hour AS hour, {_DIMS}", HOUR_MEASURES, _CLOSED, states)
            + " WHERE closed_hour IS NOT NULL",
        ],
    )
    splits = ", ".join(SPLITS)
    fine_keys = f"day, {_DIMS}, {splits}"
    fine_select = f"{_DIMS}, intent, kind, priority::text AS priority"
    sums = ", ".join(f"sum({m}) AS {m}" for m in HOUR_MEASURES)
    fine = (
        f"CREATE TEMPORARY TABLE {_FINE} ON COMMIT DROP AS SELECT {fine_keys}, {sums} FROM ("  # noqa: S608
        + _select(f"{_when('received_hour')} AS day, {fine_select}", HOUR_MEASURES, _ARRIVED, states)
        + " UNION ALL "
        + _select(f"{_when('closed_hour')} AS day, {fine_select}", HOUR_MEASURES, _CLOSED, states)
        + f" WHERE closed_hour IS NOT NULL) AS part GROUP BY {fine_keys}"
    )
    day_columns = f"{', '.join(DAY_KEYS)}, {', '.join(HOUR_MEASURES)}"
    plain_sums = ", ".join(f"sum({m})" for m in HOUR_MEASURES)
    days = [
        f"INSERT INTO {DayRollup._meta.db_table} ({day_columns}) "  # noqa: S608
        f"SELECT day, {_DIMS}, '', '', {plain_sums} FROM {_FINE} GROUP BY day, {_DIMS}"
    ] + [
        f"INSERT INTO {DayRollup._meta.db_table} ({day_columns}) "  # noqa: S608
        f"SELECT day, {_DIMS}, '{split}', {split}, {plain_sums} FROM {_FINE} GROUP BY day, {_DIMS}, {split}"
        for split in SPLITS
    ]
    agent = _rollup_sql(
        AgentDayRollup._meta.db_table,
        AGENT_KEYS,
        AGENT_MEASURES,
        [
            _select(
                "day, author_id AS user_id, team_id",
                AGENT_MEASURES,
                {"replies": "1"},
                ReplyState._meta.db_table,
            )
            + " WHERE author_id <> 0",
            _select(
                "first_reply_day AS day, first_reply_author_id AS user_id, team_id",
                AGENT_MEASURES,
                _FIRST,
                states,
            )
            + " WHERE frt_seconds IS NOT NULL AND first_reply_author_id <> 0",
            _select(
                f"{_when('closed_hour')} AS day, closer_id AS user_id, team_id",
                AGENT_MEASURES,
                {"handled": "1"},
                states,
            )
            + " WHERE closed_hour IS NOT NULL AND closer_id <> 0",
        ],
    )
    tally = (
        f"INSERT INTO {TallyRollup._meta.db_table} (day, team_id, what, name, count) "  # noqa: S608
        f"SELECT day, team_id, what, name, count(*) FROM ("
        f"SELECT {_when('received_hour')} AS day, team_id, '{RULE}' AS what, r.value AS name "
        f"FROM {states}, jsonb_array_elements_text(rules) AS r "
        f"UNION ALL SELECT {_when('received_hour')}, team_id, '{INTENT}', i.value "
        f"FROM {states}, jsonb_array_elements_text(corrected_intents) AS i"
        f") AS part GROUP BY day, team_id, what, name"
    )
    load = (
        f"INSERT INTO {LoadRollup._meta.db_table} (user_id, team_id, open) "  # noqa: S608
        f"SELECT holder_id, team_id, count(*) FROM {states} WHERE holder_id <> 0 GROUP BY 1, 2"
    )
    # The team rollups sum the account rollups' cells (the day's whole cells, not its splits).
    teams = [
        f"INSERT INTO {TeamHourRollup._meta.db_table} (hour, team_id, {', '.join(HOUR_MEASURES)}) "  # noqa: S608
        f"SELECT hour, team_id, {plain_sums} FROM {HourRollup._meta.db_table} GROUP BY hour, team_id",
        f"INSERT INTO {TeamDayRollup._meta.db_table} (day, team_id, {', '.join(HOUR_MEASURES)}) "  # noqa: S608
        f"SELECT day, team_id, {plain_sums} FROM {DayRollup._meta.db_table} WHERE dim = '' "
        "GROUP BY day, team_id",
    ]
    return [hour, fine, *days, *teams, agent, tally, load]


@dataclass(frozen=True)
class Rebuilt:
    mentions: int
    hour_rows: int
    day_rows: int
    agent_rows: int
    tally_rows: int
    position: Position


_STATE_COLUMNS = [f.column for f in MentionState._meta.concrete_fields]
_REPLY_COLUMNS = [f.column for f in ReplyState._meta.concrete_fields]


_NULL = "\\N"


def _copy(cursor: Any, table: str, columns: Sequence[str], rows: Iterable[dict]) -> None:
    """COPY rows (dicts by column) into ``table``, as CSV (lists as JSON)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerows(
        [_NULL if v is None else json.dumps(v) if type(v) is list else v for v in (row[c] for c in columns)]
        for row in rows
    )
    buffer.seek(0)
    cursor.cursor.copy_expert(
        f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '{_NULL}')", buffer
    )


def rollups_rebuild(*, chunk: int = REBUILD_CHUNK, progress: Callable[[int], None] | None = None) -> Rebuilt:
    """Recompute every mention's state and the rollups from scratch (PostgreSQL), and give the consumer a
    position at which nothing is missed.

    The consumer waits on its position row while this runs. The position handed back is just before the
    oldest transaction still running when the rebuild began: every event before it is committed and so
    read here; events from it on are handled again by the consumer, which (refreshing states) changes
    nothing for what this already counted. ``progress(n)`` is called after each ``n`` mentions."""
    if connection.vendor != "postgresql":
        raise NotImplementedError("the rollups are rebuilt on PostgreSQL")
    with transaction.atomic():
        consumer_start(consumer=CONSUMER)
        position_row = ConsumerPosition.objects.select_for_update().get(name=CONSUMER)
        position = events_settled()
        with connection.cursor() as cursor:
            tables = [
                MentionState,
                ReplyState,
                HourRollup,
                DayRollup,
                TeamHourRollup,
                TeamDayRollup,
                AgentDayRollup,
                TallyRollup,
                LoadRollup,
            ]
            cursor.execute("TRUNCATE " + ", ".join(m._meta.db_table for m in tables))
            counted = events_counted()
            last, mentions = 0, 0
            while True:
                cursor.execute(
                    "SELECT id FROM inbox_mention WHERE id > %s ORDER BY id LIMIT %s", [last, chunk]
                )
                ids = [row[0] for row in cursor.fetchall()]
                if not ids:
                    break
                states, replies = states_compute(id_range=(ids[0], ids[-1]), counted=counted)
                _copy(cursor, MentionState._meta.db_table, _STATE_COLUMNS, states)
                _copy(cursor, ReplyState._meta.db_table, _REPLY_COLUMNS, replies)
                last, mentions = ids[-1], mentions + len(ids)
                if progress is not None:
                    progress(len(ids))
            cursor.execute(f"ANALYZE {MentionState._meta.db_table}, {ReplyState._meta.db_table}")
            for sql in rollups_sql():
                cursor.execute(sql)
            counts = []
            for model in (HourRollup, DayRollup, AgentDayRollup, TallyRollup):
                cursor.execute(f"SELECT count(*) FROM {model._meta.db_table}")  # noqa: S608
                counts.append(cursor.fetchone()[0])
        position_row.xid, position_row.event_id = position.xid, position.event_id
        position_row.save(update_fields=["xid", "event_id"])
    return Rebuilt(mentions, *counts, position)
