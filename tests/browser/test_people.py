"""People in real Chromium: an agent opens a person from the author card, merges a suggested handle, marks
the person a VIP and filters the inbox by "detractor"; an admin exports and erases a person, whose text is
then gone from the inbox, its search and the API."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import expect

from inbox.models import Mention
from people import services
from people.models import PersonAuthor
from tests.browser.inbox_page import events_channel_of_its_own, javascript_errors, open_inbox, sign_in
from tests.factories import AuthorFactory, MembershipFactory, MentionFactory, UserFactory, segment

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]


@pytest.fixture(autouse=True)
def _events_channel_of_its_own(monkeypatch) -> None:
    events_channel_of_its_own(monkeypatch)


@pytest.fixture
def ann():
    """Ann on X with two negative mentions, and on Mastodon with one more; a stranger with a calm one."""
    team = segment("customer-relations").team
    on_x = AuthorFactory(network="x", handle="ann_lee", display_name="Ann Lee", external_id="x-ann")
    on_mastodon = AuthorFactory(
        network="mastodon", handle="ann_lee@mastodon.social", display_name="Ann Lee", external_id="m-ann"
    )
    stranger = AuthorFactory(network="x", handle="ben_okafor", display_name="Ben Okafor")
    negative = {"team": team, "sentiment_label": "negative"}
    first = MentionFactory(author=on_x, text="Tent pole snapped <again>", **negative)
    MentionFactory(author=on_x, text="Still no answer about the pole", **negative)
    MentionFactory(author=on_mastodon, text="Third week without a pole", **negative)
    MentionFactory(author=stranger, team=team, text="Lovely sleeping bag", sentiment_label="positive")
    services.authors_refresh(author_ids=[on_x.pk, on_mastodon.pk, stranger.pk])  # as the consumer does
    return first, on_x, on_mastodon


def test_an_agent_opens_a_person_merges_a_handle_marks_a_vip_and_filters_detractors(
    live_server, page, ann, screenshot
) -> None:
    errors = javascript_errors(page)
    first, on_x, on_mastodon = ann
    agent = MembershipFactory(team=first.team, user__first_name="Kim").user
    sign_in(page.context, live_server.url, agent)
    open_inbox(page, f"{live_server.url}/inbox/?open={first.pk}")

    page.get_by_role("link", name="Open the person's profile").click()
    expect(page.locator("#person-name")).to_have_text("Ann Lee")
    expect(page.locator("#visible-count")).to_have_text("2")
    suggestion = page.locator(".person-suggestion")
    expect(suggestion).to_contain_text("@ann_lee@mastodon.social")
    expect(suggestion).to_contain_text("same handle on another network, same display name · 80% sure")
    suggestion.get_by_role("button", name="Merge").click()

    expect(page.locator(".alert--success")).to_have_text("Merged: one person now.")
    expect(page.locator(".person-handles li")).to_have_count(2)
    expect(page.locator("#visible-count")).to_have_text("3")
    expect(page.locator(".person-segments")).to_contain_text("Detractor")
    page.get_by_role("button", name="Mark as VIP").click()
    expect(page.locator(".person-segments")).to_contain_text("VIP")
    screenshot("person")
    persons = PersonAuthor.objects.filter(author__in=[on_x, on_mastodon]).values_list("person", flat=True)
    assert len(set(persons)) == 1

    open_inbox(page, f"{live_server.url}/inbox/?queue=all")
    expect(page.locator("li.mention")).to_have_count(4)
    page.get_by_text("Filters", exact=True).click()
    page.locator("#filters").get_by_label("Author segment").select_option("detractor")
    page.get_by_role("button", name="Apply filters").click()
    expect(page.locator("li.mention")).to_have_count(3)
    expect(page.locator("li.mention").first).to_contain_text("Detractor")
    expect(page.get_by_text("Lovely sleeping bag")).to_have_count(0)
    assert errors == []


def test_an_admin_exports_and_erases_a_person(live_server, page, ann) -> None:
    errors = javascript_errors(page)
    _, on_x, _ = ann
    admin = UserFactory(username="root", admin=True)
    sign_in(page.context, live_server.url, admin)
    page.goto(f"{live_server.url}/people/author/{on_x.pk}/")

    with page.expect_download() as download:
        page.get_by_role("link", name="Export everything (JSON)").click()
    exported = json.loads(download.value.path().read_text())
    assert sorted(m["text"] for m in exported["mentions"]) == [
        "Still no answer about the pole",
        "Tent pole snapped <again>",
    ]

    page.get_by_label("Erase this person").fill("erase")
    page.get_by_role("button", name="Erase person").click()
    expect(page.locator(".alert--success")).to_have_text("The person's text and identifiers are erased.")
    expect(page.locator("#person-name")).to_have_text("Erased person")

    open_inbox(page, f"{live_server.url}/inbox/?queue=all&q=pole")
    expect(page.locator("li.mention")).to_have_count(1)  # only the Mastodon handle's, never merged
    expect(page.get_by_text("Tent pole snapped")).to_have_count(0)
    api = page.request.get(f"{live_server.url}/api/v1/mentions/?queue=all").text()
    assert "Tent pole" not in api and "Still no answer" not in api and 'ann_lee"' not in api
    person_id = PersonAuthor.objects.get(author=on_x).person_id
    person_api = page.request.get(f"{live_server.url}/api/v1/persons/{person_id}/").json()
    assert person_api["display_name"] == "Erased person"
    assert [h["handle"] for h in person_api["handles"]] == [f"erased-{on_x.pk}"]
    assert Mention.objects.filter(author=on_x, text="[erased]").count() == 2
    assert errors == []
