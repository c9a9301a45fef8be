"""Domain events: the one point where a change says it happened.

Every action records its event with ``event_record`` (or ``events_record_many`` for a set-based action) in
the transaction that makes the change, so an event exists exactly when its change committed. The rows are
the audit trail (the audit log reads them) and a transactional outbox: each consumer (webhooks, rollups,
the live stream's relay) reads them with ``events_consume`` in order and remembers how far it got, in the
same transaction as its own writes, so a consumer that was down catches up and nothing is handled twice.

Order: on PostgreSQL, events are read in (writing transaction id, event id) order, and only from
transactions older than every transaction of this database still running, so an event whose transaction
commits after a later one's is waited for, never skipped. Two events of one mention keep their
order because the second action waits on the first one's row lock, and so begins writing after it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from foundation.models import ConsumerPosition, DomainEvent

logger = logging.getLogger(__name__)

MENTION_LABEL = "inbox.Mention"
WAKE_KEY = "events:wake:{}"
LAST_EVENT_ID = 2**62  # with a transaction id: every event of that transaction
WAKE_PENDING_SECONDS = 30  # a wake whose task never started (a lost message) blocks others this long at most


def _actor(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def _about(obj: Any, teams: Sequence[int] | None) -> tuple[int | None, list[int]]:
    """The mention an object's event is about and the teams it concerns: a mention itself, or anything that
    belongs to one (a reply, a note, an escalation) through its ``mention_id``."""
    mention_id = obj.pk if obj._meta.label == MENTION_LABEL else getattr(obj, "mention_id", None)
    if teams is None:
        team_id = getattr(obj, "team_id", None)
        teams = [team_id] if team_id is not None else []
    return mention_id, sorted(set(teams))


def event_record(
    *,
    actor: Any,
    verb: str,
    obj: Any,
    before: dict | None = None,
    after: dict | None = None,
    teams: Sequence[int] | None = None,
) -> DomainEvent:
    """One domain event in the caller's transaction; ``actor`` None (or anonymous) means the system did it.
    ``teams`` defaults to the object's own team."""
    mention_id, team_ids = _about(obj, teams)
    events_wake_after_commit()
    return DomainEvent.objects.create(
        actor=_actor(actor),
        verb=verb,
        object_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        before=before or {},
        after=after or {},
        mention_id=mention_id,
        team_ids=team_ids,
    )


def events_record_many(
    *,
    actor: Any,
    verb: str,
    objects: Sequence[Any],
    before: Sequence[dict],
    after: Sequence[dict],
    teams: Sequence[Sequence[int]] | None = None,
) -> None:
    """One domain event per object, written in one statement (set-based actions)."""
    if not objects:
        return
    object_type = ContentType.objects.get_for_model(objects[0])
    who = _actor(actor)
    rows = []
    for i, (obj, b, a) in enumerate(zip(objects, before, after, strict=True)):
        mention_id, team_ids = _about(obj, None if teams is None else teams[i])
        rows.append(
            DomainEvent(
                actor=who,
                verb=verb,
                object_type=object_type,
                object_id=str(obj.pk),
                object_repr=str(obj)[:200],
                before=b,
                after=a,
                mention_id=mention_id,
                team_ids=team_ids,
            )
        )
    events_wake_after_commit()
    DomainEvent.objects.bulk_create(rows, batch_size=1000)


def events_wake_after_commit() -> None:
    """Once per transaction, wake the consumers when it commits (beat runs them every few seconds too)."""
    if not any(hook[1] is events_wake for hook in connection.run_on_commit):
        transaction.on_commit(events_wake)


def events_wake() -> None:
    """Queue each consumer's task (``SOCIALOPS_EVENT_CONSUMERS``) unless one is already queued and not yet
    started: a queued task reads everything committed before it starts, so one is enough. Best effort: a
    consumer not woken now is run by beat within seconds."""
    for task in settings.SOCIALOPS_EVENT_CONSUMERS:
        try:
            if cache.add(WAKE_KEY.format(task), 1, timeout=WAKE_PENDING_SECONDS):
                current_app.send_task(task)
        except Exception:  # a lost wake costs latency, never an event
            logger.warning("could not wake the event consumer %s", task, exc_info=True)


def consumer_woke(*, task: str) -> None:
    """A consumer's task calls this first: later commits wake a new run, which reads what this one missed."""
    cache.delete(WAKE_KEY.format(task))


@dataclass(frozen=True)
class Position:
    """Where a consumer stands: the last event it handled, by (transaction id, event id)."""

    xid: int
    event_id: int


def events_head() -> Position:
    """The position just after the newest event any consumer could read now: where a new consumer starts,
    so that it handles what happens from now on, not the whole history."""
    newest = DomainEvent.objects.filter(xid__isnull=False).order_by("-xid", "-id").values("xid", "id").first()
    return Position(newest["xid"], newest["id"]) if newest else Position(0, 0)


