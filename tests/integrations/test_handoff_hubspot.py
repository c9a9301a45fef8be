"""HubSpot hand-off through the official client against a local server speaking the CRM v3 tickets API:
the exact request (token, properties), the stored case, the stage read back, and the failures."""

from __future__ import annotations

import pytest
from django.utils import timezone

from channels.crypto import encrypt_json
from foundation.models import DomainEvent
from integrations.handoff.services import handoff_send, handoffs_status_pull, mention_hand_off
from integrations.models import HandOff, HandOffIntegration
from tests.factories import AuthorFactory, MembershipFactory, MentionFactory, segment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("allow_private")]

TOKEN = "pat-eu1-0c7e-test-token"
TICKETS = "/crm/v3/objects/tickets"


def ticket(ticket_id: str, stage: str) -> dict:
    """A ticket as the v3 API returns it (our own values, in the documented shape)."""
    return {
        "id": ticket_id,
        "properties": {
            "hs_pipeline": "0",
            "hs_pipeline_stage": stage,
            "subject": "whatever HubSpot stored",
            "createdate": "2024-01-01T00:00:00.000Z",
            "hs_lastmodifieddate": "2024-01-01T00:00:00.000Z",
            "hs_object_id": ticket_id,
        },
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2024-01-01T00:00:00.000Z",
        "archived": False,
    }


@pytest.fixture
def hubspot(settings, desk):
    settings.SOCIALOPS_HUBSPOT_API_BASE = desk.url
    settings.SOCIALOPS_HUBSPOT_APP_BASE = "https://app.hubspot.example"
    settings.SOCIALOPS_BASE_URL = "https://social.example.com"
    return HandOffIntegration.objects.create(
        name="Support desk",
        slug="support-desk",
        kind=HandOffIntegration.Kind.HUBSPOT,
        config={
            "portal_id": "4455",
            "pipeline": "0",
            "stage": "1",
            "closed_stages": ["4"],
            "stage_names": {"1": "New", "2": "Waiting on us", "4": "Closed"},
            "properties": {"hs_ticket_priority": "HIGH"},
        },
        secret=encrypt_json({"token": TOKEN}),
    )


@pytest.fixture
def care_team():
    return segment("customer-relations").team


@pytest.fixture
def agent(care_team):
    return MembershipFactory(team=care_team, user__first_name="Ada", user__last_name="Agent").user


@pytest.fixture
def mention(care_team):
    return MentionFactory(
        team=care_team,
        text='My stove "Basecamp 2" leaks gas',
        url="https://x.example/status/1",
        network="x",
        intent="complaint",
        author=AuthorFactory(handle="hiker_jo"),
    )


def test_handing_off_creates_a_ticket_with_the_token_and_the_mention_as_properties(
    desk, hubspot, agent, mention, django_capture_on_commit_callbacks
):
    desk.answer(201, ticket("9001", "1"))
    with django_capture_on_commit_callbacks(execute=False) as queued:
        pending = mention_hand_off(actor=agent, mention=mention, integration=hubspot)

    assert (pending.state, pending.attempts, desk.requests) == (HandOff.State.PENDING, 0, [])
    assert len(queued) == 2  # the send task, and the event consumers' wake

    outcome = handoff_send(handoff_id=pending.pk)

    assert outcome.state == HandOff.State.LINKED
    [request] = desk.requests
    assert (request.method, request.path) == ("POST", TICKETS)
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "properties": {
            "subject": '@hiker_jo on x: My stove "Basecamp 2" leaks gas',
            "content": (
                'My stove "Basecamp 2" leaks gas\n\n'
                "Post: https://x.example/status/1\n"
                f"In socialops: https://social.example.com/inbox/?open={mention.pk}\n"
                "Team: Customer Care · intent: complaint\n"
                "Handed off by Ada Agent"
            ),
            "hs_pipeline": "0",
            "hs_pipeline_stage": "1",
            "hs_ticket_priority": "HIGH",
        }
    }
    linked = HandOff.objects.get()
    assert (
        linked.state,
        linked.external_id,
        linked.external_url,
        linked.external_status,
        linked.is_closed,
    ) == (
        HandOff.State.LINKED,
        "9001",
        "https://app.hubspot.example/contacts/4455/record/0-5/9001",
        "New",
        False,
    )
    assert list(
        DomainEvent.objects.filter(mention_id=mention.pk).order_by("id").values_list("verb", "after")
    ) == [
        ("mention.handed_off", {"integration": "Support desk", "handoff": linked.pk, "retry": False}),
        (
            "mention.case_linked",
            {
                "integration": "Support desk",
                "case": "9001",
                "url": "https://app.hubspot.example/contacts/4455/record/0-5/9001",
                "status": "New",
            },
        ),
    ]


