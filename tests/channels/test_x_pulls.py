"""Pulling an X channel through the real connector against a fake X API (at the HTTP layer, in the shapes X
records): one stream's failure never holds back another and is shown on the channel page, a spent search
budget leaves mentions and DMs alone, a usage cap pauses with one audit event, and whatever a pull raises
ends in a recorded result."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import responses
from django.db import connections
from django.test import Client
from django.utils import timezone

from channels.connectors.x import DM_EVENTS_ENDPOINT, MENTIONS_ENDPOINT, SEARCH_ENDPOINT, XConnector
from channels.models import Channel, RateBudget, Segment
from channels.services import channel_credentials_store_refreshed, channel_ref
from foundation.models import DomainEvent
from inbox.models import Mention
from inbox.pulls import channel_pull
from tests.factories import ChannelFactory, TeamFactory, UserFactory, segment

pytestmark = pytest.mark.django_db

ACCOUNT_ID = "1500000000000000001"
API = "https://api.twitter.com/2"
MENTIONS_URL = f"{API}/users/{ACCOUNT_ID}/mentions"
SEARCH_URL = f"{API}/tweets/search/recent"
DM_EVENTS_URL = f"{API}/dm_events"
ALICE = {"id": "2001", "username": "alice_hikes", "name": "Alice", "verified": False}
BOB = {"id": "2002", "username": "bob", "name": "Bob", "verified": False}
USAGE_CAPPED = {
    "title": "UsageCapExceeded",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": "https://api.x.com/2/problems/usage-capped",
    "period": "Monthly",
    "scope": "Product",
    "status": 429,
}


def minutes_ago(minutes: int) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat(timespec="milliseconds")


def tweet(tweet_id: str, text: str, author: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": tweet_id,
        "text": text,
        "author_id": author["id"],
        "created_at": minutes_ago(5),
        "conversation_id": tweet_id,
        "lang": "en",
        "edit_history_tweet_ids": [tweet_id],
    }


def dm_event(event_id: str, text: str, sender: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": event_id,
        "event_type": "MessageCreate",
        "text": text,
        "sender_id": sender["id"],
        "created_at": minutes_ago(4),
        "dm_conversation_id": f"{sender['id']}-{ACCOUNT_ID}",
    }


def page(items: list[dict[str, Any]], users: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "data": items,
        "includes": {"users": users},
        "meta": {"result_count": len(items), "newest_id": items[0]["id"], "oldest_id": items[-1]["id"]},
    }


@pytest.fixture
def x_api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        yield api


@pytest.fixture(autouse=True)
def x_app(settings: Any) -> None:
    settings.X_CLIENT_ID = "client-id"
    settings.X_CLIENT_SECRET = ""
    settings.X_BEARER_TOKEN = "app-token"


@pytest.fixture
def x_channel() -> Channel:
    return ChannelFactory(
        slug="northwind",
        network="x",
        handle="@northwind",
        external_account_id=ACCOUNT_ID,
        segment=segment("customer-relations"),
        credentials={
            "access_token": "user-token",
            "refresh_token": "refresh-1",
            "expires_at": int(time.time()) + 3600,
            "scope": "tweet.read tweet.write users.read dm.read dm.write offline.access",
        },
        listening_queries=["northwind"],
        cursor={"mentions": {"since_id": "1300"}, "dms": {}, "searches": {"northwind": {"since_id": "7000"}}},
    )


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(UserFactory(username="alex", admin=True))
    return client


def test_an_app_search_budget_at_zero_holds_back_neither_mentions_nor_dms(
    x_api: responses.RequestsMock, x_channel: Channel
) -> None:
    reset = timezone.now() + timedelta(minutes=7)
    RateBudget.objects.create(
        network="x", endpoint=SEARCH_ENDPOINT, token_key="app", limit=450, remaining=0, reset_at=reset
    )
    x_api.get(MENTIONS_URL, json=page([tweet("1400", "@northwind where is my order?", ALICE)], [ALICE]))
    x_api.get(DM_EVENTS_URL, json=page([dm_event("5100", "hello, a question", BOB)], [BOB]))

    result = channel_pull(channel_id=x_channel.pk, connector=XConnector())

    assert result.outcome == "ok"
    assert result.inserted == 2
    assert [call.request.url.split("?")[0] for call in x_api.calls] == [MENTIONS_URL, DM_EVENTS_URL]
    assert set(Mention.objects.values_list("external_id", flat=True)) == {"1400", "5100"}
    assert result.streams["search:northwind"]["outcome"] == "budget_spent"
    x_channel.refresh_from_db()
    assert x_channel.cursor["mentions"] == {"since_id": "1400"}
    assert x_channel.cursor["searches"] == {"northwind": {"since_id": "7000"}}


def test_a_pull_is_skipped_only_when_every_endpoint_it_needs_is_spent(
    x_api: responses.RequestsMock, x_channel: Channel
) -> None:
    reset = timezone.now() + timedelta(minutes=7)
    for endpoint, token_key in (
        (MENTIONS_ENDPOINT, f"user:{ACCOUNT_ID}"),
        (DM_EVENTS_ENDPOINT, f"user:{ACCOUNT_ID}"),
        (SEARCH_ENDPOINT, "app"),
    ):
        RateBudget.objects.create(
            network="x", endpoint=endpoint, token_key=token_key, limit=450, remaining=0, reset_at=reset
        )

    result = channel_pull(channel_id=x_channel.pk, connector=XConnector())

    assert result.outcome == "budget_spent"
    assert len(x_api.calls) == 0


def test_a_refused_stream_is_shown_on_the_channel_page_and_mentions_keep_arriving(
    x_api: responses.RequestsMock, x_channel: Channel, admin_client: Client
) -> None:
    x_api.get(MENTIONS_URL, json=page([tweet("1400", "@northwind hi", ALICE)], [ALICE]))
    x_api.get(
        DM_EVENTS_URL,
        status=403,
        json={
            "title": "Forbidden",
            "detail": "<b>DMs</b> are not allowed for this client.",
            "type": "https://api.twitter.com/2/problems/client-forbidden",
            "status": 403,
        },
    )
    x_api.get(SEARCH_URL, json={"meta": {"result_count": 0}})

    result = channel_pull(channel_id=x_channel.pk, connector=XConnector())

    assert (result.outcome, result.inserted) == ("ok", 1)
    assert result.streams["dms"]["outcome"] == "failed"
    html = admin_client.get(f"/channels/{x_channel.slug}/").content.decode()
    assert "Not read" in html
    assert "<strong>Direct messages</strong>:" in html
    assert "&lt;b&gt;DMs&lt;/b&gt; are not allowed for this client." in html  # the network's text, escaped
    assert "<b>DMs</b>" not in html
    assert "not read: Direct messages" in admin_client.get("/channels/").content.decode()


def test_a_usage_cap_pauses_the_channel_with_one_audit_event_and_is_shown(
    x_api: responses.RequestsMock, x_channel: Channel, admin_client: Client
) -> None:
    x_channel.listening_queries = []
    x_channel.credentials = {**x_channel.credentials, "scope": "tweet.read users.read offline.access"}
    x_channel.save()
    x_api.get(MENTIONS_URL, status=429, json=USAGE_CAPPED)

    first = channel_pull(channel_id=x_channel.pk, connector=XConnector())
    Channel.objects.filter(pk=x_channel.pk).update(next_pull_at=None)
    second = channel_pull(channel_id=x_channel.pk, connector=XConnector())

    assert (first.outcome, second.outcome) == ("usage_capped", "usage_capped")
    assert first.retry_after == 24 * 3600
    events = DomainEvent.objects.filter(verb="channel.usage_capped", object_id=str(x_channel.pk))
    assert events.count() == 1
    assert "usage cap reached (Monthly)" in events.get().after["reason"]
    x_channel.refresh_from_db()
    assert x_channel.state == Channel.State.ACTIVE  # paused by its schedule, not by a person
    assert x_channel.next_pull_at > timezone.now() + timedelta(hours=23)
    html = admin_client.get(f"/channels/{x_channel.slug}/").content.decode()
    assert "usage_capped" in html and "paused until the cap resets" in html


def test_a_usage_cap_on_one_stream_is_audited_once_and_the_others_are_read(
    x_api: responses.RequestsMock, x_channel: Channel
) -> None:
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})
    x_api.get(DM_EVENTS_URL, json={"meta": {"result_count": 0}})
    x_api.get(SEARCH_URL, status=429, json=USAGE_CAPPED)

    result = channel_pull(channel_id=x_channel.pk, connector=XConnector())
    channel_pull(channel_id=x_channel.pk, connector=XConnector())

    assert result.outcome == "ok"
    assert result.streams["search:northwind"]["outcome"] == "usage_capped"
    assert [call.request.url.split("?")[0] for call in x_api.calls].count(SEARCH_URL) == 1
    event = DomainEvent.objects.get(verb="channel.usage_capped", object_id=str(x_channel.pk))
    assert event.after["streams"] == ["Search “northwind”"]


def test_a_reset_header_that_is_not_a_whole_number_ends_in_a_recorded_rate_limit(
    x_api: responses.RequestsMock, x_channel: Channel
) -> None:
    x_channel.listening_queries = []
    x_channel.credentials = {**x_channel.credentials, "scope": "tweet.read users.read offline.access"}
    x_channel.save()
    reset = f"{time.time() + 300:.3f}"
    x_api.get(
        MENTIONS_URL,
        status=429,
        json={
            "title": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
            "detail": "Too Many Requests",
        },
        headers={"x-rate-limit-limit": "450", "x-rate-limit-remaining": "0", "x-rate-limit-reset": reset},
    )

    result = channel_pull(channel_id=x_channel.pk, connector=XConnector())

    assert result.outcome == "rate_limited"
    assert 290 < result.retry_after <= 301
    x_channel.refresh_from_db()
    assert x_channel.last_pull_result["outcome"] == "rate_limited"


class ExplodingConnector:
    """A connector with a bug: ``where`` raises something outside the connector error family."""

    network = "x"

    def __init__(self, where: str) -> None:
        self.where = where

    def endpoints(self, channel: Any) -> tuple[tuple[str, str], ...]:
        if self.where == "endpoints":
            raise KeyError("scope")
        return ()

    def fetch(self, channel: Any, cursor: Any) -> Any:
        raise ValueError("invalid literal for int() with base 10: '1780000137.5'")


@pytest.mark.parametrize(
    ("where", "error"),
    [
        ("fetch", "ValueError: invalid literal for int() with base 10: '1780000137.5'"),
        ("endpoints", "KeyError: 'scope'"),
    ],
)
def test_any_exception_a_pull_raises_is_recorded_on_the_channel_then_raised(
    x_channel: Channel, where: str, error: str
) -> None:
    with pytest.raises((ValueError, KeyError)):
        channel_pull(channel_id=x_channel.pk, connector=ExplodingConnector(where))

    x_channel.refresh_from_db()
    assert x_channel.last_pull_result["outcome"] == "crashed"
    assert x_channel.last_pull_result["error"] == error
    assert x_channel.last_pull_at is not None
    assert x_channel.state == Channel.State.ACTIVE


# --- Context kept: quotes, links, withheld posts, edits, partial errors ---------------------------------

QUOTED = {
    "id": "990",
    "text": "Our <new> boots are out",
    "author_id": "2002",
    "created_at": minutes_ago(60),
    "edit_history_tweet_ids": ["990"],
}


def test_quotes_links_withheld_posts_and_partial_errors_reach_the_pages(
    x_api: responses.RequestsMock, x_channel: Channel, admin_client: Client
) -> None:
    quote = {
        **tweet("1400", "@northwind are these waterproof? https://t.co/q1", ALICE),
        "referenced_tweets": [{"type": "quoted", "id": "990"}],
        "entities": {"urls": [{"url": "https://t.co/q1", "expanded_url": "https://northwind.example/faq"}]},
        "withheld": {"copyright": False, "country_codes": ["DE"]},
    }
    body = page([quote], [ALICE, BOB])
    body["includes"]["tweets"] = [QUOTED]
    body["errors"] = [
        {
            "detail": "User has been suspended: [2999].",
            "title": "Forbidden",
            "resource_type": "user",
            "type": "https://api.twitter.com/2/problems/resource-not-found",
        }
    ]
    x_api.get(MENTIONS_URL, json=body)
    x_api.get(DM_EVENTS_URL, json={"meta": {"result_count": 0}})
    x_api.get(SEARCH_URL, json={"meta": {"result_count": 0}})

    result = channel_pull(channel_id=x_channel.pk, connector=XConnector())

    assert result.partial_errors == ("User has been suspended: [2999].",)
    mention = Mention.objects.get(external_id="1400")
    assert mention.text == "@northwind are these waterproof? https://northwind.example/faq"
    assert mention.withheld == {"country_codes": ["DE"], "copyright": False}
    detail = admin_client.get(f"/inbox/mentions/{mention.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "Our &lt;new&gt; boots are out" in detail  # the quoted post, escaped
    assert "@bob" in detail
    assert "sent as https://t.co/q1" in detail
    assert "Withheld in DE" in detail
    settings_page = admin_client.get(f"/channels/{x_channel.slug}/").content.decode()
    assert "Left out by the network" in settings_page
    assert "User has been suspended: [2999]." in settings_page


def test_an_edit_updates_the_stored_mention_and_keeps_its_history(
    x_api: responses.RequestsMock, x_channel: Channel, admin_client: Client
) -> None:
    x_channel.listening_queries = []
    x_channel.credentials = {**x_channel.credentials, "scope": "tweet.read users.read offline.access"}
    x_channel.save()
    x_api.get(MENTIONS_URL, json=page([tweet("1400", "@northwind my order is lat", ALICE)], [ALICE]))
    edited = {
        **tweet("1450", "@northwind my order is late", ALICE),
        "edit_history_tweet_ids": ["1400", "1450"],
    }
    x_api.get(MENTIONS_URL, json=page([edited], [ALICE]))

    channel_pull(channel_id=x_channel.pk, connector=XConnector())
    second = channel_pull(channel_id=x_channel.pk, connector=XConnector())

    assert second.inserted == 0
    mention = Mention.objects.get()  # one mention, not a new unlinked one
    assert (mention.external_id, mention.text) == ("1450", "@northwind my order is late")
    assert mention.edit_history == [{"external_id": "1400", "text": "@northwind my order is lat"}]
    detail = admin_client.get(f"/inbox/mentions/{mention.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert "Edited 1 time" in detail
    assert "@northwind my order is lat<" in detail


# --- Token refreshes: one at a time per channel ---------------------------------------------------------

TOKEN_URL = f"{API}/oauth2/token"


def due_credentials() -> dict[str, Any]:
    return {
        "access_token": "old-access",
        "refresh_token": "refresh-1",
        "expires_at": int(time.time()) + 60,  # within the five-minute margin: due
        "scope": "tweet.read tweet.write users.read offline.access",
    }


def token_endpoint(x_api: responses.RequestsMock, calls: list[str], *, delay: float = 0.0) -> None:
    """X's token endpoint: a refresh token works once (X rotates them); a spent one is invalid_grant."""
    spent: set[str] = set()

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        refresh_token = dict(pair.split("=", 1) for pair in request.body.split("&"))["refresh_token"]
        calls.append(refresh_token)
        time.sleep(delay)
        if refresh_token in spent:
            body = (
                '{"error": "invalid_request", "error_description": "Value passed for the token was invalid."}'
            )
            return 400, {}, body
        spent.add(refresh_token)
        number = len(spent) + 1
        token = {
            "token_type": "bearer",
            "expires_in": 7200,
            "access_token": f"access-{number}",
            "refresh_token": f"refresh-{number}",
            "scope": "tweet.read tweet.write users.read offline.access",
        }
        return 200, {}, json.dumps(token)

    x_api.add_callback(responses.POST, TOKEN_URL, callback=answer, content_type="application/json")


