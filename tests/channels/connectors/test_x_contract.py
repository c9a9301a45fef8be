"""The X connector against real X API v2 answers: tweepy's own recordings (../shared/fixtures, see SOURCE.md)
replayed at the HTTP layer, and the names the connector sends checked against X's OpenAPI spec.

The recordings were made by tweepy's tests, which asked for no expansions or extra fields, so their tweets
carry only id and text. Replayed as recorded, the connector must quarantine them (it cannot say who wrote
them) without losing their place. Replayed "as our request gets them", each tweet gains only the fields the
connector asks for: author_id (with its includes.users entry), created_at (read from the id, as X stamps
it) and conversation_id; ids, texts, meta and headers stay as recorded.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from channels.connectors.base import ChannelRef, RateLimitInfo
from channels.connectors.x import (
    DM_EVENTS_ENDPOINT,
    MENTIONS_ENDPOINT,
    SEARCH_ENDPOINT,
    XConnector,
    x_authorization_finish,
    x_authorization_start,
)

RECORDINGS = "twitter_v2/tweepy_cassettes/decoded"
SPEC = "twitter_v2/openapi/x-api-v2-openapi-2.159.json"
TWITTER_ACCOUNT_ID = "783214"  # @Twitter, whose mentions tweepy recorded
TWEEPYDEV_ID = "1072250532645998596"  # tweepy's test account, which sent the recorded DMs
DM_PARTNER_ID = "750362064426721281"  # the other side of the recorded one-to-one DM conversation
NOW = 1_665_183_000  # a moment before the recorded mentions' rate-limit reset
SNOWFLAKE_EPOCH_MS = 1_288_834_974_657  # X ids carry their creation time in milliseconds after this
REDIRECT_URI = "https://socialops.example/channels/x/callback"

# A stand-in author for recorded tweets, whose authors were not asked for (see the module docstring).
AUTHOR = {
    "id": "1000000000000000001",
    "username": "recorded_author",
    "name": "Recorded Author",
    "verified": False,
    "public_metrics": {"followers_count": 42, "following_count": 1, "tweet_count": 1, "listed_count": 0},
}


def clock() -> float:
    return float(NOW)


def recording(shared_fixtures: Path, name: str) -> list[dict[str, Any]]:
    return json.loads((shared_fixtures / RECORDINGS / f"{name}.json").read_text())


def interaction(shared_fixtures: Path, name: str, method: str, path: str) -> dict[str, Any]:
    """The one recorded exchange of ``name`` for ``method`` on ``path`` (query strings aside)."""
    (found,) = [
        exchange
        for exchange in recording(shared_fixtures, name)
        if exchange["request"]["method"] == method and urlsplit(exchange["request"]["uri"]).path == path
    ]
    return found


def replay(
    api: responses.RequestsMock, exchange: dict[str, Any], *, body: Any = None, path: str | None = None
) -> None:
    """Serve a recorded answer on its recorded path, whatever query string the connector sends."""
    uri = urlsplit(exchange["request"]["uri"])
    response = exchange["response"]
    api.add(
        exchange["request"]["method"],
        f"{uri.scheme}://{uri.netloc}{path or uri.path}",
        status=response["status"],
        json=response["body"] if body is None else body,
        headers={
            name: value for name, value in response["headers"].items() if name.startswith("x-rate-limit")
        },
    )


def recorded_limit(exchange: dict[str, Any], endpoint: str, token_key: str) -> RateLimitInfo:
    headers = exchange["response"]["headers"]
    return RateLimitInfo(
        endpoint=endpoint,
        token_key=token_key,
        limit=int(headers["x-rate-limit-limit"]),
        remaining=int(headers["x-rate-limit-remaining"]),
        reset_at=datetime.fromtimestamp(int(headers["x-rate-limit-reset"]), UTC),
    )


def snowflake_time(item_id: str) -> str:
    created = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
        milliseconds=(int(item_id) >> 22) + SNOWFLAKE_EPOCH_MS
    )
    return created.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def as_requested(body: dict[str, Any]) -> dict[str, Any]:
    """The recorded tweets with the fields the connector's request asks for (see the module docstring)."""
    completed = copy.deepcopy(body)
    for tweet in completed["data"]:
        tweet.update(
            author_id=AUTHOR["id"], created_at=snowflake_time(tweet["id"]), conversation_id=tweet["id"]
        )
    completed["includes"] = {"users": [AUTHOR]}
    return completed


