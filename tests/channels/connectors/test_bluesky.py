"""The Bluesky connector against a fake Bluesky server at the HTTP layer (respx under the ``atproto`` SDK's
httpx), serving responses in the shapes of the lexicons in ``../shared/fixtures/bluesky/lexicons/``."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from channels.connectors.base import (
    AuthExpired,
    ChannelRef,
    ConnectorError,
    ConnectorUnavailable,
    RateLimited,
)
from channels.connectors.bluesky import BlueskyConnector
from channels.connectors.bluesky.client import DirectMessagesRefused
from channels.connectors.text import reply_length, reply_limit
from tests.channels.connectors import bluesky_api as bsky
from tests.channels.connectors.bluesky_api import ANN, BO, XRPC

LIST = "/app.bsky.notification.listNotifications"
CREATE_SESSION = "/com.atproto.server.createSession"
REFRESH_SESSION = "/com.atproto.server.refreshSession"


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=XRPC, assert_all_called=False) as router:
        router.post(CREATE_SESSION).mock(return_value=httpx.Response(200, json=bsky.session_body()))
        yield router


def _connector() -> BlueskyConnector:
    return BlueskyConnector()


def _page(*notifications: dict[str, Any], cursor: str | None = None, status: int = 200) -> httpx.Response:
    body: dict[str, Any] = {"notifications": list(notifications), "priority": False}
    if cursor is not None:
        body["cursor"] = cursor
    return httpx.Response(status, json=body, headers=bsky.rate_headers())


def _at(minutes_ago: int) -> str:
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


ROOT = (bsky.post_uri(bsky.BRAND_DID, "3brandpost0001"), "bafyreibrandroot")


def _mention(
    rkey: str, minutes_ago: int, text: str = "@northwind.bsky.social my tent leaks", **kw: Any
) -> dict:
    return bsky.notification(
        rkey=rkey, reason="mention", text=text, indexed_at=_at(minutes_ago), author=ANN, **kw
    )


# --- Lexicon shapes -----------------------------------------------------------------------------------------


def _required(shared_fixtures: Path, path: str, definition: str) -> list[str]:
    lexicon = json.loads((shared_fixtures / "bluesky/lexicons" / path).read_text())
    node = lexicon["defs"][definition]
    return node.get("required") or node.get("record", {}).get("required", [])


def test_the_fake_responses_have_every_field_the_lexicons_require(shared_fixtures: Path) -> None:
    item = bsky.notification(
        rkey="3kq1",
        reason="reply",
        text="hi",
        indexed_at=_at(1),
        author=ANN,
        reply=(ROOT, ROOT),
        langs=["en"],
    )

    assert set(
        _required(shared_fixtures, "app/bsky/notification/listNotifications.json", "notification")
    ) <= set(item)
    assert set(_required(shared_fixtures, "app/bsky/actor/defs.json", "profileView")) <= set(ANN)
    assert set(_required(shared_fixtures, "app/bsky/feed/post.json", "main")) <= set(item["record"])
    assert set(_required(shared_fixtures, "app/bsky/feed/post.json", "replyRef")) <= set(
        item["record"]["reply"]
    )
    assert set(_required(shared_fixtures, "app/bsky/feed/defs.json", "postView")) <= set(_post_view("3kq1"))


# --- Pulling ------------------------------------------------------------------------------------------------


def test_the_author_s_avatar_is_the_profile_view_s_https_avatar(
    api: respx.MockRouter, shared_fixtures: Path
) -> None:
    # The lexicon's profileView has an avatar (a uri); Bluesky serves it from its CDN over https.
    lexicon = json.loads((shared_fixtures / "bluesky/lexicons/app/bsky/actor/defs.json").read_text())
    assert lexicon["defs"]["profileViewBasic"]["properties"]["avatar"] == {"type": "string", "format": "uri"}
    plain = {**ANN, "avatar": ANN["avatar"].replace("https://", "http://", 1)}
    api.get(LIST).mock(
        return_value=_page(
            _mention("3kpictured", 2),
            bsky.notification(rkey="3kplain", reason="mention", text="hi", indexed_at=_at(1), author=plain),
        )
    )

    page = _connector().fetch(bsky.channel(), {})

    assert {p.external_id.rsplit("/", 1)[-1]: p.author.avatar_url for p in page.posts} == {
        "3kpictured": ANN["avatar"],
        "3kplain": "",
    }
    assert ANN["avatar"].startswith("https://cdn.bsky.app/")


def test_a_first_pull_signs_in_once_and_turns_mentions_replies_and_quotes_into_posts(
    api: respx.MockRouter,
) -> None:
    reply = bsky.notification(
        rkey="3kreply",
        reason="reply",
        text="Same problem here",
        indexed_at=_at(1),
        author=BO,
        reply=(ROOT, ROOT),
        langs=["en"],
    )
    quote = bsky.notification(
        rkey="3kquote", reason="quote", text="Look at this", indexed_at=_at(2), author=ANN
    )
    like = {**_mention("3klike", 3), "reason": "like"}
    mention = _mention("3kmention", 4, langs=["de"])
    listing = api.get(LIST).mock(return_value=_page(reply, quote, like, mention, cursor="c1"))

    page = _connector().fetch(bsky.channel(), {})

    assert [p.external_id for p in page.posts] == [mention["uri"], quote["uri"], reply["uri"]]  # oldest first
    assert [p.kind for p in page.posts] == ["mention", "mention", "reply"]
    first_reply = page.posts[2]
    assert first_reply.conversation_key == ROOT[0]
    assert first_reply.in_reply_to == ROOT[0]
    assert first_reply.author.external_id == bsky.BO_DID
    assert first_reply.author.handle == "bo.example.com"
    assert first_reply.author.is_verified is True
    assert first_reply.url == "https://bsky.app/profile/bo.example.com/post/3kreply"
    assert [p.language for p in page.posts] == ["de", "", "en"]  # the record's langs, first one
    assert page.posts[0].conversation_key == mention["uri"]
    assert len(page.posts[0].external_id) > 64
    assert page.cursor == {"notifications": {"seen": {"uri": reply["uri"], "indexed_at": reply["indexedAt"]}}}
    assert page.has_more is False  # the first pull takes the newest page; older is the backfill's
    assert sum(1 for call in api.calls if call.request.url.path.endswith("createSession")) == 1
    sent = listing.calls[0].request.url.params
    assert sent.get_list("reasons") == ["mention", "reply", "quote"]
    assert "cursor" not in sent


def test_a_pull_walks_back_page_by_page_to_the_last_seen_notification(api: respx.MockRouter) -> None:
    seen = _mention("3kseen", 30)
    older = _mention("3kolder", 40)
    newest, middle, oldest_new = _mention("3knew1", 1), _mention("3knew2", 5), _mention("3knew3", 10)
    listing = api.get(LIST).mock(
        side_effect=[
            _page(newest, cursor="p2"),
            _page(middle, cursor="p3"),
            _page(oldest_new, seen, older, cursor="p4"),
        ]
    )
    connector = _connector()
    cursor = {"notifications": {"seen": {"uri": seen["uri"], "indexed_at": seen["indexedAt"]}}}

    first = connector.fetch(bsky.channel(), cursor)
    second = connector.fetch(bsky.channel(), first.cursor)
    third = connector.fetch(bsky.channel(), second.cursor)

    assert [[p.external_id for p in page.posts] for page in (first, second, third)] == [
        [newest["uri"]],
        [middle["uri"]],
        [oldest_new["uri"]],
    ]
    assert (first.has_more, second.has_more, third.has_more) == (True, True, False)
    assert [call.request.url.params.get("cursor") for call in listing.calls] == [None, "p2", "p3"]
    # The seen marker moves to the newest of the walk only once the walk has met the old one.
    assert first.cursor["notifications"]["seen"]["uri"] == seen["uri"]
    assert third.cursor == {
        "notifications": {"seen": {"uri": newest["uri"], "indexed_at": newest["indexedAt"]}}
    }


def test_a_malformed_notification_is_rejected_and_the_rest_of_the_page_kept(api: respx.MockRouter) -> None:
    broken = _mention("3kbroken", 1)
    broken["record"] = {"$type": "app.bsky.feed.post", "text": 42, "createdAt": _at(1)}
    good = _mention("3kgood", 2)
    api.get(LIST).mock(return_value=_page(broken, good))

    page = _connector().fetch(bsky.channel(), {})

    assert [p.external_id for p in page.posts] == [good["uri"]]
    assert [r.raw["uri"] for r in page.rejected] == [broken["uri"]]
    assert "not a string" in page.rejected[0].error


def test_a_post_dated_in_the_future_by_its_author_takes_the_time_bluesky_indexed_it(
    api: respx.MockRouter,
) -> None:
    item = _mention("3kfuture", 1)
    item["record"]["createdAt"] = "2999-01-01T00:00:00.000Z"
    api.get(LIST).mock(return_value=_page(item))

    page = _connector().fetch(bsky.channel(), {})

    assert page.posts[0].created_at == datetime.fromisoformat(item["indexedAt"])


def test_rate_limit_headers_are_reported_for_the_endpoint(api: respx.MockRouter) -> None:
    api.get(LIST).mock(return_value=_page(_mention("3k1", 1)))

    page = _connector().fetch(bsky.channel(), {})

    assert [(i.endpoint, i.token_key, i.limit, i.remaining) for i in page.rate_limits] == [
        ("app.bsky.notification.listNotifications", f"user:{bsky.BRAND_DID}", 3000, 2999)
    ]


def test_a_429_becomes_rate_limited_until_the_reset(api: respx.MockRouter) -> None:
    reset = int(time.time()) + 120
    api.get(LIST).mock(
        return_value=bsky.xrpc_error(
            429, "RateLimitExceeded", "Rate Limit Exceeded", bsky.rate_headers(remaining=0, reset=reset)
        )
    )

    with pytest.raises(RateLimited) as raised:
        _connector().fetch(bsky.channel(), {})

    assert 100 < raised.value.retry_after <= 121
    assert raised.value.limits[0].remaining == 0


def test_a_server_error_is_worth_retrying(api: respx.MockRouter) -> None:
    api.get(LIST).mock(return_value=httpx.Response(502, text="Bad Gateway"))

    with pytest.raises(ConnectorUnavailable):
        _connector().fetch(bsky.channel(), {})


# --- Sessions -----------------------------------------------------------------------------------------------


def test_a_stored_session_is_reused_without_signing_in(api: respx.MockRouter) -> None:
    api.get(LIST).mock(return_value=_page(_mention("3k1", 1)))
    session = bsky.stored_session(access_exp=time.time() + 3600)
    connector = _connector()

    connector.fetch(bsky.channel(session=session), {})

    assert not any(call.request.url.path.endswith("createSession") for call in api.calls)
    listing = next(call for call in api.calls if call.request.url.path.endswith("listNotifications"))
    assert listing.request.headers["authorization"] == f"Bearer {session['access_jwt']}"
    assert connector.refreshed_credentials(bsky.channel(session=session)) is None


def test_an_access_token_about_to_expire_is_refreshed_and_handed_back_to_be_stored(
    api: respx.MockRouter,
) -> None:
    fresh = bsky.session_body()
    refresh = api.post(REFRESH_SESSION).mock(return_value=httpx.Response(200, json=fresh))
    api.get(LIST).mock(return_value=_page(_mention("3k1", 1)))
    old = bsky.stored_session(access_exp=time.time() + 60)
    ref = bsky.channel(session=old)
    connector = _connector()

    connector.fetch(ref, {})

    assert refresh.calls[0].request.headers["authorization"] == f"Bearer {old['refresh_jwt']}"
    stored = connector.refreshed_credentials(ref)
    assert stored is not None
    assert stored["session"]["access_jwt"] == fresh["accessJwt"]
    assert stored["app_password"] == bsky.APP_PASSWORD


def test_a_session_the_server_no_longer_honours_is_created_again_from_the_app_password(
    api: respx.MockRouter,
) -> None:
    api.get(LIST).mock(
        side_effect=[
            bsky.xrpc_error(400, "ExpiredToken", "Token has been revoked"),
            _page(_mention("3k1", 1)),
        ]
    )
    ref = bsky.channel(session=bsky.stored_session(access_exp=time.time() + 3600))
    connector = _connector()

    page = connector.fetch(ref, {})

    assert len(page.posts) == 1
    sign_in = [c for c in api.calls if c.request.url.path.endswith("createSession")]
    assert [json.loads(c.request.content) for c in sign_in] == [
        {"identifier": bsky.BRAND_HANDLE, "password": bsky.APP_PASSWORD}
    ]
    assert connector.refreshed_credentials(ref) is not None


def test_a_revoked_app_password_needs_re_authorisation(api: respx.MockRouter) -> None:
    api.post(CREATE_SESSION).mock(
        return_value=bsky.xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
    )
    listing = api.get(LIST).mock(return_value=_page())

    with pytest.raises(AuthExpired, match="connect the account again"):
        _connector().fetch(bsky.channel(), {})

    assert listing.call_count == 0


# --- Replies ------------------------------------------------------------------------------------------------


def _post_view(rkey: str, *, reply: tuple[tuple[str, str], tuple[str, str]] | None = None) -> dict[str, Any]:
    """``app.bsky.feed.defs#postView``."""
    return {
        "uri": bsky.post_uri(bsky.ANN_DID, rkey),
        "cid": f"bafyrei{rkey}",
        "author": {"did": bsky.ANN_DID, "handle": "ann.bsky.social"},
        "record": bsky.post_record("my tent leaks", created_at=_at(5), reply=reply, langs=["en"]),
        "indexedAt": _at(5),
        "replyCount": 0,
        "repostCount": 0,
        "likeCount": 0,
        "labels": [],
    }


