"""Per-author counters: what segment decisions read, kept one mention at a time.

Each counted mention has a ``CountedMention`` row with what it adds (positive, negative, support, ...);
``AuthorBehaviour`` holds each author's sums. Counting a mention again reads its row as it is now and adds
the difference to its author's sums, so the cost is per mention touched, never per author's history, and
handling an event twice (or an older event after a newer one) changes nothing. An author's first mention
counts its whole history first (authors that were there before people, or that a person's page reaches
before the consumer). Every writer holds one lock, so two never count the same mention at once.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction
from django.db.models import BooleanField, Case, Count, ExpressionWrapper, IntegerField, Q, Sum, Value, When

from inbox.models import Mention
from people.models import AuthorBehaviour, CountedMention

SUPPORT_INTENTS = ("support_question", "complaint")
# An order number named in a post: "order 123456", "order #A12345", "order no. 12345".
ORDER_NUMBER = r"order\s*(number|no\.?|#)?\s*#?\s*[a-z]{0,3}[0-9]{5,}"
COUNTS = ("mentions", "positive", "negative", "support", "purchase", "press")
FLAGS = ("positive", "negative", "support", "purchase", "press", "names_order", "routed")
CHUNK = 5_000  # mentions read per query
LOCK_KEY = 0x7065_6F70_6C65  # "people": the advisory lock every counter writer holds
FAST_PATH = True  # PostgreSQL counts in SQL; the portable path below is the same counting in Python


@dataclass(frozen=True, slots=True)
class Counted:
    """What one mention adds to its author's counts."""

    author_id: int
    positive: bool
    negative: bool
    support: bool
    purchase: bool
    press: bool
    names_order: bool
    routed: bool

    def counts(self) -> tuple[int, ...]:
        return (1, self.positive, self.negative, self.support, self.purchase, self.press)


