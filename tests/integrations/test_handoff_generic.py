"""The generic JSON hand-off: the body template with JSON-escaped values, the case read by JSON pointers,
failures stored and retried, the SSRF guard, and who may hand off what."""

from __future__ import annotations

import json

import pytest

from channels.crypto import encrypt_json
from foundation.models import DomainEvent
from integrations.handoff.base import CaseDraft, HandOffFailed
from integrations.handoff.generic import body_render, pointer_get
from integrations.handoff.services import (
    HandOffError,
    case_draft,
    handoff_retry,
    handoff_send,
    mention_hand_off,
    mention_hand_off_by_rule,
)
from integrations.models import HandOff, HandOffIntegration
from tests.factories import AuthorFactory, MembershipFactory, MentionFactory, UserFactory, segment

pytestmark = pytest.mark.django_db

TEMPLATE = """{"title": "{{ author.handle }}: {{ mention.intent }}", "body": "{{ mention.text }}",
"link": "{{ mention.url }}", "team": "{{ team.name }}", "by": "{{ actor.name }}", "n": {{ mention.id }}}"""
NASTY = 'He said "stop" \\ then\nleft <b>&amp;</b> </script> {{ x }} {% if %} \u2028 ✓'


@pytest.fixture
def care_team():
    return segment("customer-relations").team


@pytest.fixture
def crisis_team():
    return segment("crisis-management").team


@pytest.fixture
def agent(care_team):
    return MembershipFactory(team=care_team, user__first_name="Ada", user__last_name="Agent").user


@pytest.fixture
def mention(care_team):
    return MentionFactory(
        team=care_team,
        text=NASTY,
        url="https://x.example/s/1?a=1&b=2",
        intent="complaint",
        author=AuthorFactory(handle='jo"<x>'),
    )


@pytest.fixture
def helpdesk(desk):
    return HandOffIntegration.objects.create(
        name="Helpdesk",
        slug="helpdesk",
        kind=HandOffIntegration.Kind.GENERIC,
        config={
            "url": f"{desk.url}/api/cases",
            "body_template": TEMPLATE,
            "id_pointer": "/data/case/id",
            "url_pointer": "/data/case/links/0",
        },
        secret=encrypt_json({"authorization": "Bearer desk-secret"}),
    )


def draft_of(handoff: HandOff) -> CaseDraft:
    return case_draft(handoff)


def test_values_are_json_escaped_not_html_escaped_and_template_syntax_in_posts_stays_text(
    agent, mention, helpdesk
):
    handoff = HandOff.objects.create(mention=mention, integration=helpdesk, actor=agent)

    body = json.loads(body_render(TEMPLATE, draft_of(handoff)))

    assert body == {
        "title": 'jo"<x>: complaint',
        "body": NASTY,
        "link": "https://x.example/s/1?a=1&b=2",
        "team": "Customer Care",
        "by": "Ada Agent",
        "n": mention.pk,
    }


def test_a_template_that_does_not_give_json_fails_saying_where(agent, mention, helpdesk):
    handoff = HandOff.objects.create(mention=mention, integration=helpdesk, actor=agent)

    with pytest.raises(HandOffFailed) as failed:
        body_render('{"text": {{ mention.text }}}', draft_of(handoff))

    assert str(failed.value).startswith("The body template does not give JSON (line 1, column 10:")
    assert failed.value.retryable is False


def test_json_pointers_follow_objects_and_lists_and_escapes():
    doc = {"data": {"a/b": [{"m~n": 7}]}}

    assert pointer_get(doc, "/data/a~1b/0/m~0n") == 7
    assert pointer_get(doc, "/data/missing") is None
    assert pointer_get(doc, "/data/a~1b/5") is None


@pytest.mark.usefixtures("allow_private")
def test_the_case_is_posted_with_the_secret_header_and_linked_from_the_answer(desk, agent, mention, helpdesk):
    desk.answer(201, {"data": {"case": {"id": 77, "links": ["https://help.example/cases/77"]}}})
    handoff = mention_hand_off(actor=agent, mention=mention, integration=helpdesk)

    assert handoff_send(handoff_id=handoff.pk).state == HandOff.State.LINKED

    [request] = desk.requests
    assert (request.method, request.path) == ("POST", "/api/cases")
    assert request.headers["authorization"] == "Bearer desk-secret"
    assert request.headers["idempotency-key"] == f"socialops-handoff-{mention.pk}"
    assert request.json()["body"] == NASTY
    handoff.refresh_from_db()
    assert (handoff.state, handoff.external_id, handoff.external_url, handoff.external_status) == (
        HandOff.State.LINKED,
        "77",
        "https://help.example/cases/77",
        "",
    )


