"""Persons, merge and split (audited), suggestions by indexed keys, auto-merge, segments copied to handles."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from foundation.models import DomainEvent
from inbox.models import Author, Mention
from people import services
from people.models import AuthorKey, MergeSuggestion, PeopleSettings, Person, PersonAuthor
from tests.factories import AuthorFactory, MentionFactory

pytestmark = pytest.mark.django_db


def test_each_author_gets_one_person_once(ann_x, ann_masto) -> None:
    first = services.persons_ensure(author_ids=[ann_x.pk, ann_masto.pk])
    again = services.persons_ensure(author_ids=[ann_x.pk, ann_masto.pk])

    assert first == again
    assert len(set(first.values())) == 2
    assert Person.objects.count() == 2


def test_same_name_and_handle_on_two_networks_is_suggested_not_merged(ann_x, ann_masto) -> None:
    opened = services.suggestions_find(author_ids=[ann_x.pk, ann_masto.pk])

    assert [(s.author_id, s.other_id, s.reasons, s.confidence) for s in opened] == [
        (ann_x.pk, ann_masto.pk, ["handle", "name"], 0.8)
    ]
    persons = services.persons_ensure(author_ids=[ann_x.pk, ann_masto.pk])
    assert persons[ann_x.pk] != persons[ann_masto.pk]  # never merged without a click


def test_same_handle_on_one_network_is_not_a_reason() -> None:
    a = AuthorFactory(network="x", handle="ann_lee", display_name="")
    b = AuthorFactory(network="x", handle="annlee", display_name="")

    assert services.suggestions_find(author_ids=[a.pk, b.pk]) == []


def test_a_new_author_finds_an_old_one_by_index_and_twice_opens_nothing_new(ann_x, ann_masto) -> None:
    services.suggestions_find(author_ids=[ann_x.pk])
    services.suggestions_find(author_ids=[ann_masto.pk])
    services.suggestions_find(author_ids=[ann_masto.pk])

    assert MergeSuggestion.objects.count() == 1
    assert AuthorKey.objects.filter(author=ann_masto).count() == 2


def test_an_email_in_a_direct_message_matches() -> None:
    a = AuthorFactory(network="x", handle="zzqq1", display_name="")
    b = AuthorFactory(network="mastodon", handle="wwpp2@x.social", display_name="")
    MentionFactory(author=a, kind=Mention.Kind.DM, text="my address is Ann@Example.org thanks")
    MentionFactory(author=b, kind=Mention.Kind.DM, text="write to ann@example.org")

    [suggestion] = services.suggestions_find(author_ids=[a.pk, b.pk])

    assert (suggestion.reasons, suggestion.confidence) == (["email"], 0.9)


def test_a_key_shared_by_many_authors_says_nothing() -> None:
    many = [
        AuthorFactory(network="x", display_name="Alex Smith") for _ in range(services.COMMON_KEY_AUTHORS + 1)
    ]

    assert services.suggestions_find(author_ids=[a.pk for a in many]) == []


def test_lookups_do_not_grow_with_the_authors_already_known(ann_x) -> None:
    for i in range(30):
        AuthorFactory(network="mastodon", handle=f"other{i}@m.social", display_name=f"Other Person{i}")
    services.suggestions_find(
        author_ids=list(Author.objects.exclude(pk=ann_x.pk).values_list("pk", flat=True))
    )

    with CaptureQueriesContext(connection) as queries:
        services.suggestions_find(author_ids=[ann_x.pk])

    assert len(queries) < 20


def test_auto_merge_above_the_threshold_when_an_admin_turned_it_on(ann_x, ann_masto) -> None:
    PeopleSettings.objects.update_or_create(pk=1, defaults={"auto_merge": True, "auto_merge_threshold": 0.8})

    services.suggestions_find(author_ids=[ann_x.pk, ann_masto.pk])

    persons = services.persons_ensure(author_ids=[ann_x.pk, ann_masto.pk])
    assert persons[ann_x.pk] == persons[ann_masto.pk]
    event = DomainEvent.objects.get(verb="person.merged")
    assert (event.actor, event.after["confidence"]) == (None, 0.8)


def test_auto_merge_leaves_pairs_below_the_threshold(ann_x, ann_masto) -> None:
    PeopleSettings.objects.update_or_create(pk=1, defaults={"auto_merge": True, "auto_merge_threshold": 0.81})

    services.suggestions_find(author_ids=[ann_x.pk, ann_masto.pk])

    assert MergeSuggestion.objects.get().state == MergeSuggestion.State.OPEN
    assert not DomainEvent.objects.filter(verb="person.merged").exists()


def test_accepting_merges_and_audits_who(agent, ann_x, ann_masto) -> None:
    [suggestion] = services.suggestions_find(author_ids=[ann_x.pk, ann_masto.pk])
    MentionFactory(author=ann_masto, sentiment_label="negative")

    person = services.suggestion_accept(actor=agent, suggestion=suggestion)

    assert set(PersonAuthor.objects.filter(person=person).values_list("author_id", flat=True)) == {
        ann_x.pk,
        ann_masto.pk,
    }
    assert Person.objects.count() == 1
    event = DomainEvent.objects.get(verb="person.merged")
    assert (event.actor, event.object_id, len(event.after["handles"])) == (agent, str(person.pk), 2)
    assert MergeSuggestion.objects.get().state == MergeSuggestion.State.ACCEPTED


def test_split_gives_the_handle_its_own_person_and_dismisses_the_suggestion(agent, ann_x, ann_masto) -> None:
    [suggestion] = services.suggestions_find(author_ids=[ann_x.pk, ann_masto.pk])
    person = services.suggestion_accept(actor=agent, suggestion=suggestion)

    new = services.person_split(actor=agent, person=person, author=ann_masto)

    assert list(PersonAuthor.objects.filter(person=new).values_list("author_id", flat=True)) == [ann_masto.pk]
    assert list(PersonAuthor.objects.filter(person=person).values_list("author_id", flat=True)) == [ann_x.pk]
    assert MergeSuggestion.objects.get().state == MergeSuggestion.State.DISMISSED
    assert DomainEvent.objects.get(verb="person.split").after["moved"] == "@ann_lee@mastodon.social"
    assert services.suggestions_find(author_ids=[ann_masto.pk]) == []


def test_segments_sum_every_handle_and_are_copied_to_each(ann_x, ann_masto, agent) -> None:
    PeopleSettings.objects.update_or_create(pk=1, defaults={"detractor_negative": 3})
    MentionFactory(author=ann_x, sentiment_label="negative")
    MentionFactory(author=ann_x, sentiment_label="negative")
    MentionFactory(author=ann_masto, sentiment_label="negative", text="where is my order #1234567")
    [suggestion] = services.suggestions_find(author_ids=[ann_x.pk, ann_masto.pk])
    services.segments_recompute(person_ids=services.persons_ensure(author_ids=[ann_x.pk]).values())
    assert Author.objects.get(pk=ann_x.pk).segments == []  # two negatives: not yet

    person = services.suggestion_accept(actor=agent, suggestion=suggestion)

    assert Person.objects.get(pk=person.pk).segments == ["customer", "detractor"]
    assert list(Author.objects.order_by("pk").values_list("segments", flat=True)) == [
        ["customer", "detractor"],
        ["customer", "detractor"],
    ]


def test_vip_by_hand_is_a_segment_and_audited(agent, ann_x) -> None:
    person = services.person_for_author(author=ann_x)

    services.person_set_vip(actor=agent, person=person, is_vip=True)

    assert Author.objects.get(pk=ann_x.pk).segments == ["vip"]
    assert DomainEvent.objects.get(verb="person.vip_set").after == {"vip": True}