def test_a_second_send_of_the_same_hand_off_makes_no_second_ticket(desk, hubspot, agent, mention):
    desk.answer(201, ticket("9001", "1"))
    handoff = mention_hand_off(actor=agent, mention=mention, integration=hubspot)
    handoff_send(handoff_id=handoff.pk)

    assert handoff_send(handoff_id=handoff.pk).state == "gone"
    assert len(desk.requests) == 1


def linked_case(hubspot, mention, *, checked_minutes_ago: int) -> HandOff:
    return HandOff.objects.create(
        mention=mention,
        integration=hubspot,
        state=HandOff.State.LINKED,
        external_id="9001",
        external_status="New",
        status_checked_at=timezone.now() - timezone.timedelta(minutes=checked_minutes_ago),
    )


def test_the_ticket_stage_is_pulled_back_and_a_closed_ticket_is_not_asked_again(desk, hubspot, mention):
    handoff = linked_case(hubspot, mention, checked_minutes_ago=10)
    desk.answer(200, ticket("9001", "2"))
    desk.answer(200, ticket("9001", "4"))

    assert handoffs_status_pull() == 1
    assert handoffs_status_pull() == 1
    assert handoffs_status_pull() == 0  # closed: not asked

    assert [(r.method, r.path) for r in desk.requests] == [
        ("GET", f"{TICKETS}/9001?properties=hs_pipeline_stage"),
        ("GET", f"{TICKETS}/9001?properties=hs_pipeline_stage"),
    ]
    assert desk.requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    handoff.refresh_from_db()
    assert (handoff.external_status, handoff.is_closed) == ("Closed", True)
    assert list(
        DomainEvent.objects.filter(verb="mention.case_status_changed")
        .order_by("id")
        .values_list("before", "after")
    ) == [
        (
            {"status": "New", "closed": False},
            {"integration": "Support desk", "status": "Waiting on us", "closed": False},
        ),
        (
            {"status": "Waiting on us", "closed": False},
            {"integration": "Support desk", "status": "Closed", "closed": True},
        ),
    ]


def test_an_unchanged_stage_records_no_event(desk, hubspot, mention):
    linked_case(hubspot, mention, checked_minutes_ago=10)
    desk.answer(200, ticket("9001", "1"))

    assert handoffs_status_pull() == 0
    assert DomainEvent.objects.filter(verb="mention.case_status_changed").count() == 0


def test_a_refused_token_fails_the_hand_off_for_good_and_says_why(desk, hubspot, agent, mention):
    desk.answer(
        401,
        {
            "status": "error",
            "message": "Authentication credentials not found.",
            "category": "INVALID_AUTHENTICATION",
        },
    )
    handoff = mention_hand_off(actor=agent, mention=mention, integration=hubspot)

    outcome = handoff_send(handoff_id=handoff.pk)

    handoff.refresh_from_db()
    assert (outcome.state, outcome.retry_in) == (HandOff.State.FAILED, None)
    assert (handoff.state, handoff.attempts, handoff.external_id) == (HandOff.State.FAILED, 1, "")
    assert handoff.error == (
        "HubSpot refused the access token (401): check the private app's token and its tickets scope."
    )
    assert DomainEvent.objects.filter(verb="mention.handoff_failed", mention_id=mention.pk).count() == 1


def test_hubspot_down_keeps_the_hand_off_pending_with_a_backoff_then_links_it(desk, hubspot, agent, mention):
    desk.answer(503, {"status": "error", "message": "unavailable"})
    desk.answer(201, ticket("9002", "1"))
    handoff = mention_hand_off(actor=agent, mention=mention, integration=hubspot)

    first = handoff_send(handoff_id=handoff.pk)
    handoff.refresh_from_db()
    assert (first.state, first.retry_in) == (HandOff.State.PENDING, 30)
    assert (handoff.state, handoff.error) == (
        HandOff.State.PENDING,
        "HubSpot answered 503; trying again later. (try 1 of 6)",
    )

    second = handoff_send(handoff_id=handoff.pk)
    handoff.refresh_from_db()
    assert (second.state, handoff.state, handoff.external_id, handoff.error, handoff.attempts) == (
        HandOff.State.LINKED,
        HandOff.State.LINKED,
        "9002",
        "",
        2,
    )
    assert len(desk.requests) == 2
