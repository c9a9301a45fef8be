"""The mentions API: the list with the inbox's filters and keyset pages, the detail with the routing
decision, and create for generic sources (idempotent, through the ingest and routing)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inbox.models import Author, Mention, MentionChannel, Note, Reply
from routing.models import Escalation
from tests.factories import AuthorFactory, ChannelFactory, MentionFactory, segment

pytestmark = pytest.mark.django_db

URL = "/api/v1/mentions/"
POSTED = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)


def ids(response) -> list[int]:
    return [m["id"] for m in response.json()["results"]]


# --- List ---------------------------------------------------------------------------------------------------


def test_list_shows_the_users_teams_newest_first_and_no_other_team(
    api, agent, care_team, crisis_mention, care_channel
):
    older = MentionFactory(team=care_team, created_at=POSTED, on_channels=[care_channel])
    newer = MentionFactory(team=care_team, created_at=POSTED + timedelta(minutes=1))

    response = api(agent).get(URL)

    assert response.status_code == 200
    assert ids(response) == [newer.id, older.id]
    assert response.json()["next"] is None
    first = response.json()["results"][1]
    assert first["team"] == {"id": care_team.id, "slug": care_team.slug, "name": care_team.name}
    assert first["channels"] == [
        {
            "id": care_channel.id,
            "slug": "northwind-help",
            "network": "simulated",
            "handle": care_channel.handle,
            "segment": "customer-relations",
        }
    ]
    assert first["author"]["handle"] == older.author.handle
    assert first["escalation"] is None


def test_admin_lists_every_team(api, admin, care_mention, crisis_mention):
    assert sorted(ids(api(admin).get(URL))) == sorted([care_mention.id, crisis_mention.id])


@pytest.fixture
def varied(agent, care_team, crisis_team, care_channel):
    """Care mentions that differ in one thing each, named by what sets them apart."""
    promo = ChannelFactory(slug="northwind-shop", segment=segment("product-promotion"))
    day = POSTED
    made = {
        "plain": MentionFactory(team=care_team, created_at=day, on_channels=[care_channel]),
        "closed": MentionFactory(team=care_team, created_at=day, status=Mention.Status.CLOSED),
        "urgent": MentionFactory(team=care_team, created_at=day, priority=Mention.Priority.URGENT),
        "mine": MentionFactory(team=care_team, created_at=day, assignee=agent, status=Mention.Status.OPEN),
        "labelled": MentionFactory(team=care_team, created_at=day, labels=["refund", "vip"]),
        "misdirected": MentionFactory(
            team=care_team,
            created_at=day,
            is_misdirected=True,
            intent="complaint",
            sentiment_label="negative",
        ),
        "dm": MentionFactory(team=care_team, created_at=day, kind=Mention.Kind.DM),
        "on_promo": MentionFactory(team=care_team, created_at=day, on_channels=[promo]),
        "last_week": MentionFactory(team=care_team, created_at=day - timedelta(days=7)),
        "searched": MentionFactory(
            team=care_team, created_at=day, text="The tent zipper broke", author=AuthorFactory(handle="zed")
        ),
        "escalated": MentionFactory(team=care_team, created_at=day),
    }
    Escalation.objects.create(
        mention=made["escalated"], from_team=crisis_team, to_team=care_team, reason="a support question"
    )
    return made


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=closed", ["closed"]),
        ("priority=urgent", ["urgent"]),
        ("priority=40", ["urgent"]),
        ("assignee=me", ["mine"]),
        ("label=refund", ["labelled"]),
        ("misdirected=yes", ["misdirected"]),
        ("intent=complaint", ["misdirected"]),
        ("sentiment=negative", ["misdirected"]),
        ("kind=dm", ["dm"]),
        ("channel=northwind-shop", ["on_promo"]),
        ("segment=product-promotion", ["on_promo"]),
        ("until=2026-11-19", ["last_week"]),
        ("since=2026-11-13&until=2026-11-13", ["last_week"]),
        ("q=zipper", ["searched"]),
        ("q=@zed", ["searched"]),
        ("escalated=true", ["escalated"]),
        ("queue=mine", ["mine"]),
        ("queue=closed", ["closed"]),
        ("queue=escalated", ["escalated"]),
        ("status=new&kind=dm", ["dm"]),
    ],
)
def test_each_filter_narrows_the_list(api, agent, varied, query, expected):
    response = api(agent).get(f"{URL}?{query}")

    assert response.status_code == 200, response.json()
    assert sorted(ids(response)) == sorted(varied[name].id for name in expected)


def test_empty_filter_values_filter_nothing(api, agent, varied):
    response = api(agent).get(f"{URL}?status=&q=&team=&priority=")

    assert sorted(ids(response)) == sorted(m.id for m in varied.values())


def test_the_assignee_filter_takes_a_user_id(api, agent, varied):
    assert ids(api(agent).get(f"{URL}?assignee={agent.id}")) == [varied["mine"].id]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("queue=everything", "queue"),
        ("team=care", "team"),
        ("segment=no-such-segment", "segment"),
        ("channel=not%20a%20slug", "channel"),
        ("network=myspace", "network"),
        ("kind=post", "kind"),
        ("status=done", "status"),
        ("intent=gossip", "intent"),
        ("sentiment=angry", "sentiment"),
        ("priority=7", "priority"),
        ("priority=whenever", "priority"),
        ("assignee=ada", "assignee"),
        ("misdirected=perhaps", "misdirected"),
        ("escalated=2", "escalated"),
        ("since=yesterday", "since"),
        ("until=2026-13-01", "until"),
        ("since=2026-11-20&until=2026-11-19", "until"),
        ("cursor=not-ours", "cursor"),
        ("limit=0", "limit"),
        ("limit=201", "limit"),
    ],
)
def test_an_invalid_filter_is_a_400_naming_the_field(api, agent, query, field):
    response = api(agent).get(f"{URL}?{query}")

    assert response.status_code == 400
    assert list(response.json()) == [field]


def walk(client, url: str) -> tuple[list[int], int]:
    """Every id on every page from ``url`` on, and how many pages that took."""
    seen, pages = [], 0
    while url:
        response = client.get(url)
        assert response.status_code == 200
        seen += ids(response)
        pages += 1
        url = response.json()["next"]
    return seen, pages


def test_cursor_pages_cover_every_mention_once_in_order_with_ties_on_the_same_second(api, agent, care_team):
    # Seven posts share one timestamp: the cursor must tell them apart by id, not skip or repeat them.
    mentions = [MentionFactory(team=care_team, created_at=POSTED) for _ in range(7)]
    mentions += [
        MentionFactory(team=care_team, created_at=POSTED - timedelta(minutes=n)) for n in range(1, 17)
    ]
    expected = [m.id for m in sorted(mentions, key=lambda m: (m.created_at, m.id), reverse=True)]

    seen, pages = walk(api(agent), f"{URL}?limit=5")

    assert seen == expected
    assert len(set(seen)) == 23
    assert pages == 5


def test_next_link_keeps_the_filters_and_a_new_mention_does_not_shift_the_pages(api, agent, care_team):
    for n in range(6):
        MentionFactory(
            team=care_team, created_at=POSTED - timedelta(minutes=n), priority=Mention.Priority.HIGH
        )
    MentionFactory(team=care_team, created_at=POSTED - timedelta(minutes=3))  # normal priority: filtered out
    client = api(agent)
    first = client.get(f"{URL}?priority=high&limit=4")
    next_url = first.json()["next"]
    assert parse_qs(urlsplit(next_url).query)["priority"] == ["high"]
    arrived = MentionFactory(team=care_team, created_at=POSTED + timedelta(minutes=1), priority=30)

    rest, _ = walk(client, next_url)

    high = Mention.objects.filter(priority=Mention.Priority.HIGH).exclude(pk=arrived.pk)
    assert ids(first) + rest == list(high.order_by("-created_at", "-id").values_list("id", flat=True))
    assert arrived.id not in ids(first) + rest


def test_list_costs_the_same_queries_whatever_the_page_holds(api, agent, care_team, care_channel):
    client = api(agent)
    MentionFactory(team=care_team, on_channels=[care_channel])
    client.get(URL)  # the user's roles are remembered on the user after the first request
    with CaptureQueriesContext(connection) as one:
        client.get(URL)
    for _ in range(20):
        MentionFactory(team=care_team, on_channels=[care_channel], assignee=agent)

    with CaptureQueriesContext(connection) as many:
        response = client.get(URL)

    assert len(response.json()["results"]) == 21
    assert len(many) == len(one)


# --- Detail -------------------------------------------------------------------------------------------------


def test_detail_has_the_routing_decision_escalation_notes_and_replies(
    api, agent, care_team, crisis_team, care_mention, care_channel
):
    care_mention.decision = {"intent": "support_question", "explanation": ["asks where an order is"]}
    care_mention.save()
    escalation = Escalation.objects.create(
        mention=care_mention, from_team=crisis_team, to_team=care_team, reason="support, not crisis"
    )
    note = Note.objects.create(mention=care_mention, author=agent, body="Checked the order")
    reply = Reply.objects.create(mention=care_mention, channel=care_channel, author=agent, text="On its way!")

    response = api(agent).get(f"{URL}{care_mention.id}/")

    assert response.status_code == 200
    body = response.json()
    assert body["id"] == care_mention.id
    assert body["text"] == "Where is my order?"
    assert body["decision"] == {"intent": "support_question", "explanation": ["asks where an order is"]}
    assert body["escalation"]["id"] == escalation.id
    assert body["escalation"]["from_team"]["slug"] == crisis_team.slug
    assert [e["id"] for e in body["escalations"]] == [escalation.id]
    assert body["notes"] == [
        {
            "id": note.id,
            "author": {"id": agent.id, "username": "ada", "name": "Ada"},
            "body": "Checked the order",
            "created_at": body["notes"][0]["created_at"],
        }
    ]
    assert [(r["id"], r["text"], r["state"], r["channel"]) for r in body["replies"]] == [
        (reply.id, "On its way!", "queued", "northwind-help")
    ]
    assert body["can_work"] is True
    assert [c["slug"] for c in body["channels"]] == ["northwind-help"]


def test_detail_of_a_mention_sent_away_can_be_read_but_not_worked(
    api, crisis_agent, crisis_team, care_team, care_mention
):
    Escalation.objects.create(mention=care_mention, from_team=crisis_team, to_team=care_team, reason="theirs")

    response = api(crisis_agent).get(f"{URL}{care_mention.id}/")

    assert response.status_code == 200
    assert response.json()["can_work"] is False


# --- Create -------------------------------------------------------------------------------------------------


def line(**changes) -> dict:
    body = {
        "channel": "northwind-shop",
        "external_id": "gen-1",
        "text": "@northwind_shop where is my order #1?",
        "author_handle": "@walker",
        "created_at": "2026-11-20T09:30:00Z",
        "author_name": "Wanda Walker",
        "author_followers": 120,
        "source_system": "zendesk",
    }
    body.update(changes)
    return body


@pytest.fixture
def shop():
    return ChannelFactory(slug="northwind-shop", segment=segment("product-promotion"))


def test_admin_creates_a_mention_that_is_routed_like_a_pull(api, admin, shop):
    response = api(admin).post(URL, line(), format="json")

    assert response.status_code == 201, response.json()
    mention = Mention.objects.get()
    body = response.json()
    assert body["id"] == mention.id
    assert (mention.network, mention.external_id, mention.created_at) == ("simulated", "gen-1", POSTED)
    assert mention.raw["source_system"] == "zendesk"
    assert (mention.author.handle, mention.author.external_id, mention.author.follower_count) == (
        "walker",
        "walker",
        120,
    )
    assert list(mention.channels.values_list("slug", flat=True)) == ["northwind-shop"]
    # Routed on the way in: an order question on the shop account belongs to customer care.
    assert mention.routed_at is not None
    assert mention.intent == "support_question"
    assert mention.team_id == segment("customer-relations").team_id
    assert body["team"]["id"] == mention.team_id
    assert body["decision"]["intent"] == "support_question"
    assert body["decision"]["explanation"]


def test_creating_the_same_post_again_returns_the_stored_mention_and_stores_nothing(api, admin, shop):
    client = api(admin)
    first = client.post(URL, line(), format="json")

    again = client.post(URL, line(text="edited text"), format="json")

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["text"] == "@northwind_shop where is my order #1?"
    assert Mention.objects.count() == 1
    assert MentionChannel.objects.count() == 1
    assert Author.objects.count() == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"channel": "nowhere"}, "channel"),
        ({"created_at": "2026-11-20T09:30:00"}, "created_at"),
        ({"created_at": "2026-11-20"}, "created_at"),
        ({"external_id": ""}, "external_id"),
        ({"text": None}, "text"),
        ({"kind": "story"}, "kind"),
        ({"network": "myspace"}, "network"),
        ({"author_followers": -1}, "author_followers"),
        ({"external_id": "x" * 301}, "external_id"),  # one past the column (at:// URIs reach 299)
    ],
)
def test_an_invalid_post_is_a_400_naming_the_field_and_stores_nothing(api, admin, shop, changes, field):
    response = api(admin).post(URL, line(**changes), format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert Mention.objects.count() == 0


def test_a_field_of_the_wrong_json_type_is_refused_as_the_import_refuses_it(api, admin, shop):
    response = api(admin).post(URL, line(external_id=12345), format="json")

    assert response.status_code == 400
    assert response.json() == {"non_field_errors": ["external_id must be a string, not a number"]}
    assert Mention.objects.count() == 0


@pytest.mark.parametrize("who", ["agent", "lead"])
def test_only_admins_create_mentions(api, request, shop, who):
    response = api(request.getfixturevalue(who)).post(URL, line(), format="json")

    assert response.status_code == 403
    assert Mention.objects.count() == 0


@pytest.mark.parametrize(
    ("created_at", "reason"),
    [
        (
            "9999-12-31T23:59:59-05:00",
            "created_at 9999-12-31T23:59:59-05:00 is more than a day in the future",
        ),
        ("0001-01-01T00:00:00+05:00", "created_at 0001-01-01T00:00:00+05:00 is before 2006-01-01, earlier"),
    ],
)
def test_a_post_time_no_post_can_have_is_a_400_and_the_list_still_answers(
    api, admin, shop, created_at, reason
):
    client = api(admin)

    response = client.post(URL, line(created_at=created_at), format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["created_at"]
    assert response.json()["created_at"][0].startswith(reason)
    assert not Mention.objects.exists()
    assert client.get(URL).status_code == 200


def test_a_post_time_a_day_ahead_passes_and_a_little_more_is_refused(api, admin, shop):
    client = api(admin)
    soon = (timezone.now() + timedelta(hours=23)).isoformat()
    later = (timezone.now() + timedelta(days=1, minutes=5)).isoformat()

    accepted = client.post(URL, line(created_at=soon), format="json")
    refused = client.post(URL, line(external_id="gen-2", created_at=later), format="json")

    assert (accepted.status_code, refused.status_code) == (201, 400)
    assert list(Mention.objects.values_list("external_id", flat=True)) == ["gen-1"]


def test_a_text_longer_than_the_network_allows_is_a_400(api, admin, shop):
    response = api(admin).post(URL, line(text="a" * 25_001), format="json")

    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ["text is 25,001 characters long; a simulated mention has at most 25,000"]
    }
    assert not Mention.objects.exists()
