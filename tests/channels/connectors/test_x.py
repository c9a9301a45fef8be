"""The X connector against a fake X API v2 at the HTTP layer: tweepy's own code runs, only the network is
faked. The pages here are written by us in the shapes X records (see test_x_contract.py for the recorded
ones), for what the recordings lack: expansions, second pages, since_id, errors and malformed items."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import requests
import responses
import time_machine

from channels.connectors.base import (
    AuthExpired,
    AuthorData,
    ChannelRef,
    Connector,
    ConnectorError,
    ConnectorUnavailable,
    RateLimited,
    RateLimitInfo,
    RejectedItem,
    SentReply,
    UsageCapped,
)
from channels.connectors.registry import capabilities_for, connector_for
from channels.connectors.x import (
    CREATE_DM_ENDPOINT,
    CREATE_TWEET_ENDPOINT,
    DM_EVENTS_ENDPOINT,
    MENTIONS_ENDPOINT,
    REQUEST_TIMEOUT,
    SEARCH_ENDPOINT,
    XConnector,
    x_authorization_finish,
    x_authorization_start,
)

NOW = 1_780_000_000  # 2026-05-28 20:26:40 UTC
ACCOUNT_ID = "1500000000000000001"
API = "https://api.twitter.com/2"
MENTIONS_URL = f"{API}/users/{ACCOUNT_ID}/mentions"
SEARCH_URL = f"{API}/tweets/search/recent"
DM_EVENTS_URL = f"{API}/dm_events"
TOKEN_URL = f"{API}/oauth2/token"
ME_URL = f"{API}/users/me"
REDIRECT_URI = "https://socialops.example/channels/x/callback"

USER_SCOPE = "tweet.read tweet.write users.read offline.access"  # no dm.read: only the mentions stream
FULL_SCOPE = "tweet.read tweet.write users.read dm.read dm.write offline.access"

TWEET_FIELDS = (
    "created_at,conversation_id,in_reply_to_user_id,referenced_tweets,lang,entities,author_id,note_tweet,"
    "withheld"
)
EXPANSIONS = "author_id,referenced_tweets.id,in_reply_to_user_id,referenced_tweets.id.author_id"
USER_FIELDS = "username,name,verified,public_metrics,profile_image_url"

ALICE = {
    "id": "2001",
    "username": "alice_hikes",
    "name": "Alice Moreau",
    "verified": True,
    "public_metrics": {
        "followers_count": 15230,
        "following_count": 310,
        "tweet_count": 8800,
        "listed_count": 40,
    },
}
BOB = {
    "id": "2002",
    "username": "bob",
    "name": "Bob",
    "verified": False,
    "public_metrics": {"followers_count": 12, "following_count": 80, "tweet_count": 95, "listed_count": 0},
}
BRAND = {
    "id": ACCOUNT_ID,
    "username": "northwind",
    "name": "Northwind",
    "verified": True,
    "public_metrics": {
        "followers_count": 90000,
        "following_count": 10,
        "tweet_count": 4000,
        "listed_count": 300,
    },
}


def clock() -> float:
    return float(NOW)


def channel(
    *,
    scope: str = USER_SCOPE,
    listening_queries: tuple[str, ...] = (),
    expires_at: int = NOW + 3600,
    **credentials: Any,
) -> ChannelRef:
    return ChannelRef(
        slug="northwind-support",
        network="x",
        handle="northwind",
        external_account_id=ACCOUNT_ID,
        segment_slug="customer-relations",
        credentials={
            "access_token": "user-token",
            "refresh_token": "refresh-1",
            "expires_at": expires_at,
            "scope": scope,
            **credentials,
        },
        listening_queries=listening_queries,
    )


def tweet(tweet_id: str, text: str, author: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A tweet as X sends it for the fields the connector asks for."""
    return {
        "id": tweet_id,
        "text": text,
        "author_id": author["id"],
        "created_at": "2026-05-28T20:20:00.000Z",
        "conversation_id": tweet_id,
        "lang": "en",
        "edit_history_tweet_ids": [tweet_id],
        **fields,
    }


def dm_event(event_id: str, text: str, sender: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "event_type": "MessageCreate",
        "text": text,
        "sender_id": sender["id"],
        "created_at": "2026-05-28T20:21:00.000Z",
        "dm_conversation_id": f"{sender['id']}-{ACCOUNT_ID}",
        **fields,
    }


def page(
    items: list[Any],
    users: list[dict[str, Any]],
    *,
    next_token: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    ids = [item["id"] for item in items if isinstance(item, dict) and "id" in item]
    meta: dict[str, Any] = {"result_count": len(items)}
    meta.update({"newest_id": ids[0], "oldest_id": ids[-1]} if ids else {})
    meta.update({"next_token": next_token} if next_token else {})
    body: dict[str, Any] = (
        {"data": items, "includes": {"users": users}, "meta": meta} if items else {"meta": meta}
    )
    body.update({"errors": errors} if errors else {})
    return body


def rate_headers(limit: int = 450, remaining: int = 449, reset: int = NOW + 900) -> dict[str, str]:
    return {
        "x-rate-limit-limit": str(limit),
        "x-rate-limit-remaining": str(remaining),
        "x-rate-limit-reset": str(reset),
    }


def sent_params(call: Any) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(call.request.url.split("?", 1)[1]).items()}


def urls_called(api: responses.RequestsMock) -> list[str]:
    return [call.request.url.split("?", 1)[0] for call in api.calls]