# The oldest transaction of this database still running, as a 64-bit id: the transactions the statement's
# snapshot saw in progress (xid8) that pg_stat_activity places in this database (it shows 32-bit ids), or,
# when there are none, the snapshot's first unassigned id. Other databases of the cluster cannot write our
# events, so their long transactions (a report in another database, a test suite) never hold ours back.
# It reads other sessions' transaction ids, which PostgreSQL shows to sessions of the same role (or with
# pg_read_all_stats): the web, worker and beat processes connect as one role.
_FINISHED_BEFORE_SQL = """
SELECT coalesce(
    (SELECT min(x::text::bigint) FROM pg_snapshot_xip(pg_current_snapshot()) AS x
     WHERE (x::text::bigint & 4294967295) IN (
         SELECT backend_xid::text::bigint FROM pg_stat_activity
         WHERE datname = current_database() AND backend_xid IS NOT NULL AND pid <> pg_backend_pid())),
    pg_snapshot_xmax(pg_current_snapshot())::text::bigint),
    pg_current_xact_id_if_assigned()::text::bigint
"""


def _finished_before() -> tuple[int, int | None] | None:
    """The oldest transaction of this database still running (events of older ones are all committed or
    gone) and the caller's own transaction, whose events it sees already."""
    if connection.vendor != "postgresql":
        return None  # one writer at a time: ids already follow commit order
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")  # pg_stat_activity as of now, not as first read
        cursor.execute(_FINISHED_BEFORE_SQL)
        bound, own = cursor.fetchone()
    return bound, own


def events_settled() -> Position:
    """A position before which every event is committed (or gone): just before the oldest transaction of
    this database still running. A consumer that rebuilds what it keeps from the tables themselves may
    start here: it read every change before it, and handles again only events whose changes it may have
    read already."""
    finished = _finished_before()
    if finished is None:
        return events_head()
    return Position(finished[0] - 1, LAST_EVENT_ID)


def events_after(position: Position, *, limit: int, fields: Sequence[str] | None = None) -> list[DomainEvent]:
    """Up to ``limit`` events after ``position`` in consumer order, only from finished transactions;
    ``fields`` loads only those columns (and the position's), for a consumer that reads few."""
    finished = _finished_before()
    rows = DomainEvent.objects.filter(xid__isnull=False).extra(
        where=["(xid, id) > (%s, %s)"], params=[position.xid, position.event_id]
    )
    if finished is not None:
        xmin, own = finished
        rows = rows.filter(Q(xid__lt=xmin) | Q(xid=own)) if own is not None else rows.filter(xid__lt=xmin)
    if fields is not None:
        rows = rows.only("xid", *fields)
    return list(rows.order_by("xid", "id")[:limit])


def consumer_position(*, consumer: str) -> Position:
    """Where ``consumer`` stands; a consumer never seen before starts at the head (see ``events_head``)."""
    row = ConsumerPosition.objects.filter(name=consumer).values("xid", "event_id").first()
    return Position(row["xid"], row["event_id"]) if row else events_head()


def consumer_start(*, consumer: str) -> Position:
    """Give ``consumer`` its position now, at the head, if it has none: from then on it misses nothing,
    even before its first run (a consumer first seen at its first run starts at the head of that moment)."""
    head = events_head()
    row, _ = ConsumerPosition.objects.get_or_create(
        name=consumer, defaults={"xid": head.xid, "event_id": head.event_id}
    )
    return Position(row.xid, row.event_id)


def events_consume(
    *,
    consumer: str,
    handle: Callable[[list[DomainEvent]], None],
    limit: int = 500,
    fields: Sequence[str] | None = None,
) -> int:
    """Hand the next batch of events to ``handle`` and move the consumer past them, in one transaction:
    whatever ``handle`` writes commits together with the new position, or neither does. Two workers running
    the same consumer take turns on its position row. ``fields``: the columns ``handle`` reads (see
    ``events_after``). Returns how many events were handled."""
    with transaction.atomic():
        position = ConsumerPosition.objects.select_for_update().filter(name=consumer).first()
        if position is None:  # first run of a consumer nobody started: it starts at the head
            consumer_start(consumer=consumer)
            position = ConsumerPosition.objects.select_for_update().get(name=consumer)
        batch = events_after(Position(position.xid, position.event_id), limit=limit, fields=fields)
        if not batch:
            return 0
        handle(batch)
        last = batch[-1]
        position.xid, position.event_id, position.updated_at = last.xid, last.pk, timezone.now()
        position.save(update_fields=["xid", "event_id", "updated_at"])
    return len(batch)