@pytest.mark.usefixtures("allow_private")
def test_a_refused_case_is_stored_as_failed_and_trying_again_links_the_same_hand_off(
    desk, agent, mention, helpdesk
):
    desk.answer(422, {"error": "priority is required"})
    desk.answer(200, {"data": {"case": {"id": "C-2", "links": []}}})
    handoff = mention_hand_off(actor=agent, mention=mention, integration=helpdesk)
    handoff_send(handoff_id=handoff.pk)
    handoff.refresh_from_db()
    assert (handoff.state, handoff.error) == (
        HandOff.State.FAILED,
        'The endpoint refused the case: 422 {"error": "priority is required"}',
    )

    retried = handoff_retry(actor=agent, handoff=handoff)
    assert (retried.pk, retried.state, retried.error, retried.attempts) == (handoff.pk, "pending", "", 0)
    handoff_send(handoff_id=handoff.pk)

    handoff.refresh_from_db()
    assert (handoff.state, handoff.external_id, handoff.external_url) == (HandOff.State.LINKED, "C-2", "")
    assert HandOff.objects.count() == 1
    assert list(
        DomainEvent.objects.filter(mention_id=mention.pk).order_by("id").values_list("verb", flat=True)
    ) == [
        "mention.handed_off",
        "mention.handoff_failed",
        "mention.handed_off",
        "mention.case_linked",
    ]


@pytest.mark.usefixtures("allow_private")
def test_an_answer_without_a_case_id_fails_without_a_retry(desk, agent, mention, helpdesk):
    desk.answer(200, {"ok": True})
    handoff = mention_hand_off(actor=agent, mention=mention, integration=helpdesk)

    outcome = handoff_send(handoff_id=handoff.pk)

    handoff.refresh_from_db()
    assert (outcome.state, outcome.retry_in) == ("failed", None)
    assert handoff.error == (
        "The endpoint answered 200 without a case id at /data/case/id; the case may exist there: "
        "check before trying again."
    )


def test_a_loopback_endpoint_is_refused_unless_private_targets_are_allowed(
    desk, agent, mention, helpdesk, settings
):
    settings.SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE = False  # the integrations tests' default allows them
    handoff = mention_hand_off(actor=agent, mention=mention, integration=helpdesk)

    handoff_send(handoff_id=handoff.pk)

    handoff.refresh_from_db()
    assert handoff.state == HandOff.State.FAILED
    assert handoff.error == (
        "socialops does not call this address: 127.0.0.1 resolves to 127.0.0.1 (a loopback address); "
        "socialops sends only to public addresses (SOCIALOPS_WEBHOOKS_ALLOW_PRIVATE allows others)."
    )
    assert desk.requests == []


@pytest.mark.usefixtures("allow_private")
def test_a_redirect_is_not_followed(desk, agent, mention, helpdesk):
    desk.answer(302, {}, headers={"Location": f"{desk.url}/elsewhere"})
    handoff = mention_hand_off(actor=agent, mention=mention, integration=helpdesk)

    handoff_send(handoff_id=handoff.pk)

    handoff.refresh_from_db()
    assert (handoff.state, handoff.error) == (HandOff.State.FAILED, "The endpoint refused the case: 302 {}")
    assert [r.path for r in desk.requests] == ["/api/cases"]


def test_an_agent_of_another_team_cannot_hand_off(crisis_team, mention, helpdesk):
    outsider = MembershipFactory(team=crisis_team).user

    with pytest.raises(HandOffError, match="Only members of the mention's team can hand it off"):
        mention_hand_off(actor=outsider, mention=mention, integration=helpdesk)

    assert HandOff.objects.count() == 0
    assert DomainEvent.objects.filter(verb="mention.handed_off").count() == 0


def test_a_team_scoped_integration_takes_only_its_team_mentions(crisis_team, agent, mention, helpdesk):
    helpdesk.team = crisis_team
    helpdesk.save()

    with pytest.raises(HandOffError, match=r"Helpdesk does not take this mention's team's cases\."):
        mention_hand_off(actor=UserFactory(admin=True), mention=mention, integration=helpdesk)

    assert HandOff.objects.count() == 0


def test_handing_off_twice_to_one_system_is_refused(agent, mention, helpdesk):
    mention_hand_off(actor=agent, mention=mention, integration=helpdesk)

    with pytest.raises(HandOffError, match=r"Already handed off to Helpdesk \(sending\)."):
        mention_hand_off(actor=agent, mention=mention, integration=helpdesk)

    assert HandOff.objects.count() == 1
    assert DomainEvent.objects.filter(verb="mention.handed_off").count() == 1


def test_a_rule_hands_off_once_as_the_system(mention, helpdesk):
    first = mention_hand_off_by_rule(mention_id=mention.pk, integration_slug="helpdesk")
    again = mention_hand_off_by_rule(mention_id=mention.pk, integration_slug="helpdesk")

    assert (first.pk, first.actor_id, first.state) == (again.pk, None, HandOff.State.PENDING)
    assert list(DomainEvent.objects.filter(verb="mention.handed_off").values_list("actor_id", flat=True)) == [
        None
    ]
    assert mention_hand_off_by_rule(mention_id=mention.pk, integration_slug="gone") is None
