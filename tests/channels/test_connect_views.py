"""The pages where an admin connects brand accounts: X through OAuth 2.0 with PKCE, Mastodon with a verified
access token. X's OAuth endpoints and the Mastodon instance are faked at the HTTP layer with ``responses``,
in the shapes the connector tests use; the rest (sessions, CSRF, encryption, PostgreSQL) is real."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from channels.connectors.mastodon import REQUEST_TIMEOUT as MASTODON_TIMEOUT
from channels.connectors.x.views import X_FLOW_SESSION_KEY
from channels.models import Channel
from tests.factories import ChannelFactory, MembershipFactory, UserFactory, segment

pytestmark = pytest.mark.django_db

ACCOUNT_ID = "1500000000000000001"
TOKEN_URL = "https://api.twitter.com/2/oauth2/token"
ME_URL = "https://api.twitter.com/2/users/me"
AUTHORIZE_URL = "https://twitter.com/i/oauth2/authorize"
CALLBACK_URL = "https://testserver/channels/connect/x/callback"
TOKEN_RESPONSE = {
    "token_type": "bearer",
    "expires_in": 7200,
    "access_token": "new-user-token",
    "scope": "tweet.write users.read tweet.read offline.access",
    "refresh_token": "refresh-2",
}
ME_RESPONSE = {"data": {"id": ACCOUNT_ID, "name": "Northwind", "username": "northwind"}}

INSTANCE = "https://social.example"
VERIFY_URL = f"{INSTANCE}/api/v1/accounts/verify_credentials"
MASTODON_ID = "109000000000000001"
MASTODON_TOKEN = "mastodon-token-1"
MASTODON_ACCOUNT = {
    "id": MASTODON_ID,
    "username": "northwind",
    "acct": "northwind",
    "display_name": "Northwind Support",
    "locked": False,
    "bot": False,
    "created_at": "2026-08-01T00:00:00.000Z",
    "note": "",
    "url": f"{INSTANCE}/@northwind",
    "followers_count": 10000,
    "following_count": 0,
    "statuses_count": 3,
    "emojis": [],
    "fields": [],
}


@pytest.fixture
def network() -> Iterator[responses.RequestsMock]:
    """X and the Mastodon instance; a request nobody registered fails as a refused connection would."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        yield api


@pytest.fixture(autouse=True)
def x_app(settings: Any) -> None:
    settings.X_CLIENT_ID = "client-id"
    settings.X_CLIENT_SECRET = "client-secret"
    settings.X_BEARER_TOKEN = ""


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(UserFactory(admin=True))
    return client


@pytest.fixture
def agent_client(client: Client) -> Client:
    client.force_login(MembershipFactory().user)
    return client


@pytest.fixture
def x_channel_needing_reauth() -> Channel:
    return ChannelFactory(
        slug="northwind",
        network="x",
        handle="@northwind",
        external_account_id=ACCOUNT_ID,
        segment=segment("crisis-management"),
        credentials={"access_token": "revoked-token", "refresh_token": "spent-refresh", "expires_at": 1},
        listening_queries=["northwind"],
        state=Channel.State.NEEDS_REAUTH,
    )


def start_x(client: Client, url: str, data: dict[str, str] | None = None) -> dict[str, str]:
    """Post the start of the X flow; return the authorisation address's query, checked to go to X."""
    response = client.post(url, data or {}, secure=True)
    assert response.status_code == 302
    assert response["Location"].split("?", 1)[0] == AUTHORIZE_URL
    return {name: values[0] for name, values in parse_qs(urlsplit(response["Location"]).query).items()}


def raw_credentials(channel: Channel) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT credentials FROM {Channel._meta.db_table} WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


# --- The channel list ----------------------------------------------------------------------------------


def test_the_list_says_how_to_connect_a_first_account(admin_client: Client) -> None:
    response = admin_client.get(reverse("channels:index"))

    content = response.content.decode()
    assert response.status_code == 200
    assert "No channels yet" in content
    assert f'href="{reverse("channels:x_connect")}">Connect an X account<' in content
    assert f'href="{reverse("channels:mastodon_connect")}">Connect a Mastodon account<' in content


