"""The Content-Security-Policy in real Chromium: the inbox (htmx, the live stream, opening a mention), the
account page and the API docs work and report no violation."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.inbox_page import arrive, events_channel_of_its_own, open_inbox, post, sign_in
from tests.factories import ChannelFactory, MembershipFactory, segment

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]

# Runs before any of the page's own scripts, from outside the page (the policy does not apply to it).
WATCH_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""


@pytest.fixture(autouse=True)
def _events_channel_of_its_own(monkeypatch) -> None:
    events_channel_of_its_own(monkeypatch)


@pytest.fixture
def watched(page):
    """The page, with every CSP violation and console error it reports collected."""
    reports: list[str] = []
    page.on("console", lambda m: reports.append(m.text) if m.type in {"error", "warning"} else None)
    page.on("pageerror", lambda e: reports.append(f"uncaught: {e}"))
    page.add_init_script(WATCH_VIOLATIONS)
    return page, reports


def test_the_inbox_works_under_the_policy_with_no_violation(live_server, watched):
    page, reports = watched
    care = segment("customer-relations")
    agent = MembershipFactory(team=care.team, user__first_name="Kim", user__last_name="Park").user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care)
    [mention] = arrive(help_desk, post("Where is my order #4471? It has been two weeks", handle="cho_m"))
    sign_in(page.context, live_server.url, agent)

    response = page.request.get(f"{live_server.url}/inbox/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    open_inbox(page, f"{live_server.url}/inbox/")
    expect(page.locator("#queue-counts")).to_contain_text("Team queue 1")  # htmx loaded the counts
    page.locator(f'li.mention[data-id="{mention.pk}"] a').first.click()
    expect(page.locator("#detail article")).to_have_attribute("data-mention-id", str(mention.pk))
    page.get_by_role("button", name="Assign to me").first.click()
    expect(page.locator("#detail .alert--success")).to_have_text("Assigned to Kim Park.")

    assert page.evaluate("window.cspViolations") == []
    assert page.evaluate("document.querySelectorAll('style').length") == 0  # htmx injected no styles
    assert reports == []


def test_the_account_page_and_the_api_docs_work_under_the_policy(live_server, watched):
    page, reports = watched
    agent = MembershipFactory(team=segment("customer-relations").team).user
    sign_in(page.context, live_server.url, agent)

    page.goto(f"{live_server.url}/me/")
    page.get_by_label("Name", exact=True).fill("Nightly export")
    page.get_by_role("button", name="Create token").click()
    expect(page.locator("#new-token-key")).to_contain_text("so_")
    assert page.evaluate("window.cspViolations") == []

    page.goto(f"{live_server.url}/api/v1/docs/")
    expect(page.get_by_text("socialops API")).to_be_visible()
    expect(page.get_by_text("/api/v1/mentions/", exact=True).first).to_be_visible()

    assert page.evaluate("window.cspViolations") == []
    assert reports == []
