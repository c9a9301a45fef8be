"""Who may call what: every endpoint needs a login (token or session); a mention of another team is a 404
through every endpoint, exactly like one that does not exist, and nothing about it changes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from foundation.models import DomainEvent
from inbox.models import Mention, Note, Reply
from routing.models import Escalation
from tests.factories import DEFAULT_PASSWORD, segment
from users.models import ApiToken
from users.services import api_token_create
from users.tokens import key_hash

pytestmark = pytest.mark.django_db

SOON = (timezone.now() + timedelta(days=1)).isoformat()

# (method, path with {m} for a mention id and {r} for a reply id, body)
MENTION_ENDPOINTS = [
    ("get", "/api/v1/mentions/{m}/", None),
    ("post", "/api/v1/mentions/{m}/assign/", {"assignee": None}),
    ("post", "/api/v1/mentions/{m}/reroute/", {"intent": "complaint", "reason": "x"}),
    ("post", "/api/v1/mentions/{m}/sentiment/", {"label": "positive"}),
    ("post", "/api/v1/mentions/{m}/owner/", {"team": None}),
    ("post", "/api/v1/mentions/{m}/label/", {"add": ["x"]}),
    ("post", "/api/v1/mentions/{m}/priority/", {"priority": "urgent"}),
    ("post", "/api/v1/mentions/{m}/snooze/", {"until": SOON}),
    ("post", "/api/v1/mentions/{m}/close/", None),
    ("post", "/api/v1/mentions/{m}/reopen/", None),
    ("post", "/api/v1/mentions/{m}/spam/", None),
    ("post", "/api/v1/mentions/{m}/not-spam/", {"intent": "complaint"}),
    ("post", "/api/v1/mentions/{m}/notes/", {"body": "x"}),
    ("post", "/api/v1/mentions/{m}/replies/", {"text": "x", "confirm": True}),
    ("post", "/api/v1/mentions/{m}/escalation/accept/", None),
    ("post", "/api/v1/mentions/{m}/escalation/bounce/", {"reason": "x"}),
    ("post", "/api/v1/replies/{r}/approve/", None),
    ("post", "/api/v1/replies/{r}/reject/", {"note": "x"}),
    ("post", "/api/v1/replies/{r}/retry/", None),
]
OTHER_ENDPOINTS = [
    ("get", "/api/v1/mentions/", None),
    ("post", "/api/v1/mentions/", {"channel": "x"}),
    ("post", "/api/v1/mentions/bulk/", {"ids": [1], "action": "close"}),
    ("get", "/api/v1/channels/", None),
    ("get", "/api/v1/teams/", None),
    ("get", "/api/v1/rules/", None),
]


def call(client: APIClient, method: str, path: str, body: dict | None):
    return (
        getattr(client, method)(path, body, format="json")
        if body is not None
        else getattr(client, method)(path)
    )


@pytest.fixture
def crisis_case(crisis_mention, crisis_channel, crisis_team, crisis_agent):
    """A crisis mention with everything the endpoints act on: a held reply, an escalation it waits on."""
    reply = Reply.objects.create(
        mention=crisis_mention,
        channel=crisis_channel,
        author=crisis_agent,
        text="We are on it",
        state=Reply.State.AWAITING_APPROVAL,
    )
    # From the events team: an escalation from care would let care see the mention it sent away.
    Escalation.objects.create(
        mention=crisis_mention, from_team=segment("event-coverage").team, to_team=crisis_team, reason="ours?"
    )
    return {"mention": crisis_mention, "reply": reply}


def snapshot(mention: Mention) -> tuple:
    mention.refresh_from_db()
    return (
        mention.status,
        mention.assignee_id,
        mention.team_id,
        mention.priority,
        list(mention.labels),
        mention.intent,
        mention.sentiment_label,
        Note.objects.filter(mention=mention).count(),
        list(Reply.objects.filter(mention=mention).values_list("id", "state")),
        list(Escalation.objects.filter(mention=mention).values_list("state", flat=True)),
        DomainEvent.objects.count(),
    )


@pytest.mark.parametrize("who", ["agent", "lead"])
@pytest.mark.parametrize(
    ("method", "path", "body"), MENTION_ENDPOINTS, ids=[p for _, p, _ in MENTION_ENDPOINTS]
)
def test_another_teams_mention_is_a_404_on_every_endpoint_and_stays_untouched(
    api, request, crisis_case, who, method, path, body
):
    mention, reply = crisis_case["mention"], crisis_case["reply"]
    before = snapshot(mention)

    response = call(api(request.getfixturevalue(who)), method, path.format(m=mention.id, r=reply.id), body)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}
    assert snapshot(mention) == before


@pytest.mark.parametrize(
    ("method", "path", "body"), MENTION_ENDPOINTS, ids=[p for _, p, _ in MENTION_ENDPOINTS]
)
def test_a_mention_that_does_not_exist_is_the_same_404(api, agent, method, path, body):
    response = call(api(agent), method, path.format(m=999999, r=999999), body)

    assert response.status_code == 404
    assert response.json() == {"detail": "Not found."}


# What an admin gets from each endpoint on the crisis mention: the action, done (or refused for its state).
ADMIN_STATUS = {
    "/api/v1/mentions/{m}/notes/": 201,
    "/api/v1/mentions/{m}/replies/": 201,
    "/api/v1/replies/{r}/retry/": 400,  # the reply awaits approval; only a failed or waiting one is retried
    "/api/v1/mentions/{m}/not-spam/": 400,  # the mention is not spam
    "/api/v1/mentions/{m}/owner/": 400,  # routing was sure who owns it: nothing to decide
}


@pytest.mark.parametrize(
    ("method", "path", "body"), MENTION_ENDPOINTS, ids=[p for _, p, _ in MENTION_ENDPOINTS]
)
def test_admins_reach_every_teams_mention(api, admin, crisis_case, method, path, body):
    mention, reply = crisis_case["mention"], crisis_case["reply"]

    response = call(api(admin), method, path.format(m=mention.id, r=reply.id), body)

    assert response.status_code == ADMIN_STATUS.get(path, 200), response.json()


@pytest.mark.parametrize("who", ["agent", "lead"])
def test_another_teams_mention_is_not_listed_or_bulk_changed(api, request, crisis_case, care_mention, who):
    client = api(request.getfixturevalue(who))
    mention = crisis_case["mention"]
    before = snapshot(mention)

    listed = client.get("/api/v1/mentions/?queue=all")
    bulk = client.post("/api/v1/mentions/bulk/", {"ids": [mention.id], "action": "close"}, format="json")

    assert [m["id"] for m in listed.json()["results"]] == [care_mention.id]
    assert bulk.json() == {"done": [], "skipped": [{"id": mention.id, "reason": "not found"}]}
    assert snapshot(mention) == before


def test_a_lead_reaches_their_teams_mentions(api, lead, care_mention):
    response = api(lead).get(f"/api/v1/mentions/{care_mention.id}/")

    assert response.status_code == 200


# --- Authentication -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    MENTION_ENDPOINTS + OTHER_ENDPOINTS,
    ids=[f"{m} {p}" for m, p, _ in MENTION_ENDPOINTS + OTHER_ENDPOINTS],
)
def test_every_endpoint_refuses_an_anonymous_caller(crisis_case, method, path, body):
    mention, reply = crisis_case["mention"], crisis_case["reply"]
    before = snapshot(mention)

    response = call(APIClient(), method, path.format(m=mention.id, r=reply.id), body)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert snapshot(mention) == before


def test_a_token_authenticates(agent, care_mention):
    _token, key = api_token_create(user=agent, name="Script")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    response = client.get("/api/v1/mentions/")

    assert response.status_code == 200
    assert [m["id"] for m in response.json()["results"]] == [care_mention.id]


def test_a_wrong_token_is_a_401(agent):
    api_token_create(user=agent, name="Script")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-the-key")

    assert client.get("/api/v1/mentions/").status_code == 401


def test_a_token_is_issued_for_a_username_and_password(agent):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "ada", "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 200
    token = ApiToken.objects.get(user=agent)
    assert token.key_hash == key_hash(response.json()["token"])


def test_a_token_is_not_issued_for_a_wrong_password(agent):
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "ada", "password": "guess"}, format="json"
    )

    assert response.status_code == 400
    assert not ApiToken.objects.exists()


def test_a_browser_session_authenticates(client, agent, care_mention):
    client.force_login(agent)

    response = client.get("/api/v1/mentions/")

    assert response.status_code == 200
    assert [m["id"] for m in response.json()["results"]] == [care_mention.id]


def test_a_session_post_needs_the_csrf_token(agent, care_mention):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(agent)

    response = client.post(f"/api/v1/mentions/{care_mention.id}/close/")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    care_mention.refresh_from_db()
    assert care_mention.status == Mention.Status.NEW


def test_an_inactive_users_token_is_refused(agent):
    _token, key = api_token_create(user=agent, name="Script")
    agent.is_active = False
    agent.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    assert client.get("/api/v1/mentions/").status_code == 401