def counters_lock() -> None:
    """One counter writer at a time, until the caller's transaction ends (SQLite has one writer anyway)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])


def _as_counted(rows: Iterable[tuple], stored: dict[int, Counted]) -> dict[int, Counted]:
    found = {}
    for pk, author_id, label, intent, names_order, erased, routed in rows:
        if erased:  # the text is gone: keep what it said when it was counted
            before = stored.get(pk)
            names_order = before.names_order if before is not None else False
        found[pk] = Counted(
            author_id=author_id,
            positive=label == Mention.SentimentLabel.POSITIVE,
            negative=label == Mention.SentimentLabel.NEGATIVE,
            support=intent in SUPPORT_INTENTS or bool(names_order),
            purchase=intent == "purchase_question",
            press=intent == "press_question",
            names_order=bool(names_order),
            routed=routed,
        )
    return found


def _mentions_read(query: Q) -> list[tuple]:
    return list(
        Mention.objects.filter(query)
        .annotate(
            names_order=ExpressionWrapper(Q(text__iregex=ORDER_NUMBER), output_field=BooleanField()),
            erased=ExpressionWrapper(Q(text=Mention.ERASED_TEXT), output_field=BooleanField()),
            routed=ExpressionWrapper(Q(routed_at__isnull=False), output_field=BooleanField()),
        )
        .values_list("id", "author_id", "sentiment_label", "intent", "names_order", "erased", "routed")
        .order_by()
    )


def _stored(mention_ids: Iterable[int]) -> dict[int, Counted]:
    ids = list(mention_ids)
    found = {}
    for start in range(0, len(ids), CHUNK):
        for pk, *values in CountedMention.objects.filter(
            mention_id__in=ids[start : start + CHUNK]
        ).values_list("mention_id", "author_id", *FLAGS):
            found[pk] = Counted(*values)
    return found


def mentions_count(*, mention_ids: Iterable[int] = (), author_ids: Iterable[int] = ()) -> set[int]:
    """Count these mentions as they are now, and the whole history of each author of theirs (or named in
    ``author_ids``) not counted yet. Returns the authors whose counts were looked at. Runs in the caller's
    transaction (or its own, without a savepoint: a failure fails the caller's) under the counters' lock."""
    mention_ids, author_ids = set(mention_ids), set(author_ids)
    if not mention_ids and not author_ids:
        return set()
    if connection.vendor == "postgresql" and FAST_PATH:
        with transaction.atomic(savepoint=False):
            counters_lock()
            return _count_postgresql(sorted(mention_ids), sorted(author_ids))
    with transaction.atomic(savepoint=False):
        counters_lock()
        ids = sorted(mention_ids)
        rows = []
        for start in range(0, len(ids), CHUNK):
            rows += _mentions_read(Q(pk__in=ids[start : start + CHUNK]))
        authors = {row[1] for row in rows} | author_ids
        known = set(AuthorBehaviour.objects.filter(author_id__in=authors).values_list("author_id", flat=True))
        uncounted = sorted(authors - known)
        if uncounted:
            history = _mentions_read(Q(author_id__in=uncounted) & ~Q(pk__in=ids))
            rows += history
            mention_ids |= {row[0] for row in history}
        stored = _stored(mention_ids)
        now = _as_counted(rows, stored)
        _apply(stored, now, new_authors=uncounted)
    return authors


_AUTHORS_SQL = """
WITH touched AS (
    SELECT author_id FROM inbox_mention WHERE id = ANY(%s)
    UNION SELECT unnest(%s::bigint[])
)
SELECT t.author_id, b.author_id IS NULL FROM touched t LEFT JOIN people_authorbehaviour b USING (author_id)
"""

# One statement for a batch: each mention's counting now next to how it was counted, the changed ones
# written, and their differences added to their authors' sums.
_COUNT_SQL = """
WITH now AS (
    SELECT m.id AS mention_id, m.author_id,
           m.sentiment_label = 'positive' AS positive,
           m.sentiment_label = 'negative' AS negative,
           m.intent = ANY(%(support)s) OR (CASE WHEN m.text = %(erased)s THEN coalesce(c.names_order, false)
                                               ELSE m.text ~* %(order)s END) AS support,
           m.intent = 'purchase_question' AS purchase,
           m.intent = 'press_question' AS press,
           CASE WHEN m.text = %(erased)s THEN coalesce(c.names_order, false)
                ELSE m.text ~* %(order)s END AS names_order,
           m.routed_at IS NOT NULL AS routed,
           c.mention_id IS NOT NULL AS was_counted,
           c.author_id AS was_author, c.positive AS was_positive, c.negative AS was_negative,
           c.support AS was_support, c.purchase AS was_purchase, c.press AS was_press,
           c.names_order AS was_names_order, c.routed AS was_routed
    FROM inbox_mention m LEFT JOIN people_countedmention c ON c.mention_id = m.id
    WHERE m.id = ANY(%(ids)s) OR m.author_id = ANY(%(uncounted)s)
),
changed AS (
    SELECT * FROM now
    WHERE NOT was_counted
       OR (author_id, positive, negative, support, purchase, press, names_order, routed)
          IS DISTINCT FROM (was_author, was_positive, was_negative, was_support, was_purchase, was_press,
                            was_names_order, was_routed)
),
written AS (
    INSERT INTO people_countedmention
        (mention_id, author_id, positive, negative, support, purchase, press, names_order, routed)
    SELECT mention_id, author_id, positive, negative, support, purchase, press, names_order, routed
    FROM changed
    ON CONFLICT (mention_id) DO UPDATE SET
        author_id = EXCLUDED.author_id, positive = EXCLUDED.positive, negative = EXCLUDED.negative,
        support = EXCLUDED.support, purchase = EXCLUDED.purchase, press = EXCLUDED.press,
        names_order = EXCLUDED.names_order, routed = EXCLUDED.routed
),
differences AS (
    SELECT author_id, 1 AS mentions, positive::int AS positive, negative::int AS negative,
           support::int AS support, purchase::int AS purchase, press::int AS press
    FROM changed
    UNION ALL
    SELECT was_author, -1, -was_positive::int, -was_negative::int, -was_support::int, -was_purchase::int,
           -was_press::int
    FROM changed WHERE was_counted
    UNION ALL
    SELECT unnest(%(uncounted)s::bigint[]), 0, 0, 0, 0, 0, 0
),
summed AS (
    SELECT author_id, sum(mentions) AS mentions, sum(positive) AS positive, sum(negative) AS negative,
           sum(support) AS support, sum(purchase) AS purchase, sum(press) AS press
    FROM differences GROUP BY author_id
),
first_counted AS (
    INSERT INTO people_authorbehaviour (author_id, mentions, positive, negative, support, purchase, press)
    SELECT * FROM summed WHERE author_id = ANY(%(uncounted)s)
)
UPDATE people_authorbehaviour b SET
    mentions = b.mentions + s.mentions, positive = b.positive + s.positive,
    negative = b.negative + s.negative, support = b.support + s.support,
    purchase = b.purchase + s.purchase, press = b.press + s.press
FROM summed s
WHERE b.author_id = s.author_id AND NOT s.author_id = ANY(%(uncounted)s)
"""


def _count_postgresql(ids: list[int], author_ids: list[int]) -> set[int]:
    """``mentions_count`` in two statements, whatever the number of mentions."""
    with connection.cursor() as cursor:
        cursor.execute(_AUTHORS_SQL, [ids, author_ids])
        authors = cursor.fetchall()
        uncounted = [author_id for author_id, missing in authors if missing]
        cursor.execute(
            _COUNT_SQL,
            {
                "ids": ids,
                "uncounted": uncounted,
                "support": list(SUPPORT_INTENTS),
                "erased": Mention.ERASED_TEXT,
                "order": ORDER_NUMBER,
            },
        )
    return {author_id for author_id, _ in authors}


def _apply(stored: dict[int, Counted], now: dict[int, Counted], *, new_authors: Iterable[int] = ()) -> None:
    """Write the mentions whose counting changed and add the differences to their authors' sums."""
    deltas: dict[int, list[int]] = defaultdict(lambda: [0] * len(COUNTS))
    for author_id in new_authors:
        deltas[author_id]  # a row even for an author with no mentions: its history is counted
    changed = []
    for pk, counted in now.items():
        before = stored.get(pk)
        if before == counted:
            continue
        changed.append(
            CountedMention(mention_id=pk, **{f: getattr(counted, f) for f in ("author_id", *FLAGS)})
        )
        if before is not None:
            row = deltas[before.author_id]
            for i, value in enumerate(before.counts()):
                row[i] -= value
        row = deltas[counted.author_id]
        for i, value in enumerate(counted.counts()):
            row[i] += value
    if changed:
        CountedMention.objects.bulk_create(
            changed,
            update_conflicts=True,
            unique_fields=["mention"],
            update_fields=["author", *FLAGS],
            batch_size=1000,
        )
    deltas = {a: d for a, d in deltas.items() if any(d) or a in set(new_authors)}
    if not deltas:
        return
    current = {
        row[0]: row[1:]
        for row in AuthorBehaviour.objects.filter(author_id__in=deltas).values_list("author_id", *COUNTS)
    }
    AuthorBehaviour.objects.bulk_create(
        [
            AuthorBehaviour(
                author_id=author_id,
                **{
                    name: have + add
                    for name, have, add in zip(
                        COUNTS, current.get(author_id, (0,) * len(COUNTS)), delta, strict=True
                    )
                },
            )
            for author_id, delta in sorted(deltas.items())
        ],
        update_conflicts=True,
        unique_fields=["author"],
        update_fields=list(COUNTS),
        batch_size=1000,
    )


def routed_since_counted_ids(*, limit: int = 1_000) -> list[int]:
    """Mentions counted before routing decided on them and routed since, to count again (the routing
    sweeper records no event for routine decisions)."""
    return list(
        CountedMention.objects.filter(routed=False, mention__routed_at__isnull=False).values_list(
            "mention_id", flat=True
        )[:limit]
    )


def counters_rebuild(*, author_ids: Iterable[int]) -> None:
    """Count these authors' mentions from scratch: every mention counted again from its row (an erased
    one keeps the order number it named), and the sums set from the counted mentions, whatever they were."""
    author_ids = sorted(set(author_ids))
    if not author_ids:
        return
    with transaction.atomic():
        counters_lock()
        rows = _mentions_read(Q(author_id__in=author_ids))
        stored = _stored(
            CountedMention.objects.filter(author_id__in=author_ids).values_list("mention_id", flat=True)
        )
        _apply(stored, _as_counted(rows, stored))
        sums = {
            row["author_id"]: row
            for row in CountedMention.objects.filter(author_id__in=author_ids)
            .values("author_id")
            .annotate(
                mentions=Count("mention_id"),
                **{name: Sum(_as_int(name)) for name in COUNTS[1:]},
            )
            .order_by()
        }
        AuthorBehaviour.objects.bulk_create(
            [
                AuthorBehaviour(
                    author_id=author_id,
                    **{name: (sums.get(author_id) or {}).get(name) or 0 for name in COUNTS},
                )
                for author_id in author_ids
            ],
            update_conflicts=True,
            unique_fields=["author"],
            update_fields=list(COUNTS),
            batch_size=1000,
        )


def _as_int(flag: str) -> Case:
    return Case(When(**{flag: True}, then=Value(1)), default=Value(0), output_field=IntegerField())