def _created(api: respx.MockRouter) -> respx.Route:
    return api.post("/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(
            200,
            json={
                "uri": bsky.post_uri(bsky.BRAND_DID, "3kourreply"),
                "cid": "bafyreiours",
                "validationStatus": "valid",
            },
        )
    )


def test_a_reply_to_a_reply_keeps_the_thread_root_and_names_the_parent(api: respx.MockRouter) -> None:
    parent = _post_view("3kparent", reply=(ROOT, ROOT))
    api.get("/app.bsky.feed.getPosts").mock(return_value=httpx.Response(200, json={"posts": [parent]}))
    created = _created(api)

    sent = _connector().reply(bsky.channel(), in_reply_to=parent["uri"], text="Sorry! We are on it.")

    body = json.loads(created.calls[0].request.content)
    assert body["repo"] == bsky.BRAND_DID
    assert body["collection"] == "app.bsky.feed.post"
    assert body["record"]["reply"] == {
        "root": {"uri": ROOT[0], "cid": ROOT[1]},
        "parent": {"uri": parent["uri"], "cid": parent["cid"]},
    }
    assert body["record"]["text"] == "Sorry! We are on it."
    assert "facets" not in body["record"]
    assert sent.external_id == bsky.post_uri(bsky.BRAND_DID, "3kourreply")
    assert sent.url == f"https://bsky.app/profile/{bsky.BRAND_HANDLE}/post/3kourreply"


