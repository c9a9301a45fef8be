"""Persons in the REST API: read-only, the inbox's visibility, the segment filter, pages by keyset."""

from __future__ import annotations

import pytest
from django.urls import reverse

from people import services
from people.models import Person
from tests.factories import AuthorFactory, MentionFactory

pytestmark = pytest.mark.django_db


def test_an_agent_lists_the_persons_of_their_teams_mentions_filtered_by_segment(
    client, agent, care, sales, ann_x
) -> None:
    MentionFactory(author=ann_x, team=care)
    stranger = AuthorFactory(network="x", handle="sales_only")
    MentionFactory(author=stranger, team=sales, text="sales secret")
    ann = services.person_for_author(author=ann_x)
    other = services.person_for_author(author=stranger)
    Person.objects.filter(pk__in=[ann.pk, other.pk]).update(segments=["detractor"])
    client.force_login(agent)

    listed = client.get(reverse("api:persons")).json()
    detractors = client.get(reverse("api:persons"), {"segment": "detractor"}).json()
    advocates = client.get(reverse("api:persons"), {"segment": "advocate"}).json()

    assert [p["id"] for p in listed["results"]] == [ann.pk]
    assert listed["results"][0]["handles"][0]["handle"] == "ann_lee"
    assert [p["id"] for p in detractors["results"]] == [ann.pk]
    assert advocates == {"results": [], "next_before": None}
    assert client.get(reverse("api:persons"), {"segment": "nobody"}).status_code == 400


def test_the_detail_counts_hidden_mentions_and_others_persons_are_404(
    client, agent, care, sales, ann_x
) -> None:
    MentionFactory(author=ann_x, team=care)
    MentionFactory(author=ann_x, team=sales)
    stranger = AuthorFactory(network="x", handle="sales_only")
    MentionFactory(author=stranger, team=sales)
    ann = services.person_for_author(author=ann_x)
    other = services.person_for_author(author=stranger)
    client.force_login(agent)

    detail = client.get(reverse("api:person", args=[ann.pk])).json()

    assert (detail["mentions_visible"], detail["mentions_hidden"]) == (1, 1)
    assert client.get(reverse("api:person", args=[other.pk])).status_code == 404
    client.logout()
    assert client.get(reverse("api:person", args=[ann.pk])).status_code in (401, 403)


def test_pages_follow_by_keyset(client, admin_user) -> None:
    persons = [services.person_for_author(author=AuthorFactory()) for _ in range(3)]
    client.force_login(admin_user)

    first = client.get(reverse("api:persons"), {"limit": 2}).json()
    second = client.get(reverse("api:persons"), {"limit": 2, "before": first["next_before"]}).json()

    assert [p["id"] for p in first["results"]] == [persons[2].pk, persons[1].pk]
    assert [p["id"] for p in second["results"]] == [persons[0].pk]
    assert second["next_before"] is None
