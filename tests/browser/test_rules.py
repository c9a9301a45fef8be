"""An admin's rules in real Chromium: writing a rule in the builder, backtesting it on the worker, publishing
it and seeing the next matching mention routed by it; a rule that does not compile refused with a clear
message; and the segments and version pages."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import BrowserContext, Page, expect

from channels.connectors.base import AuthorData, Post
from channels.models import Channel, Network
from foundation.events import consumer_start
from inbox.models import Mention
from inbox.services import mentions_ingest
from reports.rollups import CONSUMER as ROLLUPS
from reports.rollups import rollups_consume
from routing.models import Rule, RuleSetVersion
from tests.factories import ChannelFactory, UserFactory, segment

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]

_numbers = count(1)


def sign_in(context: BrowserContext, live_server_url: str, user) -> None:
    client = Client()
    client.force_login(user)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server_url,
            }
        ]
    )


def javascript_errors(page: Page) -> list[str]:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    return errors


def arrive(channel: Channel, text: str) -> Mention:
    """A post received on ``channel`` through the real ingest path, routed as it is stored."""
    number = next(_numbers)
    post = Post(
        network=Network.SIMULATED,
        external_id=f"rules-browser-{number}",
        kind=Mention.Kind.MENTION,
        text=text,
        created_at=datetime.now(UTC),
        author=AuthorData(external_id=f"author-{number}", handle=f"hiker{number}", follower_count=300),
    )
    (mention_id,) = mentions_ingest(channel=channel, posts=[post]).inserted_ids
    return Mention.objects.select_related("team").get(pk=mention_id)


@pytest.fixture
def admin(page: Page, live_server):
    user = UserFactory(username="ada", first_name="Ada", last_name="Lovelace", admin=True)
    sign_in(page.context, live_server.url, user)
    return user


def test_an_admin_writes_backtests_and_publishes_a_rule_and_the_next_mention_follows_it(
    live_server, page: Page, screenshot, worker, admin
) -> None:
    errors = javascript_errors(page)
    help_desk = ChannelFactory(handle="@northwind_help", segment=segment("customer-relations"))
    crisis = segment("crisis-management").team
    # The last days' mentions the draft is replayed against.
    for text in (
        "@northwind_help is the Basecamp stove recalled? ticket 1",
        "@northwind_help is the Basecamp stove recalled? ticket 2",
        "My order NW-1234567 never arrived, can you help?",
        "Love the new Ridgeline pack, thanks!",
    ):
        arrive(help_desk, text)
    assert not Mention.objects.filter(team=crisis).exists()

    page.goto(f"{live_server.url}/routing/rules/")
    expect(page.get_by_text("No rules yet")).to_be_visible()
    page.get_by_role("link", name="New rule", exact=True).click()
    expect(page.get_by_role("heading", name="New rule")).to_be_visible()

    page.get_by_label("Name").fill("Stove recalls go to crisis")
    first = page.locator("[data-condition]").nth(0)
    first.get_by_label("Condition").select_option("keywords")
    first.get_by_label("Words or phrases, comma-separated").fill("recalled, recall")
    expect(first.get_by_label("Confidence at least")).to_be_hidden()  # only the fields a condition uses
    page.get_by_role("button", name="Add a condition").click()
    second = page.locator("[data-condition]").nth(1)
    second.get_by_label("Condition").select_option("kind")
    second.get_by_label("dm").check()
    second.get_by_label("Not").check()
    page.locator("[data-action]").nth(0).get_by_label("Action").select_option("route_to_segment")
    page.locator("[data-action]").nth(0).get_by_label("Segment").select_option("crisis-management")
    page.get_by_role("button", name="Add an action").click()
    page.locator("[data-action]").nth(1).get_by_label("Action").select_option("set_priority")
    page.locator("[data-action]").nth(1).get_by_label("Priority").select_option("urgent")
    page.get_by_label("Backtest over the last").fill("3")
    page.set_viewport_size({"width": 1280, "height": 1240})  # the whole builder, for the README
    page.evaluate("window.scrollTo(0, 0)")
    screenshot("rule-builder")
    page.set_viewport_size({"width": 1280, "height": 800})

    page.get_by_role("button", name="Backtest").click()

    expect(page.get_by_role("heading", name="Backtest of “Stove recalls go to crisis”")).to_be_visible()
    report = page.locator("#backtest-progress")
    expect(report).to_contain_text("2 of 4 mentions would be decided differently", timeout=30_000)
    expect(report.locator("tr", has_text=crisis.name).locator("td")).to_have_text(["0", "2", "+2"])
    expect(report.locator(".backtest-sample__item")).to_have_count(2)
    sample = report.locator(".backtest-sample__item").first.inner_text()
    assert not Rule.objects.exists()  # nothing changes before publishing
    screenshot("backtest")

    page.get_by_role("button", name="Publish").click()

    expect(page.get_by_text("Published “Stove recalls go to crisis” in version")).to_be_visible()
    rule = Rule.objects.get()
    # The backtest numbered the rule as it was published, and named the segment and team.
    assert (
        f"Rule {rule.pk} “Stove recalls go to crisis” fired: routed to {segment('crisis-management').name} "
        f"(team {crisis.name})"
    ) in sample
    row = page.locator(f"#rule-{rule.pk}")
    expect(row).to_contain_text("words: recalled, recall and not kind: dm")
    expect(row).to_contain_text("route to segment crisis-management; priority urgent")
    screenshot("rules")

    consumer_start(consumer=ROLLUPS)  # the reports' rollups count the rule's hits from here on
    mention = arrive(help_desk, "The Basecamp stove I bought last week has been recalled??")

    assert mention.team == crisis
    assert mention.priority == Mention.Priority.URGENT
    assert mention.decision["rules_fired"] == [rule.pk]
    assert mention.decision["rule_set_version"] == RuleSetVersion.objects.order_by("-number").first().number
    unrelated = arrive(help_desk, "Where is my refund for order NW-7654321?")
    assert unrelated.team == segment("customer-relations").team

    # Beside the rule, how often it fired: once, when the rollups have read the events.
    while rollups_consume():
        pass
    page.goto(f"{live_server.url}/routing/rules/")
    expect(page.locator(f"#rule-{rule.pk} td.rules__hits")).to_have_text(["1", "1"])
    expect(page.locator("th.rules__hits")).to_have_text(["Fired, 7 days", "Fired, 30 days"])

    page.get_by_role("link", name="Rule versions", exact=True).click()
    expect(page.locator("tbody tr").first).to_contain_text("Added rule “Stove recalls go to crisis”")
    expect(page.locator("tbody tr").first).to_contain_text("Ada Lovelace")
    screenshot("versions")
    assert errors == []


def test_an_invalid_rule_is_refused_with_a_clear_message(live_server, page: Page, screenshot, admin) -> None:
    errors = javascript_errors(page)
    page.goto(f"{live_server.url}/routing/rules/new/")

    page.get_by_label("Name").fill("Order numbers")
    row = page.locator("[data-condition]").nth(0)
    row.get_by_label("Condition").select_option("regex")
    row.get_by_label("Regular expression (Python, case-insensitive)").fill(r"NW-(\d{7}")
    page.locator("[data-action]").nth(0).get_by_label("Action").select_option("add_labels")
    page.locator("[data-action]").nth(0).get_by_label("Labels (comma-separated)").fill("order")
    page.get_by_role("button", name="Save and publish").click()

    expect(page.get_by_role("alert")).to_contain_text(
        "The rule was not saved: see the notes next to the fields."
    )
    row = page.locator("[data-condition]").nth(0)
    expect(row.locator(".field__error")).to_have_text(
        r"bad regular expression 'NW-(\\d{7}': missing ), unterminated subpattern at position 3"
    )
    expect(row.get_by_label("Regular expression (Python, case-insensitive)")).to_have_value(r"NW-(\d{7}")
    expect(row.get_by_label("Regular expression (Python, case-insensitive)")).to_have_attribute(
        "aria-invalid", "true"
    )
    assert not Rule.objects.exists()
    assert not RuleSetVersion.objects.exists()
    assert errors == []


def test_the_segments_page_edits_a_segment_and_switches_crisis_mode(
    live_server, page: Page, screenshot, admin
) -> None:
    page.goto(f"{live_server.url}/routing/segments/")
    screenshot("segments")

    page.get_by_role("link", name="Edit Event coverage").click()
    page.get_by_label("Acceptance window (minutes)").fill("20")
    page.get_by_role("button", name="Save Event coverage").click()
    expect(page.get_by_text("Saved Event coverage.")).to_be_visible()
    expect(page.locator("#segment-event-coverage")).to_contain_text("20 min")

    page.get_by_label("Crisis mode").check()
    page.get_by_role("button", name="Save the settings").click()
    expect(page.get_by_text("Routing settings: crisis mode on: published version 1.")).to_be_visible()
    assert segment("event-coverage").acceptance_window_minutes == 20
