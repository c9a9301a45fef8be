"""One contract for every registered connector: what fetch returns, what a second fetch from the returned
cursor returns, what endpoints and replies look like. Each network gets a small fake API at the HTTP layer
(our own responses in the recorded shapes): ``responses`` for the SDKs on requests (X, Mastodon), ``respx``
for those on httpx (Bluesky's atproto). The per-network files test the details and the recordings."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import responses
import respx

from channels.connectors.base import ChannelRef, Connector, Page, Post, SentReply
from channels.connectors.registry import connector_for, registered_networks
from inbox.models import Mention
from tests.channels.connectors import bluesky_api as bsky

X_ACCOUNT = "1500000000000000001"
X_API = "https://api.twitter.com/2"
MASTODON = "https://social.example"
EXTERNAL_ID_WIDTH = Mention._meta.get_field("external_id").max_length


@dataclass(frozen=True)
class Scenario:
    """A channel on a network, a fake API serving two pulls, and a post to reply to."""

    channel: ChannelRef
    serve: Callable[[responses.RequestsMock], None]
    reply_to: Callable[[Page], str]
    serve_httpx: Callable[[respx.MockRouter], None] = lambda api: None


def _x_serve(api: responses.RequestsMock) -> None:
    first = {
        "data": [
            {
                "id": "1600000000000000002",
                "text": "@northwind_x my order never arrived &amp; support won't answer",
                "author_id": "99",
                "created_at": "2026-11-23T10:00:02.000Z",
                "conversation_id": "1600000000000000002",
            },
            {
                "id": "1600000000000000001",
                "text": "@northwind_x love the new tent",
                "author_id": "98",
                "created_at": "2026-11-23T10:00:01.000Z",
                "conversation_id": "1600000000000000001",
            },
        ],
        "includes": {
            "users": [
                {
                    "id": "99",
                    "username": "ann",
                    "name": "Ann",
                    "verified": False,
                    "public_metrics": {"followers_count": 12},
                },
                {
                    "id": "98",
                    "username": "bo",
                    "name": "Bo",
                    "verified": True,
                    "public_metrics": {"followers_count": 40000},
                },
            ]
        },
        "meta": {"result_count": 2, "newest_id": "1600000000000000002", "oldest_id": "1600000000000000001"},
    }
    headers = {
        "x-rate-limit-limit": "450",
        "x-rate-limit-remaining": "449",
        "x-rate-limit-reset": "1790000000",
    }
    mentions = re.compile(rf"{re.escape(X_API)}/users/{X_ACCOUNT}/mentions.*")
    api.add(responses.GET, mentions, json=first, headers=headers)
    api.add(responses.GET, mentions, json={"meta": {"result_count": 0}}, headers=headers)
    api.add(
        responses.POST,
        f"{X_API}/tweets",
        json={"data": {"id": "1600000000000000099", "text": "Sorry!"}},
        status=201,
    )


def _mastodon_status(status_id: str, text: str, account_id: str, acct: str) -> dict[str, Any]:
    return {
        "id": status_id,
        "created_at": "2026-11-23T10:00:00.000Z",
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "visibility": "public",
        "uri": f"{MASTODON}/users/{acct}/statuses/{status_id}",
        "url": f"{MASTODON}/@{acct}/{status_id}",
        "content": f"<p>{text}</p>",
        "spoiler_text": "",
        "mentions": [
            {"id": "1", "username": "northwind", "acct": "northwind", "url": f"{MASTODON}/@northwind"}
        ],
        "account": {
            "id": account_id,
            "username": acct,
            "acct": acct,
            "display_name": acct.title(),
            "followers_count": 7,
            "bot": False,
            "fields": [],
            "url": f"{MASTODON}/@{acct}",
        },
    }


def _mastodon_serve(api: responses.RequestsMock) -> None:
    notifications = [
        {
            "id": "502",
            "type": "mention",
            "created_at": "2026-11-23T10:00:02.000Z",
            "account": _mastodon_status("112", "", "21", "ann")["account"],
            "status": _mastodon_status("112", "@northwind where is my order?", "21", "ann"),
        },
        {
            "id": "501",
            "type": "mention",
            "created_at": "2026-11-23T10:00:01.000Z",
            "account": _mastodon_status("111", "", "22", "bo")["account"],
            "status": _mastodon_status("111", "@northwind great tent &lt;3", "22", "bo"),
        },
    ]
    headers = {
        "X-RateLimit-Limit": "300",
        "X-RateLimit-Remaining": "299",
        "X-RateLimit-Reset": "2026-11-23T10:05:00.000Z",
    }
    url = re.compile(rf"{re.escape(MASTODON)}/api/v1/notifications.*")
    api.add(responses.GET, url, json=notifications, headers=headers)
    api.add(responses.GET, url, json=[], headers=headers)
    api.add(
        responses.GET,
        re.compile(rf"{re.escape(MASTODON)}/api/v1/statuses/11[12]"),
        json=_mastodon_status("111", "@northwind great tent", "22", "bo"),
    )
    api.add(
        responses.POST,
        f"{MASTODON}/api/v1/statuses",
        json=_mastodon_status("199", "@ann sorry to hear that", "1", "northwind"),
    )


def _bluesky_serve(api: respx.MockRouter) -> None:
    api.post("/com.atproto.server.createSession").mock(
        return_value=httpx.Response(200, json=bsky.session_body())
    )
    mentions = [
        bsky.notification(
            rkey="3kcontract2",
            reason="mention",
            text="@northwind.bsky.social my order never arrived & support won't answer",
            indexed_at="2026-11-23T10:00:02.000Z",
            author=bsky.ANN,
        ),
        bsky.notification(
            rkey="3kcontract1",
            reason="mention",
            text="@northwind.bsky.social love the new tent",
            indexed_at="2026-11-23T10:00:01.000Z",
            author=bsky.BO,
        ),
    ]
    api.get("/app.bsky.notification.listNotifications").mock(
        side_effect=[
            httpx.Response(
                200, json={"notifications": mentions, "cursor": "c2"}, headers=bsky.rate_headers()
            ),
            httpx.Response(
                200, json={"notifications": mentions, "cursor": "c2"}, headers=bsky.rate_headers()
            ),
        ]
    )
    parent = {
        "uri": mentions[0]["uri"],
        "cid": mentions[0]["cid"],
        "author": bsky.ANN,
        "record": mentions[0]["record"],
        "indexedAt": mentions[0]["indexedAt"],
    }
    api.get("/app.bsky.feed.getPosts").mock(return_value=httpx.Response(200, json={"posts": [parent]}))
    api.post("/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(
            200, json={"uri": bsky.post_uri(bsky.BRAND_DID, "3kcontractreply"), "cid": "bafyreicontract"}
        )
    )


def _channel(network: str, account: str, credentials: dict[str, Any]) -> ChannelRef:
    return ChannelRef(
        slug=f"contract-{network}",
        network=network,
        handle="@northwind",
        external_account_id=account,
        segment_slug="customer-relations",
        credentials=credentials,
    )


SCENARIOS: dict[str, Scenario] = {
    "simulated": Scenario(
        channel=_channel("simulated", "sim-contract", {"posts_per_pull": 5}),
        serve=lambda api: None,
        reply_to=lambda page: page.posts[0].external_id,
    ),
    "x": Scenario(
        channel=_channel(
            "x",
            X_ACCOUNT,
            {
                "access_token": "user-token",
                "refresh_token": "r",
                "expires_at": 4_000_000_000,
                "scope": "tweet.read tweet.write users.read offline.access",
            },
        ),
        serve=_x_serve,
        reply_to=lambda page: page.posts[0].external_id,
    ),
    "mastodon": Scenario(
        channel=_channel(
            "mastodon", "social.example:1", {"instance_url": MASTODON, "access_token": "masto-token"}
        ),
        serve=_mastodon_serve,
        reply_to=lambda page: page.posts[0].external_id,
    ),
    "bluesky": Scenario(
        channel=_channel(
            "bluesky",
            bsky.BRAND_DID,
            {
                "identifier": bsky.BRAND_HANDLE,
                "app_password": "bsky-app-password",
                "service": bsky.SERVICE,
                "dms": False,
            },
        ),
        serve=lambda api: None,
        serve_httpx=_bluesky_serve,
        reply_to=lambda page: page.posts[-1].external_id,
    ),
}


def test_every_registered_network_has_a_contract_scenario() -> None:
    assert sorted(SCENARIOS) == registered_networks()


@pytest.fixture(params=sorted(SCENARIOS))
def network(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def api(network: str) -> Iterator[responses.RequestsMock]:
    with (
        responses.RequestsMock(assert_all_requests_are_fired=False) as mock,
        respx.mock(base_url=bsky.XRPC, assert_all_called=False) as httpx_mock,
    ):
        SCENARIOS[network].serve(mock)
        SCENARIOS[network].serve_httpx(httpx_mock)
        yield mock


@pytest.fixture
def first_page(network: str, api: responses.RequestsMock) -> Page:
    return connector_for(network).fetch(SCENARIOS[network].channel, {})


def test_the_connector_implements_the_interface(network: str) -> None:
    connector = connector_for(network)

    assert isinstance(connector, Connector)
    assert connector.network == network


def test_fetch_returns_posts_ready_for_the_ingest(network: str, first_page: Page) -> None:
    posts = first_page.posts

    assert len(posts) >= 2
    assert all(isinstance(post, Post) for post in posts)
    assert {post.network for post in posts} == {network}
    assert {post.kind for post in posts} <= set(Mention.Kind.values)
    assert all(post.created_at.tzinfo is not None for post in posts)
    assert all(post.created_at <= datetime.now(UTC) for post in posts)
    assert all(0 < len(post.external_id) <= EXTERNAL_ID_WIDTH for post in posts)
    assert all(post.author.external_id and post.author.handle for post in posts)
    assert len({post.external_id for post in posts}) == len(posts)
    assert "&amp;" not in " ".join(post.text for post in posts)  # plain text; the inbox escapes on output
    json.dumps([dict(post.raw) for post in posts])  # payloads can be stored as JSON
    json.dumps(dict(first_page.cursor))  # the cursor can be stored as JSON


def test_a_fetch_from_the_returned_cursor_does_not_repeat_posts(network: str, first_page: Page) -> None:
    second = connector_for(network).fetch(SCENARIOS[network].channel, first_page.cursor)

    assert {p.external_id for p in second.posts}.isdisjoint({p.external_id for p in first_page.posts})


SECRETS = ("user-token", "masto-token", "bsky-app-password")


def names_no_secret(token_key: str) -> bool:
    return (token_key == "app" or token_key.startswith("user:")) and not any(s in token_key for s in SECRETS)


def test_endpoints_name_endpoint_and_token_pairs_without_the_token(network: str) -> None:
    endpoints = connector_for(network).endpoints(SCENARIOS[network].channel)

    assert all(isinstance(endpoint, str) and endpoint for endpoint, _ in endpoints)
    assert all(names_no_secret(token_key) for _, token_key in endpoints)


def test_rate_limits_reported_are_for_endpoints_the_connector_declares(
    network: str, first_page: Page
) -> None:
    declared = set(connector_for(network).endpoints(SCENARIOS[network].channel))

    assert {(info.endpoint, info.token_key) for info in first_page.rate_limits} <= declared


def test_a_reply_is_accepted_with_the_network_s_id(network: str, first_page: Page) -> None:
    scenario = SCENARIOS[network]

    sent = connector_for(network).reply(
        scenario.channel, in_reply_to=scenario.reply_to(first_page), text="Sorry!"
    )

    assert isinstance(sent, SentReply)
    assert sent.external_id
