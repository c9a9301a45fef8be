"""A person's own settings in real Chromium: choosing dark and compact on /me/ changes the inbox they see
(and the system's dark preference is followed until they choose); the compact list is one line a mention,
and the list scrolls on its own under a header that stays."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from channels.connectors.simulated import SimulatedConnector
from inbox.models import Mention
from inbox.pulls import channel_pull
from teams.models import Membership
from tests.browser.inbox_page import events_channel_of_its_own, javascript_errors, open_inbox, sign_in
from tests.factories import ChannelFactory, MembershipFactory, segment
from users.models import Preferences

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]

LIGHT_BACKGROUND = "rgb(244, 245, 248)"  # --bg of the light theme
DARK_BACKGROUND = "rgb(15, 19, 27)"  # --bg of the dark theme
BODY_BACKGROUND = "getComputedStyle(document.body).backgroundColor"
ROW_HEIGHTS = "[...document.querySelectorAll('li.mention')].map((row) => row.getBoundingClientRect().height)"


@pytest.fixture(autouse=True)
def _events_channel_of_its_own(monkeypatch) -> None:
    events_channel_of_its_own(monkeypatch)


@pytest.fixture
def casey():
    care = segment("customer-relations")
    agent = MembershipFactory(
        team=care.team, user__username="casey", user__first_name="Casey", user__last_name="Reyes"
    ).user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care, credentials={"posts_per_pull": 40})
    channel_pull(channel_id=help_desk.pk, connector=SimulatedConnector())
    return agent


def _team_queue_size(agent) -> int:
    team = agent.memberships.get().team
    waiting = Mention.objects.filter(team=team, assignee=None, status__in=["new", "open"])
    return waiting.exclude(intent="spam").count()


def test_a_person_chooses_dark_and_compact_on_their_settings_and_the_inbox_follows(
    live_server, page, casey, screenshot
) -> None:
    errors = javascript_errors(page)
    page.set_viewport_size({"width": 1280, "height": 900})
    sign_in(page.context, live_server.url, casey)
    waiting = _team_queue_size(casey)
    assert waiting >= 15
    open_inbox(page, f"{live_server.url}/inbox/")
    expect(page.locator("li.mention")).to_have_count(waiting)
    comfortable_heights = page.evaluate(ROW_HEIGHTS)
    assert page.evaluate(BODY_BACKGROUND) == LIGHT_BACKGROUND

    page.get_by_role("link", name="My settings").click()
    expect(page).to_have_url(f"{live_server.url}/me/")
    page.get_by_label("Dark").check()
    page.get_by_label("Compact (one line per mention)").check()
    page.get_by_role("button", name="Save settings").click()

    expect(page.get_by_text("Settings saved.")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert page.evaluate(BODY_BACKGROUND) == DARK_BACKGROUND
    expect(page.get_by_label("Dark")).to_be_checked()
    open_inbox(page, f"{live_server.url}/inbox/")
    expect(page.locator("html")).to_have_attribute("data-density", "compact")
    assert page.evaluate(BODY_BACKGROUND) == DARK_BACKGROUND
    compact_heights = page.evaluate(ROW_HEIGHTS)
    # One line a mention: every compact row is lower than the lowest comfortable one, and 15 fit in 900 px.
    assert max(compact_heights) < min(comfortable_heights)
    assert max(compact_heights) <= 44
    rows = page.locator("li.mention")
    in_view = page.evaluate(
        "[...document.querySelectorAll('li.mention')]"
        ".filter((row) => row.getBoundingClientRect().bottom <= window.innerHeight).length"
    )
    assert in_view >= 15
    # Initials stand in for avatars: no image to break.
    expect(rows.first.locator(".mention__avatar")).to_be_visible()
    expect(page.locator("li.mention img")).to_have_count(0)
    # The badges past the line's three show on hover.
    network = rows.first.locator(".badge--network")
    expect(network).to_be_hidden()
    rows.first.hover()
    expect(network).to_be_visible()

    # The list scrolls on its own: the page does not, so the header and the queues stay where they are.
    page.locator("#mention-list").evaluate("(list) => list.scrollTo(0, list.scrollHeight)")
    expect(rows.last).to_be_in_viewport()
    assert page.evaluate("window.scrollY") == 0
    assert page.locator(".site-header").bounding_box()["y"] == 0
    expect(page.locator("#queue-counts")).to_be_in_viewport()

    rows.nth(2).locator(".mention__open").click()
    expect(page.locator("#detail article")).to_be_visible()
    page.mouse.move(5, 5)
    page.locator("#mention-list").evaluate("(list) => list.scrollTo(0, 0)")
    rows.nth(4).hover()  # one row's badges shown whole
    screenshot("inbox-dark")
    assert errors == []


def test_the_systems_dark_preference_is_followed_until_the_person_chooses_light(live_server, page, casey):
    page.emulate_media(color_scheme="dark")
    sign_in(page.context, live_server.url, casey)

    page.goto(f"{live_server.url}/me/")
    assert page.evaluate(BODY_BACKGROUND) == DARK_BACKGROUND
    expect(page.get_by_label("Follow the system")).to_be_checked()
    page.get_by_label("Light").check()
    page.get_by_role("button", name="Save settings").click()

    expect(page.get_by_text("Settings saved.")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert page.evaluate(BODY_BACKGROUND) == LIGHT_BACKGROUND


def test_a_lead_writes_a_canned_response_and_picks_it_with_their_signature(live_server, page, casey):
    care = segment("customer-relations")
    lead = MembershipFactory(
        team=care.team, role=Membership.Role.LEAD, user__first_name="Lee", user__last_name="Park"
    ).user
    Preferences.objects.create(user=lead, signature="— Lee, Northwind care")
    mention = Mention.objects.filter(team=care.team).exclude(intent="spam").select_related("author").first()
    sign_in(page.context, live_server.url, lead)

    page.goto(f"{live_server.url}/teams/{care.team.slug}/")
    page.get_by_role("link", name="Canned responses").click()
    page.get_by_role("link", name="New canned response").click()
    page.get_by_label("Title").fill("Where is my parcel")
    page.get_by_label("Body").fill("Hi {author_name}, we are on it. — {agent}")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#canned-preview")).to_have_text("Hi Jo Hiker, we are on it. — Lee Park")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Canned response “Where is my parcel” saved.")).to_be_visible()

    open_inbox(page, f"{live_server.url}/inbox/?open={mention.pk}")
    page.locator("#canned").select_option(label="Where is my parcel")
    name = mention.author.display_name or mention.author.handle
    expect(page.locator("#reply-text")).to_have_value(
        f"Hi {name}, we are on it. — Lee Park\n\n— Lee, Northwind care"
    )
