"""The admin's channel pages beyond connecting X and Mastodon (tested in test_connect_views.py): adding a
simulated account, a channel's settings (segment, owning team, listening queries, cadence, X's app bearer
token for search), pausing and resuming, and the audit events every change writes. Tokens are never shown."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from channels.connectors.simulated import SimulatedConnector
from channels.connectors.x.connect import channel_connect_x
from channels.models import Channel
from channels.services import channels_claim_due
from foundation.models import DomainEvent
from inbox.models import Mention
from inbox.pulls import channel_pull
from teams.models import Membership, Team
from tests.factories import ChannelFactory, MembershipFactory, UserFactory, segment

pytestmark = pytest.mark.django_db

X_ACCOUNT_ID = "1500000000000000001"
X_ACCESS_TOKEN = "x-user-access-token-7"
X_REFRESH_TOKEN = "x-refresh-token-7"
X_BEARER_TOKEN = "AAAAAAAAAAAAAAAAAAAAAx-app-bearer-7"
MASTODON_TOKEN = "mastodon-access-token-7"
SECRETS = (X_ACCESS_TOKEN, X_REFRESH_TOKEN, X_BEARER_TOKEN, MASTODON_TOKEN)


@pytest.fixture(autouse=True)
def network() -> Iterator[responses.RequestsMock]:
    """No page here may call a network: any request fails as a refused connection would."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as api:
        yield api


@pytest.fixture
def admin() -> Any:
    return UserFactory(username="alex", first_name="Alex", last_name="Admin", admin=True)


@pytest.fixture
def admin_client(client: Client, admin: Any) -> Client:
    client.force_login(admin)
    return client


@pytest.fixture
def x_channel() -> Channel:
    return ChannelFactory(
        slug="northwind",
        network="x",
        handle="@northwind",
        external_account_id=X_ACCOUNT_ID,
        segment=segment("customer-relations"),
        credentials={
            "access_token": X_ACCESS_TOKEN,
            "refresh_token": X_REFRESH_TOKEN,
            "expires_at": 1,
            "bearer_token": X_BEARER_TOKEN,
        },
        listening_queries=["northwind"],
    )


@pytest.fixture
def mastodon_channel() -> Channel:
    return ChannelFactory(
        slug="northwind-social-example",
        network="mastodon",
        handle="@northwind@social.example",
        external_account_id="social.example:1",
        segment=segment("product-promotion"),
        credentials={"instance_url": "https://social.example", "access_token": MASTODON_TOKEN},
        listening_queries=["#northwind"],
    )


def settings_url(channel: Channel) -> str:
    return reverse("channels:settings", args=[channel.slug])


def settings_post(channel: Channel, **changes: str) -> dict[str, str]:
    """The settings form as the page fills it in for ``channel``, with ``changes`` typed over it."""
    return {
        "segment": channel.segment.slug,
        "team_override": channel.team_override.slug if channel.team_override else "",
        "listening_queries": "\n".join(channel.listening_queries),
        "poll_interval_seconds": str(channel.poll_interval_seconds or ""),
        **changes,
    }


def audit_trail() -> list[tuple[str, str, dict, dict]]:
    return [
        (e.verb, e.actor.username if e.actor else "", e.before, e.after)
        for e in DomainEvent.objects.order_by("id")
    ]


def raw_credentials(channel: Channel) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT credentials FROM {Channel._meta.db_table} WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


# --- Adding a simulated account ------------------------------------------------------------------------


