"""Domain events: recorded with the change, consumed in order, once, by consumers that remember where they
stopped, and never skipped when an older transaction commits late."""

from __future__ import annotations

import json
import threading

import pytest
import redis
from celery import current_app
from django.db import connection, transaction

from foundation.events import (
    consumer_position,
    consumer_start,
    consumer_woke,
    event_record,
    events_consume,
    events_head,
    events_wake,
)
from foundation.models import ConsumerPosition, DomainEvent
from inbox.models import Mention
from inbox.services import mentions_ingest
from tests.factories import ChannelFactory, MentionFactory, TeamFactory, segment
from tests.inbox.test_services import make_post


def _verbs(events: list[DomainEvent]) -> list[str]:
    return [e.verb for e in events]


@pytest.mark.django_db
def test_an_event_about_a_mention_names_the_mention_and_its_team() -> None:
    team = TeamFactory()
    mention = MentionFactory(team=team)

    event = event_record(actor=None, verb="mention.closed", obj=mention, after={"status": "closed"})

    event.refresh_from_db()
    assert (event.mention_id, event.team_ids, event.actor) == (mention.pk, [team.pk], None)
    assert event.xid is not None


@pytest.mark.django_db
def test_a_consumer_gets_each_event_once_in_order_and_starts_at_the_head() -> None:
    mention = MentionFactory()
    event_record(actor=None, verb="before.the.consumer", obj=mention)
    seen: list[list[str]] = []
    assert events_consume(consumer="test", handle=lambda batch: seen.append(_verbs(batch))) == 0

    for verb in ("one", "two", "three"):
        event_record(actor=None, verb=verb, obj=mention)
    handled = events_consume(consumer="test", handle=lambda batch: seen.append(_verbs(batch)), limit=2)
    handled += events_consume(consumer="test", handle=lambda batch: seen.append(_verbs(batch)))
    handled += events_consume(consumer="test", handle=lambda batch: seen.append(_verbs(batch)))

    assert (handled, seen) == (3, [["one", "two"], ["three"]])
    assert consumer_position(consumer="test") == events_head()


@pytest.mark.django_db
def test_a_failing_consumer_does_not_move_and_gets_the_same_events_again() -> None:
    mention = MentionFactory()
    events_consume(consumer="test", handle=lambda batch: None)
    event_record(actor=None, verb="one", obj=mention)

    def fail(batch: list[DomainEvent]) -> None:
        raise RuntimeError("receiver down")

    with pytest.raises(RuntimeError):
        events_consume(consumer="test", handle=fail)
    seen: list[str] = []
    handled = events_consume(consumer="test", handle=lambda batch: seen.extend(_verbs(batch)))

    assert (handled, seen) == (1, ["one"])


@pytest.mark.django_db
def test_ingest_records_one_received_event_per_new_mention_and_none_for_a_duplicate() -> None:
    channel = ChannelFactory(segment=segment("product-promotion"))

    mentions_ingest(channel=channel, posts=[make_post(1), make_post(2)])
    mentions_ingest(channel=channel, posts=[make_post(2)])

    events = DomainEvent.objects.filter(verb="mention.received").order_by("id")
    mentions = dict(Mention.objects.values_list("external_id", "pk"))
    assert [(e.mention_id, e.object_id, e.after["channel_id"]) for e in events] == [
        (mentions["ext-1"], str(mentions["ext-1"]), channel.pk),
        (mentions["ext-2"], str(mentions["ext-2"]), channel.pk),
    ]
    assert [e.object_repr for e in events] == ["simulated:ext-1", "simulated:ext-2"]
    teams = dict(Mention.objects.values_list("pk", "team_id"))
    assert [e.team_ids for e in events] == [[teams[e.mention_id]] for e in events]
    assert None not in teams.values()


@pytest.mark.django_db(transaction=True)
def test_an_event_of_a_transaction_that_commits_late_is_waited_for_not_skipped() -> None:
    """The late transaction writes first (smaller id and transaction id) and commits after a later one: the
    consumer handles neither until it commits, then both, in order."""
    mention = MentionFactory()
    events_consume(consumer="test", handle=lambda batch: None)  # start here
    written = threading.Event()
    release = threading.Event()

    def late() -> None:
        with transaction.atomic():
            event_record(actor=None, verb="late", obj=mention)
            written.set()
            release.wait(10)
        connection.close()

    thread = threading.Thread(target=late)
    thread.start()
    written.wait(10)
    event_record(actor=None, verb="early", obj=mention)  # autocommit: committed first
    seen: list[str] = []

    while_open = events_consume(consumer="test", handle=lambda batch: seen.extend(_verbs(batch)))
    release.set()
    thread.join(10)
    after_commit = events_consume(consumer="test", handle=lambda batch: seen.extend(_verbs(batch)))

    assert (while_open, after_commit, seen) == (0, 2, ["late", "early"])
    assert ConsumerPosition.objects.get(name="test").event_id == max(
        DomainEvent.objects.filter(verb__in=["late", "early"]).values_list("id", flat=True)
    )


@pytest.mark.django_db
def test_a_consumer_started_before_its_first_run_misses_nothing_recorded_after() -> None:
    mention = MentionFactory()
    event_record(actor=None, verb="before.the.start", obj=mention)
    consumer_start(consumer="test")
    event_record(actor=None, verb="after.the.start", obj=mention)
    seen: list[str] = []

    events_consume(consumer="test", handle=lambda batch: seen.extend(_verbs(batch)))

    assert seen == ["after.the.start"]


@pytest.mark.django_db
def test_a_wake_queues_each_consumer_once_until_its_task_starts(settings) -> None:
    settings.SOCIALOPS_EVENT_CONSUMERS = ["tests.consumer_a", "tests.consumer_b"]
    with current_app.connection_for_write() as connection:
        connection.default_channel.queue_purge("celery")

    events_wake()
    events_wake()
    consumer_woke(task="tests.consumer_a")
    events_wake()

    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        queued = [json.loads(raw)["headers"]["task"] for raw in client.lrange("celery", 0, -1)]
        client.delete("celery")  # no worker knows these names
    finally:
        client.close()
    assert sorted(queued) == ["tests.consumer_a", "tests.consumer_a", "tests.consumer_b"]