def channel(account_id: str, *, listening_queries: tuple[str, ...] = (), scope: str = "") -> ChannelRef:
    return ChannelRef(
        slug="recorded",
        network="x",
        handle="recorded",
        external_account_id=account_id,
        segment_slug="customer-relations",
        credentials={"access_token": "user-token", "expires_at": NOW + 3600, "scope": scope},
        listening_queries=listening_queries,
    )


@pytest.fixture
def x_api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        yield api


@pytest.fixture(autouse=True)
def x_app(settings: Any) -> None:
    settings.X_CLIENT_ID = "client-id"
    settings.X_CLIENT_SECRET = ""
    settings.X_BEARER_TOKEN = ""


# --- Mentions and search --------------------------------------------------------------------------------


def test_recorded_mentions_become_posts_with_their_ids_texts_and_rate_limit(
    x_api: responses.RequestsMock, shared_fixtures: Path
) -> None:
    exchange = interaction(
        shared_fixtures, "test_client_get_users_mentions", "GET", "/2/users/783214/mentions"
    )
    recorded = exchange["response"]["body"]
    replay(x_api, exchange, body=as_requested(recorded))

    page = XConnector(clock=clock).fetch(channel(TWITTER_ACCOUNT_ID), {})

    assert [(post.external_id, post.text) for post in page.posts] == [
        (tweet["id"], tweet["text"]) for tweet in recorded["data"]
    ]
    assert len(page.posts) == recorded["meta"]["result_count"] == 10  # the recording holds no retweets
    assert {post.kind for post in page.posts} == {"mention"}
    assert page.posts[5].text == "@Twitter make \U0001f928 an available reaction emoji in dms"
    assert page.posts[0].created_at == datetime(2022, 10, 7, 22, 43, 6, 945000, tzinfo=UTC)
    assert page.rejected == ()
    assert page.cursor == {"mentions": {"since_id": recorded["meta"]["newest_id"]}}
    assert page.rate_limits == (recorded_limit(exchange, MENTIONS_ENDPOINT, "user:783214"),)


@pytest.mark.parametrize(
    ("referenced", "included"), [("referenced_tweets", "tweets"), ("referenced_posts", "posts")]
)
def test_recorded_mentions_with_references_read_the_same_in_x_s_older_and_newer_names(
    x_api: responses.RequestsMock, shared_fixtures: Path, referenced: str, included: str
) -> None:
    # OpenAPI 2.167 renames referenced_tweets and includes.tweets; a rename must not turn retweets into
    # posts nor lose quotes. The recorded page, its first post made a retweet and its third a quote.
    exchange = interaction(
        shared_fixtures, "test_client_get_users_mentions", "GET", "/2/users/783214/mentions"
    )
    body = as_requested(exchange["response"]["body"])
    first, second, third, fourth = body["data"][:4]
    first[referenced] = [{"type": "retweeted", "id": second["id"]}]
    third[referenced] = [{"type": "quoted", "id": fourth["id"]}]
    body["includes"][included] = [fourth]
    replay(x_api, exchange, body=body)

    page = XConnector(clock=clock).fetch(channel(TWITTER_ACCOUNT_ID), {})

    assert [post.external_id for post in page.posts] == [tweet["id"] for tweet in body["data"][1:]]
    quote = next(post for post in page.posts if post.external_id == third["id"])
    assert quote.raw["quoted"]["id"] == fourth["id"]
    assert quote.raw["quoted"]["text"] == fourth["text"]