@pytest.fixture
def x_api() -> Iterator[responses.RequestsMock]:
    """The fake X API; a request nobody registered fails as a connection error would."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        yield api


@pytest.fixture(autouse=True)
def x_app(settings: Any) -> None:
    settings.X_CLIENT_ID = "client-id"
    settings.X_CLIENT_SECRET = ""
    settings.X_BEARER_TOKEN = ""


@pytest.fixture
def connector() -> XConnector:
    return XConnector(clock=clock)


# --- Registration and the client ------------------------------------------------------------------------


def test_x_is_registered_and_implements_the_connector_protocol() -> None:
    built = connector_for("x")

    assert isinstance(built, XConnector)
    assert isinstance(built, Connector)
    assert built.network == "x"


def test_the_tweepy_client_never_waits_on_rate_limits_and_returns_raw_responses(
    connector: XConnector,
) -> None:
    client = connector.api_client("user-token")

    assert client.wait_on_rate_limit is False
    assert client.return_type is requests.Response
    assert client.bearer_token == "user-token"


def test_every_request_carries_a_timeout(x_api: responses.RequestsMock, connector: XConnector) -> None:
    x_api.get(MENTIONS_URL, json=page([], []), headers=rate_headers())

    connector.fetch(channel(), {})

    assert x_api.calls[0].request.req_kwargs["timeout"] == REQUEST_TIMEOUT


# --- Paging and since_id --------------------------------------------------------------------------------


def test_a_first_pull_reads_the_newest_page_and_starts_since_id_there(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(
        MENTIONS_URL,
        json=page(
            [tweet("1010", "@northwind hello", ALICE), tweet("1005", "@northwind hi", BOB)],
            [ALICE, BOB],
            next_token="older-page",
        ),
        headers=rate_headers(),
    )

    result = connector.fetch(channel(), {})

    assert sent_params(x_api.calls[0]) == {
        "max_results": "100",
        "expansions": EXPANSIONS,
        "tweet.fields": TWEET_FIELDS,
        "user.fields": USER_FIELDS,
    }
    assert x_api.calls[0].request.headers["Authorization"] == "Bearer user-token"
    assert [post.external_id for post in result.posts] == ["1010", "1005"]
    # "From now": the backlog behind the head start is not followed.
    assert result.cursor == {"mentions": {"since_id": "1010"}}
    assert result.has_more is False
    assert len(x_api.calls) == 1


def test_a_first_pull_of_an_account_without_mentions_keeps_the_cursor_empty(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}}, headers=rate_headers())

    result = connector.fetch(channel(), {})

    assert result.posts == ()
    assert result.cursor == {"mentions": {}}
    assert result.has_more is False


def test_a_backlog_is_paged_with_pagination_token_keeping_the_since_id_that_started_it(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(
        MENTIONS_URL,
        json=page([tweet("1300", "@northwind newest", ALICE)], [ALICE], next_token="page-2"),
        headers=rate_headers(remaining=449),
    )
    x_api.get(
        MENTIONS_URL,
        json=page([tweet("1200", "@northwind older", BOB)], [BOB]),
        headers=rate_headers(remaining=448),
    )
    ref = channel()

    first = connector.fetch(ref, {"mentions": {"since_id": "1000"}})
    second = connector.fetch(ref, first.cursor)

    assert sent_params(x_api.calls[0])["since_id"] == "1000"
    assert "pagination_token" not in sent_params(x_api.calls[0])
    assert first.cursor == {
        "mentions": {"since_id": "1000", "newest_id": "1300", "pagination_token": "page-2"}
    }
    assert first.has_more is True
    assert sent_params(x_api.calls[1])["since_id"] == "1000"
    assert sent_params(x_api.calls[1])["pagination_token"] == "page-2"
    # Exhausted: since_id moves to the newest id of the whole run, not of the last page.
    assert second.cursor == {"mentions": {"since_id": "1300"}}
    assert second.has_more is False
    assert [post.external_id for post in (*first.posts, *second.posts)] == ["1300", "1200"]


def test_the_next_run_after_exhaustion_asks_for_posts_after_the_newest_id_only(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(MENTIONS_URL, json=page([tweet("1400", "@northwind again", ALICE)], [ALICE]))

    result = connector.fetch(channel(), {"mentions": {"since_id": "1300"}})

    assert sent_params(x_api.calls[0])["since_id"] == "1300"
    assert "pagination_token" not in sent_params(x_api.calls[0])
    assert result.cursor == {"mentions": {"since_id": "1400"}}


def test_an_empty_run_keeps_since_id(x_api: responses.RequestsMock, connector: XConnector) -> None:
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})

    result = connector.fetch(channel(), {"mentions": {"since_id": "1300"}})

    assert result.cursor == {"mentions": {"since_id": "1300"}}
    assert result.posts == ()


def test_while_one_stream_pages_through_a_backlog_the_others_wait(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(MENTIONS_URL, json=page([tweet("1200", "@northwind older", BOB)], [BOB]))
    cursor = {
        "mentions": {"since_id": "1000", "newest_id": "1300", "pagination_token": "page-2"},
        "dms": {"since_id": "5000"},
        "searches": {"northwind": {"since_id": "7000"}},
    }

    result = connector.fetch(channel(scope=FULL_SCOPE, listening_queries=("northwind",)), cursor)

    assert urls_called(x_api) == [MENTIONS_URL]
    assert result.cursor == {
        "mentions": {"since_id": "1300"},
        "dms": {"since_id": "5000"},
        "searches": {"northwind": {"since_id": "7000"}},
    }
    assert result.has_more is False
    assert [(status.name, status.outcome) for status in result.streams] == [
        ("mentions", "ok"),
        ("dms", "waiting"),
        ("search:northwind", "waiting"),
    ]


def test_a_run_reads_mentions_dms_and_search_once_each(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(MENTIONS_URL, json=page([tweet("1400", "@northwind hi", ALICE)], [ALICE]))
    x_api.get(DM_EVENTS_URL, json=page([dm_event("5100", "hello there", BOB)], [BOB]))
    x_api.get(SEARCH_URL, json=page([tweet("7100", "northwind boots rock", BOB)], [BOB], next_token="s-2"))
    cursor = {
        "mentions": {"since_id": "1300"},
        "dms": {"since_id": "5000"},
        "searches": {"northwind": {"since_id": "7000"}},
    }

    result = connector.fetch(channel(scope=FULL_SCOPE, listening_queries=("northwind",)), cursor)

    assert urls_called(x_api) == [MENTIONS_URL, DM_EVENTS_URL, SEARCH_URL]
    assert [(post.external_id, post.kind) for post in result.posts] == [
        ("1400", "mention"),
        ("5100", "dm"),
        ("7100", "keyword"),
    ]
    assert result.cursor == {
        "mentions": {"since_id": "1400"},
        "dms": {"since_id": "5100"},
        "searches": {"northwind": {"since_id": "7000", "newest_id": "7100", "next_token": "s-2"}},
    }
    assert result.has_more is True


def test_a_stale_page_token_restarts_the_run_from_the_newest_post(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(
        MENTIONS_URL,
        status=400,
        json={"errors": [{"message": "The `pagination_token` query parameter value [p-9] is not valid"}]},
    )
    x_api.get(MENTIONS_URL, json=page([tweet("1300", "@northwind newest", ALICE)], [ALICE]))

    result = connector.fetch(
        channel(), {"mentions": {"since_id": "1000", "newest_id": "1300", "pagination_token": "p-9"}}
    )

    assert sent_params(x_api.calls[0])["pagination_token"] == "p-9"
    assert sent_params(x_api.calls[1]) == {
        "max_results": "100",
        "since_id": "1000",
        "expansions": EXPANSIONS,
        "tweet.fields": TWEET_FIELDS,
        "user.fields": USER_FIELDS,
    }
    assert result.cursor == {"mentions": {"since_id": "1300"}}
    assert len(x_api.calls) == 2


def test_a_bad_request_without_a_page_token_is_a_connector_error(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(
        MENTIONS_URL,
        status=400,
        json={"errors": [{"message": "The `max_results` query parameter value [100] is not valid"}]},
    )

    with pytest.raises(
        ConnectorError, match=r"400 Bad Request \| The `max_results` query parameter"
    ) as raised:
        connector.fetch(channel(), {"mentions": {"since_id": "1"}})

    assert not isinstance(raised.value, AuthExpired | ConnectorUnavailable | RateLimited)
    assert len(x_api.calls) == 1


@pytest.mark.parametrize(
    "cursor",
    [
        {"mentions": "1300"},
        {"mentions": {"since_id": "not-an-id"}},
        {"mentions": {"since_id": 1300}},
    ],
)
def test_a_malformed_cursor_is_a_connector_error(
    x_api: responses.RequestsMock, connector: XConnector, cursor: dict[str, Any]
) -> None:
    with pytest.raises(ConnectorError, match="X cursor for mentions"):
        connector.fetch(channel(), cursor)

    assert len(x_api.calls) == 0


# --- Posts: authors, kinds, text ------------------------------------------------------------------------


def test_authors_are_joined_from_includes_users(x_api: responses.RequestsMock, connector: XConnector) -> None:
    x_api.get(
        MENTIONS_URL,
        json=page(
            [tweet("1010", "@northwind my tent pole snapped", ALICE, created_at="2026-05-28T20:19:58.123Z")],
            [ALICE],
        ),
    )

    post = connector.fetch(channel(), {}).posts[0]

    assert post.author == AuthorData(
        external_id="2001",
        handle="alice_hikes",
        display_name="Alice Moreau",
        follower_count=15230,
        is_verified=True,
    )
    assert post.network == "x"
    assert post.kind == "mention"
    assert post.text == "@northwind my tent pole snapped"
    assert post.created_at == datetime(2026, 5, 28, 20, 19, 58, 123000, tzinfo=UTC)
    assert post.url == "https://x.com/alice_hikes/status/1010"
    assert post.conversation_key == "1010"
    assert post.in_reply_to == ""
    assert post.raw["author"] == ALICE
    assert post.raw["tweet"]["id"] == "1010"


def recorded_profile_images(shared_fixtures: Path) -> dict[str, str]:
    """A recorded X user's profile image addresses, https and http (tweepy's v1.1 search recording: the v2
    recordings did not ask for user.fields=profile_image_url, whose value v2 gives in the https form)."""
    recording = json.loads(
        (shared_fixtures / "twitter_v2/tweepy_cassettes/raw/testsearchtweets.json").read_text()
    )
    body = json.loads(recording["interactions"][0]["response"]["body"]["string"])
    user = body["statuses"][0]["user"]
    return {"https": user["profile_image_url_https"], "http": user["profile_image_url"]}


def test_the_author_s_profile_image_is_kept_only_as_https(
    x_api: responses.RequestsMock, connector: XConnector, shared_fixtures: Path
) -> None:
    images = recorded_profile_images(shared_fixtures)
    alice = {**ALICE, "profile_image_url": images["https"]}
    bob = {**BOB, "profile_image_url": images["http"]}
    x_api.get(
        MENTIONS_URL,
        json=page(
            [
                tweet("1011", "@northwind pictured", alice, created_at="2026-05-28T20:19:58.000Z"),
                tweet("1010", "@northwind over http", bob, created_at="2026-05-28T20:19:57.000Z"),
            ],
            [alice, bob],
        ),
    )

    posts = connector.fetch(channel(), {}).posts

    assert images["https"].startswith("https://pbs.twimg.com/profile_images/")
    assert [post.author.avatar_url for post in posts] == [images["https"], ""]
    assert sent_params(x_api.calls[0])["user.fields"] == USER_FIELDS


def test_replies_quotes_and_plain_mentions_get_their_kinds(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(
        MENTIONS_URL,
        json=page(
            [
                tweet(
                    "1040",
                    "@northwind @bob same here",
                    ALICE,
                    conversation_id="1001",
                    in_reply_to_user_id="2002",
                    referenced_tweets=[{"type": "replied_to", "id": "1030"}],
                ),
                tweet("1035", "@northwind hm", BOB, conversation_id="1001", in_reply_to_user_id=ACCOUNT_ID),
                tweet("1020", "look @northwind", BOB, referenced_tweets=[{"type": "quoted", "id": "999"}]),
                tweet("1010", "@northwind hello", ALICE),
            ],
            [ALICE, BOB],
        ),
    )

    posts = connector.fetch(channel(), {}).posts

    assert [(p.external_id, p.kind, p.in_reply_to, p.conversation_key) for p in posts] == [
        ("1040", "reply", "1030", "1001"),
        ("1035", "reply", "", "1001"),
        ("1020", "mention", "", "1020"),
        ("1010", "mention", "", "1010"),
    ]


def test_retweets_and_own_posts_are_skipped_not_rejected_and_not_lost_to_since_id(
    x_api: responses.RequestsMock, connector: XConnector, caplog: pytest.LogCaptureFixture
) -> None:
    x_api.get(
        MENTIONS_URL,
        json=page(
            [
                tweet(
                    "1090",
                    "RT @bob: @northwind rocks",
                    ALICE,
                    referenced_tweets=[{"type": "retweeted", "id": "1"}],
                ),
                tweet("1080", "@alice_hikes thanks from @northwind", BRAND),
                tweet("1070", "@northwind question", BOB),
            ],
            [ALICE, BOB, BRAND],
        ),
    )

    with caplog.at_level("INFO", logger="channels.connectors.x"):
        result = connector.fetch(channel(), {"mentions": {"since_id": "1000"}})

    assert [post.external_id for post in result.posts] == ["1070"]
    assert result.rejected == ()
    assert result.cursor == {"mentions": {"since_id": "1090"}}
    assert "skipped {'own post': 1, 'retweet': 1}" in caplog.text


@pytest.mark.parametrize(
    ("lang", "language"),
    [
        ("en", "en"),
        ("pt", "pt"),
        ("in", "id"),  # X's Indonesian is the withdrawn ISO code
        *[(code, "") for code in ("und", "qst", "qme", "qht", "qam", "qct", "art", "zxx")],
        (None, ""),
    ],
)
def test_the_post_s_language_is_x_s_lang_with_pseudo_codes_unknown(
    x_api: responses.RequestsMock, connector: XConnector, lang: str | None, language: str
) -> None:
    x_api.get(MENTIONS_URL, json=page([tweet("1010", "@northwind hello", ALICE, lang=lang)], [ALICE]))

    post = connector.fetch(channel(), {}).posts[0]

    assert post.language == language


def test_x_entity_escaping_is_undone(x_api: responses.RequestsMock, connector: XConnector) -> None:
    x_api.get(
        MENTIONS_URL,
        json=page(
            [
                tweet(
                    "1010",
                    "@northwind fish &amp; chips &lt;3 &gt; all; I typed &amp;lt; and &amp;copy",
                    ALICE,
                )
            ],
            [ALICE],
        ),
    )

    post = connector.fetch(channel(), {}).posts[0]

    assert post.text == "@northwind fish & chips <3 > all; I typed &lt; and &copy"


def test_a_long_post_keeps_its_full_note_text(x_api: responses.RequestsMock, connector: XConnector) -> None:
    full = "@northwind " + "the zip on my Summit Shell jacket broke again " * 8
    x_api.get(
        MENTIONS_URL,
        json=page([tweet("1010", full[:270] + "…", ALICE, note_tweet={"text": full})], [ALICE]),
    )

    post = connector.fetch(channel(), {}).posts[0]

    assert post.text == full


def test_partial_errors_keep_the_data(
    x_api: responses.RequestsMock, connector: XConnector, caplog: pytest.LogCaptureFixture
) -> None:
    partial_error = {
        "value": "1030",
        "detail": "Could not find tweet with referenced_tweets.id: [1030].",
        "title": "Not Found Error",
        "resource_type": "tweet",
        "parameter": "referenced_tweets.id",
        "resource_id": "1030",
        "type": "https://api.twitter.com/2/problems/resource-not-found",
    }
    x_api.get(
        MENTIONS_URL,
        json=page(
            [
                tweet(
                    "1040",
                    "@northwind reply",
                    ALICE,
                    referenced_tweets=[{"type": "replied_to", "id": "1030"}],
                ),
                tweet("1010", "@northwind hello", BOB),
            ],
            [ALICE, BOB],
            errors=[partial_error],
        ),
    )

    with caplog.at_level("INFO", logger="channels.connectors.x"):
        result = connector.fetch(channel(), {})

    assert [post.external_id for post in result.posts] == ["1040", "1010"]
    assert result.rejected == ()
    assert "Could not find tweet with referenced_tweets.id: [1030]." in caplog.text
    # Recorded on the page (for the pull result and the channel page), not only logged.
    assert result.partial_errors == ("Could not find tweet with referenced_tweets.id: [1030].",)


QUOTED = {
    "id": "990",
    "text": "Our new boots are out &amp; ready https://t.co/boots1",
    "author_id": BRAND["id"],
    "created_at": "2026-05-27T10:00:00.000Z",
    "lang": "en",
    "edit_history_tweet_ids": ["990"],
    "entities": {
        "urls": [
            {
                "start": 33,
                "end": 56,
                "url": "https://t.co/boots1",
                "expanded_url": "https://northwind.example/boots",
                "display_url": "northwind.example/boots",
            }
        ]
    },
}


def quote_page(spelling: str) -> dict[str, Any]:
    """A page holding a quote, a retweet and a long post, in X's older (tweet) or newer (post) names."""
    referenced, note, included = {
        "tweet": ("referenced_tweets", "note_tweet", "tweets"),
        "post": ("referenced_posts", "note_post", "posts"),
    }[spelling]
    quote = tweet(
        "1050",
        "@northwind are these waterproof? https://t.co/q1",
        ALICE,
        **{referenced: [{"type": "quoted", "id": "990"}]},
        entities={
            "urls": [
                {
                    "start": 33,
                    "end": 48,
                    "url": "https://t.co/q1",
                    "expanded_url": "https://x.com/northwind/status/990",
                    "display_url": "x.com/northwind/st…",
                }
            ]
        },
    )
    retweet = tweet(
        "1040", "RT @northwind: Our new boots", BOB, **{referenced: [{"type": "retweeted", "id": "990"}]}
    )
    long_post = tweet(
        "1030", "@northwind a long story…", BOB, **{note: {"text": "@northwind a long story, in full"}}
    )
    body = page([quote, retweet, long_post], [ALICE, BOB, BRAND])
    body["includes"][included] = [QUOTED]
    return body