def test_the_list_shows_each_channel_and_offers_re_authorisation_but_never_a_token(
    admin_client: Client, x_channel_needing_reauth: Channel
) -> None:
    ChannelFactory(
        slug="northwind-social-example",
        network="mastodon",
        handle="@northwind@social.example",
        external_account_id=f"social.example:{MASTODON_ID}",
        segment=segment("product-promotion"),
        credentials={"instance_url": INSTANCE, "access_token": MASTODON_TOKEN},
        last_pull_result={"outcome": "ok", "inserted": 3, "error": ""},
    )

    response = admin_client.get(reverse("channels:index"))

    content = response.content.decode()
    assert response.status_code == 200
    assert "@northwind@social.example" in content
    assert "Needs re-authorisation" in content
    assert "ok: 3 new" in content
    assert "Stopped until re-authorised" in content
    assert content.count('action="/channels/') == 1
    assert f'action="{reverse("channels:reauthorise", args=["northwind"])}"' in content
    assert "revoked-token" not in content
    assert "spent-refresh" not in content
    assert MASTODON_TOKEN not in content


# --- X --------------------------------------------------------------------------------------------------


def test_an_admin_connects_an_x_account_through_oauth_with_pkce(
    admin_client: Client, network: responses.RequestsMock
) -> None:
    page = admin_client.get(reverse("channels:x_connect"), {"segment": "customer-relations"}, secure=True)
    params = start_x(
        admin_client,
        reverse("channels:x_connect"),
        {"segment": "customer-relations", "listening_queries": "northwind\n\n#northwindtrails\nnorthwind "},
    )
    kept = admin_client.session[X_FLOW_SESSION_KEY]["kept"]
    network.post(TOKEN_URL, json=TOKEN_RESPONSE)
    network.get(ME_URL, json=ME_RESPONSE)
    before = int(time.time())

    callback = admin_client.get(
        reverse("channels:x_callback"), {"state": params["state"], "code": "the-code"}, secure=True
    )

    after = int(time.time())
    digest = hashlib.sha256(kept["code_verifier"].encode()).digest()
    assert '<option value="customer-relations" selected>' in page.content.decode()
    assert params["code_challenge"] == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert params["code_challenge_method"] == "S256"
    assert params["state"] == kept["state"]
    assert params["redirect_uri"] == CALLBACK_URL
    assert callback.status_code == 302
    assert callback["Location"] == reverse("channels:index")
    token_request = parse_qs(network.calls[0].request.body)
    assert token_request["code"] == ["the-code"]
    assert token_request["code_verifier"] == [kept["code_verifier"]]
    assert token_request["redirect_uri"] == [CALLBACK_URL]
    channel = Channel.objects.get()
    assert (
        channel.slug,
        channel.network,
        channel.handle,
        channel.external_account_id,
        channel.segment.slug,
        channel.listening_queries,
        channel.state,
    ) == (
        "northwind",
        "x",
        "@northwind",
        ACCOUNT_ID,
        "customer-relations",
        ["northwind", "#northwindtrails"],
        "active",
    )
    expires_at = channel.credentials.pop("expires_at")
    assert channel.credentials == {
        "access_token": "new-user-token",
        "refresh_token": "refresh-2",
        "scope": "tweet.write users.read tweet.read offline.access",
    }
    assert before + 7200 <= expires_at <= after + 7200
    raw = raw_credentials(channel)
    assert raw.startswith("gAAAA")  # a Fernet token
    assert "new-user-token" not in raw
    assert "refresh-2" not in raw
    assert X_FLOW_SESSION_KEY not in admin_client.session
    listing = admin_client.get(reverse("channels:index")).content.decode()
    assert "Connected @northwind on X to Customer relations." in listing
    assert "new-user-token" not in listing
    assert "refresh-2" not in listing


def test_a_callback_with_another_state_stores_nothing_and_sends_nothing_to_x(
    admin_client: Client, network: responses.RequestsMock
) -> None:
    start_x(admin_client, reverse("channels:x_connect"), {"segment": "customer-relations"})
    network.post(TOKEN_URL, json=TOKEN_RESPONSE)
    network.get(ME_URL, json=ME_RESPONSE)

    callback = admin_client.get(
        reverse("channels:x_callback"), {"state": "forged-state", "code": "the-code"}, secure=True
    )

    assert callback.status_code == 400
    assert "state does not match" in callback.content.decode()
    assert "Nothing was stored." in callback.content.decode()
    assert Channel.objects.count() == 0
    assert len(network.calls) == 0
    assert X_FLOW_SESSION_KEY not in admin_client.session


def test_a_declined_authorisation_stores_nothing_and_says_so(
    admin_client: Client, network: responses.RequestsMock
) -> None:
    params = start_x(admin_client, reverse("channels:x_connect"), {"segment": "customer-relations"})

    callback = admin_client.get(
        reverse("channels:x_callback"), {"error": "access_denied", "state": params["state"]}, secure=True
    )

    assert callback.status_code == 400
    assert "X did not authorise the account: access_denied" in callback.content.decode()
    assert Channel.objects.count() == 0
    assert len(network.calls) == 0


