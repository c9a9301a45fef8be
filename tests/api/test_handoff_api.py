"""Hand-off through the API: beside the triage actions, with their access rules and refusals."""

from __future__ import annotations

import pytest

from foundation.models import DomainEvent
from integrations.models import HandOff, HandOffIntegration

pytestmark = pytest.mark.django_db


@pytest.fixture
def helpdesk() -> HandOffIntegration:
    return HandOffIntegration.objects.create(
        name="Helpdesk", slug="helpdesk", kind="generic", config={"url": "https://help.example/cases"}
    )


def url(mention) -> str:
    return f"/api/v1/mentions/{mention.id}/hand-offs/"


def test_an_agent_hands_off_a_mention_of_their_team_and_sees_it_pending(api, agent, care_mention, helpdesk):
    response = api(agent).post(url(care_mention), {"integration": "helpdesk"}, format="json")

    assert response.status_code == 201
    handoff = HandOff.objects.get()
    assert response.json() == {
        "id": handoff.pk,
        "integration": "helpdesk",
        "state": "pending",
        "external_id": "",
        "external_url": "",
        "external_status": "",
        "is_closed": False,
        "error": "",
        "attempts": 0,
        "created_at": response.json()["created_at"],
        "linked_at": None,
    }
    assert list(
        DomainEvent.objects.filter(verb="mention.handed_off").values_list("mention_id", "actor_id")
    ) == [(care_mention.pk, agent.pk)]
    listed = api(agent).get(url(care_mention))
    assert [h["id"] for h in listed.json()] == [handoff.pk]


def test_another_teams_agent_gets_a_404_and_nothing_is_handed_off(api, crisis_agent, care_mention, helpdesk):
    response = api(crisis_agent).post(url(care_mention), {"integration": "helpdesk"}, format="json")

    assert response.status_code == 404
    assert not HandOff.objects.exists()
    assert api(crisis_agent).get(url(care_mention)).status_code == 404


def test_an_unknown_or_inactive_integration_is_a_400_saying_which(api, agent, care_mention, helpdesk):
    helpdesk.is_active = False
    helpdesk.save()

    response = api(agent).post(url(care_mention), {"integration": "helpdesk"}, format="json")

    assert (response.status_code, response.json()) == (
        400,
        {"detail": "No active hand-off integration 'helpdesk'."},
    )
    assert not HandOff.objects.exists()


def test_handing_off_twice_to_one_system_is_a_400(api, agent, care_mention, helpdesk):
    api(agent).post(url(care_mention), {"integration": "helpdesk"}, format="json")

    response = api(agent).post(url(care_mention), {"integration": "helpdesk"}, format="json")

    assert (response.status_code, response.json()) == (
        400,
        {"detail": "Already handed off to Helpdesk (sending)."},
    )
    assert HandOff.objects.count() == 1


def test_an_anonymous_caller_is_refused(api, care_mention, helpdesk):
    assert api().post(url(care_mention), {"integration": "helpdesk"}, format="json").status_code in (401, 403)
    assert not HandOff.objects.exists()