@pytest.mark.parametrize("spelling", ["tweet", "post"])
def test_a_page_in_either_spelling_keeps_quotes_skips_retweets_and_reads_long_posts(
    x_api: responses.RequestsMock, connector: XConnector, spelling: str
) -> None:
    x_api.get(MENTIONS_URL, json=quote_page(spelling))

    result = connector.fetch(channel(), {"mentions": {"since_id": "1000"}})

    assert [post.external_id for post in result.posts] == ["1050", "1030"]  # the retweet is skipped
    quote, long_post = result.posts
    assert quote.raw["quoted"] == {
        "id": "990",
        "text": "Our new boots are out & ready https://northwind.example/boots",
        "author_handle": "northwind",
        "url": "https://x.com/northwind/status/990",
    }
    assert long_post.text == "@northwind a long story, in full"


def test_t_co_links_show_the_expanded_address_and_keep_the_original(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(MENTIONS_URL, json=quote_page("tweet"))

    quote = connector.fetch(channel(), {}).posts[0]

    assert quote.text == "@northwind are these waterproof? https://x.com/northwind/status/990"
    assert quote.raw["links"] == [
        {"url": "https://t.co/q1", "expanded_url": "https://x.com/northwind/status/990"}
    ]
    assert quote.raw["tweet"]["text"] == "@northwind are these waterproof? https://t.co/q1"


def test_a_quoted_post_x_left_out_is_kept_as_its_id(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    quote = tweet("1050", "@northwind look", ALICE, referenced_tweets=[{"type": "quoted", "id": "991"}])
    x_api.get(MENTIONS_URL, json=page([quote], [ALICE]))

    post = connector.fetch(channel(), {}).posts[0]

    assert post.raw["quoted"] == {
        "id": "991",
        "text": "",
        "author_handle": "",
        "url": "https://x.com/i/web/status/991",
    }


def test_withheld_posts_carry_a_flag_and_edits_name_what_they_edit(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    withheld = tweet(
        "1060", "@northwind something", ALICE, withheld={"copyright": False, "country_codes": ["DE", "FR"]}
    )
    edited = tweet("1070", "@northwind fixed typo", BOB, edit_history_tweet_ids=["1055", "1070"])
    x_api.get(MENTIONS_URL, json=page([edited, withheld], [ALICE, BOB]))

    edited_post, withheld_post = connector.fetch(channel(), {}).posts

    assert withheld_post.raw["withheld"] == {"country_codes": ["DE", "FR"], "copyright": False}
    assert "withheld" not in edited_post.raw
    assert edited_post.raw["edit_of"] == ["1055"]
    assert "edit_of" not in withheld_post.raw


def test_a_post_dated_outside_the_possible_window_is_rejected_and_the_rest_of_the_page_kept(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    # Year 9999 at -05:00 is year 10000 in UTC: stored, it broke every page that read it back.
    far_future = tweet("1030", "far future", ALICE, created_at="9999-12-31T23:59:59-05:00")
    year_one = tweet("1020", "year one", ALICE, created_at="0001-01-01T00:00:00+05:00")
    tomorrow_and_more = (datetime.now(UTC) + timedelta(days=1, hours=1)).isoformat()
    too_soon = tweet("1015", "from tomorrow", ALICE, created_at=tomorrow_and_more)
    x_api.get(
        MENTIONS_URL,
        json=page([far_future, year_one, too_soon, tweet("1010", "@northwind ok", BOB)], [ALICE, BOB]),
    )

    result = connector.fetch(channel(), {"mentions": {"since_id": "1000"}})

    assert [post.external_id for post in result.posts] == ["1010"]
    assert [item.raw["id"] for item in result.rejected] == ["1030", "1020", "1015"]
    assert result.rejected[0].error.startswith(
        "created_at 9999-12-31T23:59:59-05:00 is more than a day in the future"
    )
    assert result.rejected[1].error == (
        "created_at 0001-01-01T00:00:00+05:00 is before 2006-01-01, earlier than any social network"
    )
    assert result.rejected[2].error.startswith(f"created_at {tomorrow_and_more} is more than a day in")
    # Kept with its author, the post from a fast clock is read again by the quarantine's retry once its time
    # has come, on its own, without the page.
    assert result.rejected[2].raw["includes"] == {"users": [ALICE]}
    with time_machine.travel(datetime.now(UTC) + timedelta(days=2), tick=False):
        retried = capabilities_for("x").reparse(result.rejected[2].raw, channel())
    assert (retried.external_id, retried.author.handle, retried.text) == (
        "1015",
        ALICE["username"],
        "from tomorrow",
    )


def test_an_answer_of_errors_only_is_a_connector_error(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(
        MENTIONS_URL,
        json={
            "errors": [
                {
                    "detail": f"Could not find user with id: [{ACCOUNT_ID}].",
                    "title": "Not Found Error",
                    "type": "https://api.twitter.com/2/problems/resource-not-found",
                }
            ]
        },
    )

    with pytest.raises(ConnectorError, match=rf"errors only: Could not find user with id: \[{ACCOUNT_ID}\]"):
        connector.fetch(channel(), {})


def test_malformed_items_are_rejected_and_the_rest_of_the_page_is_kept(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    no_id = {key: value for key, value in tweet("0", "no id", ALICE).items() if key != "id"}
    no_text = {key: value for key, value in tweet("1060", "", ALICE).items() if key != "text"}
    no_author = {key: value for key, value in tweet("1050", "no author", ALICE).items() if key != "author_id"}
    stranger = tweet("1040", "author not included", {"id": "3999"})
    bad_date = tweet("1030", "bad date", ALICE, created_at="yesterday")
    x_api.get(
        MENTIONS_URL,
        json=page(
            [
                no_id,
                no_text,
                no_author,
                stranger,
                bad_date,
                "not an object",
                tweet("1010", "@northwind ok", BOB),
            ],
            [ALICE, BOB],
        ),
    )

    result = connector.fetch(channel(), {"mentions": {"since_id": "1000"}})

    assert [post.external_id for post in result.posts] == ["1010"]
    # Each is kept with the users of the page's includes it names, so it can be read again on its own.
    alice = {"users": [ALICE]}
    assert result.rejected == (
        RejectedItem(raw={**no_id, "includes": alice}, error="missing or malformed id: None"),
        RejectedItem(raw={**no_text, "includes": alice}, error="missing text"),
        RejectedItem(raw=no_author, error="missing or malformed author_id: None"),
        RejectedItem(raw=stranger, error="author 3999 is not in includes.users"),
        RejectedItem(
            raw={**bad_date, "includes": alice}, error="created_at is not an ISO 8601 time: 'yesterday'"
        ),
        RejectedItem(raw={"item": "not an object"}, error="item is not a JSON object"),
    )
    # Rejected items are quarantined, not retried: the cursor moves past them.
    assert result.cursor == {"mentions": {"since_id": "1060"}}


# --- Search and DMs -------------------------------------------------------------------------------------


def test_each_listening_query_is_searched_on_its_own_with_the_app_token(
    x_api: responses.RequestsMock, connector: XConnector, settings: Any
) -> None:
    settings.X_BEARER_TOKEN = "app-token"
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}}, headers=rate_headers())
    x_api.get(
        SEARCH_URL,
        json=page([tweet("7100", "northwind boots", BOB)], [BOB]),
        headers=rate_headers(limit=450, remaining=11, reset=NOW + 300),
    )
    x_api.get(
        SEARCH_URL,
        json=page([tweet("7200", "new #Trailfest dates!", ALICE)], [ALICE]),
        headers=rate_headers(limit=450, remaining=10, reset=NOW + 300),
    )
    x_api.get(SEARCH_URL, json={"meta": {"result_count": 0}}, headers=rate_headers(450, 9, NOW + 300))
    ref = channel(listening_queries=("northwind", "#Trailfest", " ", "northwind gear", "northwind"))
    cursor = {"mentions": {"since_id": "1000"}, "searches": {"northwind": {"since_id": "7000"}}}

    result = connector.fetch(ref, cursor)

    searched = [sent_params(call) for call in x_api.calls[1:]]
    assert [(sent["query"], sent.get("since_id")) for sent in searched] == [
        ("(northwind) -is:retweet", "7000"),
        ("(#Trailfest) -is:retweet", None),  # a new query starts from now
        ("(northwind gear) -is:retweet", None),
    ]
    assert searched[0] == {
        "query": "(northwind) -is:retweet",
        "max_results": "100",
        "since_id": "7000",
        "expansions": EXPANSIONS,
        "tweet.fields": TWEET_FIELDS,
        "user.fields": USER_FIELDS,
    }
    assert x_api.calls[0].request.headers["Authorization"] == "Bearer user-token"
    assert {call.request.headers["Authorization"] for call in x_api.calls[1:]} == {"Bearer app-token"}
    assert [(post.external_id, post.kind) for post in result.posts] == [
        ("7100", "keyword"),
        ("7200", "keyword"),
    ]
    assert result.rate_limits[-1] == RateLimitInfo(
        SEARCH_ENDPOINT, "app", 450, 9, datetime.fromtimestamp(NOW + 300, UTC)
    )
    assert result.cursor["searches"] == {
        "northwind": {"since_id": "7100"},
        "#Trailfest": {"since_id": "7200"},
        "northwind gear": {},
    }


def test_the_one_search_state_of_before_seeds_each_query_s_since_id(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(SEARCH_URL, json={"meta": {"result_count": 0}})
    x_api.get(SEARCH_URL, json={"meta": {"result_count": 0}})
    cursor = {
        "search": {
            "since_id": "7000",
            "newest_id": "7100",
            "next_token": "s-2",
            "query": "((a) OR (b)) -is:retweet",
        }
    }

    result = connector.fetch(channel(listening_queries=("a", "b")), cursor)

    assert [(sent_params(call)["query"], sent_params(call)["since_id"]) for call in x_api.calls[1:]] == [
        ("(a) -is:retweet", "7000"),
        ("(b) -is:retweet", "7000"),
    ]
    assert "next_token" not in sent_params(x_api.calls[1])  # it belonged to the combined query
    assert "search" not in result.cursor
    assert result.cursor["searches"] == {"a": {"since_id": "7000"}, "b": {"since_id": "7000"}}


def test_search_pages_with_next_token_and_spends_the_users_token_without_an_app_token(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(SEARCH_URL, json=page([tweet("7050", "northwind", BOB)], [BOB]))
    cursor = {"searches": {"northwind": {"since_id": "7000", "newest_id": "7100", "next_token": "s-2"}}}

    result = connector.fetch(channel(listening_queries=("northwind",)), cursor)

    sent = sent_params(x_api.calls[0])
    assert (sent["next_token"], sent["since_id"]) == ("s-2", "7000")
    assert "pagination_token" not in sent
    assert x_api.calls[0].request.headers["Authorization"] == "Bearer user-token"
    assert result.cursor == {"searches": {"northwind": {"since_id": "7100"}}}


def test_a_listening_query_no_longer_listened_to_leaves_the_cursor(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})
    x_api.get(SEARCH_URL, json={"meta": {"result_count": 0}})
    cursor = {
        "mentions": {"since_id": "1000"},
        "searches": {"old": {"since_id": "7000", "newest_id": "7100", "next_token": "s-2"}},
    }

    result = connector.fetch(channel(listening_queries=("new",)), cursor)

    sent = sent_params(x_api.calls[1])
    assert sent["query"] == "(new) -is:retweet"
    assert "next_token" not in sent and "since_id" not in sent
    assert result.cursor == {"mentions": {"since_id": "1000"}, "searches": {"new": {}}}


def test_a_keyword_hit_that_also_mentions_the_account_is_listed_once_as_a_mention(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    both = tweet("1500", "@northwind love the northwind boots", ALICE)
    x_api.get(MENTIONS_URL, json=page([both], [ALICE]))
    x_api.get(SEARCH_URL, json=page([both], [ALICE]))

    result = connector.fetch(
        channel(listening_queries=("northwind",)),
        {"mentions": {"since_id": "1"}, "search": {"since_id": "1"}},
    )

    assert [(post.external_id, post.kind) for post in result.posts] == [("1500", "mention")]


def test_direct_messages_become_dm_posts_and_older_events_end_the_run(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})
    x_api.get(
        DM_EVENTS_URL,
        json=page(
            [
                dm_event("5300", "Where is my order NW-1234567? &amp; thanks", ALICE),
                dm_event("5200", "On its way!", BRAND, dm_conversation_id=f"2001-{ACCOUNT_ID}"),
                dm_event("5100", "hi", BOB),
                dm_event("4900", "already stored", BOB),
            ],
            [ALICE, BOB, BRAND],
            next_token="dm-2",
        ),
        headers=rate_headers(limit=300, remaining=299),
    )

    result = connector.fetch(
        channel(scope=FULL_SCOPE), {"mentions": {"since_id": "1"}, "dms": {"since_id": "5000"}}
    )

    assert sent_params(x_api.calls[1]) == {
        "max_results": "100",
        "dm_event.fields": "id,text,event_type,created_at,dm_conversation_id,sender_id",
        "event_types": "MessageCreate",
        "expansions": "sender_id",
        "user.fields": USER_FIELDS,
    }
    assert [
        (p.external_id, p.kind, p.author.handle, p.text, p.conversation_key, p.url) for p in result.posts
    ] == [
        (
            "5300",
            "dm",
            "alice_hikes",
            "Where is my order NW-1234567? &amp; thanks",
            f"2001-{ACCOUNT_ID}",
            f"https://x.com/messages/2001-{ACCOUNT_ID}",
        ),
        ("5100", "dm", "bob", "hi", f"2002-{ACCOUNT_ID}", f"https://x.com/messages/2002-{ACCOUNT_ID}"),
    ]
    # Event 4900 is at or below since_id: the run is over although X offered another page.
    assert result.cursor["dms"] == {"since_id": "5300"}
    assert result.has_more is False
    assert result.rate_limits == (
        RateLimitInfo(
            DM_EVENTS_ENDPOINT, f"user:{ACCOUNT_ID}", 300, 299, datetime.fromtimestamp(NOW + 900, UTC)
        ),
    )


def test_a_token_without_dm_scope_does_not_read_dms(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})

    result = connector.fetch(channel(scope=USER_SCOPE), {"dms": {"since_id": "5000"}})

    assert urls_called(x_api) == [MENTIONS_URL]
    assert result.cursor == {"mentions": {}, "dms": {"since_id": "5000"}}


def test_endpoints_lists_what_a_fetch_may_call_with_the_token_each_spends(
    connector: XConnector, settings: Any
) -> None:
    settings.X_BEARER_TOKEN = "app-token"
    user_key = f"user:{ACCOUNT_ID}"

    assert connector.endpoints(channel(scope=USER_SCOPE)) == ((MENTIONS_ENDPOINT, user_key),)
    assert connector.endpoints(channel(scope=FULL_SCOPE, listening_queries=("northwind",))) == (
        (MENTIONS_ENDPOINT, user_key),
        (DM_EVENTS_ENDPOINT, user_key),
        (SEARCH_ENDPOINT, "app"),
    )


# --- Rate limits and errors -----------------------------------------------------------------------------


def test_rate_limit_headers_become_rate_limit_info_on_the_page(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}}, headers=rate_headers(450, 17, NOW + 420))

    result = connector.fetch(channel(), {})

    assert result.rate_limits == (
        RateLimitInfo(
            endpoint="GET /2/users/:id/mentions",
            token_key=f"user:{ACCOUNT_ID}",
            limit=450,
            remaining=17,
            reset_at=datetime(2026, 5, 28, 20, 33, 40, tzinfo=UTC),
        ),
    )


def test_a_response_without_rate_limit_headers_reports_no_limit(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})

    assert connector.fetch(channel(), {}).rate_limits == ()


