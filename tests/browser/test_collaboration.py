"""Several people at once, in real Chromium with a browser context each: two agents on one mention see each
other (and the second one is warned before replying twice), and a team lead accepts an escalation while
the team that sent it watches it go."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from inbox.models import Mention, Reply
from routing.models import Escalation
from teams.models import Membership
from tests.browser.inbox_page import (
    arrive,
    events_channel_of_its_own,
    javascript_errors,
    new_context,
    open_inbox,
    post,
    sign_in,
)
from tests.factories import ChannelFactory, MembershipFactory, segment

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]


@pytest.fixture(autouse=True)
def _events_channel_of_its_own(monkeypatch) -> None:
    events_channel_of_its_own(monkeypatch)


LIVE_SECONDS = 5  # the issue asks for 2 s from event to screen; the margin keeps a busy CI machine green


@pytest.fixture
def other_page(browser) -> Iterator[Page]:
    """A second person's browser: its own context, so its own cookies and session."""
    context = new_context(browser)
    yield context.new_page()
    context.close()


def test_a_second_agent_sees_who_is_replying_and_is_warned_before_replying_twice(
    live_server, page, other_page, screenshot
) -> None:
    care = segment("customer-relations")
    ada = MembershipFactory(team=care.team, user__first_name="Ada", user__last_name="Agent").user
    bea = MembershipFactory(team=care.team, user__first_name="Bea", user__last_name="Mate").user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care)
    mention, *_ = arrive(
        help_desk,
        post(
            "My Tundra 2 tent pole snapped on the first night. How do I get a replacement?",
            handle="carla_climbs",
            name="Carla",
        ),
        post("Is the Cirrus bag warm enough for a night at -10 °C?", handle="sven_k", name="Sven Kowalski"),
        post("Where is my order #4471? It has been two weeks", handle="cho_m", name="Cho Min"),
    )
    ada_page, bea_page = other_page, page
    ada_errors, bea_errors = javascript_errors(ada_page), javascript_errors(bea_page)
    sign_in(ada_page.context, live_server.url, ada)
    sign_in(bea_page.context, live_server.url, bea)

    open_inbox(bea_page, f"{live_server.url}/inbox/")
    bea_row = bea_page.locator(f'li.mention[data-id="{mention.pk}"]')
    with bea_page.expect_response(lambda response: "/presence/" in response.url):
        bea_row.locator(".mention__open").click()
    bea_collision = bea_page.locator("[data-collision]")
    expect(bea_page.locator("#detail article")).to_have_attribute("data-mention-id", str(mention.pk))
    expect(bea_collision).to_be_hidden()

    open_inbox(ada_page, f"{live_server.url}/inbox/?open={mention.pk}")
    # Ada's page asks who else is there as it opens; Bea's hears of Ada over the live stream.
    expect(ada_page.locator("[data-collision]")).to_have_text("Bea Mate is viewing this")
    expect(bea_collision).to_have_text("Ada Agent is viewing this", timeout=LIVE_SECONDS * 1000)
    expect(bea_row.locator(".viewers")).to_have_text("Ada Agent is viewing")

    ada_page.get_by_label("Reply text").fill("So sorry, Carla! A new pole is on its way today.")
    expect(bea_collision).to_have_text("Ada Agent is writing a reply", timeout=LIVE_SECONDS * 1000)
    expect(bea_collision.locator(".viewer--typing")).to_have_count(1)
    expect(bea_row.locator(".viewers")).to_have_text("Ada Agent is replying")

    bea_page.get_by_label("Reply text").fill("Hi Carla, sorry about the pole! Send us your order number?")
    ada_page.get_by_role("button", name="Send reply").click()
    expect(ada_page.locator("#detail .alert--success")).to_have_text("Reply queued for sending.")

    # Bea is typing, so her pane is not swapped under her: it says that something changed.
    expect(bea_page.locator("#detail [data-stale]")).to_contain_text(
        "changed this mention.", timeout=LIVE_SECONDS * 1000
    )
    expect(bea_page.get_by_label("Reply text")).to_have_value(
        "Hi Carla, sorry about the pole! Send us your order number?"
    )
    bea_page.get_by_role("button", name="Send reply").click()

    warning = bea_page.locator(".composer [role=alert]")
    expect(warning).to_contain_text("Ada Agent already replied")
    expect(warning).to_contain_text(
        "“So sorry, Carla! A new pole is on its way today.” — send yours as well?"
    )
    expect(bea_page.get_by_label("Reply text")).to_have_value(
        "Hi Carla, sorry about the pole! Send us your order number?"
    )
    send_anyway = bea_page.get_by_role("button", name="Send anyway")
    expect(send_anyway).to_be_visible()
    assert list(Reply.objects.values_list("author", flat=True)) == [ada.pk]  # nothing sent twice yet
    # For the picture: Ada's reply at the top of the pane, the warning and the composer under it.
    bea_page.locator("#detail .thread__post--ours").evaluate("el => el.scrollIntoView({block: 'start'})")
    bea_page.evaluate("window.scrollTo(0, 0)")
    screenshot("collision")

    send_anyway.click()
    expect(bea_page.locator("#detail .alert--success")).to_have_text("Reply queued for sending.")
    expect(bea_page.locator("#detail .thread__post--ours")).to_have_count(2)
    assert list(Reply.objects.order_by("pk").values_list("author", "text")) == [
        (ada.pk, "So sorry, Carla! A new pole is on its way today."),
        (bea.pk, "Hi Carla, sorry about the pole! Send us your order number?"),
    ]
    mention.refresh_from_db()
    assert mention.assignee == ada  # the first reply assigned it; the second did not take it over
    assert ada_errors == []
    assert bea_errors == []


