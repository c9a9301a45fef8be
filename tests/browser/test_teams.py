"""Team leads and admins in real Chromium: a lead staffs a team, asks another team for a brand account that
its lead hands over, switches on round-robin, and new mentions are handed out; an admin sets an SLA policy
and a breach reaches the lead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from playwright.sync_api import expect

from inbox.actions.sla import sla_tick
from inbox.models import Mention, SlaPolicy
from routing.handovers import channel_crisis_take
from routing.models import RoutingSettings
from teams.models import Membership, Team
from tests.browser.inbox_page import (
    arrive,
    events_channel_of_its_own,
    javascript_errors,
    new_context,
    open_inbox,
    post,
    sign_in,
)
from tests.factories import ChannelFactory, MembershipFactory, UserFactory, segment

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]

SUPPORT_POSTS = [
    "My Tundra 2 tent pole snapped on the first night. How do I get a replacement?",
    "The zip on my Summit Shell jacket broke after one hike. Can you help me get it repaired?",
]


@pytest.fixture(autouse=True)
def _events_channel_of_its_own(monkeypatch) -> None:
    events_channel_of_its_own(monkeypatch)


def test_a_lead_staffs_the_team_gets_an_account_handed_over_and_round_robin_hands_out_new_mentions(
    live_server, page, browser, screenshot
) -> None:
    care = segment("customer-relations")
    sales = segment("product-promotion").team
    lead = MembershipFactory(
        team=care.team, role=Membership.Role.LEAD, user__first_name="Lena", user__last_name="Lead"
    ).user
    sales_lead = MembershipFactory(team=sales, role=Membership.Role.LEAD, user__first_name="Sasha").user
    newcomer = UserFactory(username="nia", first_name="Nia", last_name="New")
    shop = ChannelFactory(handle="@northwind_shop", segment=segment("product-promotion"))
    errors = javascript_errors(page)
    sign_in(page.context, live_server.url, lead)

    page.goto(f"{live_server.url}/teams/{care.team.slug}/")
    page.get_by_label("Add a person").select_option(label=f"Nia New ({newcomer.username})")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text(f"Nia New joined {care.team.name}.")).to_be_visible()
    page.get_by_label("Ask for an account").select_option(value=str(shop.pk))
    page.get_by_role("button", name="Ask its team").click()
    expect(page.locator(".flash").get_by_text(f"Asked {sales.name} for @northwind_shop")).to_be_visible()
    expect(page.locator(".team-handovers")).to_contain_text(
        f"{care.team.name} asked {sales.name} for @northwind_shop: waiting for their lead"
    )

    sales_context = new_context(browser)
    sales_page = sales_context.new_page()
    sign_in(sales_context, live_server.url, sales_lead)
    sales_page.goto(f"{live_server.url}/teams/{sales.slug}/")
    expect(sales_page.get_by_text(f"{care.team.name} asks for @northwind_shop")).to_be_visible()
    sales_page.get_by_role("button", name=f"Accept: @northwind_shop to {care.team.name}").click()
    expect(sales_page.get_by_text(f"@northwind_shop now belongs to {care.team.name}.")).to_be_visible()
    sales_context.close()

    page.reload()
    expect(page.locator(".team-channels").get_by_text("@northwind_shop")).to_be_visible()
    page.get_by_label("Round-robin", exact=False).check()
    page.get_by_role("button", name="Save assignment").click()
    expect(page.get_by_text("Assignment: Round-robin")).to_be_visible()
    screenshot("team")

    open_inbox(page, f"{live_server.url}/inbox/?queue=all")
    arrived = arrive(shop, *(post(text, handle=f"hiker{n}") for n, text in enumerate(SUPPORT_POSTS)))

    for mention in arrived:
        expect(page.locator(f'li.mention[data-id="{mention.pk}"] .badge--assignee')).to_be_visible(
            timeout=5_000
        )
    assignees = {Mention.objects.get(pk=m.pk).assignee_id for m in arrived}
    assert assignees == {lead.pk, newcomer.pk}
    assert Team.objects.get(pk=care.team.pk).assignment == Team.Assignment.ROUND_ROBIN
    assert errors == []


def test_an_admin_sets_an_sla_and_a_breach_reaches_the_lead(
    live_server, page, browser, screenshot, monkeypatch
) -> None:
    from socialops.celery import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)  # the breach email is sent here, not by a worker
    care = segment("customer-relations")
    lead = MembershipFactory(
        team=care.team, role=Membership.Role.LEAD, user__first_name="Lena", user__email="lena@example.com"
    ).user
    admin = UserFactory(admin=True, first_name="Ari")
    help_desk = ChannelFactory(handle="@northwind_help", segment=care)
    sign_in(page.context, live_server.url, admin)

    page.goto(f"{live_server.url}/sla/")
    page.get_by_role("link", name=f"Set a policy for {care.name}").click()
    page.get_by_label("First response (minutes)").fill("30")
    page.get_by_label("Time zone").fill("Nowhere/Atlantis")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text("Unknown time zone 'Nowhere/Atlantis'")).to_be_visible()
    page.get_by_label("Time zone").fill("Europe/Paris")
    page.get_by_role("button", name="Save policy").click()
    expect(page.get_by_text(f"SLA policy for {care.name} saved")).to_be_visible()
    screenshot("sla")
    assert SlaPolicy.objects.get(segment=care).first_response_minutes == 30

    lead_context = new_context(browser)
    lead_page = lead_context.new_page()
    errors = javascript_errors(lead_page)
    sign_in(lead_context, live_server.url, lead)
    open_inbox(lead_page, f"{live_server.url}/inbox/")
    (mention,) = arrive(help_desk, post(SUPPORT_POSTS[0]))
    row = lead_page.locator(f'li.mention[data-id="{mention.pk}"]')
    expect(row).to_be_visible(timeout=5_000)

    sla_tick(now=datetime.now(UTC) + timedelta(minutes=45))  # beat's tick, 45 minutes on

    expect(row.locator(".sla--breached")).to_have_text("First response overdue", timeout=5_000)
    expect(row.locator(".priority-30")).to_be_visible()
    assert [message.to for message in mail.outbox] == [["lena@example.com"]]
    assert errors == []
    lead_context.close()


def test_a_lead_with_the_inbox_open_is_told_live_when_the_crisis_team_takes_an_account(
    live_server, page
) -> None:
    errors = javascript_errors(page)
    care = segment("customer-relations")
    crisis = segment("crisis-management").team
    care_lead = MembershipFactory(team=care.team, role=Membership.Role.LEAD).user
    crisis_lead = MembershipFactory(team=crisis, role=Membership.Role.LEAD).user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care)
    RoutingSettings.objects.update_or_create(pk=1, defaults={"crisis_mode": True})
    sign_in(page.context, live_server.url, care_lead)
    open_inbox(page, f"{live_server.url}/inbox/")

    channel_crisis_take(actor=crisis_lead, team=crisis, channel=help_desk)

    notice = page.locator("#live-notices .live-notice")
    expect(notice).to_contain_text(f"@northwind_help was taken by {crisis.name} during crisis mode at ")
    notice.get_by_role("button", name="Dismiss").click()
    expect(notice).to_have_count(0)
    assert errors == []
