"""The Mastodon connector against a fake Mastodon API at the HTTP layer (``responses``).

The payloads are ours, written in the shapes of Mastodon.py's recordings of a real Mastodon server
(``../shared/fixtures/mastodon/mastodon_py_cassettes/``), for what the recordings lack: backlogs, replies and
direct messages, malformed items, 429s, 401s, 5xx and timeouts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from responses import matchers

from channels.connectors.base import (
    AuthExpired,
    AuthorData,
    ChannelRef,
    Connector,
    ConnectorError,
    ConnectorUnavailable,
    Page,
    Post,
    RateLimited,
    RateLimitInfo,
    RejectedItem,
    SentReply,
)
from channels.connectors.mastodon import (
    DEFAULT_RETRY_AFTER,
    HASHTAG_ENDPOINT,
    NOTIFICATIONS_ENDPOINT,
    REQUEST_TIMEOUT,
    MastodonConnector,
    html_to_text,
)
from channels.connectors.mastodon import client as mastodon_module
from channels.connectors.registry import connector_for
from inbox.models import Mention
from inbox.pulls import channel_pull
from tests.factories import ChannelFactory

INSTANCE = "https://mastodon.example"
HOST = "mastodon.example"
TOKEN = "token-northwind-support"
OWN_ID = "109000000000000001"
NOW = datetime(2026, 8, 1, 13, 52, 0, tzinfo=UTC)
NOTIFICATIONS_URL = f"{INSTANCE}/api/v1/notifications"
STATUSES_URL = f"{INSTANCE}/api/v1/statuses"
TAG_URL = f"{INSTANCE}/api/v1/timelines/tag/northwind"
INSTANCE_INFO_URL = f"{INSTANCE}/api/v2/instance/"

# --- Payloads in the recorded shapes ---------------------------------------------------------------------


def account(account_id: str, acct: str, *, display_name: str = "", followers: int = 0) -> dict[str, Any]:
    username = acct.split("@")[0]
    return {
        "id": account_id,
        "username": username,
        "acct": acct,
        "display_name": display_name,
        "locked": False,
        "bot": False,
        "group": False,
        "created_at": "2026-08-01T00:00:00.000Z",
        "note": "",
        "url": f"{INSTANCE}/@{acct}",
        "uri": f"{INSTANCE}/ap/users/{account_id}",
        "followers_count": followers,
        "following_count": 0,
        "statuses_count": 3,
        "last_status_at": "2026-08-01",
        "emojis": [],
        "fields": [
            {"name": "site", "value": "trails.example", "verified_at": "2026-07-01T00:00:00.000+00:00"}
        ],
    }


HIKER = account("110000000000000042", "hiker@trails.example", display_name="Ada Hiker", followers=812)
WALKER = account("109000000000000077", "walker", display_name="Local Walker", followers=3)  # on our instance
BRAND = account(OWN_ID, "northwind", display_name="Northwind Support", followers=10_000)


def status(
    status_id: str,
    content: str,
    *,
    author: dict[str, Any] = HIKER,
    visibility: str = "public",
    in_reply_to_id: str | None = None,
    created_at: str = "2026-08-01T13:51:42.823Z",
    mentions: tuple[dict[str, Any], ...] = (BRAND,),
    spoiler_text: str = "",
    language: Any = "en",
    edited_at: str | None = None,
) -> dict[str, Any]:
    return {
        "id": status_id,
        "created_at": created_at,
        "in_reply_to_id": in_reply_to_id,
        "in_reply_to_account_id": OWN_ID if in_reply_to_id else None,
        "sensitive": bool(spoiler_text),
        "spoiler_text": spoiler_text,
        "visibility": visibility,
        "language": language,
        "uri": f"https://trails.example/users/hiker/statuses/{status_id}",
        "url": f"https://trails.example/@hiker/{status_id}",
        "replies_count": 0,
        "reblogs_count": 0,
        "favourites_count": 0,
        "edited_at": edited_at,
        "content": content,
        "reblog": None,
        "account": author,
        "media_attachments": [],
        "mentions": [
            {"id": m["id"], "username": m["username"], "url": m["url"], "acct": m["acct"]} for m in mentions
        ],
        "tags": [],
        "emojis": [],
        "card": None,
        "poll": None,
    }


def mention(notification_id: int, status_payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(notification_id),
        "type": "mention",
        "created_at": status_payload["created_at"],
        "group_key": f"ungrouped-{notification_id}",
        "account": status_payload["account"],
        "status": status_payload,
    }


def update(notification_id: int, status_payload: dict[str, Any]) -> dict[str, Any]:
    """An "update" notification: a status the account interacted with was edited (Mastodon 3.5+)."""
    return {**mention(notification_id, status_payload), "type": "update"}


def hello(notification_id: int, **kwargs: Any) -> dict[str, Any]:
    """A mention notification whose status id is the notification id plus a fixed offset."""
    status_id = str(117020000000000000 + notification_id)
    return mention(notification_id, status(status_id, f"<p>@northwind hello {notification_id}</p>", **kwargs))


def link(url: str, *, newest: str, oldest: str) -> str:
    return f'<{url}?max_id={oldest}>; rel="next", <{url}?min_id={newest}>; rel="prev"'


def rate_headers(*, remaining: int = 299, reset: str = "2026-08-01T13:55:00.248623Z") -> dict[str, str]:
    return {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": reset}


def notifications_query(min_id: str | None = None) -> Any:
    params: dict[str, Any] = {"limit": "40", "types[]": ["mention", "update"]}
    if min_id is not None:
        params["min_id"] = min_id
    return matchers.query_param_matcher(params)


def channel(**overrides: Any) -> ChannelRef:
    fields: dict[str, Any] = {
        "slug": "northwind-support-mastodon",
        "network": "mastodon",
        "handle": "@northwind@mastodon.example",
        "external_account_id": OWN_ID,
        "segment_slug": "customer-relations",
        "credentials": {"instance_url": INSTANCE, "access_token": TOKEN},
        "listening_queries": (),
    }
    fields.update(overrides)
    return ChannelRef(**fields)


def ids(page: Page) -> list[str]:
    return [post.external_id for post in page.posts]


def sent_form(call: Any) -> dict[str, list[str]]:
    return parse_qs(call.request.body)


def query(call: Any) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    """The fake Mastodon API; every response registered must be asked for, and nothing else may be."""
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def connector() -> MastodonConnector:
    return MastodonConnector(clock=lambda: NOW)


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sleeping in a worker is the failure we guard against: make it fail the test."""

    def refuse(seconds: float) -> None:
        raise AssertionError(f"slept {seconds}s inside a pull")

    monkeypatch.setattr("time.sleep", refuse)


