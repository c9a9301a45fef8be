"""A lead works through the "Needs a decision" queue in real Chromium: posts routing was unsure of, kept with
the lead's team from the keyboard or moved to the team routing found as likely, the queue and its count
following along."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from routing.models import Correction
from teams.models import Membership
from tests.browser.inbox_page import (
    arrive,
    events_channel_of_its_own,
    javascript_errors,
    open_inbox,
    post,
    sign_in,
)
from tests.factories import ChannelFactory, MembershipFactory, segment

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]


@pytest.fixture(autouse=True)
def _events_channel_of_its_own(monkeypatch) -> None:
    events_channel_of_its_own(monkeypatch)


def test_a_lead_keeps_one_post_and_moves_another(live_server, page, screenshot) -> None:
    errors = javascript_errors(page)
    events = segment("event-coverage")
    lead = MembershipFactory(team=events.team, role=Membership.Role.LEAD, user__first_name="Lena").user
    meetups = ChannelFactory(handle="@northwind_meetups", segment=events)
    # An event question and a lost order at once: routing leaves them with the events team, unsure.
    unsure, other = arrive(
        meetups,
        post("what time do doors open? my order never arrived", handle="jo"),
        post("great product, when is the next event and where is my parcel", handle="kai"),
    )
    sign_in(page.context, live_server.url, lead)

    open_inbox(page, f"{live_server.url}/inbox/?queue=decide")

    rows = page.locator("li.mention")
    expect(rows).to_have_count(2)
    expect(page.locator("#queue-counts .queue--current")).to_contain_text("Needs a decision 2")
    first = page.locator(f'li.mention[data-id="{unsure.pk}"]')
    expect(first.locator(".owner-decision__sentence")).to_contain_text(
        "Needs a decision: team Events keeps it"
    )
    screenshot("needs-a-decision")

    # Enter on the button decides; it does not open the row instead.
    first.get_by_role("button", name="Keep with Events").focus()
    page.keyboard.press("Enter")

    expect(page.locator("#detail")).to_contain_text("Kept with Events; routing learns from your decision.")
    expect(rows).to_have_count(1)
    expect(page.locator("#queue-counts .queue--current")).to_contain_text("Needs a decision 1")

    page.locator(f'li.mention[data-id="{other.pk}"]').get_by_role(
        "button", name="Move to Customer Care"
    ).click()

    moved = "Moved to Customer Care; routing learns from your decision."
    expect(page.locator("#detail")).to_contain_text(moved)
    expect(page.get_by_text("Nothing needs a decision.")).to_be_visible()
    assert sorted(Correction.objects.values_list("kind", "mention_id")) == sorted(
        [("keep", unsure.pk), ("reroute", other.pk)]
    )
    assert errors == []