def test_a_reply_to_a_post_that_answers_nothing_makes_it_root_and_parent(api: respx.MockRouter) -> None:
    parent = _post_view("3ktop")
    api.get("/app.bsky.feed.getPosts").mock(return_value=httpx.Response(200, json={"posts": [parent]}))
    created = _created(api)

    _connector().reply(bsky.channel(), in_reply_to=parent["uri"], text="Thanks!")

    reply = json.loads(created.calls[0].request.content)["record"]["reply"]
    assert reply["root"] == reply["parent"] == {"uri": parent["uri"], "cid": parent["cid"]}


def test_mentions_and_links_become_facets_at_utf8_byte_offsets(api: respx.MockRouter) -> None:
    api.get("/app.bsky.feed.getPosts").mock(
        return_value=httpx.Response(200, json={"posts": [_post_view("3ktop")]})
    )
    resolve = api.get("/com.atproto.identity.resolveHandle")
    resolve.side_effect = lambda request: (
        httpx.Response(200, json={"did": bsky.ANN_DID})
        if request.url.params["handle"] == "ann.bsky.social"
        else bsky.xrpc_error(400, "InvalidRequest", "Unable to resolve handle")
    )
    created = _created(api)
    text = "Désolé @ann.bsky.social ☕ — see https://northwind.example/faq. cc @nobody.bsky.social"

    _connector().reply(bsky.channel(), in_reply_to=bsky.post_uri(bsky.ANN_DID, "3ktop"), text=text)

    facets = json.loads(created.calls[0].request.content)["record"]["facets"]
    encoded = text.encode()
    assert [
        (f["features"][0]["$type"], encoded[f["index"]["byteStart"] : f["index"]["byteEnd"]].decode())
        for f in facets
    ] == [
        ("app.bsky.richtext.facet#mention", "@ann.bsky.social"),
        ("app.bsky.richtext.facet#link", "https://northwind.example/faq"),
    ]
    assert facets[0]["index"] == {"byteStart": 9, "byteEnd": 25}  # each "é" is two bytes, one character
    assert [c.request.url.params["handle"] for c in resolve.calls] == [
        "ann.bsky.social",
        "nobody.bsky.social",
    ]
    assert facets[0]["features"][0]["did"] == bsky.ANN_DID
    assert facets[1]["features"][0]["uri"] == "https://northwind.example/faq"


