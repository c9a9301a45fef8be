"""Triage from the keyboard, in real Chromium: moving, opening, assigning, closing, the shortcuts dialog,
and selecting mentions for a bulk action."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from inbox.models import Mention
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


@pytest.fixture
def agent():
    care = segment("customer-relations")
    return MembershipFactory(team=care.team, user__first_name="Kim", user__last_name="Park").user


@pytest.fixture
def four_mentions() -> list[Mention]:
    """Four mentions waiting in the customer care queue, oldest first."""
    help_desk = ChannelFactory(handle="@northwind_help", segment=segment("customer-relations"))
    return arrive(
        help_desk,
        post(
            "My Tundra 2 tent pole snapped on the first night. How do I get a replacement?",
            handle="ana_outdoors",
            name="Ana Ruiz",
        ),
        post(
            "Loving my new Cirrus sleeping bag, thank you Northwind!", handle="ben_hikes", name="Ben Okafor"
        ),
        post("Where is my order #4471? It has been two weeks", handle="cho_m", name="Cho Min"),
        post(
            "The zip on my Summit Shell jacket broke after one hike. Can you fix it?",
            handle="dee_trails",
            name="Dee Walsh",
        ),
    )


def row(page, mention: Mention):
    return page.locator(f'li.mention[data-id="{mention.pk}"]')


def test_an_agent_moves_opens_assigns_and_closes_from_the_keyboard(
    live_server, page, agent, four_mentions, screenshot
) -> None:
    errors = javascript_errors(page)
    oldest, second, third, newest = four_mentions
    sign_in(page.context, live_server.url, agent)
    open_inbox(page, f"{live_server.url}/inbox/")
    rows = page.locator("li.mention")
    expect(rows).to_have_count(4)
    current = page.locator("li.mention.is-current")

    page.keyboard.press("j")
    expect(current).to_have_attribute("data-id", str(newest.pk))
    page.keyboard.press("j")
    expect(current).to_have_attribute("data-id", str(third.pk))
    for _ in range(3):
        page.keyboard.press("j")
    expect(current).to_have_attribute("data-id", str(oldest.pk))  # the last row stays current
    page.keyboard.press("k")
    expect(current).to_have_attribute("data-id", str(second.pk))
    expect(current).to_have_count(1)
    expect(page.locator("#detail article")).to_have_count(0)  # moving does not open

    page.keyboard.press("o")
    expect(page.locator("#detail article")).to_have_attribute("data-mention-id", str(second.pk))
    expect(page.locator("#detail-title")).to_contain_text("Ben Okafor @ben_hikes")
    expect(row(page, second)).to_contain_class("is-open")

    page.keyboard.press("k")
    page.keyboard.press("Enter")
    expect(page.locator("#detail article")).to_have_attribute("data-mention-id", str(third.pk))
    expect(row(page, second)).not_to_contain_class("is-open")

    page.keyboard.press("a")
    expect(page.locator("#detail .alert--success")).to_have_text("Assigned to Kim Park.")
    expect(row(page, third)).to_have_count(0)  # the team queue is the unassigned
    expect(rows).to_have_count(3)
    expect(page.locator("#queue-counts")).to_contain_text("My mentions 1")
    expect(page.locator("#queue-counts")).to_contain_text("Team queue 3")

    # The pane still shows the assigned mention; e closes it.
    page.keyboard.press("e")
    expect(page.locator("#detail .alert--success")).to_have_text("Closed.")
    expect(page.locator("#detail .detail__badges .badge--status")).to_have_text("Closed")
    expect(page.locator("#queue-counts")).to_contain_text("My mentions 0")

    # r puts the cursor in the reply; Escape leaves it and the shortcuts work again.
    page.keyboard.press("r")
    expect(page.get_by_label("Reply text")).to_be_focused()
    page.keyboard.type("jk")
    expect(page.get_by_label("Reply text")).to_have_value("jk")
    page.keyboard.press("Escape")
    expect(page.get_by_label("Reply text")).not_to_be_focused()

    page.keyboard.press("/")
    expect(page.get_by_label("Search text and authors")).to_be_focused()
    page.keyboard.press("Escape")
    page.evaluate("window.scrollTo(0, 0)")  # focusing the reply scrolled the page; not in the picture

    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Assign to me")
    expect(dialog).to_contain_text("Select for a bulk action")
    screenshot("shortcuts")
    page.keyboard.press("j")  # the list does not move behind the dialog
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(current).to_have_count(0)  # the current row was closed and left; j would have picked another
    page.keyboard.press("j")
    expect(current).to_have_attribute("data-id", str(newest.pk))

    third.refresh_from_db()
    assert (third.assignee, third.status) == (agent, Mention.Status.CLOSED)
    assert (
        list(Mention.objects.exclude(pk=third.pk).order_by("pk").values_list("assignee", "status"))
        == [(None, Mention.Status.NEW)] * 3
    )
    assert errors == []


def test_x_selects_mentions_and_the_bulk_bar_closes_them(
    live_server, page, agent, four_mentions, screenshot
) -> None:
    errors = javascript_errors(page)
    oldest, second, third, newest = four_mentions
    sign_in(page.context, live_server.url, agent)
    open_inbox(page, f"{live_server.url}/inbox/")
    rows = page.locator("li.mention")
    expect(rows).to_have_count(4)
    bar = page.locator("#bulk-form")
    expect(bar).to_be_hidden()

    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(bar).to_be_visible()
    expect(bar).to_contain_text("1 selected")
    page.keyboard.press("j")
    page.keyboard.press("j")
    page.keyboard.press("x")
    expect(bar).to_contain_text("2 selected")
    expect(row(page, newest).get_by_role("checkbox")).to_be_checked()
    expect(row(page, third).get_by_role("checkbox")).not_to_be_checked()
    expect(row(page, second).get_by_role("checkbox")).to_be_checked()
    page.get_by_label("Action").select_option(label="Close")
    screenshot("bulk")

    bar.get_by_role("button", name="Apply").click()

    expect(page.locator("#bulk-result")).to_have_text("2 mentions updated.")
    expect(rows).to_have_count(2)
    expect(row(page, newest)).to_have_count(0)
    expect(row(page, second)).to_have_count(0)
    expect(page.locator("#queue-counts")).to_contain_text("Team queue 2")
    # Done with: the closed mentions leave the selection; the bar stays to say what was done.
    expect(bar).to_contain_text("0 selected")
    expect(bar.locator("input[name=ids]")).to_have_count(0)
    assert dict(Mention.objects.values_list("pk", "status")) == {
        oldest.pk: Mention.Status.NEW,
        second.pk: Mention.Status.CLOSED,
        third.pk: Mention.Status.NEW,
        newest.pk: Mention.Status.CLOSED,
    }

    row(page, oldest).get_by_role("checkbox").check()
    expect(bar).to_contain_text("1 selected")
    expect(page.locator("#bulk-result")).to_be_empty()
    page.get_by_role("button", name="Clear selection").click()
    expect(bar).to_be_hidden()
    expect(row(page, oldest).get_by_role("checkbox")).not_to_be_checked()
    assert errors == []
