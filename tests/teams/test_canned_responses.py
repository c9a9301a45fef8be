"""Canned responses kept by a team's leads in the app: each of the team's segments, a preview with the
placeholders filled in (no JavaScript needed), and no way in for members, other teams' leads or forged
posts."""

from __future__ import annotations

import pytest

from foundation.models import DomainEvent
from inbox.canned import canned_fill, unknown_placeholders
from inbox.models import CannedResponse
from teams.models import Membership
from tests.factories import ChannelFactory, MembershipFactory, UserFactory, segment

pytestmark = pytest.mark.django_db

BODY = "Hi {author_name}, sorry about that! DM us your order number. — {agent}, {channel}"


@pytest.fixture(autouse=True)
def _no_seeded_canned_responses() -> None:
    """A data migration seeds a few per segment; these tests count their own."""
    CannedResponse.objects.all().delete()


@pytest.fixture
def care():
    return segment("customer-relations")


@pytest.fixture
def lead(care):
    return MembershipFactory(
        team=care.team, role=Membership.Role.LEAD, user__first_name="Lee", user__last_name="Park"
    ).user


@pytest.fixture
def agent(care):
    return MembershipFactory(team=care.team).user


@pytest.fixture
def crisis_lead():
    return MembershipFactory(team=segment("crisis-management").team, role=Membership.Role.LEAD).user


def test_placeholders_are_filled_and_unknown_ones_named():
    values = {"author": "@jo", "author_name": "Jo", "agent": "Lee", "channel": "@help"}

    assert canned_fill("Hi {author_name} ({author}), {nope}", values) == "Hi Jo (@jo), {nope}"
    assert unknown_placeholders("Hi {authorname} {author} {x}") == ["authorname", "x"]


def test_a_lead_previews_without_saving_then_saves(client, care, lead):
    ChannelFactory(handle="@northwind_help", segment=care)
    client.force_login(lead)
    url = f"/teams/{care.team.slug}/canned/new/"
    form = {"segment": care.pk, "title": "Lost parcel", "body": BODY}

    preview = client.post(url, form | {"action": "preview"})

    assert preview.status_code == 200
    expected = "Hi Jo Hiker, sorry about that! DM us your order number. — Lee Park, @northwind_help"
    assert f'<p id="canned-preview">{expected}</p>' in preview.content.decode()
    assert not CannedResponse.objects.exists()

    saved = client.post(url, form | {"action": "save"})

    assert (saved.status_code, saved["Location"]) == (302, f"/teams/{care.team.slug}/canned/")
    canned = CannedResponse.objects.get()
    assert (canned.segment, canned.title, canned.body) == (care, "Lost parcel", BODY)
    event = DomainEvent.objects.get(verb="canned_response.created")
    assert (event.actor_id, event.after["title"], event.team_ids) == (lead.pk, "Lost parcel", [care.team_id])
    listing = client.get(f"/teams/{care.team.slug}/canned/").content.decode()
    assert expected in listing
    assert f'href="/teams/{care.team.slug}/canned/{canned.pk}/"' in listing


def test_a_lead_edits_and_deletes_one(client, care, lead):
    canned = CannedResponse.objects.create(segment=care, title="Old", body="Hello {author}")
    client.force_login(lead)

    page = client.get(f"/teams/{care.team.slug}/canned/{canned.pk}/").content.decode()
    client.post(
        f"/teams/{care.team.slug}/canned/{canned.pk}/",
        {"segment": care.pk, "title": "New", "body": "Hello {author_name}", "action": "save"},
    )

    assert '<p id="canned-preview">Hello @jo_hiker</p>' in page
    canned.refresh_from_db()
    assert (canned.title, canned.body) == ("New", "Hello {author_name}")
    assert DomainEvent.objects.get(verb="canned_response.changed").before["title"] == "Old"
    response = client.post(f"/teams/{care.team.slug}/canned/{canned.pk}/delete/")
    assert response.status_code == 302
    assert not CannedResponse.objects.exists()
    assert DomainEvent.objects.filter(verb="canned_response.deleted").count() == 1


def test_an_unknown_placeholder_is_refused_and_nothing_is_saved(client, care, lead):
    client.force_login(lead)

    response = client.post(
        f"/teams/{care.team.slug}/canned/new/",
        {"segment": care.pk, "title": "Typo", "body": "Hi {authorname}", "action": "save"},
    )

    assert response.status_code == 400
    assert "Unknown placeholder {authorname}" in response.content.decode()
    assert not CannedResponse.objects.exists()


def test_text_is_escaped_in_the_list_and_the_preview(client, care, lead):
    CannedResponse.objects.create(segment=care, title="<i>T</i>", body="<script>x()</script> {author_name}")
    client.force_login(lead)

    page = client.get(f"/teams/{care.team.slug}/canned/").content.decode()

    assert "&lt;script&gt;x()&lt;/script&gt; Jo Hiker" in page
    assert "&lt;i&gt;T&lt;/i&gt;" in page
    assert "<script>x()" not in page and "<i>T</i>" not in page


def test_a_member_who_does_not_lead_may_not_edit(client, care, agent):
    canned = CannedResponse.objects.create(segment=care, title="Keep", body="Hi")
    client.force_login(agent)
    base = f"/teams/{care.team.slug}/canned/"

    statuses = [
        client.get(base).status_code,
        client.get(f"{base}new/").status_code,
        client.post(f"{base}new/", {"segment": care.pk, "title": "Forged", "body": "x"}).status_code,
        client.post(f"{base}{canned.pk}/", {"segment": care.pk, "title": "Forged", "body": "x"}).status_code,
        client.post(f"{base}{canned.pk}/delete/").status_code,
    ]

    assert statuses == [403] * 5
    assert list(CannedResponse.objects.values_list("title", flat=True)) == ["Keep"]
    assert not DomainEvent.objects.filter(verb__startswith="canned_response.").exists()


def test_another_teams_lead_cannot_reach_or_move_them(client, care, crisis_lead):
    canned = CannedResponse.objects.create(segment=care, title="Keep", body="Hi")
    crisis = segment("crisis-management")
    client.force_login(crisis_lead)

    assert client.get(f"/teams/{care.team.slug}/canned/").status_code == 404
    # Their own team's page does not find the other team's response, nor saves into another team's segment.
    assert client.get(f"/teams/{crisis.team.slug}/canned/{canned.pk}/").status_code == 404
    moved = client.post(
        f"/teams/{crisis.team.slug}/canned/new/",
        {"segment": care.pk, "title": "Sneaky", "body": "x", "action": "save"},
    )
    assert moved.status_code == 400
    assert list(CannedResponse.objects.values_list("title", flat=True)) == ["Keep"]


def test_an_admin_keeps_any_teams_canned_responses(client, care):
    admin = UserFactory(admin=True)
    client.force_login(admin)

    response = client.post(
        f"/teams/{care.team.slug}/canned/new/",
        {"segment": care.pk, "title": "By admin", "body": "Hi {author}", "action": "save"},
    )

    assert response.status_code == 302
    assert CannedResponse.objects.get().title == "By admin"


def test_the_team_page_links_leads_to_them_and_not_members(client, care, lead, agent):
    link = f'<a href="/teams/{care.team.slug}/canned/">Canned responses</a>'
    client.force_login(lead)
    assert link in client.get(f"/teams/{care.team.slug}/").content.decode()
    client.force_login(agent)
    assert link not in client.get(f"/teams/{care.team.slug}/").content.decode()