@pytest.mark.parametrize("body_file", ["429_v2_problem_observed.json", "429_documented_errors_code88.json"])
def test_429_is_rate_limited_until_the_reset_header(
    x_api: responses.RequestsMock, connector: XConnector, shared_fixtures: Path, body_file: str
) -> None:
    body = (shared_fixtures / "twitter_v2/error_bodies" / body_file).read_text()
    x_api.get(
        MENTIONS_URL,
        status=429,
        body=body,
        content_type="application/json",
        headers=rate_headers(450, 0, NOW + 137),
    )

    with pytest.raises(
        RateLimited, match=r"429 Too Many Requests \| (Too Many Requests|88 - Rate limit exceeded)"
    ) as raised:
        connector.fetch(channel(), {})

    assert raised.value.retry_after == 137.0
    assert raised.value.limits == (
        RateLimitInfo(
            MENTIONS_ENDPOINT, f"user:{ACCOUNT_ID}", 450, 0, datetime.fromtimestamp(NOW + 137, UTC)
        ),
    )
    assert len(x_api.calls) == 1  # no retry inside the worker


@pytest.mark.parametrize("body_file", ["429_v2_problem_observed.json", "429_documented_errors_code88.json"])
def test_429_without_a_reset_header_waits_the_default_and_says_so(
    x_api: responses.RequestsMock, connector: XConnector, shared_fixtures: Path, body_file: str
) -> None:
    body = (shared_fixtures / "twitter_v2/error_bodies" / body_file).read_text()
    x_api.get(MENTIONS_URL, status=429, body=body, content_type="application/json")

    with pytest.raises(RateLimited, match="no x-rate-limit-reset header") as raised:
        connector.fetch(channel(), {})

    assert raised.value.retry_after == 60.0
    assert raised.value.limits == ()
    # tweepy with wait_on_rate_limit=True would spin here; one call and out.
    assert len(x_api.calls) == 1


