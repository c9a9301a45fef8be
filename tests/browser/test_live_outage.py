"""A browser stays live across a Redis restart: the stream says live updates paused, the page keeps
reconnecting (backing off), and once Redis is back a new mention shows without a reload."""

from __future__ import annotations

import re
import threading

import pytest
from playwright.sync_api import expect

from foundation import live
from tests.browser.inbox_page import arrive, events_channel_of_its_own, open_inbox, post, sign_in
from tests.factories import ChannelFactory, MembershipFactory, segment
from tests.redis_server import RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("six_segments")]


@pytest.fixture
def live_redis(settings, monkeypatch):
    """Live events on a Redis server of the test's own (the cache and the broker stay where they are)."""
    events_channel_of_its_own(monkeypatch)
    server = RedisServer().start()
    settings.REDIS_URL = f"redis://127.0.0.1:{server.port}/0"
    monkeypatch.setattr(live, "_local", threading.local())  # no client of another Redis kept by a thread
    yield server
    server.stop()


def test_the_inbox_stays_live_across_a_redis_restart(live_server, page, live_redis) -> None:
    care = segment("customer-relations")
    agent = MembershipFactory(team=care.team).user
    help_desk = ChannelFactory(handle="@northwind_help", segment=care)
    sign_in(page.context, live_server.url, agent)
    open_inbox(page, f"{live_server.url}/inbox/")
    inbox = page.locator("[data-events-url]")
    offline = re.compile(r"\bis-offline\b")
    expect(inbox).not_to_have_class(offline)

    live_redis.stop()
    expect(inbox).to_have_class(offline, timeout=20_000)
    live_redis.start()
    expect(inbox).not_to_have_class(offline, timeout=40_000)  # reconnected by itself
    (arrived,) = arrive(help_desk, post("My Tundra 2 tent pole snapped. How do I get a replacement?"))

    expect(page.locator(f'li.mention[data-id="{arrived.pk}"]')).to_have_count(1, timeout=10_000)