def test_recorded_mentions_as_recorded_are_quarantined_not_lost(
    x_api: responses.RequestsMock, shared_fixtures: Path
) -> None:
    exchange = interaction(
        shared_fixtures, "test_client_get_users_mentions", "GET", "/2/users/783214/mentions"
    )
    recorded = exchange["response"]["body"]
    replay(x_api, exchange)

    page = XConnector(clock=clock).fetch(channel(TWITTER_ACCOUNT_ID), {})

    assert page.posts == ()
    assert [(item.raw["id"], item.error) for item in page.rejected] == [
        (tweet["id"], "missing or malformed author_id: None") for tweet in recorded["data"]
    ]
    assert page.cursor == {"mentions": {"since_id": recorded["meta"]["newest_id"]}}


def test_the_recorded_next_token_pages_the_mentions_backlog(
    x_api: responses.RequestsMock, shared_fixtures: Path
) -> None:
    exchange = interaction(
        shared_fixtures, "test_client_get_users_mentions", "GET", "/2/users/783214/mentions"
    )
    recorded = exchange["response"]["body"]
    replay(x_api, exchange, body=as_requested(recorded))
    since_id = "1578516000000000000"

    page = XConnector(clock=clock).fetch(channel(TWITTER_ACCOUNT_ID), {"mentions": {"since_id": since_id}})

    assert page.cursor == {
        "mentions": {
            "since_id": since_id,
            "newest_id": recorded["meta"]["newest_id"],
            "pagination_token": recorded["meta"]["next_token"],
        }
    }
    assert page.has_more is True


def test_recorded_search_results_become_keyword_posts(
    x_api: responses.RequestsMock, shared_fixtures: Path, settings: Any
) -> None:
    settings.X_BEARER_TOKEN = "app-token"
    exchange = interaction(
        shared_fixtures, "test_client_search_recent_tweets", "GET", "/2/tweets/search/recent"
    )
    recorded = exchange["response"]["body"]
    replay(x_api, exchange, body=as_requested(recorded))
    x_api.get(f"https://api.twitter.com/2/users/{TWEEPYDEV_ID}/mentions", json={"meta": {"result_count": 0}})

    page = XConnector(clock=clock).fetch(channel(TWEEPYDEV_ID, listening_queries=("Tweepy",)), {})

    assert [(post.external_id, post.text, post.kind) for post in page.posts] == [
        (tweet["id"], tweet["text"], "keyword") for tweet in recorded["data"]
    ]
    assert len(page.posts) == recorded["meta"]["result_count"]
    assert page.cursor["searches"] == {"Tweepy": {"since_id": recorded["meta"]["newest_id"]}}
    assert page.rate_limits == (recorded_limit(exchange, SEARCH_ENDPOINT, "app"),)


# --- Direct messages ------------------------------------------------------------------------------------


def test_the_recorded_empty_dm_events_page_is_an_empty_page(
    x_api: responses.RequestsMock, shared_fixtures: Path
) -> None:
    exchange = interaction(shared_fixtures, "test_manage_and_lookup_direct_messages", "GET", "/2/dm_events")
    replay(x_api, exchange)
    x_api.get(f"https://api.twitter.com/2/users/{TWEEPYDEV_ID}/mentions", json={"meta": {"result_count": 0}})

    page = XConnector(clock=clock).fetch(
        channel(TWEEPYDEV_ID, scope="dm.read"), {"mentions": {"since_id": "1"}}
    )

    assert page.posts == ()
    assert page.rejected == ()
    assert page.cursor["dms"] == {}
    assert page.rate_limits == (recorded_limit(exchange, DM_EVENTS_ENDPOINT, f"user:{TWEEPYDEV_ID}"),)


