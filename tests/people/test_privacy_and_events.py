"""Retention by beat, and the consumer of domain events that keeps persons, suggestions and segments."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from foundation.events import consumer_start, event_record
from foundation.models import DomainEvent
from inbox.models import Author, Mention
from people import services, tasks
from people.models import MergeSuggestion, PeopleSettings, PersonAuthor
from people.privacy import ERASED_TEXT, person_erase, retention_apply
from routing.models import Correction, SentimentCorrection
from tests.factories import MentionFactory

pytestmark = pytest.mark.django_db


def test_retention_erases_only_older_mentions_and_keeps_their_counts(ann_x) -> None:
    now = timezone.now()
    old = MentionFactory(author=ann_x, created_at=now - timedelta(days=31), intent="praise", text="old text")
    new = MentionFactory(author=ann_x, created_at=now - timedelta(days=29), text="new text")
    PeopleSettings.objects.update_or_create(pk=1, defaults={"retention_days": 30})
    event_record(actor=None, verb="mention.labelled", obj=old, after={"labels": ["x"]})

    assert retention_apply(now=now) == 1
    assert retention_apply(now=now) == 0

    old.refresh_from_db()
    assert (old.text, old.intent, old.external_id) == (ERASED_TEXT, "praise", f"erased:{old.pk}")
    assert DomainEvent.objects.get(verb="mention.labelled").object_repr == "erased mention"
    assert Mention.objects.get(pk=new.pk).text == "new text"
    assert DomainEvent.objects.get(verb="people.retention_applied").after == {
        "mentions": 1,
        "older_than_days": 30,
    }


def test_no_retention_policy_erases_nothing(ann_x) -> None:
    MentionFactory(author=ann_x, created_at=timezone.now() - timedelta(days=3000))

    assert retention_apply() == 0


def test_the_consumer_gives_new_authors_persons_suggestions_and_segments(ann_x, ann_masto) -> None:
    consumer_start(consumer=tasks.CONSUMER)
    PeopleSettings.objects.update_or_create(pk=1, defaults={"advocate_positive": 1})
    for author in (ann_x, ann_masto):
        mention = MentionFactory(author=author, sentiment_label="positive")
        event_record(actor=None, verb="mention.received", obj=mention, after={})

    handled = tasks.people_consume()

    assert handled == 2
    assert PersonAuthor.objects.count() == 2
    assert MergeSuggestion.objects.get().reasons == ["handle", "name"]
    assert list(Author.objects.values_list("segments", flat=True)) == [["advocate"], ["advocate"]]
    assert tasks.people_consume() == 0


def test_nightly_recomputes_after_thresholds_change(ann_x) -> None:
    MentionFactory(author=ann_x, sentiment_label="negative")
    consumer_start(consumer=tasks.CONSUMER)
    event_record(actor=None, verb="mention.received", obj=Mention.objects.get(), after={})
    tasks.people_consume()
    assert Author.objects.get().segments == []

    PeopleSettings.objects.update_or_create(pk=1, defaults={"detractor_negative": 1})

    assert tasks.segments_nightly() == 1
    assert Author.objects.get().segments == ["detractor"]


def test_erasing_clears_learnings_copies_and_the_handles_the_audit_named(ann_x, ann_masto, admin_user):
    mention = MentionFactory(author=ann_x, text="my order 123456 is late", intent="complaint")
    Correction.objects.create(mention=mention, text=mention.text, intent_after="complaint")
    SentimentCorrection.objects.create(mention=mention, text=mention.text, label_after="negative")
    [suggestion] = services.suggestions_find(author_ids=[ann_x.pk, ann_masto.pk])
    person = services.suggestion_accept(actor=admin_user, suggestion=suggestion)

    person_erase(actor=admin_user, person=person)

    assert list(Correction.objects.values_list("text", "intent_after")) == [("", "complaint")]
    assert not SentimentCorrection.objects.exists()
    merged = DomainEvent.objects.get(verb="person.merged")
    assert (merged.before, merged.after, merged.object_repr) == ({}, {"erased": True}, "Erased person")
    assert "ann_lee" not in json.dumps(list(DomainEvent.objects.values("before", "after", "object_repr")))
    assert list(Author.objects.values_list("display_name", flat=True)) == ["", ""]
    assert not MergeSuggestion.objects.exists()
