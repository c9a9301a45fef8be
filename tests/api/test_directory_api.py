"""Channels, teams and rules through the API: each user sees what their role allows, and a channel's
credentials never leave the server."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from channels.models import Channel
from routing import rulesets
from teams.models import Team
from tests.factories import ChannelFactory, TeamFactory, segment

pytestmark = pytest.mark.django_db


def test_an_agent_sees_the_channels_their_team_owns(api, agent, care_team, care_channel, crisis_channel):
    lent = ChannelFactory(slug="lent-to-care", segment=segment("event-coverage"), team_override=care_team)
    ChannelFactory(slug="lent-away", segment=segment("customer-relations"), team_override=TeamFactory())

    response = api(agent).get("/api/v1/channels/")

    assert response.status_code == 200
    assert [c["slug"] for c in response.json()] == ["northwind-help", "lent-to-care"]
    assert response.json()[1]["team"] == {"id": care_team.id, "slug": care_team.slug, "name": care_team.name}
    assert response.json()[1]["segment"]["slug"] == "event-coverage"
    assert lent.id == response.json()[1]["id"]


def test_an_admin_sees_every_channel(api, admin, care_channel, crisis_channel):
    response = api(admin).get("/api/v1/channels/")

    assert [c["slug"] for c in response.json()] == ["northwind-help", "northwind-news"]


def test_channel_credentials_and_cursor_are_never_sent(api, admin, care_channel):
    care_channel.credentials = {"access_token": "very-secret-token", "refresh_token": "also-secret"}
    care_channel.cursor = {"since_id": "cursor-value-123"}
    care_channel.save()
    assert Channel.objects.get(pk=care_channel.pk).credentials["access_token"] == "very-secret-token"

    response = api(admin).get("/api/v1/channels/")

    assert "credentials" not in response.json()[0]
    assert "cursor" not in response.json()[0]
    assert b"secret" not in response.content
    assert b"cursor-value-123" not in response.content


def test_an_agent_sees_their_own_teams_with_members(api, agent, lead, care_team):
    response = api(agent).get("/api/v1/teams/")

    assert response.status_code == 200
    assert response.json() == [
        {
            "id": care_team.id,
            "slug": care_team.slug,
            "name": "Customer Care",
            "description": care_team.description,
            "segments": ["customer-relations"],
            "members": [
                {"id": agent.id, "username": "ada", "name": "Ada", "role": "agent"},
                {"id": lead.id, "username": "lee", "name": "lee", "role": "lead"},
            ],
        }
    ]


def test_an_admin_sees_every_team(api, admin):
    response = api(admin).get("/api/v1/teams/")

    assert [t["id"] for t in response.json()] == list(
        Team.objects.order_by("name").values_list("id", flat=True)
    )
    assert len(response.json()) == 6


def test_a_user_without_a_team_sees_no_teams_or_channels(api, care_channel):
    loner = get_user_model().objects.create_user("loner")

    assert api(loner).get("/api/v1/teams/").json() == []
    assert api(loner).get("/api/v1/channels/").json() == []


@pytest.mark.parametrize("who", ["agent", "lead"])
def test_only_admins_read_rules(api, request, who):
    response = api(request.getfixturevalue(who)).get("/api/v1/rules/")

    assert response.status_code == 403
    assert response.json() == {"detail": "Only admins can do that."}


def test_admin_reads_rules_in_order(api, admin):
    second = rulesets.rule_save(
        user=admin,
        name="Recall goes to crisis",
        when={"keywords": ["recall"]},
        then=[{"set_priority": "urgent"}],
    )
    first = rulesets.rule_save(
        user=admin,
        name="Refunds",
        when={"keywords": ["refund"]},
        then=[{"add_labels": ["refund"]}],
        position=1,
    )

    response = api(admin).get("/api/v1/rules/")

    assert response.status_code == 200
    assert [(r["id"], r["name"], r["created_by"]) for r in response.json()] == [
        (first.id, "Refunds", "root"),
        (second.id, "Recall goes to crisis", "root"),
    ]
    assert response.json()[1]["when"] == {"keywords": ["recall"]}
    assert response.json()[1]["then"] == [{"set_priority": "urgent"}]