def recorded_dm_events(shared_fixtures: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The recorded one-to-one conversation's events (the same DmEvent shape /2/dm_events answers with),
    with the fields the connector asks for: TweepyDev sent both, as the same recording's POSTs show."""
    exchange = interaction(
        shared_fixtures,
        "test_manage_and_lookup_direct_messages",
        "GET",
        f"/2/dm_conversations/with/{DM_PARTNER_ID}/dm_events",
    )
    body = copy.deepcopy(exchange["response"]["body"])
    for event in body["data"]:
        event.update(
            sender_id=TWEEPYDEV_ID,
            created_at=snowflake_time(event["id"]),
            dm_conversation_id=f"{DM_PARTNER_ID}-{TWEEPYDEV_ID}",
        )
    body["includes"] = {"users": [{"id": TWEEPYDEV_ID, "name": "Tweepy Testing", "username": "TweepyDev"}]}
    return exchange, body


def test_recorded_dms_received_become_dm_posts(x_api: responses.RequestsMock, shared_fixtures: Path) -> None:
    exchange, body = recorded_dm_events(shared_fixtures)
    replay(x_api, exchange, body=body, path="/2/dm_events")
    x_api.get(f"https://api.twitter.com/2/users/{DM_PARTNER_ID}/mentions", json={"meta": {"result_count": 0}})

    # Seen from the receiving side of the conversation.
    page = XConnector(clock=clock).fetch(
        channel(DM_PARTNER_ID, scope="dm.read"), {"mentions": {"since_id": "1"}}
    )

    assert [(post.external_id, post.text, post.kind, post.author.handle) for post in page.posts] == [
        ("1585800613752881156", "Testing 2", "dm", "TweepyDev"),
        ("1585800613253812228", "Testing 1", "dm", "TweepyDev"),
    ]
    assert {post.conversation_key for post in page.posts} == {f"{DM_PARTNER_ID}-{TWEEPYDEV_ID}"}
    # The recording offers next and previous tokens; a first run takes the newest page only.
    assert page.cursor["dms"] == {"since_id": "1585800613752881156"}
    assert page.has_more is False


def test_recorded_dms_we_sent_are_not_inboxed(x_api: responses.RequestsMock, shared_fixtures: Path) -> None:
    exchange, body = recorded_dm_events(shared_fixtures)
    replay(x_api, exchange, body=body, path="/2/dm_events")
    x_api.get(f"https://api.twitter.com/2/users/{TWEEPYDEV_ID}/mentions", json={"meta": {"result_count": 0}})

    page = XConnector(clock=clock).fetch(
        channel(TWEEPYDEV_ID, scope="dm.read"), {"mentions": {"since_id": "1"}}
    )

    assert page.posts == ()
    assert page.rejected == ()
    assert page.cursor["dms"] == {"since_id": "1585800613752881156"}


# --- Sending and connecting -----------------------------------------------------------------------------


def test_a_reply_is_read_from_the_recorded_create_tweet_answer(
    x_api: responses.RequestsMock, shared_fixtures: Path
) -> None:
    exchange = interaction(shared_fixtures, "test_client_create_and_delete_tweet", "POST", "/2/tweets")
    replay(x_api, exchange)

    sent = XConnector(clock=clock).reply(
        channel(TWEEPYDEV_ID), in_reply_to="1578516295611748353", text="Test Tweet"
    )

    assert sent.external_id == "1456012973835788293"
    assert sent.url == "https://x.com/recorded/status/1456012973835788293"
    assert json.loads(x_api.calls[0].request.body) == {
        "text": "Test Tweet",
        "reply": {"in_reply_to_tweet_id": "1578516295611748353"},
    }


def test_a_direct_message_is_read_from_the_recorded_answer(
    x_api: responses.RequestsMock, shared_fixtures: Path
) -> None:
    exchange = interaction(
        shared_fixtures,
        "test_manage_and_lookup_direct_messages",
        "POST",
        f"/2/dm_conversations/with/{DM_PARTNER_ID}/messages",
    )
    replay(x_api, exchange)

    sent = XConnector(clock=clock).send_direct_message(
        channel(TWEEPYDEV_ID), recipient_id=DM_PARTNER_ID, text="Testing 1"
    )

    assert sent.external_id == "1585800613253812228"
    assert sent.url == f"https://x.com/messages/{DM_PARTNER_ID}-{TWEEPYDEV_ID}"
    assert json.loads(x_api.calls[0].request.body) == exchange["request"]["body"]


def test_connecting_reads_the_account_from_the_recorded_users_me_answer(
    x_api: responses.RequestsMock, shared_fixtures: Path
) -> None:
    _url, kept = x_authorization_start(redirect_uri=REDIRECT_URI)
    x_api.post(
        "https://api.twitter.com/2/oauth2/token",
        json={
            "token_type": "bearer",
            "expires_in": 7200,
            "access_token": "user-token",
            "scope": "tweet.read tweet.write users.read dm.read dm.write offline.access",
            "refresh_token": "refresh-token",
        },
    )
    replay(x_api, interaction(shared_fixtures, "test_client_get_me", "GET", "/2/users/me"))

    connected = x_authorization_finish(
        redirect_uri=REDIRECT_URI,
        state_kept=kept,
        authorization_response_url=f"{REDIRECT_URI}?state={kept['state']}&code=code",
        clock=clock,
    )

    assert (connected["account_id"], connected["username"], connected["name"]) == (
        TWEEPYDEV_ID,
        "TweepyDev",
        "Tweepy Testing",
    )


# --- The names the connector sends ----------------------------------------------------------------------


def spec_parameters(spec: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    """The query parameters X's spec declares for GET ``path``, by name."""
    declared = {}
    for parameter in spec["paths"][path]["get"]["parameters"]:
        reference = parameter.get("$ref")
        resolved = spec["components"]["parameters"][reference.rsplit("/", 1)[1]] if reference else parameter
        declared[resolved["name"]] = resolved
    return declared


def sent_params(call: Any) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(call.request.url).query).items()}