# --- Registration and the client ------------------------------------------------------------------------


def test_mastodon_is_registered_and_implements_the_connector_protocol() -> None:
    built = connector_for("mastodon")

    assert isinstance(built, MastodonConnector)
    assert isinstance(built, Connector)
    assert built.network == "mastodon"


def test_the_client_throws_on_rate_limits_with_a_timeout_and_no_version_lookup(
    api: responses.RequestsMock, connector: MastodonConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[dict[str, Any]] = []
    real = mastodon_module.Mastodon

    def spy(**kwargs: Any) -> Any:
        built.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(mastodon_module, "Mastodon", spy)
    api.add(responses.GET, NOTIFICATIONS_URL, json=[])

    connector.fetch(channel(), {})

    assert len(built) == 1
    assert built[0]["ratelimit_method"] == "throw"
    assert built[0]["version_check_mode"] == "none"
    assert built[0]["request_timeout"] == REQUEST_TIMEOUT
    assert built[0]["api_base_url"] == INSTANCE
    assert built[0]["access_token"] == TOKEN
    assert len(api.calls) == 1  # no instance or version lookup before the notifications


# --- Pulling mentions: cursors and paging ----------------------------------------------------------------


def test_first_pull_takes_the_newest_page_and_keeps_the_newest_id_as_cursor(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        json=[hello(31), hello(30)],
        headers={"Link": link(NOTIFICATIONS_URL, newest="31", oldest="30"), **rate_headers()},
        match=[notifications_query()],
    )

    page = connector.fetch(channel(), {})

    assert ids(page) == [f"{HOST}:117020000000000030", f"{HOST}:117020000000000031"]  # oldest first
    assert page.cursor == {"min_id": "31"}
    assert page.has_more is False
    assert page.rejected == ()
    assert api.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert len(api.calls) == 1


def test_a_backlog_larger_than_a_page_is_walked_by_min_id_without_gaps_or_doubles(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    # 43 mentions arrived after the stored cursor (100): a full page of 40, then 3.
    first = [hello(n) for n in range(140, 100, -1)]
    second = [hello(n) for n in range(143, 140, -1)]
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        json=first,
        headers={"Link": link(NOTIFICATIONS_URL, newest="140", oldest="101"), **rate_headers(remaining=298)},
        match=[notifications_query(min_id="100")],
    )
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        json=second,
        headers={"Link": link(NOTIFICATIONS_URL, newest="143", oldest="141"), **rate_headers(remaining=297)},
        match=[notifications_query(min_id="140")],
    )

    page_one = connector.fetch(channel(), {"min_id": "100"})
    page_two = connector.fetch(channel(), page_one.cursor)

    assert page_one.cursor == {"min_id": "140"}
    assert page_one.has_more is True
    assert page_two.cursor == {"min_id": "143"}
    assert page_two.has_more is False
    walked = ids(page_one) + ids(page_two)
    assert walked == [f"{HOST}:{117020000000000000 + n}" for n in range(101, 144)]
    assert len(set(walked)) == 43
    assert [query(call)["min_id"] for call in api.calls] == [["100"], ["140"]]


def test_a_full_first_page_is_the_newest_there_is_and_has_nothing_after_it(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        json=[hello(n) for n in range(540, 500, -1)],
        match=[notifications_query()],
    )

    page = connector.fetch(channel(), {})

    assert len(page.posts) == 40
    assert page.cursor == {"min_id": "540"}
    assert page.has_more is False  # older mentions are history: a backfill walks them, a pull does not