def test_a_team_lead_accepts_an_escalation_while_the_sending_team_watches(
    live_server, page, other_page, screenshot
) -> None:
    care, sales = segment("customer-relations"), segment("product-promotion")
    lead = MembershipFactory(
        team=care.team, role=Membership.Role.LEAD, user__first_name="Lee", user__last_name="Lead"
    ).user
    seller = MembershipFactory(team=sales.team, user__first_name="Sam", user__last_name="Seller").user
    shop = ChannelFactory(handle="@northwind_shop", segment=sales)
    lead_page, seller_page = page, other_page
    lead_errors, seller_errors = javascript_errors(lead_page), javascript_errors(seller_page)
    sign_in(lead_page.context, live_server.url, lead)
    sign_in(seller_page.context, live_server.url, seller)
    open_inbox(lead_page, f"{live_server.url}/inbox/?queue=escalated")
    expect(lead_page.locator("li.mention")).to_have_count(0)

    # A support question lands on the shop's account: routing sends it to customer care, escalated.
    (mention,) = arrive(
        shop,
        post(
            "My Tundra 2 tent pole snapped on the first night. How do I get a replacement?",
            handle="carla_climbs",
            name="Carla",
            followers=5400,
        ),
    )
    escalation = Escalation.objects.get(mention=mention)
    assert (escalation.from_team, escalation.to_team, escalation.state) == (
        sales.team,
        care.team,
        Escalation.State.PENDING,
    )

    lead_row = lead_page.locator(f'li.mention[data-id="{mention.pk}"]')
    expect(lead_row).to_be_visible(timeout=LIVE_SECONDS * 1000)
    expect(lead_row.locator(".badge--escalated")).to_have_text(
        f"Escalated {sales.team.name} → {care.team.name}"
    )
    expect(lead_row.locator(".badge--misdirected")).to_have_text("Misdirected")
    expect(lead_page.locator("#queue-counts")).to_contain_text("Escalated to my team 1")
    open_inbox(seller_page, f"{live_server.url}/inbox/?queue=sent")
    seller_row = seller_page.locator(f'li.mention[data-id="{mention.pk}"]')
    expect(seller_row).to_contain_text("Escalated")

    lead_row.locator(".mention__open").click()
    section = lead_page.get_by_role("region", name=f"Escalated from {sales.team.name} to {care.team.name}")
    expect(section).to_contain_text(escalation.reason)
    expect(section).to_contain_text("Pending")
    expect(lead_page.locator("#detail .routing")).to_contain_text("Intent support question")
    screenshot("escalation")

    with lead_page.expect_response(lambda response: "/escalation/accept/" in response.url) as accepted:
        section.get_by_role("button", name=f"Accept for {care.team.name}").click()

    # The pane comes back saying so (how long it stays: the next test).
    assert f"Accepted for {care.team.name}." in accepted.value.text()
    expect(lead_page.locator("#detail .escalation")).to_have_count(0)
    expect(lead_page.locator("#detail .audit li").first).to_contain_text("Lee Lead — accepted the escalation")
    expect(lead_row).to_have_count(0)  # no longer waiting in the escalated queue
    expect(lead_page.locator("#queue-counts")).to_contain_text("Escalated to my team 0")
    # The sales team sees it leave "Sent away" without reloading.
    expect(seller_row).to_have_count(0, timeout=LIVE_SECONDS * 1000)
    escalation.refresh_from_db()
    assert (escalation.state, escalation.decided_by) == (Escalation.State.ACCEPTED, lead)
    mention.refresh_from_db()
    assert (mention.team, mention.assignee) == (care.team, None)
    assert Mention.objects.count() == 1
    assert lead_errors == []
    assert seller_errors == []