def params_sent_while_paging(api: responses.RequestsMock) -> dict[str, dict[str, str]]:
    """What the connector sends to each endpoint mid-backlog, where it uses every cursor parameter."""
    api.get(f"https://api.twitter.com/2/users/{TWEEPYDEV_ID}/mentions", json={"meta": {"result_count": 0}})
    api.get("https://api.twitter.com/2/tweets/search/recent", json={"meta": {"result_count": 0}})
    api.get("https://api.twitter.com/2/dm_events", json={"meta": {"result_count": 0}})
    connector = XConnector(clock=clock)
    ref = channel(TWEEPYDEV_ID, listening_queries=("Tweepy",), scope="dm.read")
    mid_run = {"since_id": "1", "newest_id": "2"}
    connector.fetch(ref, {"mentions": {**mid_run, "pagination_token": "m"}})
    connector.fetch(ref, {"searches": {"Tweepy": {**mid_run, "next_token": "s"}}})
    connector.fetch(ref, {"dms": {**mid_run, "pagination_token": "d"}})
    return {urlsplit(call.request.url).path: sent_params(call) for call in api.calls}


def test_the_connector_sends_the_parameter_names_tweepy_and_the_recordings_use(
    x_api: responses.RequestsMock, shared_fixtures: Path
) -> None:
    sent = params_sent_while_paging(x_api)

    tweet_params = {"max_results", "expansions", "tweet.fields", "user.fields", "since_id"}
    assert set(sent[f"/2/users/{TWEEPYDEV_ID}/mentions"]) == tweet_params | {"pagination_token"}
    assert set(sent["/2/tweets/search/recent"]) == tweet_params | {"query", "next_token"}
    assert set(sent["/2/dm_events"]) == {
        "max_results",
        "pagination_token",
        "event_types",
        "dm_event.fields",
        "expansions",
        "user.fields",
    }
    # The newer spec's renames must not slip in unnoticed (SOURCE.md).
    assert "post.fields" not in {name for params in sent.values() for name in params}
    assert "referenced_posts" not in sent["/2/tweets/search/recent"]["expansions"].split(",")
    # The recorded search was sent as query=...: the same name the connector uses.
    recorded = interaction(
        shared_fixtures, "test_client_search_recent_tweets", "GET", "/2/tweets/search/recent"
    )
    assert set(parse_qs(urlsplit(recorded["request"]["uri"]).query)) <= set(sent["/2/tweets/search/recent"])


