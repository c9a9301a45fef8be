"""Bluesky through the rest of the product: the connect page (app password verified by signing in, stored
encrypted), a pull into the inbox (ids and handles longer than the old columns), re-authorising, and the
composer's 300-grapheme limit. Bluesky is faked at the HTTP layer (respx); PostgreSQL and Redis are real."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from io import StringIO

import httpx
import pytest
import respx
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse

from channels.models import Channel
from inbox.actions.base import TriageError
from inbox.actions.replies import reply_create, reply_deliver
from inbox.models import Author, Mention, Reply
from inbox.pulls import channel_pull
from tests.channels.connectors import bluesky_api as bsky
from tests.factories import (
    AuthorFactory,
    ChannelFactory,
    MembershipFactory,
    MentionFactory,
    UserFactory,
    segment,
)

pytestmark = pytest.mark.django_db

LIST = "/app.bsky.notification.listNotifications"


@pytest.fixture
def api() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=bsky.XRPC, assert_all_called=False) as router:
        yield router


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(UserFactory(admin=True))
    return client


def _raw_credentials(channel: Channel) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT credentials FROM {Channel._meta.db_table} WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


def _connect(admin_client: Client, **overrides: str) -> httpx.Response:
    form = {
        "identifier": "@Northwind.bsky.social",
        "app_password": bsky.APP_PASSWORD,
        "segment": "customer-relations",
        "service": "",
        **overrides,
    }
    return admin_client.post(reverse("channels:bluesky_connect"), form, follow=True)


# --- Connecting ---------------------------------------------------------------------------------------------


def test_an_admin_connects_a_bluesky_account_with_a_verified_app_password(
    admin_client: Client, api: respx.MockRouter
) -> None:
    sign_in = api.post("/com.atproto.server.createSession").mock(
        return_value=httpx.Response(200, json=bsky.session_body())
    )
    api.get("/chat.bsky.convo.listConvos").mock(return_value=httpx.Response(200, json={"convos": []}))

    response = _connect(admin_client)

    channel = Channel.objects.get()
    assert response.redirect_chain == [(reverse("channels:index"), 302)]
    assert (channel.network, channel.handle, channel.external_account_id, channel.slug, channel.state) == (
        "bluesky",
        f"@{bsky.BRAND_HANDLE}",
        bsky.BRAND_DID,
        "northwind-bsky-social",
        "active",
    )
    assert json.loads(sign_in.calls[0].request.content) == {
        "identifier": bsky.BRAND_HANDLE,
        "password": bsky.APP_PASSWORD,
    }
    assert channel.credentials["app_password"] == bsky.APP_PASSWORD
    assert channel.credentials["dms"] is True
    assert channel.credentials["session"]["did"] == bsky.BRAND_DID
    assert bsky.APP_PASSWORD not in _raw_credentials(channel)
    assert "Connected @northwind.bsky.social on Bluesky to Customer relations, with direct messages." in (
        response.content.decode()
    )


def test_an_app_password_without_direct_messages_connects_and_says_so(
    admin_client: Client, api: respx.MockRouter
) -> None:
    api.post("/com.atproto.server.createSession").mock(
        return_value=httpx.Response(200, json=bsky.session_body())
    )
    api.get("/chat.bsky.convo.listConvos").mock(
        return_value=bsky.xrpc_error(400, "InvalidToken", "Bad token scope")
    )

    response = _connect(admin_client)

    assert Channel.objects.get().credentials["dms"] is False
    assert "without direct messages (the app password does not allow them)" in response.content.decode()


def test_a_wrong_app_password_is_refused_clearly_and_nothing_is_stored(
    admin_client: Client, api: respx.MockRouter
) -> None:
    api.post("/com.atproto.server.createSession").mock(
        return_value=bsky.xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
    )

    response = _connect(admin_client)

    assert response.status_code == 200
    assert "Bluesky refused this handle and app password." in response.content.decode()
    assert not Channel.objects.exists()


def test_the_account_password_is_refused_before_any_call(admin_client: Client, api: respx.MockRouter) -> None:
    response = _connect(admin_client, app_password="hunter2-my-real-password")

    assert "Use an app password" in response.content.decode()
    assert not api.calls
    assert not Channel.objects.exists()


def test_the_connect_page_is_not_there_for_agents(client: Client, api: respx.MockRouter) -> None:
    client.force_login(MembershipFactory().user)

    response = client.get(reverse("channels:bluesky_connect"))

    assert response.status_code == 404


def test_the_channel_list_offers_bluesky_and_re_authorising_goes_to_its_connect_page(
    admin_client: Client,
) -> None:
    channel = ChannelFactory(network="bluesky", state=Channel.State.NEEDS_REAUTH, slug="nw-bsky")

    listing = admin_client.get(reverse("channels:index")).content.decode()
    response = admin_client.post(reverse("channels:reauthorise", args=[channel.slug]))

    assert f'href="{reverse("channels:bluesky_connect")}">Connect a Bluesky account' in listing
    assert response["Location"] == f"{reverse('channels:bluesky_connect')}?channel=nw-bsky"


# --- Pulling into the inbox ---------------------------------------------------------------------------------


def test_a_pull_stores_bluesky_posts_with_their_long_ids_and_handles_and_keeps_the_refreshed_session(
    api: respx.MockRouter,
) -> None:
    # The longest a post's URI gets: a did:web DID on a 253-character domain, and a 13-character record key.
    long_handle = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 54, "social"])
    author = bsky.profile("did:web:" + long_handle, long_handle, "Long")
    item = bsky.notification(
        rkey="3kq2lonhandle",
        reason="mention",
        text="@northwind.bsky.social hello",
        indexed_at="2026-11-23T10:00:00.000Z",
        author=author,
        langs=["pt-BR"],
    )
    api.get(LIST).mock(return_value=httpx.Response(200, json={"notifications": [item]}))
    api.post("/com.atproto.server.refreshSession").mock(
        return_value=httpx.Response(200, json=bsky.session_body())
    )
    old_session = bsky.stored_session(access_exp=time.time() + 30)
    channel = ChannelFactory(
        network="bluesky",
        handle=f"@{bsky.BRAND_HANDLE}",
        external_account_id=bsky.BRAND_DID,
        credentials={**bsky.channel().credentials, "session": old_session},
    )

    result = channel_pull(channel_id=channel.pk)

    assert (result.outcome, result.inserted) == ("ok", 1), (
        result,
        list(channel.quarantined_items.values_list("error", flat=True)),
    )
    mention = Mention.objects.get()
    assert mention.external_id == item["uri"]
    assert (len(long_handle), len(mention.external_id)) == (253, 299)
    assert mention.language == "pt-BR"  # the record's own tag, which routing reads before any guess
    assert Author.objects.get().handle == long_handle
    channel.refresh_from_db()
    assert channel.credentials["session"]["access_jwt"] != old_session["access_jwt"]
    assert channel.cursor["notifications"]["seen"]["uri"] == item["uri"]


# --- The composer's limit -----------------------------------------------------------------------------------


def test_a_reply_over_300_graphemes_is_refused_as_bluesky_counts_them() -> None:
    channel = ChannelFactory(network="bluesky", external_account_id=bsky.BRAND_DID)
    team = segment("customer-relations").team
    agent = MembershipFactory(team=team).user
    mention = MentionFactory(team=team, on_channels=[channel], text="Where is my order?")
    flag = "🇫🇷"  # two code points, eight bytes, one grapheme

    with pytest.raises(TriageError) as refused:
        reply_create(actor=agent, mention=mention, text=flag * 301)
    accepted = reply_create(actor=agent, mention=mention, text=flag * 300)

    assert str(refused.value) == "The reply is 301 characters as Bluesky counts them; the limit is 300."
    assert list(Reply.objects.values_list("pk", flat=True)) == [accepted.pk]


# --- The channel page -------------------------------------------------------------------------------------


def test_the_channel_page_says_when_direct_messages_are_off_and_offers_no_listening_queries(
    admin_client: Client,
) -> None:
    channel = ChannelFactory(
        network="bluesky",
        slug="nw-bsky",
        credentials={**bsky.channel().credentials, "dms": False},
        listening_queries=[],
    )

    page = admin_client.get(reverse("channels:settings", args=[channel.slug])).content.decode()
    saved = admin_client.post(
        reverse("channels:settings", args=[channel.slug]),
        {"segment": "product-promotion", "team_override": "", "poll_interval_seconds": "60"},
    )

    assert "<dt>Direct messages</dt>" in page
    assert "Off: the app password does not allow them." in page
    assert 'name="listening_queries"' not in page
    assert f'href="{reverse("channels:bluesky_connect")}?channel=nw-bsky">Renew the credentials' in page
    assert saved.status_code == 302
    channel.refresh_from_db()
    assert (channel.segment.slug, channel.poll_interval_seconds, channel.listening_queries) == (
        "product-promotion",
        60,
        [],
    )


def test_the_channel_page_says_why_bluesky_refused_direct_messages(admin_client: Client) -> None:
    channel = ChannelFactory(
        network="bluesky",
        credentials={**bsky.channel().credentials, "dms": True},
        cursor={"dms": {"refused": "the app password does not allow direct messages"}},
    )

    page = admin_client.get(reverse("channels:settings", args=[channel.slug])).content.decode()

    assert "Off since Bluesky refused them: the app password does not allow direct messages." in page


# --- Backfill ---------------------------------------------------------------------------------------------


def test_a_bluesky_backfill_walks_notifications_back_to_the_window_and_leaves_the_live_cursor_alone(
    api: respx.MockRouter,
) -> None:
    now = datetime.now(UTC)

    def at(hours_ago: float) -> str:
        return (now - timedelta(hours=hours_ago)).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    def mention(rkey: str, hours_ago: float) -> dict:
        return bsky.notification(
            rkey=rkey, reason="mention", text=f"post {rkey}", indexed_at=at(hours_ago), author=bsky.ANN
        )

    api.post("/com.atproto.server.createSession").mock(
        return_value=httpx.Response(200, json=bsky.session_body())
    )
    listing = api.get(LIST).mock(
        side_effect=[
            httpx.Response(
                200, json={"notifications": [mention("3kb1", 1), mention("3kb2", 20)], "cursor": "h2"}
            ),
            httpx.Response(
                200, json={"notifications": [mention("3kb3", 40), mention("3kb4", 24 * 9)], "cursor": "h3"}
            ),
        ]
    )
    channel = ChannelFactory(
        slug="nw-bsky",
        network="bluesky",
        external_account_id=bsky.BRAND_DID,
        credentials=bsky.channel().credentials,
        cursor={"notifications": {"seen": {"uri": "at://x/app.bsky.feed.post/3kseen", "indexed_at": at(0)}}},
    )
    out = StringIO()

    call_command("backfill", "--channel", "nw-bsky", "--days", "7", "--no-progress", stdout=out)

    assert sorted(Mention.objects.values_list("external_id", flat=True)) == [
        bsky.post_uri(bsky.ANN_DID, key) for key in ("3kb1", "3kb2", "3kb3")
    ]
    assert [call.request.url.params.get("cursor") for call in listing.calls] == [None, "h2"]
    assert "stopped: reached the end of the history the network keeps for this window" in out.getvalue()
    channel.refresh_from_db()
    assert channel.cursor["notifications"]["seen"]["uri"] == "at://x/app.bsky.feed.post/3kseen"
    assert channel.credentials["session"]["did"] == bsky.BRAND_DID  # the session it opened is kept


# --- Replies through the inbox ----------------------------------------------------------------------------


def _bluesky_mention(channel: Channel, author: Author, *, kind: str, external_id: str) -> Mention:
    return MentionFactory(
        network="bluesky",
        external_id=external_id,
        kind=kind,
        author=author,
        team=segment("customer-relations").team,
        on_channels=[channel],
    )


def _queued_reply(mention: Mention, channel: Channel, text: str) -> Reply:
    agent = MembershipFactory(team=mention.team).user
    return Reply.objects.create(mention=mention, channel=channel, author=agent, text=text)


def test_a_reply_to_a_bluesky_post_is_threaded_under_it_and_a_dm_answered_in_the_chat(
    api: respx.MockRouter,
) -> None:
    channel = ChannelFactory(
        network="bluesky",
        handle=f"@{bsky.BRAND_HANDLE}",
        external_account_id=bsky.BRAND_DID,
        credentials={
            **bsky.channel(dms=True).credentials,
            "session": bsky.stored_session(access_exp=time.time() + 3600),
        },
    )
    post_uri = bsky.post_uri(bsky.ANN_DID, "3kanswerme")
    ann = AuthorFactory(network="bluesky", external_id=bsky.ANN_DID, handle="ann.bsky.social")
    post = _bluesky_mention(channel, ann, kind="mention", external_id=post_uri)
    dm = _bluesky_mention(channel, ann, kind="dm", external_id="chat:convo1:m1")
    parent = {
        "uri": post_uri,
        "cid": "bafyreianswerme",
        "author": bsky.ANN,
        "record": bsky.post_record("where is my order", created_at="2026-11-23T10:00:00.000Z"),
        "indexedAt": "2026-11-23T10:00:00.000Z",
    }
    api.get("/app.bsky.feed.getPosts").mock(return_value=httpx.Response(200, json={"posts": [parent]}))
    created = api.post("/com.atproto.repo.createRecord").mock(
        return_value=httpx.Response(
            200, json={"uri": bsky.post_uri(bsky.BRAND_DID, "3kours"), "cid": "bafyreiours"}
        )
    )
    api.get("/chat.bsky.convo.getConvoForMembers").mock(
        return_value=httpx.Response(
            200, json={"convo": {"id": "convo1", "rev": "1", "members": [], "muted": False, "unreadCount": 0}}
        )
    )
    sent_message = api.post("/chat.bsky.convo.sendMessage").mock(
        return_value=httpx.Response(
            200,
            json={
                "id": "m2",
                "rev": "2",
                "text": "Refunded",
                "sender": {"did": bsky.BRAND_DID},
                "sentAt": "2026-11-23T10:01:00.000Z",
            },
        )
    )

    public = reply_deliver(reply_id=_queued_reply(post, channel, "Sorry! Sending a new one.").pk)
    private = reply_deliver(reply_id=_queued_reply(dm, channel, "Refunded").pk)

    assert (public.state, public.external_id) == (Reply.State.SENT, bsky.post_uri(bsky.BRAND_DID, "3kours"))
    record = json.loads(created.calls[0].request.content)["record"]
    assert record["reply"]["parent"] == {"uri": post_uri, "cid": "bafyreianswerme"}
    assert (private.state, private.external_id) == (Reply.State.SENT, "chat:convo1:m2")
    assert json.loads(sent_message.calls[0].request.content)["convoId"] == "convo1"
    assert created.call_count == 1  # the DM went to the chat, not as a post