def test_a_reply_to_a_deleted_post_is_refused_with_the_reason(api: respx.MockRouter) -> None:
    api.get("/app.bsky.feed.getPosts").mock(return_value=httpx.Response(200, json={"posts": []}))
    created = _created(api)

    with pytest.raises(ConnectorError, match="no longer exists"):
        _connector().reply(bsky.channel(), in_reply_to=bsky.post_uri(bsky.ANN_DID, "3kgone"), text="Hi")

    assert created.call_count == 0


def test_reply_length_is_300_graphemes_however_many_code_points_or_bytes() -> None:
    family = "👨\u200d👩\u200d👧"  # five code points, 18 bytes, one grapheme

    assert reply_limit("bluesky") == 300
    assert reply_limit("bluesky", is_direct=True) == 1000
    assert reply_length("bluesky", family * 300) == 300
    assert reply_length("bluesky", "e\u0301" * 10) == 10  # decomposed é counts once
    assert reply_length("bluesky", "https://northwind.example/" + "a" * 40) == 66  # no link shortening
    assert reply_length("x", "https://northwind.example/" + "a" * 40) == 23  # X's rules are untouched


# --- Direct messages ----------------------------------------------------------------------------------------


def _convo(convo_id: str, last_at: str, member: dict[str, Any]) -> dict[str, Any]:
    """``chat.bsky.convo.defs#convoView``."""
    return {
        "id": convo_id,
        "rev": "2222",
        "members": [
            {"did": bsky.BRAND_DID, "handle": bsky.BRAND_HANDLE},
            {"did": member["did"], "handle": member["handle"], "displayName": member.get("displayName", "")},
        ],
        "lastMessage": {
            "$type": "chat.bsky.convo.defs#messageView",
            "id": "m-last",
            "rev": "2",
            "text": "x",
            "sender": {"did": member["did"]},
            "sentAt": last_at,
        },
        "muted": False,
        "unreadCount": 1,
    }


