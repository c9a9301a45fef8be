"""A team lead's reports in real Chromium: each report opens, the range and filters change what is drawn, a
chart's CSV download holds exactly its table view, and a point leads to the inbox listing its posts."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from playwright.sync_api import expect

from foundation.events import consumer_start
from inbox.actions import routing as routing_actions
from inbox.actions import triage
from inbox.actions.replies import reply_create
from inbox.actions.sla import sla_tick
from inbox.models import Mention, SlaPolicy
from reports.rollups import CONSUMER, rollups_consume
from teams.models import Membership
from tests.browser.inbox_page import (
    arrive,
    events_channel_of_its_own,
    javascript_errors,
    new_context,
    post,
    sign_in,
)
from tests.browser.test_content_security_policy import WATCH_VIOLATIONS
from tests.factories import ChannelFactory, MembershipFactory, UserFactory, segment

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]

DAYS = 12
CARE_POSTS = (
    "My order never arrived and nobody answers, this is terrible",
    "Where is my parcel? It has been two weeks",
    "Thanks for the quick fix, the new tent is great!",
    "The zip on my jacket broke after one hike, can you help?",
    "How do I return a pair of boots that do not fit?",
)
SHOP_POSTS = (
    "Is there a discount code for the winter sale?",
    "Love the new Summit Shell colours, when do they ship?",
    "Do you price match other stores?",
)
REPORTS = ("Overview", "Responsiveness", "Routing", "Sentiment", "People at work")


@pytest.fixture(autouse=True)
def _events_channel_of_its_own(monkeypatch) -> None:
    events_channel_of_its_own(monkeypatch)


def _a_fortnight_of_posts(care_agent, admin, help_desk, shop, care_team) -> None:
    """Posts on the help desk and the shop account each day of the last DAYS days, through the real ingest and
    routing under a 30-minute first-response target; the care agent answers and closes some of theirs, the
    SLA tick raises the rest, the admin re-routes a shop post to care."""
    SlaPolicy.objects.create(segment=help_desk.segment, first_response_minutes=30)
    consumer_start(consumer=CONSUMER)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    for day in range(DAYS, 0, -1):
        at = today - timedelta(days=day) + timedelta(hours=7 + (5 * day) % 12)  # spread over the day
        with time_machine.travel(at, tick=False) as clock:
            arrived = arrive(
                help_desk,
                *(post(text, handle=f"hiker{day}_{n}") for n, text in enumerate(CARE_POSTS[: 2 + day % 4])),
            )
            arrived += arrive(
                shop,
                *(post(text, handle=f"buyer{day}_{n}") for n, text in enumerate(SHOP_POSTS[: 1 + day % 3])),
            )
            ours = [m for m in arrived if Mention.objects.get(pk=m.pk).team_id == care_team.pk]
            for n, mention in enumerate(ours[:3]):
                clock.move_to(at + timedelta(minutes=5 + 40 * n + day))
                reply_create(actor=care_agent, mention=mention, text="Sorry about that, we are on it.")
                if n < 2:
                    triage.mention_close(actor=care_agent, mention=Mention.objects.get(pk=mention.pk))
            clock.move_to(at + timedelta(hours=2, minutes=50))
            sla_tick()
            stray = next((m for m in arrived if Mention.objects.get(pk=m.pk).team_id != care_team.pk), None)
            if stray is not None and day % 3 == 0:
                clock.move_to(at + timedelta(hours=3))
                routing_actions.mention_reroute(
                    actor=admin,
                    mention=Mention.objects.get(pk=stray.pk),
                    team=care_team,
                    reason="a support question",
                )
    while rollups_consume():
        pass


def _table_view(panel) -> list[list[str]]:
    """A chart panel's table view as its cells read, "—" (no data) as an empty cell."""
    panel.locator("summary").click()
    rows = [panel.locator("table.chart-table thead th").all_inner_texts()]
    for row in panel.locator("table.chart-table tbody tr").all():
        rows.append(
            [text.replace("—", "").replace(",", "") for text in row.locator("th, td").all_inner_texts()]
        )
    return rows


