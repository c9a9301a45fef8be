"""What the inbox's browser tests share: signing in, opening the inbox with its live stream connected,
posts that arrive through the real ingest path, and the page's JavaScript errors."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from uuid import uuid4

from django.conf import settings
from django.test import Client
from playwright.sync_api import BrowserContext, Page

from channels.connectors.base import AuthorData, Post
from channels.models import Channel, Network
from foundation import live
from inbox.models import Mention
from inbox.services import mentions_ingest
from tests.clock import clock_shift_days

VIEWPORT = {"width": 1280, "height": 800}
EVENTS_PATH = "/inbox/events/"
_post_numbers = count(1)


def new_context(browser, viewport: dict[str, int] = VIEWPORT) -> BrowserContext:
    """A browser context (one person's cookies) whose pages keep this process's clock: under `make
    test-future` the server's clock runs a year ahead, so the pages' clock is moved there too."""
    context = browser.new_context(viewport=viewport)
    if clock_shift_days():
        context.clock.install(time=datetime.now(UTC))
    return context


def events_channel_of_its_own(monkeypatch) -> None:
    """Redis pub/sub ignores the database number: other test runs and benchmarks on the same Redis server
    publish on the same channel, with team ids that exist here too, and their events would refresh this
    test's pages. Publisher and stream both read the channel's name when they run, so a name of the test's
    own keeps them out."""
    monkeypatch.setattr(live, "EVENTS_CHANNEL", f"{live.EVENTS_CHANNEL}:test-{uuid4().hex}")


def sign_in(context: BrowserContext, live_server_url: str, user) -> None:
    """Give the browser a session for ``user`` (the login form itself is driven in test_inbox.py)."""
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


def open_inbox(page: Page, url: str) -> None:
    """Load an inbox page and wait until its server-sent-event stream answered, so that events published
    from now on reach it."""
    with page.expect_response(lambda response: EVENTS_PATH in response.url):
        page.goto(url)


def javascript_errors(page: Page) -> list[str]:
    """A list that collects the page's uncaught exceptions and console errors as they happen."""
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"uncaught: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(f"console: {message.text} ({message.location.get('url', '')})")
            if message.type == "error"
            else None
        ),
    )
    return errors


def post(text: str, *, handle: str = "hiker_jo", name: str = "Jo Hiker", followers: int = 120) -> Post:
    """A post as a connector hands it to the ingest service."""
    number = next(_post_numbers)
    return Post(
        network=Network.SIMULATED,
        external_id=f"browser-{number}",
        kind=Mention.Kind.MENTION,
        text=text,
        created_at=datetime.now(UTC),
        author=AuthorData(
            external_id=f"author-{handle}", handle=handle, display_name=name, follower_count=followers
        ),
    )


def arrive(channel: Channel, *posts: Post) -> list[Mention]:
    """Posts received on ``channel`` through the real path: stored, routed, and announced to the browsers
    (``mentions.routed``) after commit. The mentions come back in the order of ``posts``."""
    ids = mentions_ingest(channel=channel, posts=posts).inserted_ids
    stored = {m.external_id: m for m in Mention.objects.filter(pk__in=ids)}
    assert len(stored) == len(posts)
    return [stored[p.external_id] for p in posts]