def test_429_with_a_reset_already_past_waits_a_second(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(
        MENTIONS_URL, status=429, json={"title": "Too Many Requests"}, headers=rate_headers(450, 0, NOW - 5)
    )

    with pytest.raises(RateLimited) as raised:
        connector.fetch(channel(), {})

    assert raised.value.retry_after == 1.0


def test_429_on_one_stream_pauses_that_stream_only_and_keeps_the_others_posts(
    x_api: responses.RequestsMock, connector: XConnector, settings: Any
) -> None:
    settings.X_BEARER_TOKEN = "app-token"
    x_api.get(
        MENTIONS_URL,
        json=page([tweet("1400", "@northwind hi", ALICE)], [ALICE]),
        headers=rate_headers(450, 300, NOW + 900),
    )
    x_api.get(
        SEARCH_URL, status=429, json={"title": "Too Many Requests"}, headers=rate_headers(450, 0, NOW + 60)
    )
    ref = channel(listening_queries=("northwind",))

    result = connector.fetch(
        ref, {"mentions": {"since_id": "1300"}, "searches": {"northwind": {"since_id": "7000"}}}
    )

    assert [post.external_id for post in result.posts] == ["1400"]
    assert [(info.endpoint, info.token_key, info.remaining) for info in result.rate_limits] == [
        (MENTIONS_ENDPOINT, f"user:{ACCOUNT_ID}", 300),
        (SEARCH_ENDPOINT, "app", 0),
    ]
    assert result.cursor["mentions"] == {"since_id": "1400"}
    search_state = result.cursor["searches"]["northwind"]
    assert search_state["since_id"] == "7000"
    assert search_state["failure"]["outcome"] == "rate_limited"
    assert search_state["failure"]["until"] == NOW + 60
    assert [(status.name, status.outcome, status.retry_at) for status in result.streams] == [
        ("mentions", "ok", None),
        ("search:northwind", "rate_limited", datetime.fromtimestamp(NOW + 60, UTC)),
    ]
    assert "429 Too Many Requests" in result.streams[1].error

    # Until the reset only mentions are asked; the paused query is not called.
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})
    later = connector.fetch(ref, result.cursor)

    assert urls_called(x_api)[2:] == [MENTIONS_URL]
    assert later.cursor["searches"]["northwind"] == search_state
    assert later.streams[1].outcome == "rate_limited"


def test_every_stream_failing_is_the_fetch_failing(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(
        MENTIONS_URL, status=429, json={"title": "Too Many Requests"}, headers=rate_headers(450, 0, NOW + 60)
    )
    x_api.get(SEARCH_URL, status=503)

    with pytest.raises(RateLimited) as raised:
        connector.fetch(channel(listening_queries=("northwind",)), {})

    assert raised.value.retry_after == 60.0
    assert urls_called(x_api) == [MENTIONS_URL, SEARCH_URL]


# --- One stream's failure never holds back another -------------------------------------------------------


def snowflake_at(moment: float) -> str:
    """An X id created at ``moment`` (epoch seconds): X ids carry their creation time."""
    return str((int(moment * 1000) - 1288834974657) << 22)


def test_a_stale_since_id_of_a_quiet_query_is_replaced_by_the_search_window(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    # A query without hits for 8 days keeps a since_id X refuses from then on (recent search: 7 days).
    stale = snowflake_at(NOW - 8 * 24 * 3600)
    x_api.get(MENTIONS_URL, json=page([tweet("1400", "@northwind hi", ALICE)], [ALICE]))
    x_api.get(
        SEARCH_URL,
        status=400,
        json={
            "errors": [
                {
                    "parameters": {"since_id": [stale]},
                    "message": f"Invalid 'since_id':'{stale}'. 'since_id' must be a tweet id created after "
                    "2026-05-21T20:27:40.000Z.",
                }
            ],
            "title": "Invalid Request",
            "detail": "One or more parameters to your request was invalid.",
            "type": "https://api.twitter.com/2/problems/invalid-request",
        },
    )
    x_api.get(SEARCH_URL, json=page([tweet("7100", "quiet brand name at last", BOB)], [BOB]))
    cursor = {"mentions": {"since_id": "1300"}, "searches": {"quiet brand": {"since_id": stale}}}

    result = connector.fetch(channel(listening_queries=("quiet brand",)), cursor)

    retried = sent_params(x_api.calls[2])
    assert "since_id" not in retried
    # The window X accepts, a minute inside its 7 days.
    assert retried["start_time"] == datetime.fromtimestamp(NOW - 7 * 24 * 3600 + 60, UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    assert [post.external_id for post in result.posts] == ["1400", "7100"]
    assert result.cursor == {
        "mentions": {"since_id": "1400"},
        "searches": {"quiet brand": {"since_id": "7100"}},
    }
    assert [status.outcome for status in result.streams] == ["ok", "ok"]


def test_a_stale_since_id_without_new_hits_leaves_the_query_starting_from_now(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    stale = snowflake_at(NOW - 8 * 24 * 3600)
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})
    x_api.get(SEARCH_URL, status=400, json={"errors": [{"message": f"Invalid 'since_id':'{stale}'."}]})
    x_api.get(SEARCH_URL, json={"meta": {"result_count": 0}})

    result = connector.fetch(
        channel(listening_queries=("quiet",)), {"searches": {"quiet": {"since_id": stale}}}
    )

    assert result.cursor["searches"] == {"quiet": {}}  # no since_id X would refuse again
    assert len(x_api.calls) == 3


def test_a_dm_refusal_is_shown_and_kept_apart_while_mentions_go_on(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(MENTIONS_URL, json=page([tweet("1400", "@northwind hi", ALICE)], [ALICE]))
    x_api.get(
        DM_EVENTS_URL,
        status=403,
        json={
            "title": "Forbidden",
            "detail": "Your client app is not configured with the appropriate oauth1 app permissions "
            "for this endpoint.",
            "type": "https://api.twitter.com/2/problems/client-forbidden",
            "reason": "client-not-enrolled",
            "status": 403,
        },
    )
    ref = channel(scope=FULL_SCOPE)

    result = connector.fetch(ref, {"mentions": {"since_id": "1300"}, "dms": {"since_id": "5000"}})

    assert [post.external_id for post in result.posts] == ["1400"]
    assert result.cursor["mentions"] == {"since_id": "1400"}
    assert result.cursor["dms"]["since_id"] == "5000"
    assert result.cursor["dms"]["failure"]["outcome"] == "failed"
    dms = result.streams[1]
    assert (dms.name, dms.label, dms.outcome) == ("dms", "Direct messages", "failed")
    assert "not configured with the appropriate oauth1 app permissions" in dms.error
    assert dms.retry_at == datetime.fromtimestamp(NOW + 900, UTC)

    # Within the next window the refused stream is not asked again.
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})
    connector.fetch(ref, result.cursor)
    assert urls_called(x_api)[2:] == [MENTIONS_URL]


def test_a_stream_whose_budget_is_spent_is_skipped_and_the_others_are_read(
    x_api: responses.RequestsMock, connector: XConnector, settings: Any
) -> None:
    settings.X_BEARER_TOKEN = "app-token"
    reset = datetime.fromtimestamp(NOW + 600, UTC)
    x_api.get(MENTIONS_URL, json=page([tweet("1400", "@northwind hi", ALICE)], [ALICE]))
    x_api.get(DM_EVENTS_URL, json=page([dm_event("5100", "hello", BOB)], [BOB]))
    ref = replace(
        channel(scope=FULL_SCOPE, listening_queries=("northwind",)),
        budget_spent_until={(SEARCH_ENDPOINT, "app"): reset},
    )
    cursor = {"mentions": {"since_id": "1300"}, "searches": {"northwind": {"since_id": "7000"}}}

    result = connector.fetch(ref, cursor)

    assert urls_called(x_api) == [MENTIONS_URL, DM_EVENTS_URL]
    assert [post.external_id for post in result.posts] == ["1400", "5100"]
    assert result.cursor["searches"] == {"northwind": {"since_id": "7000"}}
    assert (result.streams[2].outcome, result.streams[2].retry_at) == ("budget_spent", reset)


def test_after_one_query_s_429_the_other_queries_wait_for_the_same_reset(
    x_api: responses.RequestsMock, connector: XConnector, settings: Any
) -> None:
    settings.X_BEARER_TOKEN = "app-token"
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})
    x_api.get(
        SEARCH_URL, status=429, json={"title": "Too Many Requests"}, headers=rate_headers(450, 0, NOW + 120)
    )

    result = connector.fetch(channel(listening_queries=("alpha", "beta")), {"mentions": {"since_id": "1300"}})

    assert urls_called(x_api) == [MENTIONS_URL, SEARCH_URL]  # beta is not asked: the budget is spent
    assert [(status.name, status.outcome, status.retry_at) for status in result.streams] == [
        ("mentions", "ok", None),
        ("search:alpha", "rate_limited", datetime.fromtimestamp(NOW + 120, UTC)),
        ("search:beta", "budget_spent", datetime.fromtimestamp(NOW + 120, UTC)),
    ]