def test_a_lead_reads_each_report_filters_exports_and_follows_a_point_to_the_inbox(
    live_server, page, browser, screenshot
) -> None:
    errors = javascript_errors(page)
    page.add_init_script(WATCH_VIOLATIONS)
    care, promo = segment("customer-relations"), segment("product-promotion")
    lead = MembershipFactory(
        team=care.team, role=Membership.Role.LEAD, user__first_name="Lena", user__last_name="Lead"
    ).user
    agent = MembershipFactory(team=care.team, user__username="casey", user__first_name="Casey").user
    admin = UserFactory(admin=True)
    help_desk = ChannelFactory(handle="@northwind_help", slug="northwind-help", segment=care)
    shop = ChannelFactory(handle="@northwind_shop", slug="northwind-shop", segment=promo)
    _a_fortnight_of_posts(agent, admin, help_desk, shop, care.team)
    sign_in(page.context, live_server.url, lead)

    page.goto(f"{live_server.url}/inbox/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Overview")
    expect(page.locator("#chart-volume svg.chart--area")).to_be_visible()
    screenshot("reports-overview")
    tabs = page.get_by_role("navigation", name="Reports")
    for title, chart in zip(REPORTS[1:], ("heat_map", "misroutes", "sentiment", "agents_work"), strict=True):
        tabs.get_by_role("link", name=title).click()
        expect(page.get_by_role("heading", level=1)).to_have_text(title)
        expect(page.locator(f"#chart-{chart} svg.chart")).to_be_visible()
        expect(page.get_by_text("No mentions in this range")).to_have_count(0)
        assert page.evaluate("window.cspViolations") == []
        screenshot(f"reports-{title.split()[0].lower()}")
        if chart == "heat_map":
            screenshot("reports-heat-map", of=page.locator("#chart-heat_map"))

    # The range and the filters: the last week, by account, only the help desk.
    tabs.get_by_role("link", name="Overview").click()
    since = (datetime.now(UTC) - timedelta(days=7)).date()
    page.get_by_label("From").fill(since.isoformat())
    page.get_by_label("Split by").select_option(label="Account")
    page.get_by_label("Account", exact=True).select_option(label="@northwind_help")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#chart-volume .chart-panel__title")).to_have_text("Mentions received by account")
    query = parse_qs(urlsplit(page.url).query)
    assert (query["since"], query["channel"], query["by"]) == (
        [since.isoformat()],
        ["northwind-help"],
        ["channel"],
    )
    volume = page.locator("#chart-volume")
    table = _table_view(volume)
    assert table[0] == ["Day", "@northwind_help"]
    assert table[1][0] == since.isoformat()

    with page.expect_download() as download:
        volume.get_by_role("link", name="Download CSV of Mentions received by account").click()
    exported = list(csv.reader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    assert download.value.suggested_filename.startswith("mentions-received-by-account_")
    assert exported == [["Day", "'@northwind_help"], *table[1:]]  # a leading @ is quoted for spreadsheets

    # A point of the "New" line: the day with the most posts, to the inbox.
    points = page.locator('#chart-new_handled a.chart__point[data-series="0"]')
    values = [float(v) for v in points.evaluate_all("els => els.map(e => e.dataset.value)")]
    busiest = points.nth(values.index(max(values)))
    target = busiest.get_attribute("href")
    busiest.click()
    expect(page).to_have_url(f"{live_server.url}{target}")
    expect(page.locator("li.mention")).to_have_count(int(max(values)))
    query = parse_qs(urlsplit(page.url).query)
    assert (query["channel"], query["team"], query["queue"]) == (
        ["northwind-help"],
        [str(care.team.pk)],
        ["all"],
    )
    assert errors == []


def test_the_reports_read_in_dark_mode(live_server, browser, screenshot) -> None:
    care = segment("customer-relations")
    lead = MembershipFactory(team=care.team, role=Membership.Role.LEAD).user
    agent = MembershipFactory(team=care.team).user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care)
    shop = ChannelFactory(handle="@northwind_shop", segment=segment("product-promotion"))
    _a_fortnight_of_posts(agent, UserFactory(admin=True), help_desk, shop, care.team)
    context = new_context(browser)
    dark = context.new_page()
    dark.emulate_media(color_scheme="dark")
    sign_in(context, live_server.url, lead)

    dark.goto(f"{live_server.url}/reports/responsiveness/")

    panel = dark.locator("#chart-first_response .chart-panel")
    ink = panel.evaluate("el => getComputedStyle(el).color")
    surface = panel.evaluate("el => getComputedStyle(el).backgroundColor")
    assert (ink, surface) == ("rgb(232, 235, 242)", "rgb(22, 27, 38)")  # --chart-ink on --chart-surface
    screenshot("reports-dark", of=dark.locator("#chart-first_response"))
    context.close()