def _message(message_id: str, sender: str, text: str, sent_at: str) -> dict[str, Any]:
    """``chat.bsky.convo.defs#messageView``."""
    return {
        "$type": "chat.bsky.convo.defs#messageView",
        "id": message_id,
        "rev": message_id,
        "text": text,
        "sender": {"did": sender},
        "sentAt": sent_at,
    }


def test_direct_messages_since_the_last_seen_arrive_through_the_chat_proxy(api: respx.MockRouter) -> None:
    api.get(LIST).mock(return_value=_page())
    convos = api.get("/chat.bsky.convo.listConvos").mock(
        return_value=httpx.Response(
            200, json={"convos": [_convo("convo1", _at(1), ANN), _convo("convo2", _at(50), BO)]}
        )
    )
    messages = api.get("/chat.bsky.convo.getMessages").mock(
        return_value=httpx.Response(
            200,
            json={
                "messages": [
                    _message("m3", bsky.ANN_DID, "Where is my refund?", _at(1)),
                    _message("m2", bsky.BRAND_DID, "We will check", _at(3)),
                    _message("m1", bsky.ANN_DID, "Seen already", _at(20)),
                ]
            },
        )
    )
    cursor = {"dms": {"seen_at": _at(10)}}

    page = _connector().fetch(bsky.channel(dms=True), cursor)

    assert [(p.kind, p.text, p.external_id) for p in page.posts] == [
        ("dm", "Where is my refund?", "chat:convo1:m3")
    ]
    assert page.posts[0].author.handle == "ann.bsky.social"
    assert messages.call_count == 1  # convo2 had nothing new
    assert messages.calls[0].request.url.params["convoId"] == "convo1"
    assert convos.calls[0].request.headers["atproto-proxy"] == "did:web:api.bsky.chat#bsky_chat"
    assert page.cursor["dms"]["seen_at"] > cursor["dms"]["seen_at"]
    assert [(s.name, s.outcome) for s in page.streams] == [("mentions", "ok"), ("dms", "ok")]