def test_next_run_asks_only_for_what_is_newer_than_the_cursor_and_keeps_it_when_nothing_came(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    api.add(responses.GET, NOTIFICATIONS_URL, json=[], match=[notifications_query(min_id="143")])

    page = connector.fetch(channel(), {"min_id": "143"})

    assert page.posts == ()
    assert page.cursor == {"min_id": "143"}
    assert page.has_more is False


def test_a_first_pull_with_no_mentions_makes_the_next_pull_start_from_the_first_one(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    api.add(responses.GET, NOTIFICATIONS_URL, json=[], match=[notifications_query()])
    api.add(responses.GET, NOTIFICATIONS_URL, json=[hello(1)], match=[notifications_query(min_id="0")])

    empty = connector.fetch(channel(), {})
    first = connector.fetch(channel(), empty.cursor)

    assert empty.cursor == {"min_id": "0"}
    assert ids(first) == [f"{HOST}:117020000000000001"]
    assert first.cursor == {"min_id": "1"}


def test_a_cursor_that_is_not_ours_is_refused_before_any_call(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    with pytest.raises(ConnectorError, match="min_id must be a string"):
        connector.fetch(channel(), {"min_id": 143})

    assert len(api.calls) == 0


# --- Posts: ids, authors, threads, kinds, text -----------------------------------------------------------


def test_a_reply_becomes_a_post_with_instance_qualified_ids_author_and_thread(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    reply = status(
        "117020583258292382",
        "<p>@northwind it still leaks</p>",
        in_reply_to_id="117020583245459824",
        created_at="2026-08-01T13:53:15.910Z",
    )
    item = mention(55, reply)
    api.add(responses.GET, NOTIFICATIONS_URL, json=[item])

    page = connector.fetch(channel(), {"min_id": "54"})

    assert page.posts == (
        Post(
            network="mastodon",
            external_id=f"{HOST}:117020583258292382",
            kind="reply",
            text="@northwind it still leaks",
            created_at=datetime(2026, 8, 1, 13, 53, 15, 910000, tzinfo=UTC),
            author=AuthorData(
                external_id=f"{HOST}:110000000000000042",
                handle="hiker@trails.example",
                display_name="Ada Hiker",
                follower_count=812,
                is_verified=False,  # a verified profile link is not a verified account
            ),
            conversation_key=f"{HOST}:117020583245459824",
            in_reply_to=f"{HOST}:117020583245459824",
            canonical_id="https://trails.example/users/hiker/statuses/117020583258292382",
            url="https://trails.example/@hiker/117020583258292382",
            raw=item,
            language="en",
        ),
    )


@pytest.mark.parametrize(
    ("visibility", "in_reply_to_id", "kind"),
    [
        ("public", None, "mention"),
        ("unlisted", None, "mention"),
        ("private", None, "mention"),
        ("public", "117020583245459824", "reply"),
        ("direct", None, "dm"),
        ("direct", "117020583245459824", "dm"),
    ],
)
def test_kind_follows_visibility_and_reply(
    api: responses.RequestsMock,
    connector: MastodonConnector,
    visibility: str,
    in_reply_to_id: str | None,
    kind: str,
) -> None:
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        json=[hello(7, visibility=visibility, in_reply_to_id=in_reply_to_id)],
    )

    (post,) = connector.fetch(channel(), {"min_id": "6"}).posts

    assert post.kind == kind


def test_authors_are_named_user_at_host_whether_local_or_remote(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    # The instance names its own accounts without a host; the same person is walker@mastodon.example on
    # every other instance, and a bare "walker" would be someone else there.
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        json=[hello(12, author=WALKER), hello(11)],
    )

    page = connector.fetch(channel(), {"min_id": "10"})

    assert [post.author.handle for post in page.posts] == ["hiker@trails.example", "walker@mastodon.example"]


def test_a_post_that_answers_nothing_is_its_own_conversation(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    api.add(responses.GET, NOTIFICATIONS_URL, json=[hello(8)])

    (post,) = connector.fetch(channel(), {"min_id": "7"}).posts

    assert post.conversation_key == post.external_id == f"{HOST}:117020000000000008"
    assert post.in_reply_to == ""


@pytest.mark.parametrize(
    ("tagged", "language"),
    [
        ("en", "en"),
        ("ja", "ja"),
        ("pt-BR", "pt"),
        ("zh_TW", "zh"),
        ("DE", "de"),
        ("kmr", "kmr"),  # Mastodon offers ISO 639-3 languages without a two-letter code
        (None, ""),  # the status has no language: the author's app did not say
        ("und", ""),
        ("", ""),
        ("e1", ""),
        (7, ""),
    ],
)
def test_the_language_comes_from_the_status_as_its_primary_subtag(
    api: responses.RequestsMock, connector: MastodonConnector, tagged: Any, language: str
) -> None:
    api.add(responses.GET, NOTIFICATIONS_URL, json=[hello(9, language=tagged)])

    page = connector.fetch(channel(), {"min_id": "8"})

    (post,) = page.posts
    assert post.language == language
    assert page.rejected == ()  # a tag we cannot read loses a hint, never the post


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("<p>line one<br>line two<br />line three</p>", "line one\nline two\nline three"),
        (
            '<p><span class="h-card" translate="no"><a href="https://mastodon.example/@northwind" '
            'class="u-url mention">@<span>northwind</span></a></span> hi</p>',
            "@northwind hi",
        ),
        (
            '<p>see <a href="https://example.com/trail/map/2026" rel="nofollow noopener" target="_blank">'
            '<span class="invisible">https://</span><span class="ellipsis">example.com/trail/ma</span>'
            '<span class="invisible">p/2026</span></a></p>',
            "see https://example.com/trail/map/2026",
        ),
        (
            '<p><a href="https://mastodon.example/tags/trailfest" class="mention hashtag">'
            "#<span>Trailfest</span></a></p>",
            "#Trailfest",
        ),
        (
            "<p>fish &amp; chips &lt;3 caf&eacute; &#127956;&#65039; &quot;ok&quot;</p>",
            'fish & chips <3 café 🏔️ "ok"',
        ),
        ("<p>a</p><script>alert('pwned')</script><style>p { color: red }</style><p>b</p>", "a\n\nb"),
        ("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>", "<script>alert(1)</script>"),
        ("<p>  spaced \n  out  </p>", "spaced out"),
        ("", ""),
    ],
    ids=[
        "paragraphs",
        "line-breaks",
        "mention-link",
        "shortened-link",
        "hashtag",
        "entities",
        "script-dropped",
        "typed-markup-kept-as-text",
        "whitespace",
        "empty",
    ],
)
def test_html_content_becomes_plain_text(html: str, text: str) -> None:
    assert html_to_text(html) == text


def test_a_post_text_is_plain_and_never_carries_markup(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    content = (
        '<p>Hi <span class="h-card"><a href="https://mastodon.example/@northwind" class="u-url mention">'
        "@<span>northwind</span></a></span>, order &amp; refund?</p><p>Line one<br />line two</p>"
        "<script>document.location='https://evil.example'</script>"
    )
    api.add(responses.GET, NOTIFICATIONS_URL, json=[mention(9, status("117020000000000009", content))])

    (post,) = connector.fetch(channel(), {"min_id": "8"}).posts

    assert post.text == "Hi @northwind, order & refund?\n\nLine one\nline two"
    assert "<" not in post.text


def test_malformed_items_are_rejected_with_the_reason_and_the_rest_of_the_page_kept(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    no_account = hello(21)
    del no_account["status"]["account"]
    bad_time = hello(22)
    bad_time["status"]["created_at"] = "yesterday"
    no_visibility = hello(23)
    del no_visibility["status"]["visibility"]
    no_status = {**hello(24), "status": None}
    not_an_object = "surprise"
    favourite = {**hello(25), "type": "favourite"}  # not a mention: skipped, not rejected
    page_items = [
        hello(26),
        favourite,
        no_status,
        no_visibility,
        bad_time,
        no_account,
        hello(20),
        not_an_object,
    ]
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        json=page_items,
        headers={"Link": link(NOTIFICATIONS_URL, newest="26", oldest="20")},
    )

    page = connector.fetch(channel(), {"min_id": "19"})

    assert ids(page) == [f"{HOST}:117020000000000020", f"{HOST}:117020000000000026"]
    assert page.rejected == (
        RejectedItem(raw={"item": "surprise"}, error="expected an object holding 'status', got str"),
        RejectedItem(raw=no_account, error="'account' is missing"),
        RejectedItem(raw=bad_time, error="created_at 'yesterday' is not an ISO-8601 time"),
        RejectedItem(raw=no_visibility, error="'visibility' is missing"),
        RejectedItem(raw=no_status, error="'status' is missing"),
    )
    assert page.cursor == {"min_id": "26"}  # past the rejected items: they are quarantined, not retried


def test_a_status_dated_outside_the_possible_window_is_rejected_and_the_rest_of_the_page_kept(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    far_future = hello(22, created_at="9999-12-31T23:59:59-05:00")
    year_one = hello(21, created_at="0001-01-01T00:00:00+05:00")
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        json=[hello(23), far_future, year_one, hello(20)],
        headers={"Link": link(NOTIFICATIONS_URL, newest="23", oldest="20")},
    )

    page = connector.fetch(channel(), {"min_id": "19"})

    assert ids(page) == [f"{HOST}:117020000000000020", f"{HOST}:117020000000000023"]
    assert [item.raw for item in page.rejected] == [year_one, far_future]
    assert page.rejected[0].error == (
        "created_at 0001-01-01T00:00:00+05:00 is before 2006-01-01, earlier than any social network"
    )
    assert page.rejected[1].error.startswith(
        "created_at 9999-12-31T23:59:59-05:00 is more than a day in the future"
    )
    assert page.cursor == {"min_id": "23"}


# --- Rate limits -----------------------------------------------------------------------------------------


def test_rate_limit_headers_become_rate_limit_info_on_the_page(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    api.add(responses.GET, NOTIFICATIONS_URL, json=[hello(3)], headers=rate_headers(remaining=41))

    page = connector.fetch(channel(), {"min_id": "2"})

    assert page.rate_limits == (
        RateLimitInfo(
            endpoint="GET /api/v1/notifications",
            token_key=f"user:{OWN_ID}",
            limit=300,
            remaining=41,
            reset_at=datetime(2026, 8, 1, 13, 55, 0, 248623, tzinfo=UTC),
        ),
    )


def test_a_response_without_rate_limit_headers_claims_no_budget(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    api.add(responses.GET, NOTIFICATIONS_URL, json=[hello(3)])

    page = connector.fetch(channel(), {"min_id": "2"})

    assert page.rate_limits == ()
    assert len(page.posts) == 1


def test_an_unreadable_reset_header_does_not_fail_a_good_call(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    # Mastodon.py itself raises on a reset it cannot parse; the connector keeps the page.
    api.add(responses.GET, NOTIFICATIONS_URL, json=[hello(3)], headers=rate_headers(reset="soon-ish"))

    page = connector.fetch(channel(), {"min_id": "2"})

    assert ids(page) == [f"{HOST}:117020000000000003"]
    assert page.rate_limits == (RateLimitInfo(NOTIFICATIONS_ENDPOINT, f"user:{OWN_ID}", 300, 299, None),)


def test_429_raises_rate_limited_until_the_iso_8601_reset_without_sleeping_or_retrying(
    api: responses.RequestsMock, connector: MastodonConnector, no_sleep: None
) -> None:
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        status=429,
        json={"error": "Too many requests"},
        headers=rate_headers(remaining=0, reset="2026-08-01T13:55:00.000Z"),
    )

    with pytest.raises(RateLimited) as raised:
        connector.fetch(channel(), {"min_id": "2"})

    assert raised.value.retry_after == 180.0
    assert raised.value.limits == (
        RateLimitInfo(
            NOTIFICATIONS_ENDPOINT, f"user:{OWN_ID}", 300, 0, datetime(2026, 8, 1, 13, 55, tzinfo=UTC)
        ),
    )
    assert len(api.calls) == 1


def test_429_counts_the_wait_on_the_server_clock_when_it_sends_its_date(
    api: responses.RequestsMock, connector: MastodonConnector, no_sleep: None
) -> None:
    # The server's clock reads 13:50:00 while ours reads 13:52:00: its reset is 5 minutes away, not 3.
    headers = {
        **rate_headers(remaining=0, reset="2026-08-01T13:55:00.000Z"),
        "Date": "Sat, 01 Aug 2026 13:50:00 GMT",
    }
    api.add(
        responses.GET, NOTIFICATIONS_URL, status=429, json={"error": "Too many requests"}, headers=headers
    )

    with pytest.raises(RateLimited) as raised:
        connector.fetch(channel(), {"min_id": "2"})

    assert raised.value.retry_after == 300.0
    assert raised.value.limits[0].reset_at == datetime(2026, 8, 1, 13, 57, tzinfo=UTC)


@pytest.mark.parametrize(
    ("headers", "retry_after"),
    [
        ({}, DEFAULT_RETRY_AFTER),
        (rate_headers(remaining=0, reset="2026-08-01T13:51:00.000Z"), 1.0),
        (rate_headers(remaining=0, reset="2026-08-01T13:52:00.400Z"), 1.0),
        ({"X-RateLimit-Reset": "1785592380"}, 60.0),  # GoToSocial sends Unix seconds
    ],
    ids=["no-reset", "reset-past", "reset-in-under-a-second", "unix-seconds"],
)
def test_429_retry_after_is_at_least_a_second_and_sane_without_a_reset(
    api: responses.RequestsMock,
    connector: MastodonConnector,
    no_sleep: None,
    headers: dict[str, str],
    retry_after: float,
) -> None:
    api.add(
        responses.GET, NOTIFICATIONS_URL, status=429, json={"error": "Too many requests"}, headers=headers
    )

    with pytest.raises(RateLimited) as raised:
        connector.fetch(channel(), {"min_id": "2"})

    assert raised.value.retry_after == retry_after
    assert len(api.calls) == 1


# --- Errors ----------------------------------------------------------------------------------------------


def test_401_means_the_token_was_revoked(api: responses.RequestsMock, connector: MastodonConnector) -> None:
    api.add(responses.GET, NOTIFICATIONS_URL, status=401, json={"error": "The access token is invalid"})

    with pytest.raises(AuthExpired, match="401 Unauthorized: The access token is invalid"):
        connector.fetch(channel(), {"min_id": "2"})

    assert len(api.calls) == 1


def test_a_channel_without_a_token_needs_reauthorisation_before_any_call(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    with pytest.raises(AuthExpired, match="no access token"):
        connector.fetch(channel(credentials={"instance_url": INSTANCE}), {})

    assert len(api.calls) == 0


@pytest.mark.parametrize("status_code", [500, 502, 503, 504])
def test_5xx_is_unavailable(
    api: responses.RequestsMock, connector: MastodonConnector, status_code: int
) -> None:
    api.add(responses.GET, NOTIFICATIONS_URL, status=status_code, body="<html>oops</html>")

    with pytest.raises(ConnectorUnavailable, match=str(status_code)):
        connector.fetch(channel(), {"min_id": "2"})

    assert len(api.calls) == 1


@pytest.mark.parametrize(
    "failure",
    [
        requests.exceptions.ReadTimeout("read timed out"),
        requests.exceptions.ConnectTimeout("connect timed out"),
        requests.exceptions.ConnectionError("refused"),
    ],
    ids=["read-timeout", "connect-timeout", "connection-refused"],
)
def test_timeouts_and_network_errors_are_unavailable(
    api: responses.RequestsMock, connector: MastodonConnector, failure: Exception
) -> None:
    api.add(responses.GET, NOTIFICATIONS_URL, body=failure)

    with pytest.raises(ConnectorUnavailable, match="Could not complete request"):
        connector.fetch(channel(), {"min_id": "2"})


@pytest.mark.parametrize(
    ("status_code", "body", "message"),
    [
        (404, {"error": "Record not found"}, "404 Not Found: Record not found"),
        (422, {"error": "Validation failed"}, "422 Unprocessable Entity: Validation failed"),
        (403, {"error": "This action is outside the authorized scopes"}, "403 Forbidden"),
    ],
)
def test_other_api_errors_are_plain_connector_errors(
    api: responses.RequestsMock, connector: MastodonConnector, status_code: int, body: dict, message: str
) -> None:
    api.add(responses.GET, NOTIFICATIONS_URL, status=status_code, json=body)

    with pytest.raises(ConnectorError, match=message) as raised:
        connector.fetch(channel(), {"min_id": "2"})

    assert type(raised.value) is ConnectorError  # not retried, and the channel keeps its token


# --- Listening: hashtag timelines ------------------------------------------------------------------------


def test_hashtag_queries_bring_keyword_hits_with_their_own_cursor(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    also_a_mention = status("117020000000000302", "<p>@northwind #Northwind tent broke</p>")
    ours = status("117020000000000303", "<p>New #Northwind stove!</p>", author=BRAND, mentions=())
    boost = {
        **status("117020000000000304", "", mentions=()),
        "reblog": status("117020000000000299", "<p>x</p>"),
    }
    hit = status("117020000000000301", "<p>Loving my #Northwind pack</p>", mentions=())
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        json=[mention(12, also_a_mention)],
        match=[notifications_query("11")],
    )
    api.add(
        responses.GET, INSTANCE_INFO_URL, json={"domain": HOST}
    )  # Mastodon.py checks the timeline is public
    api.add(
        responses.GET,
        TAG_URL,
        json=[boost, ours, also_a_mention, hit],
        headers={
            "Link": link(TAG_URL, newest="117020000000000304", oldest="117020000000000301"),
            **rate_headers(),
        },
        match=[matchers.query_param_matcher({"limit": "40", "min_id": "117020000000000300"})],
    )
    listening = channel(listening_queries=("#Northwind", "#northwind", "northwind gear"))

    page = connector.fetch(listening, {"min_id": "11", "hashtags": {"northwind": "117020000000000300"}})

    assert [(post.external_id, post.kind) for post in page.posts] == [
        (f"{HOST}:117020000000000302", "mention"),  # found both ways: one post, as the mention
        (f"{HOST}:117020000000000301", "keyword"),
    ]
    assert page.posts[1].raw == {"hashtag": "northwind", "status": hit}
    assert page.posts[1].text == "Loving my #Northwind pack"
    assert page.cursor == {"min_id": "12", "hashtags": {"northwind": "117020000000000304"}}
    assert page.has_more is False
    assert [info.endpoint for info in page.rate_limits] == [HASHTAG_ENDPOINT]


def test_endpoints_name_what_a_fetch_may_call(connector: MastodonConnector) -> None:
    assert connector.endpoints(channel()) == (("GET /api/v1/notifications", f"user:{OWN_ID}"),)
    assert connector.endpoints(channel(listening_queries=("#Trailfest", "northwind gear"))) == (
        ("GET /api/v1/notifications", f"user:{OWN_ID}"),
        ("GET /api/v1/timelines/tag/:hashtag", f"user:{OWN_ID}"),
    )


# --- Replies and direct messages -------------------------------------------------------------------------


def test_a_reply_to_a_direct_message_stays_direct_and_addresses_its_people(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    friend = account("110000000000000077", "friend@trails.example")
    original = status(
        "117020000000000500",
        "<p>@northwind @friend where is my order?</p>",
        visibility="direct",
        mentions=(BRAND, friend),
    )
    api.add(responses.GET, f"{STATUSES_URL}/117020000000000500", json=original)
    sent_status = {
        **status("117020000000000501", "<p>...</p>", author=BRAND, visibility="direct"),
        "url": f"{INSTANCE}/@northwind/117020000000000501",
    }
    api.add(responses.POST, STATUSES_URL, json=sent_status, headers=rate_headers(remaining=250))

    sent = connector.reply(channel(), in_reply_to=f"{HOST}:117020000000000500", text="It ships today.")

    assert sent == SentReply(
        external_id=f"{HOST}:117020000000000501",
        url=f"{INSTANCE}/@northwind/117020000000000501",
        raw=sent_status,
    )
    post = api.calls[1]
    assert sent_form(post) == {
        "status": ["@hiker@trails.example @friend@trails.example It ships today."],
        "in_reply_to_id": ["117020000000000500"],
        "visibility": ["direct"],
        "sensitive": ["0"],  # Mastodon.py always sends it; it only concerns media
    }
    assert (
        post.request.headers["Idempotency-Key"]
        == hashlib.sha256(
            f"northwind-support-mastodon|reply:{HOST}:117020000000000500|It ships today.".encode()
        ).hexdigest()
    )


def test_a_public_reply_keeps_the_content_warning_and_does_not_repeat_an_address(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    original = status("117020000000000600", "<p>recall?</p>", spoiler_text="product safety")
    api.add(responses.GET, f"{STATUSES_URL}/117020000000000600", json=original)
    api.add(responses.POST, STATUSES_URL, json=status("117020000000000601", "<p>...</p>", author=BRAND))

    connector.reply(
        channel(), in_reply_to=f"{HOST}:117020000000000600", text="@Hiker@trails.example no recall."
    )

    assert sent_form(api.calls[1]) == {
        "status": ["@Hiker@trails.example no recall."],
        "in_reply_to_id": ["117020000000000600"],
        "visibility": ["public"],
        "spoiler_text": ["product safety"],
        "sensitive": ["0"],
    }


@pytest.mark.parametrize(
    "text",
    [
        "@walker@mastodon.example glad it fits.",
        "@Walker glad it fits.",
        "@WALKER@Mastodon.Example glad it fits.",
    ],
)
def test_a_reply_that_names_a_local_author_in_either_form_does_not_address_them_twice(
    api: responses.RequestsMock, connector: MastodonConnector, text: str
) -> None:
    # The instance calls its own accounts by their bare name; the inbox shows them as user@host.
    original = status("117020000000000610", "<p>@northwind does it fit?</p>", author=WALKER)
    api.add(responses.GET, f"{STATUSES_URL}/117020000000000610", json=original)
    api.add(responses.POST, STATUSES_URL, json=status("117020000000000611", "<p>...</p>", author=BRAND))

    connector.reply(channel(), in_reply_to=f"{HOST}:117020000000000610", text=text)

    assert sent_form(api.calls[1])["status"] == [text]


def test_a_bare_name_does_not_address_a_remote_account_of_that_name(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    # On this instance "@hiker" is a local account, not hiker@trails.example.
    original = status("117020000000000620", "<p>@northwind hi</p>")
    api.add(responses.GET, f"{STATUSES_URL}/117020000000000620", json=original)
    api.add(responses.POST, STATUSES_URL, json=status("117020000000000621", "<p>...</p>", author=BRAND))

    connector.reply(channel(), in_reply_to=f"{HOST}:117020000000000620", text="@hiker hello")

    assert sent_form(api.calls[1])["status"] == ["@hiker@trails.example @hiker hello"]


def test_a_retried_reply_carries_the_same_idempotency_key(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    original = status("117020000000000700", "<p>hi</p>")
    api.add(responses.GET, f"{STATUSES_URL}/117020000000000700", json=original)
    api.add(responses.POST, STATUSES_URL, json=status("117020000000000701", "<p>...</p>", author=BRAND))

    for text in ("Thanks!", "Thanks!", "Thank you!"):
        connector.reply(channel(), in_reply_to=f"{HOST}:117020000000000700", text=text)

    keys = [call.request.headers["Idempotency-Key"] for call in api.calls if call.request.method == "POST"]
    assert keys[0] == keys[1]
    assert keys[2] != keys[0]


def test_a_reply_to_a_post_of_another_instance_is_refused_before_any_call(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    with pytest.raises(ConnectorError, match="not a post or account of this channel's instance"):
        connector.reply(channel(), in_reply_to="fosstodon.org:117020000000000500", text="hi")

    assert len(api.calls) == 0


def test_a_reply_to_a_deleted_post_fails_without_posting(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    api.add(
        responses.GET, f"{STATUSES_URL}/117020000000000800", status=404, json={"error": "Record not found"}
    )

    with pytest.raises(ConnectorError, match="404 Not Found"):
        connector.reply(channel(), in_reply_to=f"{HOST}:117020000000000800", text="hi")

    assert [call.request.method for call in api.calls] == ["GET"]


def test_a_direct_message_is_a_direct_status_addressed_to_the_author(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    api.add(responses.GET, f"{INSTANCE}/api/v1/accounts/110000000000000042", json=HIKER)
    sent_status = status("117020000000000901", "<p>...</p>", author=BRAND, visibility="direct")
    api.add(responses.POST, STATUSES_URL, json=sent_status)

    sent = connector.send_direct_message(
        channel(), recipient_id=f"{HOST}:110000000000000042", text="Your refund is on its way."
    )

    assert sent.external_id == f"{HOST}:117020000000000901"
    assert sent_form(api.calls[1]) == {
        "status": ["@hiker@trails.example Your refund is on its way."],
        "visibility": ["direct"],
        "sensitive": ["0"],
    }
    assert "in_reply_to_id" not in sent_form(api.calls[1])


# --- Edits: "update" notifications ----------------------------------------------------------------------

EDITED_AT_TIME = NOW - timedelta(seconds=1, microseconds=880_000)
EDITED_AT = EDITED_AT_TIME.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # as Mastodon writes it
ORIGINAL = status("117020000000000700", "<p>@northwind my tent leaks</p>")
EDITED = status("117020000000000700", "<p>@northwind my tent leaks at the seams</p>", edited_at=EDITED_AT)


def test_an_update_notification_of_a_post_that_mentions_us_brings_its_edited_version(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    api.add(responses.GET, NOTIFICATIONS_URL, json=[update(71, EDITED)], match=[notifications_query("70")])

    page = connector.fetch(channel(), {"min_id": "70"})

    (post,) = page.posts
    assert (post.external_id, post.kind, post.text) == (
        f"{HOST}:117020000000000700",
        "mention",
        "@northwind my tent leaks at the seams",
    )
    assert post.edited_at == EDITED_AT_TIME
    assert page.cursor == {"min_id": "71"}


def test_an_update_of_a_post_that_never_addressed_us_is_not_a_post_for_the_inbox(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    # A post the account boosted, edited later: Mastodon notifies the edit, but it is no mention of us.
    boosted = status("117020000000000710", "<p>new trail map</p>", mentions=(), edited_at=EDITED_AT)
    api.add(responses.GET, NOTIFICATIONS_URL, json=[update(72, boosted)])

    page = connector.fetch(channel(), {"min_id": "71"})

    assert (page.posts, page.rejected, page.cursor) == ((), (), {"min_id": "72"})


def test_a_mention_and_its_edit_in_one_page_are_one_post_as_last_edited(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    api.add(responses.GET, NOTIFICATIONS_URL, json=[update(74, EDITED), hello(73), mention(72, ORIGINAL)])

    page = connector.fetch(channel(), {"min_id": "71"})

    assert [(post.external_id, post.text) for post in page.posts] == [
        (f"{HOST}:117020000000000700", "@northwind my tent leaks at the seams"),
        (f"{HOST}:117020000000000073", "@northwind hello 73"),
    ]


def test_an_unreadable_edit_time_keeps_the_post_as_not_edited(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        json=[mention(75, status("117020000000000720", "<p>@northwind hi</p>", edited_at="yesterday"))],
    )

    (post,) = connector.fetch(channel(), {"min_id": "74"}).posts

    assert post.edited_at is None


@pytest.mark.django_db
def test_a_pulled_edit_replaces_the_stored_text_and_keeps_the_original(api: responses.RequestsMock) -> None:
    stored_channel = ChannelFactory(
        network="mastodon",
        external_account_id=OWN_ID,
        credentials={"instance_url": INSTANCE, "access_token": TOKEN},
        cursor={"min_id": "70"},
    )
    api.add(responses.GET, NOTIFICATIONS_URL, json=[mention(71, ORIGINAL)], match=[notifications_query("70")])
    api.add(responses.GET, NOTIFICATIONS_URL, json=[update(80, EDITED)], match=[notifications_query("71")])
    pull = MastodonConnector(clock=lambda: NOW)
    channel_pull(channel_id=stored_channel.pk, connector=pull)

    result = channel_pull(channel_id=stored_channel.pk, connector=pull)

    assert (result.outcome, result.inserted, result.duplicates) == ("ok", 0, 1)
    stored = Mention.objects.get(network="mastodon")
    assert stored.text == "@northwind my tent leaks at the seams"
    assert stored.edited_at == EDITED_AT_TIME
    assert [version["text"] for version in stored.edit_history] == ["@northwind my tent leaks"]
    assert stored.raw["type"] == "update"


# --- Through the pull service ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_pull_stores_a_two_page_backlog_once_with_its_cursor(api: responses.RequestsMock) -> None:
    stored_channel = ChannelFactory(
        network="mastodon",
        external_account_id=OWN_ID,
        credentials={"instance_url": INSTANCE, "access_token": TOKEN},
        cursor={"min_id": "100"},
    )
    first = [hello(n) for n in range(140, 100, -1)]
    second = [hello(n, in_reply_to_id="117020000000000101") for n in range(142, 140, -1)]
    api.add(responses.GET, NOTIFICATIONS_URL, json=first, match=[notifications_query(min_id="100")])
    api.add(responses.GET, NOTIFICATIONS_URL, json=second, match=[notifications_query(min_id="140")])

    result = channel_pull(channel_id=stored_channel.pk, connector=MastodonConnector(clock=lambda: NOW))

    assert (result.outcome, result.pages, result.inserted, result.duplicates) == ("ok", 2, 42, 0)
    stored_channel.refresh_from_db()
    assert stored_channel.cursor == {"min_id": "142"}
    assert Mention.objects.filter(network="mastodon").count() == 42
    reply = Mention.objects.get(external_id=f"{HOST}:117020000000000142")
    assert (reply.kind, reply.in_reply_to, reply.author.handle) == (
        "reply",
        f"{HOST}:117020000000000101",
        "hiker@trails.example",
    )


@pytest.mark.django_db
def test_a_pull_stores_the_status_language_on_the_mention(api: responses.RequestsMock) -> None:
    stored_channel = ChannelFactory(
        network="mastodon",
        external_account_id=OWN_ID,
        credentials={"instance_url": INSTANCE, "access_token": TOKEN},
        cursor={"min_id": "100"},
    )
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        json=[hello(103, language=None), hello(102, language="es"), hello(101, language="pt-BR")],
    )

    channel_pull(channel_id=stored_channel.pk, connector=MastodonConnector(clock=lambda: NOW))

    stored = dict(Mention.objects.filter(network="mastodon").values_list("external_id", "language"))
    assert stored == {
        f"{HOST}:117020000000000101": "pt",
        f"{HOST}:117020000000000102": "es",
        f"{HOST}:117020000000000103": "",
    }


@pytest.mark.django_db
def test_a_pull_walks_several_pages_by_their_link_headers_and_stores_each_post_once(
    api: responses.RequestsMock,
) -> None:
    stored_channel = ChannelFactory(
        network="mastodon",
        external_account_id=OWN_ID,
        credentials={"instance_url": INSTANCE, "access_token": TOKEN},
        cursor={"min_id": "100"},
    )
    boosted = status("117020000000000999", "<p>trail map v2</p>", mentions=(), edited_at=EDITED_AT)
    pages = [
        ("100", [hello(n) for n in range(140, 100, -1)], "140", "101"),
        # The second page carries the edit of a post of the first (notification 105's status).
        (
            "140",
            [hello(n) for n in range(180, 141, -1)] + [update(141, status_of(hello(105), EDITED_AT))],
            "180",
            "141",
        ),
        # The newest item of the last page is an edit that is not ours: dropped, but the cursor passes it.
        ("180", [update(184, boosted), hello(183), hello(182), hello(181)], "184", "181"),
    ]
    for min_id, items, newest, oldest in pages:
        api.add(
            responses.GET,
            NOTIFICATIONS_URL,
            json=items,
            headers={"Link": link(NOTIFICATIONS_URL, newest=newest, oldest=oldest), **rate_headers()},
            match=[notifications_query(min_id=min_id)],
        )

    result = channel_pull(channel_id=stored_channel.pk, connector=MastodonConnector(clock=lambda: NOW))

    assert (result.outcome, result.pages, result.inserted, result.duplicates) == (
        "ok",
        3,
        82,
        1,
    )  # 1: the edit
    assert [query(call)["min_id"] for call in api.calls] == [["100"], ["140"], ["180"]]
    stored_channel.refresh_from_db()
    assert stored_channel.cursor == {"min_id": "184"}
    stored = dict(Mention.objects.values_list("external_id", "text"))
    assert len(stored) == 82
    assert set(stored) == {f"{HOST}:{117020000000000000 + n}" for n in [*range(101, 141), *range(142, 184)]}
    assert stored[f"{HOST}:117020000000000105"] == "@northwind hello 105, edited"


def status_of(notification: dict[str, Any], edited_at: str) -> dict[str, Any]:
    """The status of a notification as edited at ``edited_at``."""
    edited = dict(notification["status"])
    edited.update(content=edited["content"].replace("</p>", ", edited</p>"), edited_at=edited_at)
    return edited


OTHER_INSTANCE = "https://social.other.example"
OTHER_HOST = "social.other.example"


@pytest.mark.django_db
def test_one_post_seen_by_our_accounts_on_two_instances_is_one_mention_on_both_channels(
    api: responses.RequestsMock,
) -> None:
    # Hiker's post mentions @northwind@mastodon.example and @northwind_events@social.other.example. Each
    # instance gives it its own id; its ActivityPub uri is the same on both.
    on_ours = ChannelFactory(
        network="mastodon",
        external_account_id=f"{HOST}:{OWN_ID}",
        credentials={"instance_url": INSTANCE, "access_token": TOKEN},
        cursor={"min_id": "10"},
    )
    on_other = ChannelFactory(
        network="mastodon",
        external_account_id=f"{OTHER_HOST}:42",
        credentials={"instance_url": OTHER_INSTANCE, "access_token": "token-events"},
        cursor={"min_id": "500"},
    )
    here = status("117020000000000800", "<p>@northwind @northwind_events who runs the stand?</p>")
    there = {
        **status("113000000000000555", "<p>@northwind @northwind_events who runs the stand?</p>"),
        "uri": here["uri"],
        "account": {**HIKER, "id": "113000000000000042"},
    }
    api.add(responses.GET, NOTIFICATIONS_URL, json=[mention(11, here)])
    api.add(responses.GET, f"{OTHER_INSTANCE}/api/v1/notifications", json=[mention(501, there)])
    pull = MastodonConnector(clock=lambda: NOW)

    first = channel_pull(channel_id=on_ours.pk, connector=pull)
    second = channel_pull(channel_id=on_other.pk, connector=pull)

    assert (first.inserted, second.inserted, second.duplicates) == (1, 0, 1)
    stored = Mention.objects.get(network="mastodon")
    assert stored.external_id == f"{HOST}:117020000000000800"
    assert stored.canonical_id == "https://trails.example/users/hiker/statuses/117020000000000800"
    assert sorted(stored.receipts.values_list("channel_id", "external_id")) == [
        (on_ours.pk, ""),
        (on_other.pk, f"{OTHER_HOST}:113000000000000555"),
    ]


# --- History: walking back for a backfill ----------------------------------------------------------------

WINDOW_START = datetime(2026, 7, 25, tzinfo=UTC)


def history_query(max_id: str | None = None) -> Any:
    params = {"limit": "40", "types[]": "mention"}
    if max_id is not None:
        params["max_id"] = max_id
    return matchers.query_param_matcher(params)


def test_history_walks_back_from_the_newest_page_by_max_id(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    # 43 mentions in the window: a full page of the newest 40 (540..501), then 3 more (500..498).
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        json=[hello(n) for n in range(540, 500, -1)],
        headers={"Link": link(NOTIFICATIONS_URL, newest="540", oldest="501"), **rate_headers(remaining=298)},
        match=[history_query()],
    )
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        json=[hello(n) for n in range(500, 497, -1)],
        headers=rate_headers(remaining=297),
        match=[history_query(max_id="501")],
    )

    page_one = connector.fetch_history(channel(), {}, since=WINDOW_START)
    page_two = connector.fetch_history(channel(), page_one.cursor, since=WINDOW_START)

    assert page_one.cursor == {"history": {"max_id": "501"}}
    assert page_one.has_more is True
    assert ids(page_one) == [f"{HOST}:{117020000000000000 + n}" for n in range(501, 541)]  # oldest first
    assert page_two.cursor == {"history": {"max_id": "498"}}
    assert page_two.has_more is False
    assert ids(page_two) == [f"{HOST}:{117020000000000000 + n}" for n in range(498, 501)]
    assert [query(call).get("max_id") for call in api.calls] == [None, ["501"]]
    assert [post.kind for post in page_two.posts] == ["mention", "mention", "mention"]
    assert page_two.posts[0].text == "@northwind hello 498"
    assert page_two.rate_limits == (
        RateLimitInfo(
            NOTIFICATIONS_ENDPOINT,
            f"user:{OWN_ID}",
            300,
            297,
            datetime(2026, 8, 1, 13, 55, 0, 248623, tzinfo=UTC),
        ),
    )


def test_history_stops_at_the_first_post_older_than_the_window_and_leaves_it_out(
    api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    recent = [hello(n) for n in range(205, 202, -1)]
    older = [hello(n, created_at="2026-07-20T09:00:00.000Z") for n in range(202, 200, -1)]
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        json=[*recent, *older],
        headers={"Link": link(NOTIFICATIONS_URL, newest="205", oldest="201")},
        match=[history_query(max_id="206")],
    )

    page = connector.fetch_history(channel(), {"history": {"max_id": "206"}}, since=WINDOW_START)

    assert ids(page) == [f"{HOST}:{117020000000000000 + n}" for n in range(203, 206)]
    assert page.has_more is False
    assert page.rejected == ()
    assert len(api.calls) == 1


def test_history_429_raises_rate_limited_like_fetch(
    api: responses.RequestsMock, connector: MastodonConnector, no_sleep: None
) -> None:
    api.add(
        responses.GET,
        NOTIFICATIONS_URL,
        status=429,
        json={"error": "Too many requests"},
        headers=rate_headers(remaining=0, reset="2026-08-01T13:55:00.000Z"),
        match=[history_query(max_id="501")],
    )

    with pytest.raises(RateLimited) as raised:
        connector.fetch_history(channel(), {"history": {"max_id": "501"}}, since=WINDOW_START)

    assert raised.value.retry_after == 180.0
    assert raised.value.limits == (
        RateLimitInfo(
            NOTIFICATIONS_ENDPOINT, f"user:{OWN_ID}", 300, 0, datetime(2026, 8, 1, 13, 55, tzinfo=UTC)
        ),
    )
    assert len(api.calls) == 1
