"""Brand accounts change team by a hand-over both sides agree to; the crisis team alone takes one at once, and
only while crisis mode is on (issue 11)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
import redis
import time_machine
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

import foundation.live
from channels.models import Channel
from foundation.models import DomainEvent
from routing.models import RoutingSettings
from teams.models import ChannelHandover, Membership, Team
from tests.factories import ChannelFactory, MembershipFactory, UserFactory, segment

pytestmark = pytest.mark.django_db


@pytest.fixture
def care() -> Team:
    return segment("customer-relations").team


@pytest.fixture
def shop_team() -> Team:
    return segment("product-promotion").team


@pytest.fixture
def crisis() -> Team:
    return segment("crisis-management").team


def lead_of(team: Team, name: str):
    return MembershipFactory(team=team, role=Membership.Role.LEAD, user__first_name=name).user


@pytest.fixture
def care_lead(care):
    return lead_of(care, "Lee")


@pytest.fixture
def shop_lead(shop_team):
    return lead_of(shop_team, "Sasha")


@pytest.fixture
def crisis_lead(crisis):
    return lead_of(crisis, "Robin")


@pytest.fixture
def shop() -> Channel:
    return ChannelFactory(handle="@acme_shop", segment=segment("product-promotion"))


@pytest.fixture
def help_desk() -> Channel:
    return ChannelFactory(handle="@acme_help", segment=segment("customer-relations"))


def owner_of(channel: Channel) -> int:
    return Channel.objects.select_related("segment").get(pk=channel.pk).owning_team_id


def verbs() -> list[str]:
    return list(DomainEvent.objects.order_by("id").values_list("verb", flat=True))


def page(client, team: Team) -> str:
    return client.get(reverse("teams:detail", args=[team.slug])).content.decode()


def test_a_lead_posting_another_teams_account_only_asks_for_it(client, care, care_lead, shop_team, shop):
    """The take-over of issue 11: the same POST used to move the account with nobody on the other side
    knowing; now it is a request that waits for the owning team."""
    client.force_login(care_lead)

    response = client.post(f"/teams/{care.slug}/channels/", {"channel": shop.pk}, follow=True)

    assert owner_of(shop) == shop_team.pk
    handover = ChannelHandover.objects.get()
    assert (handover.kind, handover.state, handover.from_team, handover.to_team, handover.requested_by) == (
        ChannelHandover.Kind.REQUEST,
        ChannelHandover.State.PENDING,
        shop_team,
        care,
        care_lead,
    )
    assert escape(f"Asked {shop_team.name} for @acme_shop") in response.content.decode()
    assert verbs() == ["channel.handover_requested"]


def test_the_owning_lead_sees_the_request_and_accepts_it(client, care, care_lead, shop_team, shop_lead, shop):
    client.force_login(care_lead)
    client.post(reverse("teams:channel_request", args=[care.slug]), {"channel": shop.pk})
    handover = ChannelHandover.objects.get()
    asking_page = page(client, care)
    client.force_login(shop_lead)
    owning_page = page(client, shop_team)

    client.post(reverse("teams:handover_accept", args=[shop_team.slug, handover.pk]))

    assert escape(f"{care.name} asked {shop_team.name} for @acme_shop: waiting for their lead") in asking_page
    assert reverse("teams:handover_withdraw", args=[care.slug, handover.pk]) in asking_page
    assert f"{care.name} asks for @acme_shop" in owning_page
    assert reverse("teams:handover_accept", args=[shop_team.slug, handover.pk]) in owning_page
    assert reverse("teams:handover_decline", args=[shop_team.slug, handover.pk]) in owning_page
    assert owner_of(shop) == care.pk
    handover.refresh_from_db()
    assert (handover.state, handover.decided_by) == (ChannelHandover.State.ACCEPTED, shop_lead)
    assert verbs() == ["channel.handover_requested", "channel.handover_accepted"]
    accepted = DomainEvent.objects.get(verb="channel.handover_accepted")
    assert (accepted.actor, accepted.object_id, accepted.before, accepted.after["team"]) == (
        shop_lead,
        str(shop.pk),
        {"team": shop_team.pk},
        care.pk,
    )


def test_an_offer_moves_when_the_receiving_lead_accepts(
    client, care, care_lead, shop_team, shop_lead, help_desk
):
    client.force_login(care_lead)
    client.post(
        reverse("teams:channel_offer", args=[care.slug]), {"channel": help_desk.pk, "to_team": shop_team.pk}
    )
    handover = ChannelHandover.objects.get()
    owner_before_answer = owner_of(help_desk)
    client.force_login(shop_lead)
    receiving_page = page(client, shop_team)

    client.post(reverse("teams:handover_accept", args=[shop_team.slug, handover.pk]))

    assert owner_before_answer == care.pk
    assert escape(f"{care.name} offers @acme_help to {shop_team.name}") in receiving_page
    assert owner_of(help_desk) == shop_team.pk
    assert Channel.objects.get(pk=help_desk.pk).team_override_id == shop_team.pk
    assert verbs() == ["channel.handover_offered", "channel.handover_accepted"]


def test_a_lead_cannot_offer_an_account_their_team_does_not_own(client, care, care_lead, shop_team, shop):
    client.force_login(care_lead)

    response = client.post(
        reverse("teams:channel_offer", args=[care.slug]),
        {"channel": shop.pk, "to_team": segment("crisis-management").team_id},
        follow=True,
    )

    assert f"@acme_shop does not belong to {care.name}" in response.content.decode()
    assert not ChannelHandover.objects.exists()
    assert owner_of(shop) == shop_team.pk


def test_declined_and_withdrawn_hand_overs_leave_the_account_where_it_was(
    client, care, care_lead, shop_team, shop_lead, shop, help_desk
):
    client.force_login(care_lead)
    client.post(reverse("teams:channel_request", args=[care.slug]), {"channel": shop.pk})
    client.post(
        reverse("teams:channel_offer", args=[care.slug]), {"channel": help_desk.pk, "to_team": shop_team.pk}
    )
    request, offer = ChannelHandover.objects.order_by("id")
    client.post(reverse("teams:handover_withdraw", args=[care.slug, offer.pk]))
    client.force_login(shop_lead)

    client.post(reverse("teams:handover_decline", args=[shop_team.slug, request.pk]))

    assert dict(ChannelHandover.objects.values_list("kind", "state")) == {
        ChannelHandover.Kind.REQUEST: ChannelHandover.State.DECLINED,
        ChannelHandover.Kind.OFFER: ChannelHandover.State.WITHDRAWN,
    }
    assert (owner_of(shop), owner_of(help_desk)) == (shop_team.pk, care.pk)
    assert verbs() == [
        "channel.handover_requested",
        "channel.handover_offered",
        "channel.handover_withdrawn",
        "channel.handover_declined",
    ]
    assert "Hand-overs waiting" not in page(client, shop_team)


def test_forged_hand_over_posts_are_refused(client, care, care_lead, shop_team, shop_lead, crisis, shop):
    client.force_login(care_lead)
    client.post(reverse("teams:channel_request", args=[care.slug]), {"channel": shop.pk})
    handover = ChannelHandover.objects.get()
    other_lead = lead_of(crisis, "Olu")
    shop_agent = MembershipFactory(team=shop_team).user
    forged = [
        # the asking lead answers their own request, from their page and from the other team's
        (care_lead, reverse("teams:handover_accept", args=[care.slug, handover.pk])),
        (care_lead, reverse("teams:handover_accept", args=[shop_team.slug, handover.pk])),
        # another team's lead uses the id on their own page
        (other_lead, reverse("teams:handover_accept", args=[crisis.slug, handover.pk])),
        (other_lead, reverse("teams:handover_decline", args=[crisis.slug, handover.pk])),
        (other_lead, reverse("teams:handover_withdraw", args=[crisis.slug, handover.pk])),
        # an agent of the owning team
        (shop_agent, reverse("teams:handover_accept", args=[shop_team.slug, handover.pk])),
        (shop_agent, reverse("teams:handover_decline", args=[shop_team.slug, handover.pk])),
        # the owning lead withdraws what they did not start
        (shop_lead, reverse("teams:handover_withdraw", args=[shop_team.slug, handover.pk])),
    ]

    statuses = []
    for user, url in forged:
        client.force_login(user)
        statuses.append(client.post(url).status_code)

    assert statuses == [404] * len(forged)
    handover.refresh_from_db()
    assert handover.state == ChannelHandover.State.PENDING
    assert owner_of(shop) == shop_team.pk
    assert verbs() == ["channel.handover_requested"]


def test_an_admin_answers_for_a_team(client, care, care_lead, shop_team, shop):
    client.force_login(care_lead)
    client.post(reverse("teams:channel_request", args=[care.slug]), {"channel": shop.pk})
    client.force_login(UserFactory(admin=True))

    client.post(reverse("teams:handover_accept", args=[shop_team.slug, ChannelHandover.objects.get().pk]))

    assert owner_of(shop) == care.pk


def test_accepting_one_hand_over_ends_the_others_of_the_same_account(
    client, care, care_lead, crisis, shop_team, shop_lead, shop
):
    crisis_lead = lead_of(crisis, "Robin")
    client.force_login(care_lead)
    client.post(reverse("teams:channel_request", args=[care.slug]), {"channel": shop.pk})
    client.force_login(crisis_lead)
    client.post(reverse("teams:channel_request", args=[crisis.slug]), {"channel": shop.pk})
    to_care, to_crisis = ChannelHandover.objects.order_by("id")
    client.force_login(shop_lead)
    client.post(reverse("teams:handover_accept", args=[shop_team.slug, to_care.pk]))

    stale = client.post(reverse("teams:handover_accept", args=[shop_team.slug, to_crisis.pk]))

    assert stale.status_code == 404
    assert ChannelHandover.objects.get(pk=to_crisis.pk).state == ChannelHandover.State.SUPERSEDED
    assert owner_of(shop) == care.pk


# --- Crisis mode -------------------------------------------------------------------------------------------


@pytest.fixture
def crisis_mode() -> None:
    RoutingSettings.objects.update_or_create(pk=1, defaults={"crisis_mode": True})


@pytest.fixture
def live(monkeypatch) -> Iterator[redis.client.PubSub]:
    # Other checkouts' suites publish on the same Redis server: this test listens on a channel of its own.
    monkeypatch.setattr(foundation.live, "EVENTS_CHANNEL", f"socialops:events:test:{uuid.uuid4().hex}")
    client = redis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(foundation.live.EVENTS_CHANNEL)
    pubsub.get_message(timeout=1)
    yield pubsub
    pubsub.close()
    client.close()


@pytest.mark.usefixtures("crisis_mode")
def test_in_crisis_mode_the_crisis_lead_takes_an_account_at_once_and_its_team_is_told(
    client, care, care_lead, crisis, crisis_lead, help_desk, live, django_capture_on_commit_callbacks
):
    taken_at = timezone.now().replace(second=0, microsecond=0) + timedelta(hours=1, minutes=7)
    client.force_login(crisis_lead)

    with time_machine.travel(taken_at, tick=False), django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("teams:channel_crisis_take", args=[crisis.slug]), {"channel": help_desk.pk})
    client.force_login(care_lead)
    care_page = page(client, care)

    assert owner_of(help_desk) == crisis.pk
    handover = ChannelHandover.objects.get()
    assert (handover.kind, handover.state, handover.from_team, handover.to_team) == (
        ChannelHandover.Kind.CRISIS,
        ChannelHandover.State.TAKEN,
        care,
        crisis,
    )
    event = json.loads(live.get_message(timeout=5)["data"])
    hour_minute = timezone.localtime(taken_at).strftime("%H:%M")
    assert (event["kind"], event["teams"], event["channel"], event["actor"], event["message"]) == (
        "channel.crisis_taken",
        [care.pk, crisis.pk],
        help_desk.pk,
        crisis_lead.username,
        f"@acme_help was taken by {crisis.name} during crisis mode at {hour_minute}.",
    )
    assert f"@acme_help taken by {crisis.name} during crisis mode at " in care_page
    assert hour_minute in care_page
    assert verbs() == ["channel.crisis_taken"]


@pytest.mark.usefixtures("crisis_mode")
def test_the_crisis_team_gives_the_account_back_to_the_team_it_took_it_from(
    client, shop_team, crisis, crisis_lead, shop
):
    client.force_login(crisis_lead)
    client.post(reverse("teams:channel_crisis_take", args=[crisis.slug]), {"channel": shop.pk})
    crisis_page = page(client, crisis)

    client.post(reverse("teams:channel_release", args=[crisis.slug, shop.pk]))

    assert escape(f"Give back to {shop_team.name}") in crisis_page
    assert owner_of(shop) == shop_team.pk
    assert ChannelHandover.objects.get().state == ChannelHandover.State.SUPERSEDED
    assert "during crisis mode" not in page(client, shop_team)
    assert verbs() == ["channel.crisis_taken", "channel.team_released"]


def test_without_crisis_mode_the_crisis_lead_must_ask(client, care, crisis, crisis_lead, help_desk, live):
    client.force_login(crisis_lead)

    response = client.post(
        reverse("teams:channel_crisis_take", args=[crisis.slug]), {"channel": help_desk.pk}, follow=True
    )

    assert "only while crisis mode is on" in response.content.decode()
    assert "Take now" not in response.content.decode()
    assert owner_of(help_desk) == care.pk
    assert not ChannelHandover.objects.exists()
    assert not DomainEvent.objects.exists()
    assert live.get_message(timeout=0.3) is None


@pytest.mark.usefixtures("crisis_mode")
def test_in_crisis_mode_other_leads_still_cannot_take_accounts(client, care, care_lead, shop_team, shop):
    client.force_login(care_lead)

    response = client.post(
        reverse("teams:channel_crisis_take", args=[care.slug]), {"channel": shop.pk}, follow=True
    )

    assert "Only the crisis team" in response.content.decode()
    assert "Take now" not in response.content.decode()
    assert owner_of(shop) == shop_team.pk
    assert not ChannelHandover.objects.exists()


@pytest.mark.usefixtures("crisis_mode")
def test_crisis_agents_and_outsiders_cannot_take_accounts(client, crisis, care, help_desk):
    agent = MembershipFactory(team=crisis).user
    outsider = MembershipFactory(team=care, role=Membership.Role.LEAD).user
    url = reverse("teams:channel_crisis_take", args=[crisis.slug])

    client.force_login(agent)
    by_agent = client.post(url, {"channel": help_desk.pk}).status_code
    client.force_login(outsider)
    by_outsider = client.post(url, {"channel": help_desk.pk}).status_code

    assert (by_agent, by_outsider) == (404, 404)
    assert owner_of(help_desk) == care.pk
    assert not ChannelHandover.objects.exists()