@pytest.mark.parametrize(
    ("spec_path", "sent_path"),
    [
        ("/2/users/{id}/mentions", f"/2/users/{TWEEPYDEV_ID}/mentions"),
        ("/2/tweets/search/recent", "/2/tweets/search/recent"),
        ("/2/dm_events", "/2/dm_events"),
    ],
)
def test_every_parameter_and_field_sent_is_declared_in_x_s_spec(
    x_api: responses.RequestsMock, shared_fixtures: Path, spec_path: str, sent_path: str
) -> None:
    spec = json.loads((shared_fixtures / SPEC).read_text())
    declared = spec_parameters(spec, spec_path)

    sent = params_sent_while_paging(x_api)[sent_path]

    assert set(sent) - set(declared) == set()
    listed = {
        name: value.split(",") for name, value in sent.items() if re.search(r"fields|expansions|types", name)
    }
    undeclared = {
        name: sorted(set(values) - set(declared[name]["schema"]["items"]["enum"]))
        for name, values in listed.items()
    }
    assert undeclared == {name: [] for name in listed}


# --- Looking for a reply whose outcome was lost -----------------------------------------------------------


def params_sent_looking(api: responses.RequestsMock) -> dict[str, dict[str, str]]:
    """What the connector sends when it looks for a reply and for a direct message it may have sent."""
    api.get("https://api.twitter.com/2/tweets/search/recent", json={"meta": {"result_count": 0}})
    api.get(
        f"https://api.twitter.com/2/dm_conversations/with/{DM_PARTNER_ID}/dm_events",
        json={"meta": {"result_count": 0}},
    )
    connector = XConnector(clock=clock)
    ref = channel(TWEEPYDEV_ID)
    since = datetime.fromtimestamp(NOW - 600, UTC)
    assert connector.find_reply(ref, in_reply_to="1", conversation="1", text="hi", since=since) is None
    assert connector.find_direct_message(ref, recipient_id=DM_PARTNER_ID, text="hi", since=since) is None
    return {urlsplit(call.request.url).path: sent_params(call) for call in api.calls}


@pytest.mark.parametrize(
    ("spec_path", "sent_path"),
    [
        ("/2/tweets/search/recent", "/2/tweets/search/recent"),
        (
            "/2/dm_conversations/with/{participant_id}/dm_events",
            f"/2/dm_conversations/with/{DM_PARTNER_ID}/dm_events",
        ),
    ],
)
def test_every_parameter_and_field_a_lookup_sends_is_declared_in_x_s_spec(
    x_api: responses.RequestsMock, shared_fixtures: Path, spec_path: str, sent_path: str
) -> None:
    spec = json.loads((shared_fixtures / SPEC).read_text())
    declared = spec_parameters(spec, spec_path)

    sent = params_sent_looking(x_api)[sent_path]

    assert set(sent) - set(declared) == set()
    listed = {
        name: value.split(",") for name, value in sent.items() if re.search(r"fields|expansions|types", name)
    }
    undeclared = {
        name: sorted(set(values) - set(declared[name]["schema"]["items"]["enum"]))
        for name, values in listed.items()
    }
    assert undeclared == {name: [] for name in listed}


def test_a_reply_is_looked_for_in_its_conversation_from_the_account_since_the_time_asked(
    x_api: responses.RequestsMock,
) -> None:
    sent = params_sent_looking(x_api)["/2/tweets/search/recent"]

    assert (sent["query"], sent["start_time"]) == (
        f"conversation_id:1 from:{TWEEPYDEV_ID}",
        "2022-10-07T22:40:00Z",  # NOW less ten minutes, to the second as X takes it
    )
