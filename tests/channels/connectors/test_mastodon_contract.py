"""The Mastodon connector replaying real Mastodon responses: Mastodon.py's own vcrpy recordings of a Mastodon
server (``../shared/fixtures/mastodon/mastodon_py_cassettes/``, recorded against ``http://localhost:3000``).

Each recorded response is served at its recorded method and path, with its recorded headers (``Link``,
``x-ratelimit-*``), whatever query the connector sends. Where the recordings hold a status but not the
envelope the connector reads (a direct message or a reply arrives as a mention notification), the recorded
status is put inside the recorded notification envelope.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
import yaml

from channels.connectors.base import AuthorData, ChannelRef, Page, RateLimitInfo, SentReply
from channels.connectors.mastodon import MastodonConnector

CASSETTES = "mastodon/mastodon_py_cassettes"
INSTANCE = "http://localhost:3000"
HOST = "localhost:3000"
ADMIN_ID = "117020565693913441"  # the recordings' "admin" account; its mentions are the ones notified
NOW = datetime(2026, 8, 1, 13, 52, tzinfo=UTC)

# The recordings' accounts are local to the instance: their acct is a bare name, our handles are user@host.
ADMIN = AuthorData(
    external_id=f"{HOST}:{ADMIN_ID}", handle=f"admin@{HOST}", display_name="", follower_count=1
)

# Headers that describe the recorded transfer rather than the response; responses sets its own.
_TRANSFER_HEADERS = {"content-encoding", "content-length", "transfer-encoding", "content-type"}


# --- Reading and serving recordings ----------------------------------------------------------------------


def cassette(shared_fixtures: Path, name: str) -> list[dict[str, Any]]:
    return yaml.safe_load((shared_fixtures / CASSETTES / name).read_text())["interactions"]


def recorded(interactions: list[dict[str, Any]], method: str, path: str) -> list[dict[str, Any]]:
    """The interactions that called ``method path``, in recorded order."""
    return [
        interaction
        for interaction in interactions
        if interaction["request"]["method"] == method and urlsplit(interaction["request"]["uri"]).path == path
    ]


def _header(response: dict[str, Any], name: str) -> str:
    values = {key.lower(): value for key, value in response["headers"].items()}.get(name, [])
    return ", ".join(values)


def body_bytes(response: dict[str, Any]) -> bytes:
    """The response body as the server sent it. These recordings are plain text; vcrpy stores others as
    ``!!binary`` (bytes, already base64-decoded by YAML) and gzip-compressed when the server compressed."""
    body = response["body"]["string"]
    data = body if isinstance(body, bytes) else body.encode()
    return gzip.decompress(data) if "gzip" in _header(response, "content-encoding") else data


def body_json(interaction: dict[str, Any]) -> Any:
    return json.loads(body_bytes(interaction["response"]))


def serve(
    mock: responses.RequestsMock,
    interaction: dict[str, Any],
    *,
    method: str | None = None,
    path: str | None = None,
    body: bytes | None = None,
) -> None:
    """Serve one recorded response at its method and path (any query), or at the ones given."""
    request, response = interaction["request"], interaction["response"]
    headers = {
        key: ", ".join(values)
        for key, values in response["headers"].items()
        if key.lower() not in _TRANSFER_HEADERS
    }
    mock.add(
        method or request["method"],
        INSTANCE + (path or urlsplit(request["uri"]).path),
        body=body if body is not None else body_bytes(response),
        status=response["status"]["code"],
        headers=headers,
        content_type=_header(response, "content-type") or "application/json",
    )


def recorded_mention(shared_fixtures: Path) -> dict[str, Any]:
    """The mention notification recorded in test_notifications.yaml, as an envelope for other statuses."""
    interaction = recorded(
        cassette(shared_fixtures, "test_notifications.yaml"), "GET", "/api/v1/notifications"
    )
    return body_json(interaction[0])[0]


def as_mention_notifications(envelope: dict[str, Any], statuses: list[dict[str, Any]]) -> bytes:
    """Recorded statuses inside the recorded mention notification envelope, newest first as served."""
    notifications = []
    for offset, status in enumerate(statuses):
        notification = copy.deepcopy(envelope)
        notification.update(id=str(900 - offset), account=status["account"], status=status)
        notifications.append(notification)
    return json.dumps(notifications).encode()


def channel(*, listening_queries: tuple[str, ...] = ()) -> ChannelRef:
    return ChannelRef(
        slug="recorded-admin",
        network="mastodon",
        handle="@admin",
        external_account_id=ADMIN_ID,
        segment_slug="customer-relations",
        credentials={"instance_url": INSTANCE, "access_token": "__MASTODON_PY_TEST_ACCESS_TOKEN"},
        listening_queries=listening_queries,
    )


def summary(page: Page) -> list[tuple[str, str, str, str]]:
    return [(post.external_id, post.kind, post.text, post.author.handle) for post in page.posts]


@pytest.fixture
def api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock


@pytest.fixture
def connector() -> MastodonConnector:
    return MastodonConnector(clock=lambda: NOW)


# --- Mentions --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "notification_id", "status_id", "created_at", "reset_at"),
    [
        (
            "test_notifications_mentions_only.yaml",
            "21",
            "117020577157693549",
            datetime(2026, 8, 1, 13, 51, 42, 823000, tzinfo=UTC),
            datetime(2026, 8, 1, 13, 55, 0, 940463, tzinfo=UTC),
        ),
        (
            "test_notifications.yaml",
            "20",
            "117020576916218297",
            datetime(2026, 8, 1, 13, 51, 39, 138000, tzinfo=UTC),
            datetime(2026, 8, 1, 13, 55, 0, 248623, tzinfo=UTC),
        ),
        (
            "test_notifications_types.yaml",
            "23",
            "117020577600332262",
            datetime(2026, 8, 1, 13, 51, 49, 577000, tzinfo=UTC),
            datetime(2026, 8, 1, 13, 55, 0, 740164, tzinfo=UTC),
        ),
    ],
)
def test_a_recorded_mention_notification_becomes_a_mention(
    shared_fixtures: Path,
    api: responses.RequestsMock,
    connector: MastodonConnector,
    name: str,
    notification_id: str,
    status_id: str,
    created_at: datetime,
    reset_at: datetime,
) -> None:
    # The last notifications call of each recording is the one that returned the mention.
    interaction = recorded(cassette(shared_fixtures, name), "GET", "/api/v1/notifications")[-1]
    serve(api, interaction)

    page = connector.fetch(channel(), {"min_id": "1"})

    (post,) = page.posts
    assert post.external_id == f"{HOST}:{status_id}"
    assert post.kind == "mention"
    assert post.text == "@mastodonpy_test hello!"
    assert post.created_at == created_at
    assert post.author == ADMIN
    assert post.language == "en"
    assert post.conversation_key == post.external_id
    assert post.in_reply_to == ""
    assert post.url == f"http://localhost:3000/@admin/{status_id}"
    assert post.raw == body_json(interaction)[0]
    assert page.rejected == ()
    assert page.cursor == {"min_id": notification_id}  # the recorded Link header's rel="prev"
    assert page.has_more is False
    assert page.rate_limits == (
        RateLimitInfo("GET /api/v1/notifications", f"user:{ADMIN_ID}", 300, 299, reset_at),
    )
    assert parse_qs(urlsplit(api.calls[0].request.url).query) == {
        "types[]": ["mention", "update"],
        "min_id": ["1"],
        "limit": ["40"],
    }


def test_the_recorded_avatar_is_kept_only_in_its_https_form(
    shared_fixtures: Path, api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    # The recording's instance answered over plain http, so its avatar addresses are http: refused. A real
    # instance serves https; the same address in that form is the author's avatar.
    interaction = recorded(
        cassette(shared_fixtures, "test_notifications.yaml"), "GET", "/api/v1/notifications"
    )[-1]
    recorded_account = body_json(interaction)[0]["account"]
    https_form = copy.deepcopy(interaction)
    notifications = body_json(https_form)
    for notification in notifications:
        for account in (notification["account"], (notification.get("status") or {}).get("account") or {}):
            for key in ("avatar", "avatar_static"):
                if key in account:
                    account[key] = account[key].replace("http://", "https://", 1)
    serve(api, interaction)
    serve(api, https_form, body=json.dumps(notifications).encode())

    (over_http,) = connector.fetch(channel(), {"min_id": "1"}).posts
    (over_https,) = connector.fetch(channel(), {"min_id": "1"}).posts

    assert recorded_account["avatar_static"].startswith("http://localhost:3000/")
    assert over_http.author.avatar_url == ""
    assert over_https.author.avatar_url == recorded_account["avatar_static"].replace("http://", "https://", 1)
    assert over_https.author == replace(ADMIN, avatar_url=over_https.author.avatar_url)


def test_recorded_direct_messages_become_dms_and_a_direct_reply_keeps_its_parent(
    shared_fixtures: Path, api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    envelope = recorded_mention(shared_fixtures)
    conversations = recorded(
        cassette(shared_fixtures, "test_conversations.yaml"), "GET", "/api/v1/conversations/"
    )[0]
    direct_statuses = [conversation["last_status"] for conversation in body_json(conversations)]
    serve(
        api,
        conversations,
        path="/api/v1/notifications",
        body=as_mention_notifications(envelope, direct_statuses),
    )

    page = connector.fetch(channel(), {"min_id": "1"})

    assert summary(page) == [
        (f"{HOST}:117020588388552703", "dm", "@mastodonpy_test pssssst!", f"mastodonpy_test_2@{HOST}"),
        (f"{HOST}:117020593780198542", "dm", "@admin ilu bby ;3", f"mastodonpy_test_2@{HOST}"),
    ]
    assert [post.language for post in page.posts] == ["ja", "ja"]
    assert page.posts[0].in_reply_to == f"{HOST}:117020588315335369"
    assert page.posts[0].conversation_key == f"{HOST}:117020588315335369"
    assert page.posts[1].in_reply_to == ""


def test_a_recorded_reply_becomes_a_reply_threaded_on_its_parent(
    shared_fixtures: Path, api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    envelope = recorded_mention(shared_fixtures)
    _, reply = recorded(
        cassette(shared_fixtures, "test_id_hook_in_reply_to.yaml"), "POST", "/api/v1/statuses"
    )
    serve(
        api,
        reply,
        method="GET",
        path="/api/v1/notifications",
        body=as_mention_notifications(envelope, [body_json(reply)]),
    )

    (post,) = connector.fetch(channel(), {"min_id": "1"}).posts

    assert post.external_id == f"{HOST}:117020574393907247"
    assert post.kind == "reply"
    assert post.text == "Reply!"
    assert post.in_reply_to == post.conversation_key == f"{HOST}:117020574386452629"
    assert post.author == AuthorData(
        external_id=f"{HOST}:117020565966271181",
        handle=f"mastodonpy_test@{HOST}",
        display_name="John Lennon",
        follower_count=0,
        is_verified=False,
    )


# --- Link-header paging ----------------------------------------------------------------------------------


def test_a_recorded_status_list_with_link_paging_walks_as_keyword_hits(
    shared_fixtures: Path, api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    # A hashtag timeline is a status list paged by Link headers, like this recorded account timeline.
    interactions = cassette(shared_fixtures, "test_get_pagination_info.yaml")
    timeline = recorded(interactions, "GET", "/api/v1/accounts/117020565966271181/statuses")[0]
    # No mentions (not what this test reads), and Mastodon.py's check that hashtag timelines are public.
    api.add(responses.GET, f"{INSTANCE}/api/v1/notifications", json=[])
    api.add(responses.GET, f"{INSTANCE}/api/v2/instance/", json={})
    serve(api, timeline, path="/api/v1/timelines/tag/toots")

    page = connector.fetch(
        channel(listening_queries=("#Toots",)), {"min_id": "1", "hashtags": {"toots": "1"}}
    )

    assert summary(page) == [
        (f"{HOST}:{status_id}", "keyword", f"Toot number {number}!", f"mastodonpy_test@{HOST}")
        for number, status_id in [
            (5, "117020581882406424"),
            (6, "117020581890514875"),
            (7, "117020581898706890"),
            (8, "117020581906813643"),
            (9, "117020581915050941"),
        ]
    ]
    assert page.cursor == {"min_id": "1", "hashtags": {"toots": "117020581915050941"}}
    assert page.has_more is False
    assert page.rate_limits[-1] == RateLimitInfo(
        "GET /api/v1/timelines/tag/:hashtag",
        f"user:{ADMIN_ID}",
        300,
        299,
        datetime(2026, 8, 1, 13, 55, 0, 520936, tzinfo=UTC),
    )


# --- Replies ---------------------------------------------------------------------------------------------


def test_a_reply_posts_what_mastodon_py_recorded_for_the_same_reply(
    shared_fixtures: Path, api: responses.RequestsMock, connector: MastodonConnector
) -> None:
    # The recording posts a toot as mastodonpy_test_2, then admin's reply to it through status_reply().
    original, reply = recorded(
        cassette(shared_fixtures, "test_status_reply.yaml"), "POST", "/api/v1/statuses"
    )
    serve(api, original, method="GET", path="/api/v1/statuses/117020583245459824")
    serve(api, reply)

    sent = connector.reply(channel(), in_reply_to=f"{HOST}:117020583245459824", text="same!")

    assert sent == SentReply(
        external_id=f"{HOST}:117020583258292382",
        url="http://localhost:3000/@admin/117020583258292382",
        raw=body_json(reply),
    )
    ours = parse_qs(api.calls[1].request.body)
    theirs = parse_qs(reply["request"]["body"])
    assert {key: ours[key] for key in ("status", "in_reply_to_id", "visibility")} == {
        "status": ["@mastodonpy_test_2 same!"],
        "in_reply_to_id": ["117020583245459824"],
        "visibility": ["public"],
    }
    assert {key: theirs[key] for key in ("status", "in_reply_to_id", "visibility")} == {
        key: ours[key] for key in ("status", "in_reply_to_id", "visibility")
    }