def test_an_app_password_without_direct_messages_keeps_mentions_coming_and_says_why(
    api: respx.MockRouter,
) -> None:
    mention = _mention("3k1", 1)
    api.get(LIST).mock(return_value=_page(mention))
    api.get("/chat.bsky.convo.listConvos").mock(
        return_value=bsky.xrpc_error(400, "InvalidToken", "Bad token method")
    )

    page = _connector().fetch(bsky.channel(dms=True), {"dms": {"seen_at": _at(10)}})
    again = _connector().fetch(bsky.channel(dms=True), page.cursor)

    assert [p.external_id for p in page.posts] == [mention["uri"]]
    assert "does not allow direct messages" in page.cursor["dms"]["refused"]
    assert again.cursor["dms"] == page.cursor["dms"]
    assert [(s.name, s.outcome) for s in again.streams] == [("mentions", "ok"), ("dms", "failed")]
    assert "Allow access to your direct messages" in again.streams[1].error
    assert sum(1 for c in api.calls if "listConvos" in c.request.url.path) == 1  # not asked again


def test_sending_a_direct_message_opens_the_conversation_and_sends_it(api: respx.MockRouter) -> None:
    api.get("/chat.bsky.convo.getConvoForMembers").mock(
        return_value=httpx.Response(200, json={"convo": _convo("convo9", _at(1), ANN)})
    )
    sent = api.post("/chat.bsky.convo.sendMessage").mock(
        return_value=httpx.Response(200, json=_message("m9", bsky.BRAND_DID, "We refunded you", _at(0)))
    )

    result = _connector().send_direct_message(
        bsky.channel(dms=True), recipient_id=bsky.ANN_DID, text="We refunded you"
    )

    assert json.loads(sent.calls[0].request.content) == {
        "convoId": "convo9",
        "message": {"text": "We refunded you"},
    }
    assert result.external_id == "chat:convo9:m9"


def test_direct_messages_off_for_the_channel_refuse_clearly_without_calling(api: respx.MockRouter) -> None:
    with pytest.raises(DirectMessagesRefused, match="Allow access to your direct messages"):
        _connector().send_direct_message(bsky.channel(dms=False), recipient_id=bsky.ANN_DID, text="Hi")

    assert not api.calls


# --- History ------------------------------------------------------------------------------------------------


def test_history_walks_back_until_the_window_starts(api: respx.MockRouter) -> None:
    recent, old = _mention("3krecent", 60), _mention("3kold", 60 * 24 * 10)
    listing = api.get(LIST).mock(side_effect=[_page(recent, cursor="h2"), _page(old, cursor="h3")])
    connector = _connector()
    since = datetime.now(UTC) - timedelta(days=7)

    first = connector.fetch_history(bsky.channel(), {}, since=since)
    second = connector.fetch_history(bsky.channel(), first.cursor, since=since)

    assert [p.external_id for p in first.posts] == [recent["uri"]]
    assert first.has_more is True
    assert second.posts == ()
    assert second.has_more is False
    assert listing.calls[1].request.url.params["cursor"] == "h2"
    assert BlueskyConnector.capabilities.history is True