def test_a_callback_without_a_flow_in_the_session_stores_nothing(
    admin_client: Client, network: responses.RequestsMock
) -> None:
    callback = admin_client.get(
        reverse("channels:x_callback"), {"state": "some-state", "code": "the-code"}, secure=True
    )

    assert callback.status_code == 400
    assert "not started from this browser session" in callback.content.decode()
    assert Channel.objects.count() == 0
    assert len(network.calls) == 0


def test_a_refused_code_stores_nothing(admin_client: Client, network: responses.RequestsMock) -> None:
    params = start_x(admin_client, reverse("channels:x_connect"), {"segment": "customer-relations"})
    network.post(
        TOKEN_URL,
        status=400,
        json={
            "error": "invalid_request",
            "error_description": "Value passed for the authorization code was invalid.",
        },
    )

    callback = admin_client.get(
        reverse("channels:x_callback"), {"state": params["state"], "code": "stale"}, secure=True
    )

    assert callback.status_code == 400
    assert "authorization code was invalid" in callback.content.decode()
    assert Channel.objects.count() == 0


def test_re_authorising_brings_a_channel_back_with_new_credentials(
    admin_client: Client, network: responses.RequestsMock, x_channel_needing_reauth: Channel
) -> None:
    params = start_x(admin_client, reverse("channels:reauthorise", args=["northwind"]))
    network.post(TOKEN_URL, json=TOKEN_RESPONSE)
    network.get(ME_URL, json=ME_RESPONSE)

    callback = admin_client.get(
        reverse("channels:x_callback"), {"state": params["state"], "code": "the-code"}, secure=True
    )

    channel = Channel.objects.get()
    assert callback.status_code == 302
    assert channel.pk == x_channel_needing_reauth.pk
    assert channel.state == Channel.State.ACTIVE
    assert (channel.credentials["access_token"], channel.credentials["refresh_token"]) == (
        "new-user-token",
        "refresh-2",
    )
    assert (channel.segment.slug, channel.listening_queries) == ("crisis-management", ["northwind"])
    listing = admin_client.get(reverse("channels:index")).content.decode()
    assert "Re-authorised @northwind on X." in listing


def test_re_authorising_as_another_account_changes_nothing(
    admin_client: Client, network: responses.RequestsMock, x_channel_needing_reauth: Channel
) -> None:
    params = start_x(admin_client, reverse("channels:reauthorise", args=["northwind"]))
    network.post(TOKEN_URL, json=TOKEN_RESPONSE)
    network.get(ME_URL, json={"data": {"id": "999", "name": "Someone", "username": "someone_else"}})

    callback = admin_client.get(
        reverse("channels:x_callback"), {"state": params["state"], "code": "the-code"}, secure=True
    )

    channel = Channel.objects.get()
    assert callback.status_code == 400
    assert "You signed in as @someone_else, but this channel is @northwind" in callback.content.decode()
    assert channel.state == Channel.State.NEEDS_REAUTH
    assert channel.credentials["access_token"] == "revoked-token"


def test_connecting_an_x_account_again_updates_its_channel(
    admin_client: Client, network: responses.RequestsMock, x_channel_needing_reauth: Channel
) -> None:
    params = start_x(admin_client, reverse("channels:x_connect"), {"segment": "event-coverage"})
    network.post(TOKEN_URL, json=TOKEN_RESPONSE)
    network.get(ME_URL, json=ME_RESPONSE)

    admin_client.get(reverse("channels:x_callback"), {"state": params["state"], "code": "c"}, secure=True)

    channel = Channel.objects.get()
    assert (channel.pk, channel.slug, channel.segment.slug, channel.state) == (
        x_channel_needing_reauth.pk,
        "northwind",
        "event-coverage",
        "active",
    )
    assert channel.credentials["access_token"] == "new-user-token"


def test_without_an_x_app_the_connect_page_says_how_to_configure_one(
    admin_client: Client, settings: Any, network: responses.RequestsMock
) -> None:
    settings.X_CLIENT_ID = ""

    page = admin_client.get(reverse("channels:x_connect"), secure=True)
    posted = admin_client.post(reverse("channels:x_connect"), {"segment": "customer-relations"}, secure=True)

    content = page.content.decode()
    assert page.status_code == 200
    assert "X is not configured" in content
    assert "<code>X_CLIENT_ID</code> and <code>X_CLIENT_SECRET</code>" in content
    assert CALLBACK_URL in content
    assert posted.status_code == 200
    assert "X is not configured" in posted.content.decode()
    assert X_FLOW_SESSION_KEY not in admin_client.session


