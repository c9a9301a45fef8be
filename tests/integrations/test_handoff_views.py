"""Hand-off pages: the detail pane's section and its button, and the admin pages (admins only, secrets
shown masked, test connection)."""

from __future__ import annotations

import pytest

from channels.crypto import decrypt_json, encrypt_json
from integrations.models import HandOff, HandOffIntegration
from tests.factories import MembershipFactory, MentionFactory, UserFactory, segment

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
TOKEN = "pat-na1-abcdef-9876"


@pytest.fixture
def care_team():
    return segment("customer-relations").team


@pytest.fixture
def agent(care_team):
    return MembershipFactory(team=care_team).user


@pytest.fixture
def mention(care_team):
    return MentionFactory(team=care_team)


@pytest.fixture
def helpdesk():
    return HandOffIntegration.objects.create(
        name="Helpdesk", slug="helpdesk", kind="generic", config={"url": "https://help.example/api"}
    )


def test_the_detail_pane_offers_the_hand_off_and_shows_a_linked_case(client, agent, mention, helpdesk):
    client.force_login(agent)
    html = client.get(f"/inbox/mentions/{mention.pk}/", **HTMX).content.decode()
    assert '<label for="handoff-integration">Hand off to</label>' in html
    assert f'<option value="{helpdesk.pk}">Helpdesk</option>' in html

    HandOff.objects.create(
        mention=mention,
        integration=helpdesk,
        state="linked",
        external_id="C-9",
        external_url="https://help.example/c/9",
    )
    html = client.get(f"/inbox/mentions/{mention.pk}/", **HTMX).content.decode()

    assert '<a href="https://help.example/c/9" rel="noopener noreferrer" target="_blank">C-9' in html
    assert "handoff-integration" not in html  # the only integration already has it


def test_an_agent_hands_off_from_the_pane(client, agent, mention, helpdesk):
    client.force_login(agent)

    response = client.post(
        f"/integrations/handoff/mentions/{mention.pk}/", {"integration": helpdesk.pk}, **HTMX
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "Handing off to Helpdesk…" in html
    assert '<span class="badge">Sending…</span>' in html
    assert list(HandOff.objects.values_list("mention_id", "integration_id", "actor_id", "state")) == [
        (mention.pk, helpdesk.pk, agent.pk, "pending")
    ]


def test_an_agent_of_another_team_gets_a_404_and_nothing_is_handed_off(client, mention, helpdesk):
    outsider = MembershipFactory(team=segment("crisis-management").team).user
    client.force_login(outsider)

    response = client.post(
        f"/integrations/handoff/mentions/{mention.pk}/", {"integration": helpdesk.pk}, **HTMX
    )

    assert response.status_code == 404
    assert HandOff.objects.count() == 0


@pytest.mark.parametrize("path", ["/integrations/handoff/", "/integrations/handoff/new/"])
def test_the_admin_pages_are_a_404_for_agents_and_ask_visitors_to_sign_in(client, agent, path):
    assert client.get(path).status_code == 302
    client.force_login(agent)
    assert client.get(path).status_code == 404


def test_an_admin_adds_hubspot_and_the_token_is_stored_encrypted_and_shown_masked(client):
    client.force_login(UserFactory(admin=True))
    form = {
        "name": "HubSpot support",
        "kind": "hubspot",
        "is_active": "on",
        "token": TOKEN,
        "portal_id": "4455",
        "pipeline": "0",
        "stage": "1",
        "closed_stages": "4, 5",
        "properties": '{"hs_ticket_priority": "HIGH"}',
        "id_pointer": "/id",
    }

    response = client.post("/integrations/handoff/new/", form)

    assert response.status_code == 302
    integration = HandOffIntegration.objects.get()
    assert (integration.slug, integration.config) == (
        "hubspot-support",
        {
            "portal_id": "4455",
            "pipeline": "0",
            "stage": "1",
            "closed_stages": ["4", "5"],
            "properties": {"hs_ticket_priority": "HIGH"},
        },
    )
    assert TOKEN not in integration.secret
    assert decrypt_json(integration.secret) == {"token": TOKEN}
    html = client.get("/integrations/handoff/").content.decode()
    assert "••••••••9876" in html
    assert TOKEN not in html
    assert TOKEN not in client.get(f"/integrations/handoff/{integration.pk}/").content.decode()

    client.post(f"/integrations/handoff/{integration.pk}/", {**form, "token": "", "name": "HubSpot care"})

    integration.refresh_from_db()
    assert (integration.name, decrypt_json(integration.secret)) == ("HubSpot care", {"token": TOKEN})


@pytest.mark.usefixtures("allow_private")
def test_test_connection_asks_hubspot_for_one_ticket_with_the_token(client, settings, desk):
    settings.SOCIALOPS_HUBSPOT_API_BASE = desk.url
    integration = HandOffIntegration.objects.create(
        name="HubSpot", slug="hubspot", kind="hubspot", secret=encrypt_json({"token": TOKEN})
    )
    desk.answer(200, {"results": []})
    client.force_login(UserFactory(admin=True))

    response = client.post(f"/integrations/handoff/{integration.pk}/test/", follow=True)

    assert (
        "HubSpot: HubSpot accepted the token (the tickets list answered, 0 shown)."
        in response.content.decode()
    )
    [request] = desk.requests
    assert (request.method, request.path, request.headers["authorization"]) == (
        "GET",
        "/crm/v3/objects/tickets?limit=1",
        f"Bearer {TOKEN}",
    )
