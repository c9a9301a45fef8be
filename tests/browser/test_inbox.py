"""An agent logs in through the real login page and watches a new mention arrive without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from channels.connectors.simulated import SimulatedConnector
from channels.services import channel_pull
from inbox.models import Mention
from tests.factories import DEFAULT_PASSWORD, ChannelFactory, MembershipFactory, MentionFactory, segment

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]


def test_an_agent_logs_in_and_sees_a_new_mention_arrive_live(live_server, page, screenshot) -> None:
    care = segment("customer-relations")
    agent = MembershipFactory(team=care.team, user__username="casey", user__first_name="Casey").user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care, credentials={"posts_per_pull": 8})
    shop = ChannelFactory(handle="@northwind_shop", segment=segment("product-promotion"))
    channel_pull(channel_id=help_desk.pk, connector=SimulatedConnector())
    # Routing sends the help desk's strays to the teams that own them; Casey sees her team's.
    own = Mention.objects.filter(team=care.team).count()
    assert 0 < own <= 8
    MentionFactory(team=shop.segment.team, text="Only the sales team may read this", on_channels=[shop])

    page.goto(f"{live_server.url}/inbox/")
    expect(page).to_have_url(f"{live_server.url}/accounts/login/?next=/inbox/")
    page.get_by_label("Username").fill(agent.username)
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(f"{live_server.url}/inbox/")
    expect(page.locator(".mention")).to_have_count(own)
    expect(page.get_by_text("Only the sales team may read this")).to_have_count(0)
    screenshot("inbox")

    MentionFactory(
        team=care.team, text="<b>Tent pole snapped</b> on day one & I'm stuck", on_channels=[help_desk]
    )

    arrived = page.locator(".mention").first
    expect(arrived).to_contain_text("<b>Tent pole snapped</b> on day one & I'm stuck", timeout=10_000)
    expect(page.locator(".mention")).to_have_count(own + 1)
    expect(page.locator(".mention__text b")).to_have_count(0)  # the text is shown, never interpreted
