"""axe-core (the engine browsers' accessibility audits use) run in real Chromium on the main pages, in the
light and the dark theme: no violation of serious or critical impact.

The dark theme is reached both ways a person gets it: the system's preference (``prefers-color-scheme``,
emulated) and the theme chosen on /me/.
"""

from __future__ import annotations

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

from channels.connectors.base import RejectedItem
from channels.connectors.simulated import SimulatedConnector
from channels.services import Quarantine
from inbox.models import Mention
from inbox.pulls import channel_pull
from inbox.services import mentions_ingest
from routing.rulesets import rule_save
from teams.models import Membership
from tests.browser.inbox_page import events_channel_of_its_own, new_context, open_inbox, sign_in
from tests.factories import ChannelFactory, MembershipFactory, segment
from users.models import Preferences

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]

BLOCKING_IMPACTS = {"serious", "critical"}
AXE = Axe()

PAGES = {
    "inbox": "/inbox/",
    "team": "/teams/",
    "rules": "/routing/rules/",
    "reports": "/reports/",
    "settings": "/me/",
    "notifications": "/notifications/",
    "channel with its quarantine": "/channels/northwind-help/",
}


@pytest.fixture(autouse=True)
def _events_channel_of_its_own(monkeypatch) -> None:
    events_channel_of_its_own(monkeypatch)


@pytest.fixture
def lead_and_admin():
    """An admin who also leads the care team (so every page has something to show), with mentions pulled
    from the simulated network, one rule and two quarantined items."""
    care = segment("customer-relations")
    person = MembershipFactory(
        team=care.team,
        role=Membership.Role.LEAD,
        user__username="casey",
        user__first_name="Casey",
        user__last_name="Reyes",
        user__admin=True,
    ).user
    help_desk = ChannelFactory(
        slug="northwind-help", handle="@northwind_help", segment=care, credentials={"posts_per_pull": 12}
    )
    channel_pull(channel_id=help_desk.pk, connector=SimulatedConnector())
    long_payload = {"id": "odd-1", "text": "<b>not a post</b> " * 40}
    mentions_ingest(
        channel=help_desk,
        posts=[],
        quarantine=Quarantine(
            source="pull",
            connector_rejected=[
                RejectedItem(raw=long_payload, error="'author' is missing"),
                RejectedItem(raw={"item": 7}, error="item is not a JSON object"),
            ],
        ),
    )
    rule_save(user=person, name="Refunds", when={"keywords": ["refund"]}, then=[{"set_priority": "high"}])
    return person


def serious_violations(page: Page) -> list[str]:
    """axe's violations of serious or critical impact on the page with every disclosure (``<details>``)
    opened, one line each (rule, what it asks, the elements)."""
    page.evaluate("document.querySelectorAll('details').forEach((disclosure) => { disclosure.open = true; })")
    results = AXE.run(page)
    return [
        f"{violation['id']} ({violation['impact']}): {violation['help']} -> "
        + "; ".join(" ".join(node["target"]) for node in violation["nodes"])
        for violation in results.response["violations"]
        if violation["impact"] in BLOCKING_IMPACTS
    ]


def _visit_every_page(page: Page, base: str, mention_id: int) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, path in PAGES.items():
        if name == "inbox":
            open_inbox(page, f"{base}{path}")
        else:
            response = page.goto(f"{base}{path}")
            assert response.status == 200, f"{path}: {response.status}"
        assert page.url == f"{base}{path}", "signed out, or sent elsewhere"
        found[name] = serious_violations(page)
    open_inbox(page, f"{base}/inbox/?open={mention_id}")
    page.locator("#detail article").wait_for()
    found["inbox with a mention open"] = serious_violations(page)
    return {name: violations for name, violations in found.items() if violations}


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_the_main_pages_have_no_serious_accessibility_violations_in_the_systems_theme(
    live_server, browser, lead_and_admin, theme
) -> None:
    context = new_context(browser)
    page = context.new_page()
    page.emulate_media(color_scheme=theme)
    sign_in(context, live_server.url, lead_and_admin)
    mention = Mention.objects.order_by("-pk").first()

    found = _visit_every_page(page, live_server.url, mention.pk)

    assert page.evaluate("getComputedStyle(document.documentElement).colorScheme").startswith(theme)
    context.close()
    assert found == {}, "\n".join(f"{name}: {line}" for name, lines in found.items() for line in lines)


def test_the_main_pages_have_no_serious_accessibility_violations_in_the_dark_theme_chosen_on_me(
    live_server, browser, lead_and_admin
) -> None:
    Preferences.objects.update_or_create(user=lead_and_admin, defaults={"theme": "dark"})
    context = new_context(browser)
    page = context.new_page()
    page.emulate_media(color_scheme="light")
    sign_in(context, live_server.url, lead_and_admin)
    mention = Mention.objects.order_by("-pk").first()

    found = _visit_every_page(page, live_server.url, mention.pk)

    assert page.locator("html").get_attribute("data-theme") == "dark"
    context.close()
    assert found == {}, "\n".join(f"{name}: {line}" for name, lines in found.items() for line in lines)


def test_the_check_finds_a_violation_when_there_is_one(live_server, page, lead_and_admin) -> None:
    """The harness itself: a nameless button and an unlabelled field put on the page are reported."""
    sign_in(page.context, live_server.url, lead_and_admin)
    page.goto(f"{live_server.url}/me/")
    assert serious_violations(page) == []
    page.evaluate(
        """document.querySelector("main").insertAdjacentHTML(
            "beforeend", '<button id="nameless"></button><input id="unlabelled">'
        )"""
    )

    found = serious_violations(page)

    assert found == [
        "button-name (critical): Buttons must have discernible text -> #nameless",
        "label (critical): Form elements must have labels -> #unlabelled",
    ]