def test_a_lead_s_own_accept_does_not_reload_her_pane_and_its_confirmation_stays(live_server, page) -> None:
    care, sales = segment("customer-relations"), segment("product-promotion")
    lead = MembershipFactory(team=care.team, role=Membership.Role.LEAD).user
    shop = ChannelFactory(handle="@northwind_shop", segment=sales)
    (mention,) = arrive(
        shop, post("My Tundra 2 tent pole snapped on the first night. How do I get a replacement?")
    )
    sign_in(page.context, live_server.url, lead)
    open_inbox(page, f"{live_server.url}/inbox/?open={mention.pk}")
    reloads: list[str] = []
    page.on(
        "request",
        lambda request: (
            reloads.append(request.url)
            if request.method == "GET" and request.url.endswith(f"/inbox/mentions/{mention.pk}/")
            else None
        ),
    )

    page.get_by_role("button", name=f"Accept for {care.team.name}").click()
    expect(page.locator("#detail .escalation")).to_have_count(0)
    page.wait_for_timeout(1_000)  # the event of the accept has long reached the page

    expect(page.locator("#detail .alert--success")).to_have_text(f"Accepted for {care.team.name}.")
    assert reloads == []


def presence_state(request) -> str:
    """The state a presence request told the server ("viewing", "typing" or "left")."""
    return re.search(r'name="state"\r\n\r\n(\w+)', request.post_data or "").group(1)


def presence_of(mention: Mention):
    return lambda request: (
        request.method == "POST" and request.url.endswith(f"/mentions/{mention.pk}/presence/")
    )