def test_a_backlog_whose_budget_is_spent_lets_the_other_streams_go_first(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    reset = datetime.fromtimestamp(NOW + 600, UTC)
    x_api.get(DM_EVENTS_URL, json=page([dm_event("5100", "hello", BOB)], [BOB]))
    ref = replace(
        channel(scope=FULL_SCOPE), budget_spent_until={(MENTIONS_ENDPOINT, f"user:{ACCOUNT_ID}"): reset}
    )
    paging = {"since_id": "1000", "newest_id": "1300", "pagination_token": "page-2"}

    result = connector.fetch(ref, {"mentions": paging, "dms": {"since_id": "5000"}})

    assert urls_called(x_api) == [DM_EVENTS_URL]
    assert [post.external_id for post in result.posts] == ["5100"]
    assert result.cursor["mentions"] == paging
    assert result.has_more is False  # nothing to read until the reset


def test_a_usage_cap_pauses_the_stream_until_the_cap_resets(
    x_api: responses.RequestsMock, connector: XConnector, settings: Any
) -> None:
    settings.X_BEARER_TOKEN = "app-token"
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})
    x_api.get(
        SEARCH_URL,
        status=429,
        json={
            "title": "UsageCapExceeded",
            "detail": "Usage cap exceeded: Monthly product cap",
            "type": "https://api.x.com/2/problems/usage-capped",
            "period": "Monthly",
            "scope": "Product",
            "status": 429,
        },
        headers=rate_headers(450, 440, NOW + 900),
    )

    result = connector.fetch(channel(listening_queries=("northwind",)), {"mentions": {"since_id": "1300"}})

    search = result.streams[1]
    assert search.outcome == "usage_capped"
    # Not the 15-minute window's reset: X does not say when a monthly cap resets, so once a day.
    assert search.retry_at == datetime.fromtimestamp(NOW + 24 * 3600, UTC)
    assert "usage cap reached (Monthly)" in search.error
    assert result.cursor["searches"]["northwind"]["failure"]["until"] == NOW + 24 * 3600