# --- Mastodon -------------------------------------------------------------------------------------------


def test_an_admin_connects_a_mastodon_account_with_a_verified_token(
    admin_client: Client, network: responses.RequestsMock
) -> None:
    network.get(VERIFY_URL, json=MASTODON_ACCOUNT)

    response = admin_client.post(
        reverse("channels:mastodon_connect"),
        {
            "instance_url": "https://Social.Example/",
            "access_token": MASTODON_TOKEN,
            "segment": "product-promotion",
            "listening_queries": "#northwind\nTrailRun\n#northwind",
        },
        follow=True,
    )

    channel = Channel.objects.get()
    assert response.redirect_chain == [(reverse("channels:index"), 302)]
    assert (
        channel.slug,
        channel.network,
        channel.handle,
        channel.external_account_id,
        channel.segment.slug,
        channel.listening_queries,
        channel.state,
    ) == (
        "northwind-social-example",
        "mastodon",
        "@northwind@social.example",
        f"social.example:{MASTODON_ID}",
        "product-promotion",
        ["#northwind", "#TrailRun"],
        "active",
    )
    assert channel.credentials == {"instance_url": INSTANCE, "access_token": MASTODON_TOKEN}
    assert MASTODON_TOKEN not in raw_credentials(channel)
    assert network.calls[0].request.headers["Authorization"] == f"Bearer {MASTODON_TOKEN}"
    assert network.calls[0].request.req_kwargs["timeout"] == MASTODON_TIMEOUT
    assert (
        "Connected @northwind@social.example on Mastodon to Product promotion / sales."
        in response.content.decode()
    )
    assert MASTODON_TOKEN not in response.content.decode()