def test_a_reply_that_lost_the_refresh_race_uses_the_token_the_pull_stored(
    x_api: responses.RequestsMock, x_channel: Channel
) -> None:
    x_channel.credentials = due_credentials()
    x_channel.listening_queries = []
    x_channel.save()
    calls: list[str] = []
    token_endpoint(x_api, calls)
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})
    x_api.post(f"{API}/tweets", status=201, json={"data": {"id": "1901", "text": "Thanks!"}})
    reply_ref = channel_ref(Channel.objects.get(pk=x_channel.pk))  # read before the pull refreshed

    channel_pull(channel_id=x_channel.pk, connector=XConnector())
    sent = XConnector().reply(reply_ref, in_reply_to="1400", text="Thanks!")

    assert sent.external_id == "1901"
    assert calls == ["refresh-1"]  # one refresh; the reply did not spend refresh-1 again
    assert x_api.calls[-1].request.headers["Authorization"] == "Bearer access-2"
    x_channel.refresh_from_db()
    assert x_channel.state == Channel.State.ACTIVE
    assert (x_channel.credentials["access_token"], x_channel.credentials["refresh_token"]) == (
        "access-2",
        "refresh-2",
    )


@pytest.mark.django_db(transaction=True)
def test_a_pull_and_a_reply_refreshing_at_once_refresh_once_and_neither_needs_reauthorising(
    x_api: responses.RequestsMock,
) -> None:
    # A transactional test may follow another that emptied the tables, the six segments with them.
    race_segment, _ = Segment.objects.get_or_create(
        slug="race-relations",
        defaults={
            "name": "Race relations",
            "follow": "-",
            "create": "-",
            "engage": "-",
            "team": TeamFactory(),
        },
    )
    channel = ChannelFactory(
        slug="northwind-race",
        network="x",
        handle="@northwind",
        external_account_id=ACCOUNT_ID,
        segment=race_segment,
        credentials=due_credentials(),
    )
    calls: list[str] = []
    token_endpoint(x_api, calls, delay=0.3)  # wide enough for both to find the token due
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})
    x_api.post(f"{API}/tweets", status=201, json={"data": {"id": "1901", "text": "Thanks!"}})
    outcomes: dict[str, Any] = {}
    start = threading.Barrier(2)

    def pull() -> None:
        start.wait()
        try:
            outcomes["pull"] = channel_pull(channel_id=channel.pk, connector=XConnector()).outcome
        finally:
            connections.close_all()

    def reply() -> None:
        ref = channel_ref(Channel.objects.get(pk=channel.pk))
        start.wait()
        connector = XConnector()
        try:
            outcomes["reply"] = connector.reply(ref, in_reply_to="1400", text="Thanks!").external_id
            channel_credentials_store_refreshed(
                channel=Channel.objects.get(pk=channel.pk), connector=connector, ref=ref
            )
        except Exception as exc:  # the outcome is what the test looks at
            outcomes["reply"] = repr(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=pull), threading.Thread(target=reply)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert outcomes == {"pull": "ok", "reply": "1901"}
    assert calls == ["refresh-1"]
    channel.refresh_from_db()
    assert channel.state == Channel.State.ACTIVE
    assert channel.credentials["refresh_token"] == "refresh-2"