def test_an_admin_adds_a_simulated_account_that_then_receives_posts(admin_client: Client) -> None:
    page = admin_client.get(reverse("channels:simulated_connect"), {"segment": "event-coverage"})
    response = admin_client.post(
        reverse("channels:simulated_connect"),
        {
            "handle": "northwind_trails",
            "segment": "event-coverage",
            "listening_queries": "northwind\n#trailfest\nnorthwind",
            "poll_interval_seconds": "30",
        },
        follow=True,
    )

    channel = Channel.objects.get()
    trail = audit_trail()
    pulled = channel_pull(channel_id=channel.pk, connector=SimulatedConnector(page_size=3), max_pages=1)
    assert '<option value="event-coverage" selected>' in page.content.decode()
    assert response.redirect_chain == [(reverse("channels:index"), 302)]
    assert "Added @northwind_trails on the simulated network to Event coverage." in response.content.decode()
    assert (
        channel.slug,
        channel.network,
        channel.handle,
        channel.external_account_id,
        channel.segment.slug,
        channel.listening_queries,
        channel.poll_interval_seconds,
        channel.state,
        channel.credentials,
    ) == (
        "northwind-trails",
        "simulated",
        "@northwind_trails",
        "sim-northwind-trails",
        "event-coverage",
        ["northwind", "#trailfest"],
        30,
        "active",
        {},
    )
    assert trail == [
        (
            "channel.connected",
            "alex",
            {},
            {
                "network": "simulated",
                "handle": "@northwind_trails",
                "segment": "event-coverage",
                "listening_queries": ["northwind", "#trailfest"],
                "state": "active",
            },
        )
    ]
    assert (pulled.outcome, pulled.inserted) == ("ok", 3)
    assert Mention.objects.count() == 3


def test_a_handle_that_is_already_a_simulated_channel_is_refused_beside_the_field(
    admin_client: Client,
) -> None:
    ChannelFactory(slug="northwind-help", handle="@northwind_help", external_account_id="sim-northwind-help")

    response = admin_client.post(
        reverse("channels:simulated_connect"), {"handle": "@Northwind_Help", "segment": "customer-relations"}
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "handle": ["@northwind_help is already a simulated channel; change its settings on its page instead."]
    }
    assert Channel.objects.count() == 1
    assert DomainEvent.objects.count() == 0


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        (
            "handle",
            "north wind!",
            "Use letters, digits and underscores only, at most 50, e.g. @northwind_help.",
        ),
        ("poll_interval_seconds", "5", "Pull no more often than every 15 seconds."),
        ("poll_interval_seconds", "90000", "Pull at least once a day, or pause the channel instead."),
        (
            "segment",
            "no-such-segment",
            "Select a valid choice. That choice is not one of the available choices.",
        ),
    ],
)
def test_a_simulated_account_that_cannot_be_added_says_why(
    admin_client: Client, field: str, value: str, error: str
) -> None:
    data = {"handle": "northwind_trails", "segment": "event-coverage", field: value}

    response = admin_client.post(reverse("channels:simulated_connect"), data)

    assert response.context["form"].errors == {field: [error]}
    assert Channel.objects.count() == 0
    assert DomainEvent.objects.count() == 0


def test_the_list_links_each_channel_to_its_settings_and_offers_a_simulated_account(
    admin_client: Client, x_channel: Channel
) -> None:
    html = admin_client.get(reverse("channels:index")).content.decode()

    assert f'href="{settings_url(x_channel)}">@northwind<' in html
    assert f'href="{reverse("channels:simulated_connect")}">Add a simulated account<' in html


# --- A channel's settings -------------------------------------------------------------------------------


def test_the_settings_page_shows_the_channel_as_it_is_and_never_a_token(
    admin_client: Client, x_channel: Channel, settings: Any
) -> None:
    settings.X_BEARER_TOKEN = "settings-bearer-token"
    x_channel.poll_interval_seconds = 60
    x_channel.team_override = segment("crisis-management").team
    x_channel.save()

    response = admin_client.get(settings_url(x_channel))

    html = response.content.decode()
    assert response.status_code == 200
    assert response.context["form"].initial == {
        "segment": "customer-relations",
        "team_override": x_channel.team_override.slug,
        "listening_queries": "northwind",
        "poll_interval_seconds": 60,
    }
    assert "searched with the app bearer token stored for this channel" in html
    assert 'name="bearer_token"' in html
    assert f'action="{reverse("channels:pause", args=["northwind"])}"' in html
    for secret in (*SECRETS, "settings-bearer-token"):
        assert secret not in html


