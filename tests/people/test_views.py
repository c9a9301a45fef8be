"""The profile page and its actions: the inbox's visibility (others' mentions counted, never shown), the
author card's link, merge from a suggestion, VIP, and admins only for export and erase."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from foundation.models import DomainEvent
from inbox.models import Author, Mention
from people import services
from people.models import MergeSuggestion, PersonAuthor
from tests.factories import DEFAULT_PASSWORD, MentionFactory

pytestmark = pytest.mark.django_db


def _login(client, user) -> None:
    assert client.login(username=user.username, password=DEFAULT_PASSWORD)


def test_the_author_card_links_to_the_person(client, agent, care, ann_x) -> None:
    mention = MentionFactory(author=ann_x, team=care)
    _login(client, agent)

    detail = client.get(reverse("inbox:detail", args=[mention.pk]), headers={"HX-Request": "true"})
    opened = client.get(reverse("people:author", args=[ann_x.pk]))

    assert reverse("people:author", args=[ann_x.pk]) in detail.content.decode()
    person_id = PersonAuthor.objects.get(author=ann_x).person_id
    assert opened.status_code == 302 and opened["Location"] == reverse("people:profile", args=[person_id])


def test_profile_shows_what_the_viewer_may_see_and_counts_the_rest(client, agent, care, sales, ann_x) -> None:
    MentionFactory(author=ann_x, team=care, text="care question <b>bold</b>", sentiment_label="negative")
    MentionFactory(author=ann_x, team=sales, text="sales secret")
    MentionFactory(author=ann_x, team=sales, text="another sales secret")
    person = services.person_for_author(author=ann_x)
    _login(client, agent)

    page = client.get(reverse("people:profile", args=[person.pk])).content.decode()

    assert "care question &lt;b&gt;bold&lt;/b&gt;" in page
    assert "sales secret" not in page
    assert '<dd id="visible-count">1</dd>' in page
    assert '<dd id="hidden-count">2 not shown</dd>' in page


def test_a_person_with_nothing_the_viewer_may_see_is_a_404(client, agent, sales, ann_x) -> None:
    MentionFactory(author=ann_x, team=sales)
    person = services.person_for_author(author=ann_x)
    _login(client, agent)

    assert client.get(reverse("people:profile", args=[person.pk])).status_code == 404
    assert client.get(reverse("people:author", args=[ann_x.pk])).status_code == 404
    assert client.post(reverse("people:vip", args=[person.pk]), {"vip": "yes"}).status_code == 404


def test_an_agent_merges_from_the_profile(client, agent, care, ann_x, ann_masto) -> None:
    MentionFactory(author=ann_x, team=care)
    MentionFactory(author=ann_masto, team=care)
    [suggestion] = services.suggestions_find(author_ids=[ann_x.pk, ann_masto.pk])
    person = services.person_for_author(author=ann_x)
    _login(client, agent)

    page = client.get(reverse("people:profile", args=[person.pk])).content.decode()
    merged = client.post(reverse("people:suggestion_accept", args=[suggestion.pk]))

    assert "same handle on another network, same display name · 80% sure" in page
    assert merged.status_code == 302
    assert PersonAuthor.objects.filter(person=person).count() == 2


def test_a_suggestion_naming_a_handle_the_agent_may_not_see_is_hidden(
    client, agent, care, sales, ann_x, ann_masto
):
    MentionFactory(author=ann_x, team=care)
    MentionFactory(author=ann_masto, team=sales)
    [suggestion] = services.suggestions_find(author_ids=[ann_x.pk, ann_masto.pk])
    _login(client, agent)

    assert client.post(reverse("people:suggestion_accept", args=[suggestion.pk])).status_code == 404
    assert "ann_lee@mastodon" not in client.get(reverse("people:suggestions")).content.decode()
    assert MergeSuggestion.objects.get().state == MergeSuggestion.State.OPEN


def test_vip_by_hand_shows_as_a_badge_in_the_inbox_list(client, agent, care, ann_x) -> None:
    MentionFactory(author=ann_x, team=care)
    person = services.person_for_author(author=ann_x)
    _login(client, agent)

    client.post(reverse("people:vip", args=[person.pk]), {"vip": "yes"})
    listing = client.get(reverse("inbox:mention_list"), {"queue": "all", "author_segment": "vip"})

    assert 'class="badge person-segment person-segment-vip">VIP<' in listing.content.decode()
    assert DomainEvent.objects.get(verb="person.vip_set").actor == agent


def test_inbox_filter_by_author_segment(client, agent, care, ann_x, ann_masto) -> None:
    Author.objects.filter(pk=ann_x.pk).update(segments=["detractor"])
    hit = MentionFactory(author=ann_x, team=care, text="the detractor post")
    MentionFactory(author=ann_masto, team=care, text="someone else post")
    _login(client, agent)

    page = client.get(
        reverse("inbox:mention_list"), {"queue": "all", "author_segment": "detractor"}
    ).content.decode()

    assert hit.text in page and "someone else" not in page


def test_only_admins_export_and_erase(client, agent, care, ann_x) -> None:
    MentionFactory(author=ann_x, team=care)
    person = services.person_for_author(author=ann_x)
    _login(client, agent)

    assert client.get(reverse("people:export", args=[person.pk])).status_code == 403
    assert client.post(reverse("people:erase", args=[person.pk]), {"confirm": "erase"}).status_code == 403


def test_an_admin_exports_then_erases(client, admin_user, care, ann_x) -> None:
    MentionFactory(
        author=ann_x, team=care, text="my phone is 555-0100", intent="complaint", sentiment_label="negative"
    )
    person = services.person_for_author(author=ann_x)
    _login(client, admin_user)

    exported = json.loads(client.get(reverse("people:export", args=[person.pk])).content)
    client.post(reverse("people:erase", args=[person.pk]), {"confirm": "erase"})

    assert [m["text"] for m in exported["mentions"]] == ["my phone is 555-0100"]
    assert exported["handles"][0]["handle"] == "ann_lee"
    mention = Mention.objects.get()
    assert (mention.text, mention.intent, mention.sentiment_label) == ("[erased]", "complaint", "negative")
    assert Author.objects.get().handle == f"erased-{ann_x.pk}"
    assert not Mention.objects.filter(text__icontains="555-0100").exists()
    event = DomainEvent.objects.get(verb="person.erased")
    assert (event.actor, event.after) == (admin_user, {"handles": 1, "mentions": 1})
    inbox = client.get(reverse("inbox:mention_list"), {"queue": "all", "q": "555"}).content.decode()
    assert "555-0100" not in inbox


def test_the_api_filters_by_author_segment_and_refuses_an_unknown_one(client, agent, care, ann_x, ann_masto):
    Author.objects.filter(pk=ann_x.pk).update(segments=["press"])
    hit = MentionFactory(author=ann_x, team=care)
    MentionFactory(author=ann_masto, team=care)
    _login(client, agent)

    listed = client.get("/api/v1/mentions/", {"author_segment": "press"})
    refused = client.get("/api/v1/mentions/", {"author_segment": "royalty"})

    assert [m["id"] for m in listed.json()["results"]] == [hit.pk]
    assert refused.status_code == 400


def test_the_mention_history_comes_a_page_at_a_time_and_the_chart_counts_every_visible_mention(
    client, agent, care, sales, ann_x, django_assert_max_num_queries
) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from people.selectors import PROFILE_MENTIONS

    # Mid-month, forty days back: every post in one month, whatever the day today.
    start = (timezone.now() - timedelta(days=40)).replace(day=10, hour=12, minute=0)
    for i in range(PROFILE_MENTIONS + 5):
        MentionFactory(
            author=ann_x,
            team=care,
            text=f"post {i:03}",
            created_at=start + timedelta(minutes=i),
            sentiment_label="negative" if i % 5 else "positive",
        )
    MentionFactory(
        author=ann_x, team=sales, text="sales secret", sentiment_label="positive", created_at=start
    )
    person = services.person_for_author(author=ann_x)
    _login(client, agent)
    url = reverse("people:profile", args=[person.pk])
    client.get(url)

    with django_assert_max_num_queries(20):
        first = client.get(url).content.decode()
    older_than = Mention.objects.get(text=f"post {5:03}").pk
    older = client.get(f"{url}?before={older_than}").content.decode()

    assert "post 034" in first and "post 005" in first and "post 004" not in first
    assert f'href="{url}?before={older_than}#mentions-title" id="show-older"' in first
    assert "post 004" in older and "post 000" in older and "post 005" not in older
    assert 'id="show-older"' not in older
    assert f"<title>{start:%B %Y}: 7 positive, 28 negative of 35</title>" in first
    assert "sales secret" not in older
