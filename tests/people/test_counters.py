"""Per-author counters kept one mention at a time by the consumer equal the counters rebuilt from scratch,
whatever happened in between and however often a batch was handled."""

from __future__ import annotations

import random

import pytest
from django.db import transaction
from django.db.models import Count

from foundation.events import consumer_start, event_record
from foundation.models import ConsumerPosition, DomainEvent
from inbox.actions.routing import mentions_reroute, mentions_sentiment_correct
from inbox.actions.triage import mentions_mark_not_spam, mentions_mark_spam
from inbox.models import Author, Mention
from people import counters, services, tasks
from people.models import AuthorBehaviour, CountedMention, PeopleSettings, Person
from people.privacy import person_erase
from tests.factories import AuthorFactory, MentionFactory

pytestmark = pytest.mark.django_db

TEXTS = ("love it", "where is my order #A123456", "broken again", "how much is the tent?", "hello")
INTENTS = ("", "praise", "complaint", "support_question", "purchase_question", "press_question")
LABELS = ("positive", "negative", "neutral", "")


def _counts() -> dict[int, tuple[int, ...]]:
    return {row[0]: row[1:] for row in AuthorBehaviour.objects.values_list("author_id", *counters.COUNTS)}


def _post(rng: random.Random, authors: list[Author], team) -> Mention:
    mention = MentionFactory(
        author=rng.choice(authors),
        team=team,
        text=rng.choice(TEXTS),
        intent=rng.choice(INTENTS),
        sentiment_label=rng.choice(LABELS),
    )
    event_record(actor=None, verb="mention.received", obj=mention, after={})
    return mention


def _handled_again() -> None:
    """The newest events the consumer handled, handled once more (a redelivery past the position)."""
    position = ConsumerPosition.objects.get(name=tasks.CONSUMER)
    done = DomainEvent.objects.filter(id__lte=position.event_id, xid__isnull=False).order_by("-id")[:30]
    with transaction.atomic():
        tasks.people_events_handle(list(reversed(done)))


@pytest.mark.parametrize(("seed", "in_sql"), [(1, True), (2, True), (3, True), (4, False), (5, False)])
def test_counters_kept_incrementally_equal_a_rebuild_from_scratch(
    seed, in_sql, care, admin_user, monkeypatch
) -> None:
    """PostgreSQL counts in one statement; the portable path (SQLite) counts the same in Python."""
    monkeypatch.setattr(counters, "FAST_PATH", in_sql)
    rng = random.Random(seed)
    consumer_start(consumer=tasks.CONSUMER)
    authors = [AuthorFactory(network="x", handle=f"h{seed}_{i}") for i in range(6)]
    # History from before people counted anything: an author's first event counts all of it.
    for _ in range(5):
        MentionFactory(author=authors[0], team=care, text=rng.choice(TEXTS), sentiment_label="negative")
    for _ in range(10):
        _post(rng, authors, care)

    def some(n: int = 1) -> list[Mention]:
        return rng.sample(list(Mention.objects.filter(author__in=authors)), n)

    actions = {
        "post": lambda: _post(rng, authors, care),
        "consume": tasks.people_consume,
        "correct": lambda: mentions_sentiment_correct(
            actor=admin_user, mentions=some(2), label=rng.choice(LABELS[:3])
        ),
        "reroute": lambda: mentions_reroute(
            actor=admin_user, mentions=some(), team=care, intent=rng.choice(INTENTS[1:])
        ),
        "spam": lambda: mentions_mark_spam(actor=admin_user, mentions=some()),
        "not_spam": lambda: mentions_mark_not_spam(actor=admin_user, mentions=some(), intent="praise"),
        "again": _handled_again,
        "erase": lambda: person_erase(
            actor=admin_user, person=services.person_for_author(author=rng.choice(authors))
        ),
    }
    weights = {"post": 6, "consume": 3, "correct": 2, "reroute": 2, "spam": 1, "not_spam": 1, "again": 2}
    sequence = [*rng.choices(list(weights), weights=list(weights.values()), k=60), "erase"]
    for action in rng.sample(sequence, len(sequence)):
        actions[action]()
    tasks.people_consume()
    kept = _counts()

    counters.counters_rebuild(author_ids=[a.pk for a in authors])

    assert _counts() == kept
    assert len(kept) == len(authors)
    # The number of mentions, which erasure keeps, agrees with the rows themselves.
    rows = dict(
        Mention.objects.filter(author__in=authors)
        .values("author_id")
        .annotate(n=Count("id"))
        .values_list("author_id", "n")
    )
    assert {a: c[0] for a, c in kept.items()} == {a.pk: rows.get(a.pk, 0) for a in authors}
    assert CountedMention.objects.count() == Mention.objects.filter(author__in=authors).count()


def test_an_erased_order_number_stays_counted(ann_x, admin_user) -> None:
    MentionFactory(author=ann_x, text="my order 1234567 never came", intent="praise")
    counters.mentions_count(author_ids=[ann_x.pk])
    person = services.person_for_author(author=ann_x)

    person_erase(actor=admin_user, person=person)
    tasks.segments_nightly()

    assert AuthorBehaviour.objects.get(author=ann_x).support == 1
    assert Person.objects.get(pk=person.pk).segments == ["customer"]


def test_a_mention_routed_after_it_was_counted_is_counted_again(ann_x) -> None:
    consumer_start(consumer=tasks.CONSUMER)
    mention = MentionFactory(author=ann_x, sentiment_label="", intent="")
    event_record(actor=None, verb="mention.received", obj=mention, after={})
    tasks.people_consume()
    assert CountedMention.objects.get().routed is False
    # The routing sweeper decides without recording an event.
    Mention.objects.filter(pk=mention.pk).update(
        intent="purchase_question", sentiment_label="positive", routed_at=mention.created_at
    )

    tasks.people_consume()

    assert _counts() == {ann_x.pk: (1, 1, 0, 0, 1, 0)}
    assert Author.objects.get(pk=ann_x.pk).segments == ["prospect"]


def test_segments_read_one_row_per_handle_whatever_the_history(ann_x, django_assert_max_num_queries) -> None:
    PeopleSettings.objects.update_or_create(pk=1, defaults={"detractor_negative": 2})
    for _ in range(30):
        MentionFactory(author=ann_x, sentiment_label="negative")
    person = services.person_for_author(author=ann_x)
    counters.mentions_count(author_ids=[ann_x.pk])

    with django_assert_max_num_queries(5):
        services.segments_recompute(person_ids=[person.pk])

    assert Person.objects.get(pk=person.pk).segments == ["detractor"]