def test_writing_a_reply_ends_when_it_is_sent_and_does_not_follow_the_writer_to_the_next_mention(
    live_server, page, other_page
) -> None:
    care = segment("customer-relations")
    ada = MembershipFactory(team=care.team, user__first_name="Ada", user__last_name="Agent").user
    bea = MembershipFactory(team=care.team, user__first_name="Bea", user__last_name="Mate").user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care)
    first, second = arrive(
        help_desk,
        post("Where is my order #4471? It has been two weeks", handle="cho_m", name="Cho Min"),
        post("Is the Cirrus bag warm enough for a night at -10 °C?", handle="sven_k", name="Sven Kowalski"),
    )
    ada_page, bea_page = other_page, page
    ada_errors, bea_errors = javascript_errors(ada_page), javascript_errors(bea_page)
    sign_in(ada_page.context, live_server.url, ada)
    sign_in(bea_page.context, live_server.url, bea)
    open_inbox(bea_page, f"{live_server.url}/inbox/?open={first.pk}")
    open_inbox(ada_page, f"{live_server.url}/inbox/?open={first.pk}")
    bea_collision = bea_page.locator("[data-collision]")
    expect(bea_collision).to_have_text("Ada Agent is viewing this", timeout=LIVE_SECONDS * 1000)

    ada_page.get_by_label("Reply text").fill("Your order left our warehouse this morning.")
    expect(bea_collision).to_have_text("Ada Agent is writing a reply", timeout=LIVE_SECONDS * 1000)
    ada_page.get_by_role("button", name="Send reply").click()
    expect(ada_page.locator("#detail .alert--success")).to_have_text("Reply queued for sending.")

    expect(bea_collision).to_have_text("Ada Agent is viewing this", timeout=LIVE_SECONDS * 1000)
    with ada_page.expect_request(presence_of(first), timeout=15_000) as beat:
        pass  # Ada's page says every 10 s that she is still there: viewing now, not writing
    assert presence_state(beat.value) == "viewing"

    ada_page.get_by_label("Reply text").fill("And a voucher for the wait")
    with ada_page.expect_request(presence_of(second)) as arrived_at_second:
        ada_page.locator(f'li.mention[data-id="{second.pk}"] .mention__open').click()
    assert presence_state(arrived_at_second.value) == "viewing"
    expect(bea_page.locator(f'[data-viewers-for="{second.pk}"]')).to_have_text(
        "Ada Agent is viewing", timeout=LIVE_SECONDS * 1000
    )
    expect(bea_collision).to_be_hidden(timeout=LIVE_SECONDS * 1000)  # she left the first one
    assert ada_errors == []
    assert bea_errors == []


def test_a_lead_accepts_two_escalations_and_bounces_a_third_from_the_bulk_bar(live_server, page) -> None:
    care, sales = segment("customer-relations"), segment("product-promotion")
    lead = MembershipFactory(
        team=care.team, role=Membership.Role.LEAD, user__first_name="Lee", user__last_name="Lead"
    ).user
    shop = ChannelFactory(handle="@northwind_shop", segment=sales)
    errors = javascript_errors(page)
    sign_in(page.context, live_server.url, lead)
    # Support questions on the shop's account: routing escalates each to customer care.
    mentions = arrive(
        shop,
        post("My Tundra 2 tent pole snapped on the first night. How do I get a replacement?", handle="carla"),
        post("The zip on my Ridgeline pack broke after a week, how do I return it?", handle="dev_d"),
        post("My stove stopped working, can someone help me get it repaired?", handle="eli_e"),
    )
    escalations = {e.mention_id: e for e in Escalation.objects.filter(mention__in=mentions)}
    assert {e.to_team for e in escalations.values()} == {care.team}
    assert {e.state for e in escalations.values()} == {Escalation.State.PENDING}
    open_inbox(page, f"{live_server.url}/inbox/?queue=escalated")
    rows = {m.pk: page.locator(f'li.mention[data-id="{m.pk}"]') for m in mentions}
    for row in rows.values():
        expect(row).to_be_visible()
    first, second, third = mentions

    rows[first.pk].locator(".mention__select").check()
    rows[second.pk].locator(".mention__select").check()
    bar = page.locator("#bulk-form")
    expect(bar.locator("#bulk-count")).to_have_text("2")
    bar.get_by_label("Action").select_option("accept_escalation")
    bar.get_by_role("button", name="Apply").click()

    expect(rows[first.pk]).to_have_count(0)
    expect(rows[second.pk]).to_have_count(0)
    expect(rows[third.pk]).to_be_visible()
    for mention in (first, second):
        escalation = Escalation.objects.get(pk=escalations[mention.pk].pk)
        assert (escalation.state, escalation.decided_by) == (Escalation.State.ACCEPTED, lead)

    rows[third.pk].locator(".mention__select").check()
    bar.get_by_label("Action").select_option("bounce_escalation")
    bar.get_by_label("Why it is bounced back").fill("Repairs are the shop's own service")
    bar.get_by_role("button", name="Apply").click()

    expect(rows[third.pk]).to_have_count(0)
    bounced = Escalation.objects.get(pk=escalations[third.pk].pk)
    assert (bounced.state, bounced.decided_by, bounced.bounce_reason) == (
        Escalation.State.BOUNCED,
        lead,
        "Repairs are the shop's own service",
    )
    assert errors == []