def test_an_admin_changes_segment_team_queries_and_cadence_in_one_audited_event(
    admin_client: Client, x_channel: Channel
) -> None:
    x_channel.next_pull_at = timezone.now() + timedelta(hours=2)
    x_channel.save()
    crisis_team = segment("crisis-management").team
    before = timezone.now()

    response = admin_client.post(
        settings_url(x_channel),
        settings_post(
            x_channel,
            segment="product-promotion",
            team_override=crisis_team.slug,
            listening_queries="northwind\n#northwindsale",
            poll_interval_seconds="300",
        ),
        follow=True,
    )

    channel = Channel.objects.get()
    assert response.redirect_chain == [(settings_url(x_channel), 302)]
    assert "Saved the settings of @northwind." in response.content.decode()
    assert (
        channel.segment.slug,
        channel.team_override,
        channel.listening_queries,
        channel.poll_interval_seconds,
        channel.owning_team_id,
    ) == ("product-promotion", crisis_team, ["northwind", "#northwindsale"], 300, crisis_team.pk)
    assert before + timedelta(seconds=300) <= channel.next_pull_at <= timezone.now() + timedelta(seconds=300)
    assert channel.credentials["bearer_token"] == X_BEARER_TOKEN
    assert audit_trail() == [
        (
            "channel.updated",
            "alex",
            {
                "segment": "customer-relations",
                "team_override": None,
                "listening_queries": ["northwind"],
                "poll_interval_seconds": None,
            },
            {
                "segment": "product-promotion",
                "team_override": crisis_team.pk,
                "listening_queries": ["northwind", "#northwindsale"],
                "poll_interval_seconds": 300,
            },
        )
    ]


def test_a_longer_cadence_leaves_the_next_pull_where_it_was(admin_client: Client, x_channel: Channel) -> None:
    due = timezone.now() + timedelta(seconds=30)
    x_channel.next_pull_at = due
    x_channel.save()

    admin_client.post(settings_url(x_channel), settings_post(x_channel, poll_interval_seconds="3600"))

    channel = Channel.objects.get()
    assert (channel.poll_interval_seconds, channel.next_pull_at) == (3600, due)


def test_saving_the_settings_unchanged_changes_nothing_and_records_nothing(
    admin_client: Client, x_channel: Channel
) -> None:
    response = admin_client.post(settings_url(x_channel), settings_post(x_channel), follow=True)

    assert "Nothing to save: the settings of @northwind are as they were." in response.content.decode()
    assert DomainEvent.objects.count() == 0


def test_a_new_app_bearer_token_is_stored_encrypted_and_never_shown_again(
    admin_client: Client, x_channel: Channel
) -> None:
    x_channel.credentials = {"access_token": X_ACCESS_TOKEN}
    x_channel.save()
    before = admin_client.get(settings_url(x_channel))

    page = admin_client.post(
        settings_url(x_channel), settings_post(x_channel, bearer_token=X_BEARER_TOKEN), follow=True
    )

    channel = Channel.objects.get()
    html = page.content.decode()
    assert "forget_bearer_token" not in before.context["form"].fields
    assert "forget_bearer_token" in page.context["form"].fields
    assert channel.credentials == {"access_token": X_ACCESS_TOKEN, "bearer_token": X_BEARER_TOKEN}
    assert X_BEARER_TOKEN not in raw_credentials(channel)
    assert "searched with the app bearer token stored for this channel" in html
    for secret in SECRETS:
        assert secret not in html
    assert audit_trail() == [
        ("channel.updated", "alex", {"bearer_token": "none"}, {"bearer_token": "stored"})
    ]


