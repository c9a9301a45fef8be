"""Notifications in real Chromium with a real worker: an agent calls a teammate by @name in a note, and the
teammate's open inbox, in a browser of its own, shows it on the bell as it happens; the bell opens the
list, and the notification opens the mention."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from foundation.events import events_consume
from integrations.models import Notification
from integrations.notifications import CONSUMER, notifications_handle
from integrations.tasks import NOTIFICATIONS_CONSUME
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
LIVE_SECONDS = 15  # a woken consumer on a busy CI machine, then the live stream


@pytest.fixture(autouse=True)
def _events_channel_of_its_own(monkeypatch) -> None:
    events_channel_of_its_own(monkeypatch)


@pytest.fixture
def other_page(browser) -> Iterator[Page]:
    context = new_context(browser)
    yield context.new_page()
    context.close()


def test_an_at_name_in_a_note_reaches_the_teammates_open_inbox_live(
    live_server, page, other_page, worker, settings
):
    settings.SOCIALOPS_EVENT_CONSUMERS = [NOTIFICATIONS_CONSUME]  # commits wake it, as in production
    events_consume(consumer=CONSUMER, handle=notifications_handle)  # the consumer starts at the head
    care = segment("customer-relations")
    ada = MembershipFactory(team=care.team, user__username="ada", user__first_name="Ada").user
    bea = MembershipFactory(team=care.team, user__username="bea", user__first_name="Bea").user
    [mention] = arrive(
        ChannelFactory(handle="@northwind_help", segment=care),
        post("My <b>stove</b> leaks gas, what now?", handle="ana_outdoors", name="Ana Ruiz"),
    )
    ada_page, bea_page = page, other_page
    ada_errors, bea_errors = javascript_errors(ada_page), javascript_errors(bea_page)
    sign_in(ada_page.context, live_server.url, ada)
    sign_in(bea_page.context, live_server.url, bea)

    open_inbox(bea_page, f"{live_server.url}/inbox/")
    bell = bea_page.locator("[data-bell-count]")
    expect(bell).to_be_hidden()

    open_inbox(ada_page, f"{live_server.url}/inbox/?open={mention.pk}")
    ada_page.get_by_role("textbox", name="Note").fill("@bea can you check the gas valve model with Ana?")
    ada_page.get_by_role("button", name="Add note").click()

    expect(bell).to_have_text("1", timeout=LIVE_SECONDS * 1000)
    expect(bell).to_be_visible()
    assert list(Notification.objects.values_list("user__username", "kind")) == [("bea", "mentioned")]

    bea_page.get_by_role("link", name="Notifications").click()
    item = bea_page.get_by_role("link", name="Ada mentioned you in a note on @ana_outdoors's post")
    expect(item).to_be_visible()
    bea_page.get_by_role("button", name="Mark all read").click()
    expect(bea_page.locator("[data-bell-count]")).to_be_hidden()
    bea_page.get_by_role("link", name="Ada mentioned you in a note on @ana_outdoors's post").click()
    expect(bea_page.locator("#detail article")).to_have_attribute("data-mention-id", str(mention.pk))
    assert ada_errors == []
    assert bea_errors == []