def test_a_failing_chat_service_never_holds_back_mentions(api: respx.MockRouter) -> None:
    mention = _mention("3k1", 1)
    api.get(LIST).mock(return_value=_page(mention))
    api.get("/chat.bsky.convo.listConvos").mock(
        return_value=bsky.xrpc_error(
            429, "RateLimitExceeded", "Rate Limit Exceeded", bsky.rate_headers(remaining=0)
        )
    )
    seen_at = _at(10)

    page = _connector().fetch(bsky.channel(dms=True), {"dms": {"seen_at": seen_at}})

    assert [p.external_id for p in page.posts] == [mention["uri"]]
    assert page.cursor["dms"]["seen_at"] == seen_at  # tried again from the same point next time
    assert "rate limit" in page.cursor["dms"]["failed"].lower()
    assert [(s.name, s.outcome) for s in page.streams] == [("mentions", "ok"), ("dms", "rate_limited")]
    assert page.streams[1].retry_at is not None
    assert {endpoint for endpoint, _ in _connector().endpoints(bsky.channel(dms=True))} == {
        "app.bsky.notification.listNotifications"
    }


def test_a_session_refreshed_before_a_chat_call_is_not_sent_to_the_chat_service(
    api: respx.MockRouter,
) -> None:
    refresh = api.post(REFRESH_SESSION).mock(return_value=httpx.Response(200, json=bsky.session_body()))
    convo = api.get("/chat.bsky.convo.getConvoForMembers").mock(
        return_value=httpx.Response(200, json={"convo": _convo("convo9", _at(1), ANN)})
    )
    api.post("/chat.bsky.convo.sendMessage").mock(
        return_value=httpx.Response(200, json=_message("m9", bsky.BRAND_DID, "Hi", _at(0)))
    )
    ref = bsky.channel(dms=True, session=bsky.stored_session(access_exp=time.time() + 60))

    _connector().send_direct_message(ref, recipient_id=bsky.ANN_DID, text="Hi")

    assert "atproto-proxy" not in refresh.calls[0].request.headers
    assert convo.calls[0].request.headers["atproto-proxy"] == "did:web:api.bsky.chat#bsky_chat"


def test_a_walk_cursor_the_server_no_longer_takes_restarts_the_walk_from_the_newest_page(
    api: respx.MockRouter,
) -> None:
    seen, newest = _mention("3kseen", 30), _mention("3knew", 1)
    listing = api.get(LIST).mock(
        side_effect=[
            bsky.xrpc_error(400, "InvalidRequest", "Malformed cursor"),
            _page(newest, seen, cursor="p2"),
        ]
    )
    cursor = {
        "notifications": {
            "seen": {"uri": seen["uri"], "indexed_at": seen["indexedAt"]},
            "walk": {"cursor": "stale", "newest": {"uri": "at://gone", "indexed_at": _at(5)}},
        }
    }

    page = _connector().fetch(bsky.channel(), cursor)

    assert [p.external_id for p in page.posts] == [newest["uri"]]
    assert [call.request.url.params.get("cursor") for call in listing.calls] == ["stale", None]
    assert page.cursor == {
        "notifications": {"seen": {"uri": newest["uri"], "indexed_at": newest["indexedAt"]}}
    }
    assert page.has_more is False


def test_a_did_web_account_too_long_for_the_budget_column_is_named_by_a_digest() -> None:
    long_did = "did:web:" + ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 54, "social"])
    ref = bsky.channel()
    ref = ChannelRef(**{**ref.__dict__, "external_account_id": long_did})

    ((_, token_key),) = _connector().endpoints(ref)

    assert token_key.startswith("user:")
    assert len(token_key) == 69
    assert long_did not in token_key
