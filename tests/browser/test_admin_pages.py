"""An admin's other pages in real Chromium: the channels list, and the audit log filtered and exported."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from inbox.actions.triage import mention_close
from tests.browser.inbox_page import arrive, javascript_errors, post, sign_in
from tests.factories import ChannelFactory, MembershipFactory, UserFactory, segment

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]


def test_an_admin_reads_the_channels_and_filters_the_audit_log(live_server, page, screenshot) -> None:
    care = segment("customer-relations")
    agent = MembershipFactory(team=care.team, user__first_name="Kim", user__last_name="Park").user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care)
    ChannelFactory(handle="@northwind_shop", segment=segment("product-promotion"))
    (mention,) = arrive(help_desk, post("Where is my order #4471? It has been two weeks"))
    mention_close(actor=agent, mention=mention)
    admin = UserFactory(admin=True, first_name="Ari")
    errors = javascript_errors(page)
    sign_in(page.context, live_server.url, admin)

    page.goto(f"{live_server.url}/channels/")
    expect(page.get_by_text("@northwind_help")).to_be_visible()
    expect(page.get_by_text("@northwind_shop")).to_be_visible()
    screenshot("channels")

    page.goto(f"{live_server.url}/audit/")
    expect(page.locator("body")).to_contain_text("Kim Park")
    page.get_by_label("Who").select_option(label="Kim Park")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("body")).to_contain_text("closed")
    screenshot("audit")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export these events as CSV").click()
    content = Path(download.value.path()).read_text(encoding="utf-8")
    assert "Kim Park" in content
    assert "mention.closed" in content
    assert errors == []
