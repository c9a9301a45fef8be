"""Hand-off in real Chromium: an agent hands a mention off to a helpdesk (a local desk), the worker makes
the case, and the open detail pane shows it linked without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from integrations.models import HandOff, HandOffIntegration
from tests.browser.inbox_page import (
    arrive,
    events_channel_of_its_own,
    javascript_errors,
    open_inbox,
    post,
    sign_in,
)
from tests.factories import ChannelFactory, MembershipFactory, segment
from tests.integrations.scripted import local_receiver

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]


@pytest.fixture(autouse=True)
def _events_channel_of_its_own(monkeypatch) -> None:
    events_channel_of_its_own(monkeypatch)


def test_an_agent_hands_off_a_mention_and_sees_the_case_linked(
    live_server, page, worker, settings, screenshot
):
    settings.SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE = True
    errors = javascript_errors(page)
    care = segment("customer-relations")
    agent = MembershipFactory(team=care.team, user__first_name="Kim", user__last_name="Park").user
    [mention] = arrive(
        ChannelFactory(handle="@northwind_help", segment=care),
        post('My Basecamp stove leaks gas "badly" <help>', handle="ana_outdoors", name="Ana Ruiz"),
    )
    with local_receiver() as desk:
        desk.answer(201, {"case": {"id": "HD-1042", "url": "https://help.example/cases/1042"}})
        HandOffIntegration.objects.create(
            name="Northwind helpdesk",
            slug="helpdesk",
            kind=HandOffIntegration.Kind.GENERIC,
            config={"url": f"{desk.url}/cases", "id_pointer": "/case/id", "url_pointer": "/case/url"},
        )
        sign_in(page.context, live_server.url, agent)
        open_inbox(page, f"{live_server.url}/inbox/?open={mention.pk}")
        section = page.locator("#handoffs")
        section.get_by_label("Hand off to").select_option(label="Northwind helpdesk")
        section.get_by_role("button", name="Hand off").click()

        case = page.locator("#handoffs").get_by_role("link", name="HD-1042")
        expect(case).to_be_visible(timeout=20_000)
        expect(case).to_have_attribute("href", "https://help.example/cases/1042")
        screenshot("handoff")

        [request] = desk.requests
    assert request.json()["description"] == 'My Basecamp stove leaks gas "badly" <help>'
    assert list(HandOff.objects.values_list("state", "external_id", "actor_id")) == [
        ("linked", "HD-1042", agent.pk)
    ]
    assert errors == []