def test_a_token_the_instance_refuses_is_reported_beside_the_field_and_nothing_is_stored(
    admin_client: Client, network: responses.RequestsMock
) -> None:
    network.get(VERIFY_URL, status=401, json={"error": "The access token is invalid"})

    response = admin_client.post(
        reverse("channels:mastodon_connect"),
        {"instance_url": INSTANCE, "access_token": MASTODON_TOKEN, "segment": "product-promotion"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "access_token": [
            "social.example refused this access token. Check that it was copied whole and has not been "
            "revoked."
        ]
    }
    assert MASTODON_TOKEN not in response.content.decode()
    assert Channel.objects.count() == 0


def test_an_unreachable_instance_is_reported_beside_the_address(
    admin_client: Client, network: responses.RequestsMock
) -> None:
    response = admin_client.post(
        reverse("channels:mastodon_connect"),
        {"instance_url": INSTANCE, "access_token": MASTODON_TOKEN, "segment": "product-promotion"},
    )

    assert response.context["form"].errors == {
        "instance_url": ["Could not reach social.example, or it did not answer in time. Check the address."]
    }
    assert Channel.objects.count() == 0


@pytest.mark.parametrize(
    ("instance_url", "error"),
    [
        ("http://social.example", "Use the instance's https:// address"),
        ("https://social.example/@northwind", "without a path"),
    ],
)
def test_an_instance_address_other_than_https_origin_is_refused_before_any_request(
    admin_client: Client, network: responses.RequestsMock, instance_url: str, error: str
) -> None:
    response = admin_client.post(
        reverse("channels:mastodon_connect"),
        {"instance_url": instance_url, "access_token": MASTODON_TOKEN, "segment": "product-promotion"},
    )

    assert response.status_code == 200
    assert error in response.context["form"].errors["instance_url"][0]
    assert len(network.calls) == 0
    assert Channel.objects.count() == 0


def test_a_listening_query_that_is_not_a_hashtag_is_refused(
    admin_client: Client, network: responses.RequestsMock
) -> None:
    response = admin_client.post(
        reverse("channels:mastodon_connect"),
        {
            "instance_url": INSTANCE,
            "access_token": MASTODON_TOKEN,
            "segment": "product-promotion",
            "listening_queries": "#northwind\nnorthwind boots",
        },
    )

    assert "'northwind boots' is not a hashtag" in response.context["form"].errors["listening_queries"][0]
    assert len(network.calls) == 0
    assert Channel.objects.count() == 0


def test_renewing_a_mastodon_token_updates_the_channel_it_belongs_to(
    admin_client: Client, network: responses.RequestsMock
) -> None:
    existing = ChannelFactory(
        slug="northwind-social-example",
        network="mastodon",
        handle="@northwind@social.example",
        external_account_id=f"social.example:{MASTODON_ID}",
        segment=segment("product-promotion"),
        credentials={"instance_url": INSTANCE, "access_token": "revoked-mastodon-token"},
        listening_queries=["#northwind"],
        state=Channel.State.NEEDS_REAUTH,
    )
    network.get(VERIFY_URL, json=MASTODON_ACCOUNT)

    renew = admin_client.post(reverse("channels:reauthorise", args=[existing.slug]))
    form = admin_client.get(renew["Location"])
    admin_client.post(
        reverse("channels:mastodon_connect"),
        {
            "instance_url": INSTANCE,
            "access_token": MASTODON_TOKEN,
            "segment": "product-promotion",
            "listening_queries": "#northwind",
        },
    )

    channel = Channel.objects.get()
    assert renew.status_code == 302
    assert form.context["form"].initial == {
        "instance_url": INSTANCE,
        "segment": "product-promotion",
        "listening_queries": "#northwind",
    }
    assert "revoked-mastodon-token" not in form.content.decode()
    assert (channel.pk, channel.state, channel.credentials["access_token"]) == (
        existing.pk,
        "active",
        MASTODON_TOKEN,
    )


# --- Who may use these pages ----------------------------------------------------------------------------

PAGES = [
    ("get", "channels:index", []),
    ("get", "channels:x_connect", []),
    ("post", "channels:x_connect", []),
    ("get", "channels:x_callback", []),
    ("get", "channels:mastodon_connect", []),
    ("post", "channels:mastodon_connect", []),
    ("get", "channels:reauthorise", ["northwind"]),
    ("post", "channels:reauthorise", ["northwind"]),
]
FORGED = {
    "segment": "customer-relations",
    "instance_url": INSTANCE,
    "access_token": MASTODON_TOKEN,
    "state": "forged",
    "code": "the-code",
}


@pytest.mark.parametrize(("method", "name", "args"), PAGES)
def test_an_agent_is_told_the_pages_do_not_exist(
    agent_client: Client,
    network: responses.RequestsMock,
    x_channel_needing_reauth: Channel,
    method: str,
    name: str,
    args: list[str],
) -> None:
    network.get(VERIFY_URL, json=MASTODON_ACCOUNT)
    network.post(TOKEN_URL, json=TOKEN_RESPONSE)
    network.get(ME_URL, json=ME_RESPONSE)

    response = getattr(agent_client, method)(reverse(name, args=args), FORGED, secure=True)

    assert response.status_code == 404
    assert len(network.calls) == 0
    assert list(Channel.objects.values_list("slug", "state")) == [("northwind", "needs_reauth")]
    assert X_FLOW_SESSION_KEY not in agent_client.session


@pytest.mark.parametrize(("method", "name", "args"), PAGES)
def test_an_anonymous_visitor_is_sent_to_log_in(
    client: Client,
    network: responses.RequestsMock,
    x_channel_needing_reauth: Channel,
    method: str,
    name: str,
    args: list[str],
) -> None:
    url = reverse(name, args=args)

    response = getattr(client, method)(url, FORGED, secure=True)

    assert response.status_code == 302
    assert response["Location"].split("?", 1)[0] == reverse("login")
    assert parse_qs(urlsplit(response["Location"]).query)["next"][0].split("?", 1)[0] == url
    assert len(network.calls) == 0
    assert list(Channel.objects.values_list("slug", "state")) == [("northwind", "needs_reauth")]


def test_a_post_without_the_csrf_token_is_refused(network: responses.RequestsMock) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(UserFactory(admin=True))
    network.get(VERIFY_URL, json=MASTODON_ACCOUNT)

    response = browser.post(
        reverse("channels:mastodon_connect"),
        {"instance_url": INSTANCE, "access_token": MASTODON_TOKEN, "segment": "product-promotion"},
    )

    assert response.status_code == 403
    assert len(network.calls) == 0
    assert Channel.objects.count() == 0


def test_the_list_costs_the_same_queries_for_one_channel_as_for_many(
    admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    ChannelFactory(network="x", external_account_id="1", handle="@one")
    admin_client.get(reverse("channels:index"))  # sessions and permissions warmed up
    with CaptureQueriesContext(connection) as one:
        admin_client.get(reverse("channels:index"))
    for n in range(2, 8):
        ChannelFactory(network="x", external_account_id=str(n), handle=f"@many{n}")

    with django_assert_max_num_queries(len(one.captured_queries)):
        html = admin_client.get(reverse("channels:index")).content.decode()

    assert html.count("Budget left: not reported yet") == 7