def test_replacing_and_forgetting_the_app_bearer_token_are_audited_without_it(
    admin_client: Client, x_channel: Channel, settings: Any
) -> None:
    settings.X_BEARER_TOKEN = ""

    admin_client.post(settings_url(x_channel), settings_post(x_channel, bearer_token="second-bearer-token"))
    replaced = Channel.objects.get().credentials["bearer_token"]
    page = admin_client.post(
        settings_url(x_channel), settings_post(x_channel, forget_bearer_token="on"), follow=True
    )

    channel = Channel.objects.get()
    assert replaced == "second-bearer-token"
    assert "bearer_token" not in channel.credentials
    assert channel.credentials["access_token"] == X_ACCESS_TOKEN
    assert "No app bearer token: listening queries are searched with the account" in page.content.decode()
    assert audit_trail() == [
        ("channel.updated", "alex", {"bearer_token": "stored"}, {"bearer_token": "replaced"}),
        ("channel.updated", "alex", {"bearer_token": "stored"}, {"bearer_token": "none"}),
    ]
    assert "second-bearer-token" not in json.dumps([e.before | e.after for e in DomainEvent.objects.all()])


def test_a_refused_settings_form_does_not_echo_the_bearer_token_typed(
    admin_client: Client, x_channel: Channel
) -> None:
    response = admin_client.post(
        settings_url(x_channel),
        settings_post(x_channel, bearer_token="typed-bearer-token", forget_bearer_token="on"),
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {
        "forget_bearer_token": ["Either type a new bearer token or forget the stored one, not both."]
    }
    assert "typed-bearer-token" not in response.content.decode()
    assert Channel.objects.get().credentials["bearer_token"] == X_BEARER_TOKEN
    assert DomainEvent.objects.count() == 0


def test_a_mastodon_channel_listens_to_hashtags_and_has_no_bearer_token(
    admin_client: Client, mastodon_channel: Channel
) -> None:
    page = admin_client.get(settings_url(mastodon_channel))
    refused = admin_client.post(
        settings_url(mastodon_channel),
        settings_post(mastodon_channel, listening_queries="#northwind\nnorthwind boots"),
    )
    saved = admin_client.post(
        settings_url(mastodon_channel),
        settings_post(mastodon_channel, listening_queries="#northwind\nTrailRun", bearer_token="ignored"),
    )

    html = page.content.decode()
    assert "bearer_token" not in page.context["form"].fields
    assert "Hashtags to listen to" in html
    assert MASTODON_TOKEN not in html
    assert f'href="{reverse("channels:mastodon_connect")}?channel=northwind-social-example"' in html
    assert "'northwind boots' is not a hashtag" in refused.context["form"].errors["listening_queries"][0]
    assert saved.status_code == 302
    channel = Channel.objects.get()
    assert channel.listening_queries == ["#northwind", "#TrailRun"]
    assert channel.credentials == {"instance_url": "https://social.example", "access_token": MASTODON_TOKEN}


def test_an_unknown_channel_has_no_settings_page(admin_client: Client) -> None:
    assert admin_client.get(reverse("channels:settings", args=["nobody"])).status_code == 404
    assert admin_client.post(reverse("channels:pause", args=["nobody"])).status_code == 404


# --- Pause and resume ----------------------------------------------------------------------------------


def test_a_paused_channel_is_not_pulled_until_it_is_resumed(admin_client: Client, x_channel: Channel) -> None:
    paused = admin_client.post(reverse("channels:pause", args=["northwind"]), follow=True)
    state_paused = Channel.objects.get().state
    due_while_paused = channels_claim_due()
    resumed = admin_client.post(reverse("channels:resume", args=["northwind"]), follow=True)

    assert paused.redirect_chain == [(settings_url(x_channel), 302)]
    assert "Paused @northwind: nothing is pulled until you resume it." in paused.content.decode()
    assert f'action="{reverse("channels:resume", args=["northwind"])}"' in paused.content.decode()
    assert state_paused == Channel.State.PAUSED
    assert due_while_paused == []
    assert "Resumed @northwind: it is pulled again from where it stopped." in resumed.content.decode()
    assert Channel.objects.get().state == Channel.State.ACTIVE
    assert channels_claim_due() == [x_channel.pk]
    assert audit_trail() == [
        ("channel.paused", "alex", {"state": "active"}, {"state": "paused"}),
        ("channel.resumed", "alex", {"state": "paused"}, {"state": "active"}),
    ]


def test_pausing_a_channel_that_needs_re_authorisation_changes_nothing(
    admin_client: Client, x_channel: Channel
) -> None:
    Channel.objects.filter(pk=x_channel.pk).update(state=Channel.State.NEEDS_REAUTH)

    paused = admin_client.post(reverse("channels:pause", args=["northwind"]), follow=True)
    resumed = admin_client.post(reverse("channels:resume", args=["northwind"]), follow=True)

    assert "@northwind was not pulling (needs re-authorisation)." in paused.content.decode()
    assert "@northwind was not paused (needs re-authorisation)." in resumed.content.decode()
    assert f'action="{reverse("channels:reauthorise", args=["northwind"])}"' in resumed.content.decode()
    assert Channel.objects.get().state == Channel.State.NEEDS_REAUTH
    assert DomainEvent.objects.count() == 0


# --- Connecting and re-authorising are audited, and keep the app bearer token ----------------------------


def test_re_authorising_an_x_channel_keeps_its_bearer_token_and_is_audited(
    x_channel: Channel, admin: Any
) -> None:
    Channel.objects.filter(pk=x_channel.pk).update(state=Channel.State.NEEDS_REAUTH)

    channel_connect_x(
        actor=admin,
        account_id=X_ACCOUNT_ID,
        username="northwind_outdoors",
        credentials={"access_token": "fresh", "refresh_token": "fresh-refresh", "expires_at": 2},
        reauthorise_slug="northwind",
    )

    channel = Channel.objects.get()
    assert channel.credentials == {
        "access_token": "fresh",
        "refresh_token": "fresh-refresh",
        "expires_at": 2,
        "bearer_token": X_BEARER_TOKEN,
    }
    assert audit_trail() == [
        (
            "channel.reauthorised",
            "alex",
            {"handle": "@northwind", "state": "needs_reauth"},
            {"handle": "@northwind_outdoors", "state": "active", "credentials": "renewed"},
        )
    ]


def test_connecting_an_x_account_again_keeps_its_bearer_token_and_is_audited(
    x_channel: Channel, admin: Any
) -> None:
    channel_connect_x(
        actor=admin,
        account_id=X_ACCOUNT_ID,
        username="northwind",
        credentials={"access_token": "fresh"},
        segment=segment("event-coverage"),
        listening_queries=["#trailfest"],
    )

    channel = Channel.objects.get()
    assert channel.credentials == {"access_token": "fresh", "bearer_token": X_BEARER_TOKEN}
    assert audit_trail() == [
        (
            "channel.reconnected",
            "alex",
            {
                "network": "x",
                "handle": "@northwind",
                "segment": "customer-relations",
                "listening_queries": ["northwind"],
                "state": "active",
            },
            {
                "network": "x",
                "handle": "@northwind",
                "segment": "event-coverage",
                "listening_queries": ["#trailfest"],
                "state": "active",
                "credentials": "renewed",
            },
        )
    ]


def test_a_mastodon_account_connected_in_the_browser_is_audited_without_its_token(
    admin_client: Client, network: responses.RequestsMock
) -> None:
    network.get(
        "https://social.example/api/v1/accounts/verify_credentials",
        json={"id": "109000000000000001", "username": "northwind", "acct": "northwind"},
    )

    admin_client.post(
        reverse("channels:mastodon_connect"),
        {
            "instance_url": "https://social.example",
            "access_token": MASTODON_TOKEN,
            "segment": "product-promotion",
        },
    )

    assert audit_trail() == [
        (
            "channel.connected",
            "alex",
            {},
            {
                "network": "mastodon",
                "handle": "@northwind@social.example",
                "segment": "product-promotion",
                "listening_queries": [],
                "state": "active",
            },
        )
    ]


# --- Who may use these pages ----------------------------------------------------------------------------

PAGES = [
    ("get", "channels:simulated_connect", []),
    ("post", "channels:simulated_connect", []),
    ("get", "channels:settings", ["northwind"]),
    ("post", "channels:settings", ["northwind"]),
    ("post", "channels:pause", ["northwind"]),
    ("post", "channels:resume", ["northwind"]),
    ("get", "channels:pause", ["northwind"]),
]
FORGED = {
    "handle": "forged_account",
    "segment": "crisis-management",
    "team_override": "crisis-response",
    "listening_queries": "forged",
    "poll_interval_seconds": "15",
    "bearer_token": "forged-bearer-token",
    "forget_bearer_token": "on",
}


def channels_as_they_are() -> list[tuple[Any, ...]]:
    return [
        (
            c.slug,
            c.state,
            c.segment.slug,
            c.team_override_id,
            c.listening_queries,
            c.poll_interval_seconds,
            c.credentials,
        )
        for c in Channel.objects.select_related("segment").order_by("pk")
    ]


@pytest.fixture
def lead(x_channel: Channel) -> Any:
    return MembershipFactory(team=x_channel.segment.team, role=Membership.Role.LEAD).user


@pytest.fixture
def agent(x_channel: Channel) -> Any:
    return MembershipFactory(team=x_channel.segment.team, role=Membership.Role.AGENT).user


@pytest.mark.parametrize("role", ["agent", "lead"])
@pytest.mark.parametrize(("method", "name", "args"), PAGES)
def test_agents_and_leads_are_told_the_pages_do_not_exist_and_forged_posts_change_nothing(
    client: Client,
    request: pytest.FixtureRequest,
    x_channel: Channel,
    network: responses.RequestsMock,
    role: str,
    method: str,
    name: str,
    args: list[str],
) -> None:
    client.force_login(request.getfixturevalue(role))
    Channel.objects.filter(pk=x_channel.pk).update(state=Channel.State.PAUSED)  # resume would change it
    unchanged = channels_as_they_are()

    response = getattr(client, method)(reverse(name, args=args), FORGED)

    assert response.status_code == 404
    assert channels_as_they_are() == unchanged
    assert DomainEvent.objects.count() == 0
    assert len(network.calls) == 0


@pytest.mark.parametrize(("method", "name", "args"), PAGES)
def test_an_anonymous_visitor_is_sent_to_log_in_and_changes_nothing(
    client: Client, x_channel: Channel, method: str, name: str, args: list[str]
) -> None:
    url = reverse(name, args=args)
    unchanged = channels_as_they_are()

    response = getattr(client, method)(url, FORGED)

    assert response.status_code == 302
    assert response["Location"].split("?", 1)[0] == reverse("login")
    assert parse_qs(urlsplit(response["Location"]).query)["next"][0].split("?", 1)[0] == url
    assert channels_as_they_are() == unchanged
    assert DomainEvent.objects.count() == 0


def test_pause_and_resume_only_answer_posts(admin_client: Client, x_channel: Channel) -> None:
    assert admin_client.get(reverse("channels:pause", args=["northwind"])).status_code == 405
    assert admin_client.get(reverse("channels:resume", args=["northwind"])).status_code == 405
    assert Channel.objects.get().state == Channel.State.ACTIVE


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("channels:settings", {"segment": "crisis-management", "listening_queries": "forged"}),
        ("channels:pause", {}),
    ],
)
def test_a_post_without_the_csrf_token_is_refused(
    admin: Any, x_channel: Channel, name: str, data: dict[str, str]
) -> None:
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin)
    unchanged = channels_as_they_are()

    response = browser.post(reverse(name, args=["northwind"]), data)

    assert response.status_code == 403
    assert channels_as_they_are() == unchanged
    assert DomainEvent.objects.count() == 0


def test_a_team_that_is_not_there_cannot_own_a_channel(admin_client: Client, x_channel: Channel) -> None:
    response = admin_client.post(
        settings_url(x_channel), settings_post(x_channel, team_override="no-such-team")
    )

    assert "team_override" in response.context["form"].errors
    assert Channel.objects.get().team_override is None


def test_any_team_may_own_a_channel(admin_client: Client, x_channel: Channel) -> None:
    press = Team.objects.create(name="Press Office", slug="press-office")

    admin_client.post(settings_url(x_channel), settings_post(x_channel, team_override="press-office"))

    assert Channel.objects.get().team_override == press
