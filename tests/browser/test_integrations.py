"""Integrations end to end in real Chromium, with a real worker and real local HTTP servers: an admin
subscribes a receiver to webhooks in the app, a misrouted post notifies the owning team's Slack, and an
agent's hand-off makes a case in a helpdesk and reaches the receiver as a signed event."""

from __future__ import annotations

import json
import time

import pytest
from playwright.sync_api import expect

from channels.crypto import encrypt_json
from integrations.models import HandOffIntegration, SlackNotifier
from integrations.signing import signature_verify
from integrations.tasks import FANOUT_TASK, SLACK_NOTIFY
from tests.browser.inbox_page import (
    arrive,
    events_channel_of_its_own,
    javascript_errors,
    open_inbox,
    post,
    sign_in,
)
from tests.factories import ChannelFactory, MembershipFactory, UserFactory, segment
from tests.integrations.receiver import Receiver
from tests.integrations.scripted import local_receiver

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]

WAIT_SECONDS = 30


@pytest.fixture(autouse=True)
def _events_channel_of_its_own(monkeypatch) -> None:
    events_channel_of_its_own(monkeypatch)


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_an_admin_subscribes_a_receiver_and_an_agents_hand_off_arrives_signed(
    live_server, page, worker, settings, screenshot
):
    settings.SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE = True
    settings.SOCIALOPS_EVENT_CONSUMERS = [FANOUT_TASK, SLACK_NOTIFY]  # commits wake them, as in production
    errors = javascript_errors(page)
    care, promotion = segment("customer-relations"), segment("product-promotion")
    agent = MembershipFactory(team=care.team, user__first_name="Kim", user__last_name="Park").user
    admin = UserFactory(admin=True)
    receiver = Receiver().start()
    try:
        with local_receiver() as desk, local_receiver() as slack:
            desk.answer(201, {"case": {"id": "HD-7", "url": "https://help.example/cases/7"}})
            HandOffIntegration.objects.create(
                name="Northwind helpdesk",
                slug="helpdesk",
                kind=HandOffIntegration.Kind.GENERIC,
                config={"url": f"{desk.url}/cases", "id_pointer": "/case/id", "url_pointer": "/case/url"},
            )
            SlackNotifier.objects.create(
                team=care.team, name="#care", webhook_url=encrypt_json({"url": f"{slack.url}/slack"})
            )

            # The admin subscribes the receiver to hand-offs, in the app, and copies the secret shown once.
            sign_in(page.context, live_server.url, admin)
            page.goto(f"{live_server.url}/integrations/")
            page.locator("#integration-webhooks").get_by_role("link", name="Open").click()
            page.get_by_role("link", name="Add a webhook").click()
            page.get_by_label("Name").fill("CRM sync")
            page.get_by_label("URL").fill(receiver.url)
            page.get_by_label("Events").fill("mention.handed_off")
            page.get_by_role("button", name="Add the webhook").click()
            secret = page.get_by_label("Signing secret").input_value()
            screenshot("integrations-webhook-secret")

            # A support question lands on the promotion account: routing escalates it to customer care,
            # whose Slack hears of it.
            [mention] = arrive(
                ChannelFactory(handle="@northwind_deals", segment=promotion),
                post("My order #4417 never arrived, where is it? <urgent>", handle="ana_outdoors"),
            )
            _wait_for(lambda: slack.requests, "the Slack notification")
            [notice] = slack.requests
            assert "&lt;urgent&gt;" in notice.json()["text"]
            assert notice.json()["text"].startswith(":arrow_up: *Escalated to ")

            # The agent of the owning team hands it off; the case links in the open pane.
            page.context.clear_cookies()
            sign_in(page.context, live_server.url, agent)
            open_inbox(page, f"{live_server.url}/inbox/?open={mention.pk}")
            section = page.locator("#handoffs")
            section.get_by_label("Hand off to").select_option(label="Northwind helpdesk")
            section.get_by_role("button", name="Hand off").click()
            expect(page.locator("#handoffs").get_by_role("link", name="HD-7")).to_be_visible(timeout=20_000)
            screenshot("integrations-hand-off")

            _wait_for(lambda: receiver.received, "the webhook delivery")
    finally:
        receiver.stop()
    [delivery] = receiver.received
    signature_verify(header=delivery.signature, body=delivery.body, secret=secret, now=int(time.time()))
    payload = json.loads(delivery.body)
    assert (payload["version"], payload["type"], payload["mention"]["id"]) == (
        1,
        "mention.handed_off",
        mention.pk,
    )
    assert payload["actor"]["username"] == agent.get_username()
    assert errors == []


def test_an_admin_finds_the_api_documentation_from_the_integrations_page(live_server, page):
    errors = javascript_errors(page)
    sign_in(page.context, live_server.url, UserFactory(admin=True))
    page.goto(f"{live_server.url}/integrations/")

    page.get_by_role("link", name="Open the API documentation").click()

    expect(page.get_by_text("socialops API")).to_be_visible()
    expect(page.get_by_text("/api/v1/mentions/", exact=True).first).to_be_visible()
    assert page.url == f"{live_server.url}/api/v1/docs/"
    assert errors == []
