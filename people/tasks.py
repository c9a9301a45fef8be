"""People's tasks: the consumer of the domain events (persons, suggestions and segments of the authors new
and re-routed mentions come from), the nightly recompute of every segment and the retention sweep."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from foundation.events import consumer_woke, events_consume
from foundation.models import DomainEvent
from people import counters, privacy, services
from people.models import Person, PersonAuthor

CONSUMER = "people.segments"
CONSUME_TASK = "people.tasks.people_consume"
CONSUME_ROUNDS = 20  # batches per run; a longer backlog is left to the next run (beat, or the next wake)
NIGHTLY_CHUNK = 5_000  # persons per transaction
FIELDS = ("verb", "mention_id")  # all the handler reads of an event
# What changes an author's behaviour: a new post, routing's verdict on it, a person's correction of it.
VERBS = (
    "mention.received",
    "mention.routed",
    "mention.rerouted",
    "mention.sentiment_corrected",
    "mention.spam",
    "mention.not_spam",
)


def people_events_handle(batch: list[DomainEvent]) -> None:
    mention_ids = {e.mention_id for e in batch if e.verb in VERBS and e.mention_id is not None}
    if not mention_ids:
        return
    # The counting is in this transaction, with the consumer's new position: a batch handled again (its
    # transaction rolled back) counts nothing twice, and counting a mention again adds only a difference.
    author_ids = counters.mentions_count(mention_ids=mention_ids)
    services.authors_refresh(author_ids=author_ids)


@shared_task(name=CONSUME_TASK, ignore_result=True)
def people_consume() -> int:
    """Bring persons, suggestions and segments up to date with the events since the last run. Safe twice
    or at once: the position moves in the transaction that writes (two runs take turns on it), and a
    mention counted again adds only what changed, so handling an event again changes nothing."""
    consumer_woke(task=CONSUME_TASK)
    with transaction.atomic():
        recounted = counters.mentions_count(mention_ids=counters.routed_since_counted_ids())
        services.segments_recompute(person_ids=services.persons_ensure(author_ids=recounted).values())
    handled = 0
    for _ in range(CONSUME_ROUNDS):
        count = events_consume(consumer=CONSUMER, handle=people_events_handle, fields=FIELDS)
        handled += count
        if count == 0:
            break
    return handled


@shared_task(name="people.tasks.segments_nightly", ignore_result=True)
def segments_nightly() -> int:
    """Every author's counters from scratch and every person's segments again (thresholds changed, an
    edited post, a missed event): safe to repeat, recomputed from the rows."""
    changed, last = 0, 0
    while True:
        with transaction.atomic():
            ids = list(
                Person.objects.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:NIGHTLY_CHUNK]
            )
            if not ids:
                return changed
            counters.counters_rebuild(
                author_ids=PersonAuthor.objects.filter(person_id__in=ids).values_list("author_id", flat=True)
            )
            changed += services.segments_recompute(person_ids=ids)
        last = ids[-1]


@shared_task(name="people.tasks.retention_apply", ignore_result=True)
def retention_apply() -> int:
    """Erase mentions past the retention policy. Safe twice: erased mentions are skipped."""
    return privacy.retention_apply()
