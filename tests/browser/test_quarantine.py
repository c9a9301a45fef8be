"""An admin works through a channel's quarantine in real Chromium: reads why an item was kept and its whole
payload, retries one that now reads as a post (it reaches the inbox), retries one still broken (it stays,
with the reason), and discards one."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from channels.connectors.base import RejectedItem
from channels.models import QuarantinedItem
from channels.services import Quarantine
from inbox.models import Mention
from inbox.services import mentions_ingest
from tests.browser.inbox_page import javascript_errors, sign_in
from tests.channels.connectors.bluesky_api import BRAND_DID
from tests.channels.test_quarantine import a_mention_notification
from tests.factories import ChannelFactory, UserFactory, segment

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]


def test_an_admin_retries_and_discards_quarantined_items_on_the_channel_page(
    live_server, page, screenshot
) -> None:
    channel = ChannelFactory(
        slug="northwind-bsky",
        network="bluesky",
        handle="@northwind.bsky.social",
        external_account_id=BRAND_DID,
        segment=segment("customer-relations"),
    )
    fixed = a_mention_notification(rkey="3kq2fixed001", text="@northwind.bsky.social <b>refund</b> please")
    broken = a_mention_notification(rkey="3kq2broken01")
    del broken["author"]
    mentions_ingest(
        channel=channel,
        posts=[],
        quarantine=Quarantine(
            source="pull",
            connector_rejected=[
                RejectedItem(raw={"item": "junk"}, error="item is not a JSON object"),
                RejectedItem(raw=broken, error="'author' is missing"),
                RejectedItem(raw=fixed, error="refused by a parser since fixed"),
            ],
        ),
    )
    junk, still_broken, now_fine = QuarantinedItem.objects.order_by("id")
    errors = javascript_errors(page)
    sign_in(page.context, live_server.url, UserFactory(admin=True))

    page.goto(f"{live_server.url}/channels/northwind-bsky/")
    fine_row = page.locator(f"#quarantined-{now_fine.pk}")
    expect(fine_row.get_by_role("rowheader")).to_have_text("refused by a parser since fixed")
    whole = fine_row.locator("details pre")
    expect(whole).to_be_hidden()
    fine_row.get_by_text("The whole payload").click()
    expect(whole).to_contain_text('"text": "@northwind.bsky.social <b>refund</b> please"')
    screenshot("channel-quarantine")

    fine_row.get_by_role("button", name="Retry").click()
    expect(page.get_by_text("The item now reads as a post: it is in the inbox.")).to_be_visible()
    expect(page.locator(f"#quarantined-{now_fine.pk}")).to_have_count(0)
    page.locator(f"#quarantined-{still_broken.pk}").get_by_role("button", name="Retry").click()
    expect(page.get_by_text("Still refused, kept in the quarantine: 'author' is missing")).to_be_visible()
    expect(page.locator(f"#quarantined-{still_broken.pk}").get_by_role("rowheader")).to_have_text(
        "'author' is missing"
    )
    page.locator(f"#quarantined-{junk.pk}").get_by_role("button", name="Discard").click()
    expect(page.get_by_text("Discarded the item; the audit log keeps what it was.")).to_be_visible()

    assert list(QuarantinedItem.objects.values_list("pk", flat=True)) == [still_broken.pk]
    (mention,) = Mention.objects.all()
    assert mention.text == "@northwind.bsky.social <b>refund</b> please"
    assert errors == []
