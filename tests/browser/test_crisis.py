"""The crisis radar in real Chromium: a burst of negative posts about a product arrives through the real
ingest path; the radar's consumer counts them and its minute tick (run here, a minute ahead of the posts:
no waiting for wall time) opens an incident; the lead with the inbox open sees the banner, opens the
incident, switches crisis mode on, replies to its mentions with the holding statement, and gives the all
clear."""

from __future__ import annotations

import os
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from crisis.models import Incident
from crisis.services import CONSUMER, crisis_events_handle, radar_tick
from crisis.signals import ALL, NEG, N, key
from crisis.store import RedisStore
from foundation.events import consumer_start, events_consume
from inbox.models import CannedResponse, Mention, Reply
from routing.models import RoutingSettings
from teams.models import Membership
from tests.browser.conftest import SCREENSHOTS
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

HOLDING = "Hi {author}, thank you for telling us. We are looking into this now and will post updates here."
BURST = [
    "My Northwind Trail headlamp melted while charging and burned my tent. Dangerous, awful.",
    "Northwind headlamp melted in my hand last night, this is terrible and scary",
    "Terrible: the Trail headlamp melted and the battery smoked. Stop selling it!",
    "Headlamp melted on the charger, burned the table. Awful, dangerous product.",
    "Is anyone else's Northwind headlamp melted? Mine burned my kid's hand. Horrible.",
    "My headlamp melted overnight. Worst purchase ever, could have started a fire.",
]


@pytest.fixture(autouse=True)
def _events_channel_of_its_own(monkeypatch) -> None:
    events_channel_of_its_own(monkeypatch)


def ordinary_weeks(store: RedisStore, *, now_minute: int, channel: str, segment_slug: str) -> None:
    """Three weeks of an ordinary brand's traffic before the last three hours: 30 posts an hour on the
    account, a tenth of them negative (one counter write per hour, as the hour's baseline reads them)."""
    hour_counts = Counter(
        {
            key(ALL, N): 30,
            key(ALL, NEG): 3,
            key(f"channel:{channel}", N): 30,
            key(f"channel:{channel}", NEG): 3,
            key(f"segment:{segment_slug}", N): 30,
            key(f"segment:{segment_slug}", NEG): 3,
        }
    )
    now_hour = now_minute // 60
    store.add({hour * 60: hour_counts for hour in range(now_hour - 21 * 24, now_hour - 3)})


def test_a_burst_of_negative_posts_opens_an_incident_the_lead_runs_it_to_the_all_clear(
    live_server, page, radar_redis_store
) -> None:
    errors = javascript_errors(page)
    care = segment("customer-relations")
    crisis = segment("crisis-management")
    help_desk = ChannelFactory(slug="northwind-help", handle="@northwind_help", segment=care)
    lead = MembershipFactory(
        team=care.team, role=Membership.Role.LEAD, user__first_name="Lena", user__last_name="Lead"
    ).user
    MembershipFactory(team=crisis.team, role=Membership.Role.LEAD, user=lead)  # on the crisis team too
    CannedResponse.objects.create(segment=crisis, title="We are looking into it", body=HOLDING)
    store = radar_redis_store
    ordinary_weeks(
        store,
        now_minute=int(timezone.now().timestamp()) // 60,
        channel=help_desk.slug,
        segment_slug=care.slug,
    )
    consumer_start(consumer=CONSUMER)
    sign_in(page.context, live_server.url, lead)
    open_inbox(page, f"{live_server.url}/inbox/")

    burst = arrive(
        help_desk,
        *(
            post(BURST[i % len(BURST)] + f" #{i}", handle=f"hiker{i}", name=f"Hiker {i}", followers=50 * i)
            for i in range(30)
        ),
    )
    assert Mention.objects.filter(pk__in=[m.pk for m in burst], sentiment_label="negative").count() >= 20
    events_consume(consumer=CONSUMER, handle=lambda batch: crisis_events_handle(batch, store=store))
    alerts = radar_tick(now=timezone.now() + timedelta(minutes=1), store=store)
    assert alerts, "the burst raises the radar"
    incident = Incident.objects.get()
    assert incident.channel_id == help_desk.pk and incident.crisis_mode == Incident.CrisisMode.SUGGESTED

    banner = page.locator("#live-notices .crisis-banner")
    expect(banner).to_contain_text("Crisis radar: ")
    banner.get_by_role("link", name="Open the incident").click()
    expect(page.get_by_role("heading", name=f"Incident {incident.pk} on @northwind_help")).to_be_visible()
    expect(page.get_by_text("The radar suggests crisis mode for this incident.")).to_be_visible()
    expect(page.get_by_role("img", name="Posts per 5 minutes")).to_be_visible()
    expect(page.locator(".incident-terms")).to_contain_text("headlamp melted")

    page.get_by_role("button", name="Switch crisis mode on").click()
    expect(page.locator(".flash")).to_contain_text("Crisis mode is on")
    expect(page.locator("#crisis-mode")).to_contain_text("switched on by Lena Lead")
    assert RoutingSettings.current().crisis_mode

    # Crisis mode sends the next matching post to the crisis team, urgent.
    [later] = arrive(help_desk, post("The headlamp melted on my bike too. Dangerous!", handle="cyclist"))
    later.refresh_from_db()
    assert (later.team_id, later.priority) == (crisis.team_id, Mention.Priority.URGENT)
    assert f"incident-{incident.pk}" in later.labels  # by the incident's rule

    page.reload()
    page.get_by_label("Canned response").select_option(label="We are looking into it")
    page.get_by_role("button", name="Reply to selected").click()
    expect(page.locator(".flash")).to_contain_text("Replied “We are looking into it” to ")
    replies = Reply.objects.filter(mention__in=Mention.objects.filter(pk__in=[m.pk for m in burst]))
    assert replies.count() >= 20
    first = replies.select_related("mention__author").first()
    assert first.text == HOLDING.replace("{author}", f"@{first.mention.author.handle}")
    expect(page.locator(".incident-audit")).to_contain_text("Lena Lead switched crisis mode on")
    if os.environ.get("SAVE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(
            path=str(SCREENSHOTS / "incident.png"),
            full_page=True,
            clip={"x": 0, "y": 0, "width": 1280, "height": 1700},
        )

    page.get_by_label("All-clear summary").fill(
        "Batch 42 of the Trail headlamp recalled; holding replies sent."
    )
    page.get_by_role("button", name="All clear: close the incident and switch crisis mode off").click()
    expect(page.locator(".flash")).to_contain_text(
        f"All clear: incident {incident.pk} is closed. Crisis mode is off."
    )
    expect(page.locator("#all-clear")).to_contain_text("Batch 42 of the Trail headlamp recalled")
    incident.refresh_from_db()
    assert incident.status == Incident.Status.CLOSED and incident.closed_by == lead
    assert not RoutingSettings.current().crisis_mode
    assert errors == []