def test_a_daily_usage_cap_on_the_only_stream_is_usage_capped_until_midnight(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(
        MENTIONS_URL,
        status=429,
        json={
            "title": "UsageCapExceeded",
            "type": "https://api.twitter.com/2/problems/usage-capped",
            "period": "Daily",
        },
    )

    with pytest.raises(UsageCapped) as raised:
        connector.fetch(channel(), {})

    # NOW is 20:26:40 UTC: the daily cap resets at the next midnight, 3 h 33 min 20 s later.
    assert raised.value.retry_after == 3 * 3600 + 33 * 60 + 20
    assert raised.value.period == "Daily"


@pytest.mark.parametrize("host", ["api.twitter.com", "api.x.com"])
def test_unsupported_authentication_is_recognised_under_either_host(
    x_api: responses.RequestsMock, connector: XConnector, host: str
) -> None:
    x_api.get(
        MENTIONS_URL,
        status=403,
        json={
            "title": "Unsupported Authentication",
            "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.",
            "type": f"https://{host}/2/problems/unsupported-authentication",
            "status": 403,
        },
    )

    with pytest.raises(AuthExpired, match="Application-Only is forbidden"):
        connector.fetch(channel(), {})


def test_the_app_token_refused_for_search_fails_that_stream_not_the_channel(
    x_api: responses.RequestsMock, connector: XConnector, settings: Any
) -> None:
    settings.X_BEARER_TOKEN = "app-token"
    x_api.get(MENTIONS_URL, json=page([tweet("1400", "@northwind hi", ALICE)], [ALICE]))
    x_api.get(SEARCH_URL, status=401, json={"title": "Unauthorized", "type": "about:blank", "status": 401})

    result = connector.fetch(channel(listening_queries=("northwind",)), {"mentions": {"since_id": "1300"}})

    assert [post.external_id for post in result.posts] == ["1400"]
    assert result.streams[1].outcome == "failed"
    assert "(app)" in result.streams[1].error


@pytest.mark.parametrize(("header", "retry_after"), [(f"{NOW + 136}.2", 137.0), ("soon", 60.0), ("", 60.0)])
def test_a_reset_header_that_is_not_a_whole_number_is_still_a_rate_limit(
    x_api: responses.RequestsMock, connector: XConnector, header: str, retry_after: float
) -> None:
    # tweepy reads it with int() and raised ValueError, which crashed the pull without a result.
    x_api.get(
        MENTIONS_URL,
        status=429,
        json={
            "title": "Too Many Requests",
            "type": "about:blank",
            "status": 429,
            "detail": "Too Many Requests",
        },
        headers={"x-rate-limit-limit": "450", "x-rate-limit-remaining": "0", "x-rate-limit-reset": header},
    )

    with pytest.raises(RateLimited) as raised:
        connector.fetch(channel(), {})

    assert raised.value.retry_after == retry_after


def test_401_is_auth_expired(x_api: responses.RequestsMock, connector: XConnector) -> None:
    x_api.get(
        MENTIONS_URL,
        status=401,
        json={"title": "Unauthorized", "type": "about:blank", "status": 401, "detail": "Unauthorized"},
    )

    with pytest.raises(AuthExpired, match=r"401 Unauthorized \| Unauthorized"):
        connector.fetch(channel(), {})


def test_403_for_a_token_x_does_not_accept_is_auth_expired(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(
        MENTIONS_URL,
        status=403,
        json={
            "title": "Unsupported Authentication",
            "detail": "Authenticating with OAuth 2.0 Application-Only is forbidden for this endpoint.",
            "type": "https://api.twitter.com/2/problems/unsupported-authentication",
            "status": 403,
        },
    )

    with pytest.raises(AuthExpired, match="Application-Only is forbidden"):
        connector.fetch(channel(), {})


def test_403_for_anything_else_is_a_plain_connector_error(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.post(
        f"{API}/tweets",
        status=403,
        json={
            "detail": "You attempted to reply to a Tweet that is deleted or not visible to you.",
            "type": "about:blank",
            "title": "Forbidden",
            "status": 403,
        },
    )

    refusal = rf"X forbade {re.escape(CREATE_TWEET_ENDPOINT)} .* not visible to you"
    with pytest.raises(ConnectorError, match=refusal) as raised:
        connector.reply(channel(), in_reply_to="1010", text="Sorry to hear that!")

    assert not isinstance(raised.value, AuthExpired)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_unavailable(x_api: responses.RequestsMock, connector: XConnector, status: int) -> None:
    x_api.get(MENTIONS_URL, status=status, body="upstream trouble")

    with pytest.raises(ConnectorUnavailable, match=f"X failed on {MENTIONS_ENDPOINT}: {status}"):
        connector.fetch(channel(), {})


@pytest.mark.parametrize(
    "failure",
    [
        requests.exceptions.ConnectTimeout("connect timed out"),
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectionError("connection reset by peer"),
    ],
)
def test_timeouts_and_connection_errors_are_unavailable(
    x_api: responses.RequestsMock, connector: XConnector, failure: Exception
) -> None:
    x_api.get(MENTIONS_URL, body=failure)

    with pytest.raises(ConnectorUnavailable, match=f"X could not be reached for {MENTIONS_ENDPOINT}"):
        connector.fetch(channel(), {})


def test_a_body_that_is_not_json_is_unavailable(x_api: responses.RequestsMock, connector: XConnector) -> None:
    x_api.get(MENTIONS_URL, body="<html>captive portal</html>", content_type="text/html")

    with pytest.raises(ConnectorUnavailable, match="not JSON"):
        connector.fetch(channel(), {})


def test_a_channel_without_an_access_token_needs_authorising(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    ref = ChannelRef(
        slug="northwind-support",
        network="x",
        handle="northwind",
        external_account_id=ACCOUNT_ID,
        segment_slug="customer-relations",
    )

    with pytest.raises(AuthExpired, match="no X access token"):
        connector.fetch(ref, {})

    assert len(x_api.calls) == 0


# --- Token refresh --------------------------------------------------------------------------------------

TOKEN_RESPONSE = {
    "token_type": "bearer",
    "expires_in": 7200,
    "access_token": "new-user-token",
    "scope": "tweet.write users.read tweet.read offline.access",
    "refresh_token": "refresh-2",
}


def test_a_token_expiring_within_five_minutes_is_refreshed_before_the_call_and_handed_back(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.post(TOKEN_URL, json=TOKEN_RESPONSE)
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})
    ref = channel(expires_at=NOW + 299)

    connector.fetch(ref, {})
    connector.fetch(ref, {})  # the same stale ChannelRef: the refreshed token is reused, not refreshed again

    assert urls_called(x_api) == [TOKEN_URL, MENTIONS_URL, MENTIONS_URL]
    assert parse_qs(x_api.calls[0].request.body) == {
        "grant_type": ["refresh_token"],
        "refresh_token": ["refresh-1"],
        "client_id": ["client-id"],
    }
    assert "Authorization" not in x_api.calls[0].request.headers  # a public client has no secret to send
    assert x_api.calls[1].request.headers["Authorization"] == "Bearer new-user-token"
    assert x_api.calls[2].request.headers["Authorization"] == "Bearer new-user-token"
    assert connector.refreshed_credentials(ref) == {
        "access_token": "new-user-token",
        "refresh_token": "refresh-2",
        "expires_at": NOW + 7200,
        "scope": "tweet.write users.read tweet.read offline.access",
    }


def test_a_confidential_client_authenticates_its_refresh(
    x_api: responses.RequestsMock, connector: XConnector, settings: Any
) -> None:
    settings.X_CLIENT_SECRET = "client-secret"
    x_api.post(TOKEN_URL, json=TOKEN_RESPONSE)
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})

    connector.fetch(channel(expires_at=NOW - 10), {})

    expected = base64.b64encode(b"client-id:client-secret").decode()
    assert x_api.calls[0].request.headers["Authorization"] == f"Basic {expected}"


def test_a_refreshed_token_set_is_handed_back_even_when_the_call_after_it_fails(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.post(TOKEN_URL, json=TOKEN_RESPONSE)
    x_api.get(MENTIONS_URL, status=503, body="")
    ref = channel(expires_at=NOW + 10)

    with pytest.raises(ConnectorUnavailable):
        connector.fetch(ref, {})

    assert connector.refreshed_credentials(ref)["refresh_token"] == "refresh-2"


def test_a_token_far_from_expiry_is_not_refreshed(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})
    ref = channel(expires_at=NOW + 301)

    connector.fetch(ref, {})

    assert urls_called(x_api) == [MENTIONS_URL]
    assert connector.refreshed_credentials(ref) is None


def test_a_refused_refresh_is_auth_expired_and_nothing_else_is_called(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.post(
        TOKEN_URL,
        status=400,
        json={"error": "invalid_request", "error_description": "Value passed for the token was invalid."},
    )
    ref = channel(expires_at=NOW + 60)

    with pytest.raises(AuthExpired, match=r"invalid_request: Value passed for the token was invalid\."):
        connector.fetch(ref, {})

    assert urls_called(x_api) == [TOKEN_URL]
    assert connector.refreshed_credentials(ref) is None


def test_a_refresh_refused_for_our_app_credentials_is_not_blamed_on_the_channel(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.post(
        TOKEN_URL,
        status=401,
        json={"error": "invalid_client", "error_description": "Missing valid authorization header"},
    )

    with pytest.raises(ConnectorError, match="check X_CLIENT_ID and X_CLIENT_SECRET") as raised:
        connector.fetch(channel(expires_at=NOW + 60), {})

    assert not isinstance(raised.value, AuthExpired)


def test_a_token_endpoint_outage_is_unavailable(x_api: responses.RequestsMock, connector: XConnector) -> None:
    x_api.post(TOKEN_URL, status=503, body="")

    with pytest.raises(ConnectorUnavailable, match="X failed on POST /2/oauth2/token: 503"):
        connector.fetch(channel(expires_at=NOW + 60), {})


def test_refreshing_without_a_client_id_says_which_setting_is_missing(
    x_api: responses.RequestsMock, connector: XConnector, settings: Any
) -> None:
    settings.X_CLIENT_ID = ""

    with pytest.raises(ConnectorError, match="X_CLIENT_ID is not set"):
        connector.fetch(channel(expires_at=NOW + 60), {})

    assert len(x_api.calls) == 0


# --- Sending --------------------------------------------------------------------------------------------


def test_reply_posts_a_tweet_in_reply_with_the_users_token(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.post(
        f"{API}/tweets",
        status=201,
        json={
            "data": {
                "id": "1600",
                "text": "@alice_hikes Sorry! DM us your order number.",
                "edit_history_tweet_ids": ["1600"],
            }
        },
        headers=rate_headers(200, 199),
    )

    sent = connector.reply(channel(), in_reply_to="1010", text="@alice_hikes Sorry! DM us your order number.")

    assert json.loads(x_api.calls[0].request.body) == {
        "text": "@alice_hikes Sorry! DM us your order number.",
        "reply": {"in_reply_to_tweet_id": "1010"},
    }
    assert x_api.calls[0].request.headers["Authorization"] == "Bearer user-token"
    assert sent == SentReply(
        external_id="1600",
        url="https://x.com/northwind/status/1600",
        raw={
            "data": {
                "id": "1600",
                "text": "@alice_hikes Sorry! DM us your order number.",
                "edit_history_tweet_ids": ["1600"],
            }
        },
    )
    assert len(x_api.calls) == 1


def test_a_direct_message_goes_to_the_one_to_one_conversation(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.post(
        f"{API}/dm_conversations/with/2001/messages",
        status=201,
        json={"data": {"dm_conversation_id": f"2001-{ACCOUNT_ID}", "dm_event_id": "5400"}},
    )

    sent = connector.send_direct_message(channel(scope=FULL_SCOPE), recipient_id="2001", text="Hi Alice")

    assert json.loads(x_api.calls[0].request.body) == {"text": "Hi Alice"}
    assert sent.external_id == "5400"
    assert sent.url == f"https://x.com/messages/2001-{ACCOUNT_ID}"


def test_sending_refreshes_an_expiring_token_first(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.post(TOKEN_URL, json=TOKEN_RESPONSE)
    x_api.post(f"{API}/tweets", status=201, json={"data": {"id": "1600", "text": "ok"}})
    ref = channel(expires_at=NOW + 30)

    connector.reply(ref, in_reply_to="1010", text="ok")

    assert x_api.calls[1].request.headers["Authorization"] == "Bearer new-user-token"
    assert connector.refreshed_credentials(ref)["access_token"] == "new-user-token"


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, RateLimited), (401, AuthExpired), (500, ConnectorUnavailable)],
)
def test_sending_maps_errors_like_fetching(
    x_api: responses.RequestsMock, connector: XConnector, status: int, error: type[Exception]
) -> None:
    x_api.post(
        f"{API}/dm_conversations/with/2001/messages", status=status, json={"title": "nope", "detail": "nope"}
    )

    with pytest.raises(error, match=re.escape(CREATE_DM_ENDPOINT)):
        connector.send_direct_message(channel(), recipient_id="2001", text="Hi")

    assert len(x_api.calls) == 1


# --- Connecting an account ------------------------------------------------------------------------------


def test_authorization_start_asks_for_our_scopes_with_pkce() -> None:
    url, kept = x_authorization_start(redirect_uri=REDIRECT_URI)

    base, query = url.split("?", 1)
    params = {name: values[0] for name, values in parse_qs(query).items()}
    digest = hashlib.sha256(kept["code_verifier"].encode()).digest()
    challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert base == "https://twitter.com/i/oauth2/authorize"
    assert params == {
        "response_type": "code",
        "client_id": "client-id",
        "redirect_uri": REDIRECT_URI,
        "scope": "tweet.read tweet.write users.read dm.read dm.write offline.access",
        "state": kept["state"],
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    assert sorted(kept) == ["code_verifier", "state"]
    assert len(kept["code_verifier"]) == 128


def test_authorization_finish_trades_the_code_and_finds_the_account(x_api: responses.RequestsMock) -> None:
    _url, kept = x_authorization_start(redirect_uri=REDIRECT_URI)
    x_api.post(TOKEN_URL, json={**TOKEN_RESPONSE, "scope": FULL_SCOPE})
    x_api.get(ME_URL, json={"data": {"id": ACCOUNT_ID, "name": "Northwind", "username": "northwind"}})

    connected = x_authorization_finish(
        redirect_uri=REDIRECT_URI,
        state_kept=kept,
        authorization_response_url=f"{REDIRECT_URI}?state={kept['state']}&code=the-code",
        clock=clock,
    )

    assert connected == {
        "credentials": {
            "access_token": "new-user-token",
            "refresh_token": "refresh-2",
            "expires_at": NOW + 7200,
            "scope": FULL_SCOPE,
        },
        "account_id": ACCOUNT_ID,
        "username": "northwind",
        "name": "Northwind",
    }
    assert parse_qs(x_api.calls[0].request.body) == {
        "grant_type": ["authorization_code"],
        "code": ["the-code"],
        "redirect_uri": [REDIRECT_URI],
        "code_verifier": [kept["code_verifier"]],
        "client_id": ["client-id"],
    }
    assert x_api.calls[1].request.headers["Authorization"] == "Bearer new-user-token"
    assert [call.request.req_kwargs["timeout"] for call in x_api.calls] == [REQUEST_TIMEOUT, REQUEST_TIMEOUT]


def test_authorization_finish_over_plain_http_says_how_to_allow_it_locally(
    x_api: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    local = "http://127.0.0.1:8000/channels/x/callback"
    _url, kept = x_authorization_start(redirect_uri=local)

    with pytest.raises(ConnectorError, match="OAUTHLIB_INSECURE_TRANSPORT=1"):
        x_authorization_finish(
            redirect_uri=local,
            state_kept=kept,
            authorization_response_url=f"{local}?state={kept['state']}&code=the-code",
        )

    assert len(x_api.calls) == 0


def test_authorization_finish_keeps_the_scopes_x_actually_granted(x_api: responses.RequestsMock) -> None:
    _url, kept = x_authorization_start(redirect_uri=REDIRECT_URI)
    x_api.post(TOKEN_URL, json=TOKEN_RESPONSE)  # no dm.read, dm.write
    x_api.get(ME_URL, json={"data": {"id": ACCOUNT_ID, "name": "Northwind", "username": "northwind"}})

    connected = x_authorization_finish(
        redirect_uri=REDIRECT_URI,
        state_kept=kept,
        authorization_response_url=f"{REDIRECT_URI}?state={kept['state']}&code=the-code",
        clock=clock,
    )

    assert connected["credentials"]["scope"] == "tweet.write users.read tweet.read offline.access"


@pytest.mark.parametrize("returned_state", ["forged-state", ""])
def test_authorization_finish_refuses_a_callback_with_another_state(
    x_api: responses.RequestsMock, returned_state: str
) -> None:
    _url, kept = x_authorization_start(redirect_uri=REDIRECT_URI)

    with pytest.raises(ConnectorError, match="state does not match"):
        x_authorization_finish(
            redirect_uri=REDIRECT_URI,
            state_kept=kept,
            authorization_response_url=f"{REDIRECT_URI}?state={returned_state}&code=the-code",
        )

    assert len(x_api.calls) == 0


def test_authorization_finish_reports_a_denied_authorisation(x_api: responses.RequestsMock) -> None:
    _url, kept = x_authorization_start(redirect_uri=REDIRECT_URI)

    with pytest.raises(ConnectorError, match="did not authorise the account: access_denied"):
        x_authorization_finish(
            redirect_uri=REDIRECT_URI,
            state_kept=kept,
            authorization_response_url=f"{REDIRECT_URI}?error=access_denied&state={kept['state']}",
        )

    assert len(x_api.calls) == 0


def test_authorization_finish_reports_a_refused_code(x_api: responses.RequestsMock) -> None:
    _url, kept = x_authorization_start(redirect_uri=REDIRECT_URI)
    x_api.post(
        TOKEN_URL,
        status=400,
        json={
            "error": "invalid_request",
            "error_description": "Value passed for the authorization code was invalid.",
        },
    )

    with pytest.raises(ConnectorError, match="authorization code was invalid") as raised:
        x_authorization_finish(
            redirect_uri=REDIRECT_URI,
            state_kept=kept,
            authorization_response_url=f"{REDIRECT_URI}?state={kept['state']}&code=stale",
        )

    assert not isinstance(raised.value, AuthExpired)
    assert urls_called(x_api) == [TOKEN_URL]


# --- History (the backfill's walk back in time) ----------------------------------------------------------

SINCE = datetime(2026, 5, 21, 20, 26, 40, 123456, tzinfo=UTC)  # seven days before NOW
SINCE_PARAM = "2026-05-21T20:26:40Z"


def test_history_walks_the_mentions_back_page_by_page_from_the_start_of_the_window(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(
        MENTIONS_URL,
        json=page([tweet("1300", "@northwind newest", ALICE)], [ALICE], next_token="page-2"),
        headers=rate_headers(remaining=449),
    )
    x_api.get(
        MENTIONS_URL,
        json=page([tweet("1200", "@northwind older", BOB)], [BOB]),
        headers=rate_headers(remaining=448),
    )
    # DM scope and a listening query: still only the mentions timeline is walked.
    ref = channel(scope=FULL_SCOPE, listening_queries=("northwind",))

    first = connector.fetch_history(ref, {}, since=SINCE)
    second = connector.fetch_history(ref, first.cursor, since=SINCE)

    assert sent_params(x_api.calls[0]) == {
        "max_results": "100",
        "start_time": SINCE_PARAM,
        "expansions": EXPANSIONS,
        "tweet.fields": TWEET_FIELDS,
        "user.fields": USER_FIELDS,
    }
    assert sent_params(x_api.calls[1]) == {**sent_params(x_api.calls[0]), "pagination_token": "page-2"}
    assert urls_called(x_api) == [MENTIONS_URL, MENTIONS_URL]
    assert first.cursor == {"history": {"pagination_token": "page-2"}}
    assert first.has_more is True
    assert second.cursor == {"history": {}}
    assert second.has_more is False
    assert [post.external_id for post in (*first.posts, *second.posts)] == ["1300", "1200"]
    assert [(post.kind, post.author.handle) for post in (*first.posts, *second.posts)] == [
        ("mention", "alice_hikes"),
        ("mention", "bob"),
    ]
    assert [info.remaining for info in (*first.rate_limits, *second.rate_limits)] == [449, 448]


def test_history_of_an_account_without_mentions_in_the_window_is_one_empty_page(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})

    result = connector.fetch_history(channel(), {}, since=SINCE)

    assert result.posts == ()
    assert result.cursor == {"history": {}}
    assert result.has_more is False


def test_history_skips_retweets_and_own_posts_and_rejects_malformed_items_like_fetch(
    x_api: responses.RequestsMock, connector: XConnector, caplog: pytest.LogCaptureFixture
) -> None:
    x_api.get(
        MENTIONS_URL,
        json=page(
            [
                tweet(
                    "1090",
                    "RT @bob: @northwind rocks",
                    ALICE,
                    referenced_tweets=[{"type": "retweeted", "id": "1"}],
                ),
                tweet("1080", "@alice_hikes thanks from @northwind", BRAND),
                {"id": "1075", "text": "no author"},
                tweet("1070", "@northwind question", BOB),
            ],
            [ALICE, BOB, BRAND],
            next_token="page-2",
        ),
    )

    with caplog.at_level("INFO", logger="channels.connectors.x"):
        result = connector.fetch_history(channel(), {}, since=SINCE)

    assert [post.external_id for post in result.posts] == ["1070"]
    assert [item.raw["id"] for item in result.rejected] == ["1075"]
    assert result.has_more is True
    assert "history skipped {'own post': 1, 'retweet': 1}" in caplog.text


def test_a_429_during_history_is_rate_limited_like_fetch(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(
        MENTIONS_URL, status=429, json={"title": "Too Many Requests"}, headers=rate_headers(450, 0, NOW + 137)
    )

    with pytest.raises(RateLimited) as raised:
        connector.fetch_history(channel(), {"history": {"pagination_token": "page-5"}}, since=SINCE)

    assert raised.value.retry_after == 137.0
    assert raised.value.limits == (
        RateLimitInfo(
            MENTIONS_ENDPOINT, f"user:{ACCOUNT_ID}", 450, 0, datetime.fromtimestamp(NOW + 137, UTC)
        ),
    )
    assert sent_params(x_api.calls[0])["pagination_token"] == "page-5"
    assert len(x_api.calls) == 1


def test_a_stale_history_page_token_restarts_the_walk_from_the_newest(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.get(MENTIONS_URL, status=400, json={"title": "Invalid Request", "detail": "bad pagination_token"})
    x_api.get(MENTIONS_URL, json=page([tweet("1300", "@northwind newest", ALICE)], [ALICE]))

    result = connector.fetch_history(channel(), {"history": {"pagination_token": "stale"}}, since=SINCE)

    assert sent_params(x_api.calls[0])["pagination_token"] == "stale"
    assert "pagination_token" not in sent_params(x_api.calls[1])
    assert sent_params(x_api.calls[1])["start_time"] == SINCE_PARAM
    assert [post.external_id for post in result.posts] == ["1300"]


def test_history_refreshes_an_expiring_token_first(
    x_api: responses.RequestsMock, connector: XConnector
) -> None:
    x_api.post(
        TOKEN_URL,
        json={"access_token": "fresh-token", "refresh_token": "refresh-2", "expires_in": 7200},
    )
    x_api.get(MENTIONS_URL, json={"meta": {"result_count": 0}})
    ref = channel(expires_at=NOW + 60)

    connector.fetch_history(ref, {}, since=SINCE)

    assert urls_called(x_api) == [TOKEN_URL, MENTIONS_URL]
    assert x_api.calls[1].request.headers["Authorization"] == "Bearer fresh-token"
    assert connector.refreshed_credentials(ref)["refresh_token"] == "refresh-2"


@pytest.mark.parametrize(
    ("cursor", "since"),
    [
        ({"history": "page-2"}, SINCE),
        ({"history": {"pagination_token": 2}}, SINCE),
        ({}, SINCE.replace(tzinfo=None)),
    ],
)
def test_a_malformed_history_cursor_or_a_naive_since_is_a_connector_error(
    x_api: responses.RequestsMock, connector: XConnector, cursor: dict[str, Any], since: datetime
) -> None:
    with pytest.raises(ConnectorError, match="X history"):
        connector.fetch_history(channel(), cursor, since=since)

    assert len(x_api.calls) == 0
