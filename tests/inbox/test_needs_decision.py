"""Posts routing was unsure of: they wait in the "Needs a decision" queue of the lead of the team that has
them, who keeps them or moves them; routing learns from the decision. The service, the API, the pages, and
who may do what (agents, the team's lead, another team's lead, admins), forged posts included."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.conf import settings
from django.urls import reverse
from django.utils.html import escape
from rest_framework.test import APIClient

import foundation.live
from foundation.models import DomainEvent
from inbox import route
from inbox.actions.base import TriageError
from inbox.actions.routing import mention_owner_decide
from inbox.history import examples_collect
from inbox.models import Mention
from inbox.selectors import InboxFilters, mentions_for_inbox, owner_questions, queue_counts, queues_for
from routing.models import Correction, Escalation
from routing.owners import CORRECTION_WEIGHT
from teams.models import Membership
from tests.factories import ChannelFactory, MembershipFactory, MentionFactory, UserFactory, segment

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}
NOT_A_LEAD = "Only a lead of the mention's team decides who owns it."
NOT_NEEDED = "This mention does not need a decision: routing was sure who owns it, or it was decided."


# --- People and posts ---------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _quick_passwords(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def events_team():
    return segment("event-coverage").team


@pytest.fixture
def care_team():
    return segment("customer-relations").team


@pytest.fixture
def events_lead(events_team):
    return MembershipFactory(
        team=events_team, role=Membership.Role.LEAD, user__username="lena", user__first_name="Lena"
    ).user


@pytest.fixture
def events_agent(events_team):
    return MembershipFactory(team=events_team, user__username="eve", user__first_name="Eve").user


@pytest.fixture
def care_lead(care_team):
    return MembershipFactory(team=care_team, role=Membership.Role.LEAD, user__username="carl").user


@pytest.fixture
def admin():
    return UserFactory(username="root", admin=True)


def sentence(keeper, likelier) -> str:
    """routing.engine's sentence for a post two teams are as likely to own."""
    return (
        f"Needs a decision: team {keeper.name} keeps it (0.45), but team {likelier.name} is as likely (0.54, "
        f"below the 0.60 needed to move it); the lead of team {keeper.name} decides."
    )


def flagged(team, likelier, *, text: str = "What time do doors open? My order never arrived.", **fields):
    """A post routing left with ``team`` for its lead to decide on, ``likelier`` being as likely."""
    channel = ChannelFactory(segment=segment("event-coverage"))
    decision = {
        "team": team.slug,
        "intent": "support_question",
        "owner_source": "intent",
        "needs_decision": True,
        "explanation": ["Intent support question (0.52).", sentence(team, likelier)],
    }
    fields = {"intent": "support_question", **fields}
    return MentionFactory(team=team, text=text, on_channels=[channel], decision=decision, **fields)


def fresh(mention: Mention) -> Mention:
    return Mention.objects.get(pk=mention.pk)


def audit_of(mention: Mention) -> list[tuple]:
    return list(
        DomainEvent.objects.filter(object_id=str(mention.pk), object_type__model="mention")
        .order_by("id")
        .values_list("verb", "actor_id", "before", "after")
    )


def corrections() -> list[tuple]:
    return list(
        Correction.objects.order_by("id").values_list(
            "kind", "mention_id", "user_id", "text", "intent_before", "intent_after", "team_before_id",
            "team_after_id",
        )
    )  # fmt: skip


def queued_tasks() -> list[str]:
    """The names of the Celery tasks waiting in the real broker queue."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        return sorted(json.loads(raw)["headers"]["task"] for raw in client.lrange("celery", 0, -1))
    finally:
        client.close()


@pytest.fixture
def live(monkeypatch) -> Iterator[Any]:
    """The events a browser's stream would receive, on a channel of this run's own."""
    monkeypatch.setattr(foundation.live, "EVENTS_CHANNEL", f"socialops:events:test:{uuid.uuid4().hex}")
    client = redis.Redis.from_url(settings.REDIS_URL)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    pubsub.subscribe(foundation.live.EVENTS_CHANNEL)
    pubsub.get_message(timeout=1)

    def received() -> list[dict]:
        out = []
        while (message := pubsub.get_message(timeout=0.3)) is not None:
            # Less the id each event is given (tests/foundation/test_live.py checks the ids).
            out.append({k: v for k, v in json.loads(message["data"]).items() if k != "id"})
        return out

    yield received
    pubsub.close()
    client.close()


# --- Routing flags the post ---------------------------------------------------------------------------------


def test_routing_leaves_a_post_it_is_unsure_of_with_its_team_for_the_lead(
    events_team, care_team, events_lead
):
    # An event question and a lost order at once, on the events account: the intent model is not sure enough
    # to move it, and the intent map gives the events team less than even odds.
    channel = ChannelFactory(segment=segment("event-coverage"))
    mention = MentionFactory(text="what time do doors open? my order never arrived", on_channels=[channel])

    route.mentions_route(mention_ids=[mention.pk])

    routed = fresh(mention)
    assert routed.team == events_team
    assert (routed.decision["needs_decision"], routed.decision["owner_source"]) == (True, "intent")
    assert not Escalation.objects.filter(mention=mention).exists()
    question = owner_questions([routed])[routed.pk]
    assert question.sentence.startswith("Needs a decision: team Events keeps it (")
    assert question.sentence.endswith("; the lead of team Events decides.")
    assert question.likelier == care_team
    listed = mentions_for_inbox(user=events_lead, filters=InboxFilters(queue="decide")).mentions
    assert [m.pk for m in listed] == [mention.pk]


def test_a_sentence_naming_no_other_team_offers_no_likelier_team(events_team):
    mention = flagged(events_team, events_team)
    mention.decision["explanation"] = [
        "Needs a decision: no team is likely enough (team Events 0.44); the lead of team Events decides."
    ]

    question = owner_questions([mention])[mention.pk]

    assert question.likelier is None
    assert question.sentence.startswith("Needs a decision: no team is likely enough")


# --- The service --------------------------------------------------------------------------------------------


def test_the_lead_keeps_it_a_keep_correction_routing_learns_from(
    events_team, care_team, events_lead, live, django_capture_on_commit_callbacks
):
    mention = flagged(events_team, care_team)

    with django_capture_on_commit_callbacks(execute=True):
        kept = mention_owner_decide(mention=mention, actor=events_lead)

    stored = fresh(mention)
    assert kept.team_id == stored.team_id == events_team.pk
    assert (stored.decision["needs_decision"], stored.decision["owner_decided_by"]) == (False, "lena")
    assert stored.decision["explanation"][1] == sentence(events_team, care_team)  # the why stays readable
    assert corrections() == [
        ("keep", mention.pk, events_lead.pk, mention.text, "", "", events_team.pk, events_team.pk)
    ]
    assert audit_of(mention) == [
        (
            "mention.owner_decided",
            events_lead.pk,
            {"team": events_team.pk, "needs_decision": True},
            {"team": events_team.pk, "needs_decision": False},
        )
    ]
    assert live() == [
        {
            "kind": "mention.owner_decided",
            "ids": [mention.pk],
            "team": events_team.pk,
            "teams": [events_team.pk],
            "kept": True,
            "actor": "lena",
        }
    ]
    assert queued_tasks() == ["inbox.tasks.classifier_train"]
    assert mentions_for_inbox(user=events_lead, filters=InboxFilters(queue="decide")).mentions == []


def test_a_kept_post_is_evidence_for_the_team_that_kept_it(events_team, care_team, events_lead):
    mention = flagged(events_team, care_team)

    mention_owner_decide(mention=mention, actor=events_lead, team=events_team)  # its own team: kept

    [example] = examples_collect()
    owner = example.owner
    assert (owner.text, owner.receiving, owner.team) == (mention.text, events_team.slug, events_team.slug)
    assert (owner.weight, owner.against, owner.correction) == (CORRECTION_WEIGHT, False, True)
    assert Correction.objects.get().kind == Correction.Kind.KEEP


def test_keeping_it_accepts_an_escalation_waiting_on_the_team_that_keeps_it(
    events_team, care_team, events_lead
):
    mention = flagged(events_team, care_team)
    escalation = Escalation.objects.create(
        mention=mention, from_team=care_team, to_team=events_team, reason="An event question."
    )

    mention_owner_decide(mention=mention, actor=events_lead)

    escalation.refresh_from_db()
    assert (escalation.state, escalation.decided_by) == (Escalation.State.ACCEPTED, events_lead)
    assert fresh(mention).team == events_team


def test_the_lead_moves_it_a_reroute_correction_and_the_flag_cleared(
    events_team, care_team, events_lead, events_agent, live, django_capture_on_commit_callbacks
):
    mention = flagged(events_team, care_team, assignee=events_agent, status=Mention.Status.OPEN)

    with django_capture_on_commit_callbacks(execute=True):
        moved = mention_owner_decide(actor=events_lead, mention=mention, team=care_team)

    stored = fresh(mention)
    assert moved.team_id == stored.team_id == care_team.pk
    # Its assignee is not on the team it went to: it waits in that team's queue.
    assert (stored.assignee_id, stored.status) == (None, Mention.Status.NEW)
    assert (stored.decision["needs_decision"], stored.decision["owner_decided_by"]) == (False, "lena")
    assert stored.decision["corrected_by"] == "lena"
    # Customer care's segment owns several intents: a move to the team names no intent to learn.
    assert corrections() == [
        ("reroute", mention.pk, events_lead.pk, mention.text, "support_question", "", events_team.pk,
         care_team.pk)
    ]  # fmt: skip
    assert [verb for verb, *_ in audit_of(mention)] == ["mention.rerouted", "mention.owner_decided"]
    assert audit_of(mention)[1][2:] == (
        {"team": events_team.pk, "needs_decision": True},
        {"team": care_team.pk, "needs_decision": False},
    )
    kinds = [(e["kind"], e["teams"]) for e in live()]
    assert kinds == [
        ("mention.rerouted", sorted([events_team.pk, care_team.pk])),
        ("mention.owner_decided", sorted([events_team.pk, care_team.pk])),
    ]
    assert queued_tasks() == ["inbox.tasks.classifier_train"]


def test_an_agent_of_the_team_may_not_decide_and_nothing_changes(events_team, care_team, events_agent):
    mention = flagged(events_team, care_team)

    with pytest.raises(TriageError) as refused:
        mention_owner_decide(mention=mention, actor=events_agent, team=care_team)

    assert str(refused.value) == NOT_A_LEAD
    assert fresh(mention).team == events_team
    assert fresh(mention).decision["needs_decision"] is True
    assert corrections() == [] and audit_of(mention) == [] and queued_tasks() == []


def test_another_teams_lead_may_not_decide(events_team, care_team, care_lead):
    mention = flagged(events_team, care_team)

    with pytest.raises(TriageError) as refused:
        mention_owner_decide(mention=mention, actor=care_lead, team=care_team)

    assert str(refused.value) == NOT_A_LEAD
    assert (fresh(mention).team, corrections()) == (events_team, [])


def test_an_admin_stands_in_for_the_lead(events_team, care_team, admin):
    mention = flagged(events_team, care_team)

    mention_owner_decide(mention=mention, actor=admin)

    assert fresh(mention).decision["owner_decided_by"] == "root"
    assert [kind for kind, *_ in corrections()] == ["keep"]


def test_a_post_routing_was_sure_of_or_already_decided_is_refused(events_team, care_team, events_lead):
    sure = MentionFactory(team=events_team, decision={"team": events_team.slug, "needs_decision": False})
    unrouted = MentionFactory(team=events_team, decision={})
    decided = flagged(events_team, care_team)
    mention_owner_decide(mention=decided, actor=events_lead)

    for mention in (sure, unrouted, decided):
        with pytest.raises(TriageError) as refused:
            mention_owner_decide(mention=mention, actor=events_lead, team=care_team)
        assert str(refused.value) == NOT_NEEDED

    assert [kind for kind, *_ in corrections()] == ["keep"]
    assert fresh(decided).team == events_team


# --- The queue ----------------------------------------------------------------------------------------------


def test_the_queue_holds_the_flagged_posts_of_the_teams_one_leads(
    events_team, care_team, events_lead, events_agent, care_lead, admin
):
    ours = flagged(events_team, care_team)
    theirs = flagged(care_team, events_team)
    flagged(events_team, care_team, status=Mention.Status.CLOSED)  # handled by the team that had it
    flagged(events_team, care_team, intent="spam")
    MentionFactory(team=events_team, decision={"needs_decision": False})

    def listed(user) -> list[int]:
        return [m.pk for m in mentions_for_inbox(user=user, filters=InboxFilters(queue="decide")).mentions]

    assert listed(events_lead) == [ours.pk]
    assert listed(care_lead) == [theirs.pk]
    assert listed(events_agent) == []
    assert listed(admin) == [theirs.pk, ours.pk]
    assert queue_counts(user=events_lead)["decide"] == 1
    assert "decide" not in queue_counts(user=events_agent)
    assert "decide" in queues_for(user=admin) and "decide" not in queues_for(user=events_agent)


# --- The API ------------------------------------------------------------------------------------------------


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def owner_url(mention: Mention) -> str:
    return f"/api/v1/mentions/{mention.pk}/owner/"


def test_api_the_lead_keeps_it_with_null(events_team, care_team, events_lead):
    mention = flagged(events_team, care_team)

    response = api(events_lead).post(owner_url(mention), {"team": None}, format="json")

    assert response.status_code == 200
    assert (response.json()["id"], response.json()["team"]["id"]) == (mention.pk, events_team.pk)
    assert fresh(mention).decision["needs_decision"] is False
    assert [kind for kind, *_ in corrections()] == ["keep"]


def test_api_the_lead_moves_it_by_slug_and_the_detail_says_who_decided(events_team, care_team, events_lead):
    mention = flagged(events_team, care_team)
    admin = UserFactory(username="root", admin=True)

    response = api(events_lead).post(owner_url(mention), {"team": care_team.slug}, format="json")

    assert response.status_code == 200
    assert response.json()["team"]["id"] == care_team.pk
    decision = api(admin).get(f"/api/v1/mentions/{mention.pk}/").json()["decision"]
    assert (decision["needs_decision"], decision["owner_decided_by"]) == (False, "lena")


def test_api_a_form_encoded_empty_team_keeps_it(events_team, care_team, events_lead):
    mention = flagged(events_team, care_team)

    response = api(events_lead).post(owner_url(mention), {"team": ""})

    assert response.status_code == 200
    assert [kind for kind, *_ in corrections()] == ["keep"]


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ({}, {"team": ["This field is required."]}),
        ({"team": "no-such-team"}, {"team": ["Object with slug=no-such-team does not exist."]}),
    ],
)
def test_api_input_that_does_not_validate_is_a_400_naming_the_field(
    events_team, care_team, events_lead, body, answer
):
    mention = flagged(events_team, care_team)

    response = api(events_lead).post(owner_url(mention), body, format="json")

    assert (response.status_code, response.json()) == (400, answer)
    assert corrections() == []


def test_api_an_agent_is_refused_with_the_reason(events_team, care_team, events_agent):
    mention = flagged(events_team, care_team)

    response = api(events_agent).post(owner_url(mention), {"team": care_team.slug}, format="json")

    assert (response.status_code, response.json()) == (400, {"detail": NOT_A_LEAD})
    assert (fresh(mention).team, corrections()) == (events_team, [])


def test_api_another_teams_lead_gets_a_404(events_team, care_team, care_lead):
    mention = flagged(events_team, care_team)

    response = api(care_lead).post(owner_url(mention), {"team": care_team.slug}, format="json")

    assert (response.status_code, response.json()) == (404, {"detail": "Not found."})
    assert (fresh(mention).team, corrections()) == (events_team, [])


def test_api_a_post_that_needs_no_decision_is_refused(events_team, events_lead):
    mention = MentionFactory(team=events_team, decision={"needs_decision": False})

    response = api(events_lead).post(owner_url(mention), {"team": None}, format="json")

    assert (response.status_code, response.json()) == (400, {"detail": NOT_NEEDED})


def test_api_lists_the_queue_for_the_lead_and_nothing_for_an_agent(
    events_team, care_team, events_lead, events_agent
):
    mention = flagged(events_team, care_team)

    lead = api(events_lead).get("/api/v1/mentions/?queue=decide").json()["results"]
    agent = api(events_agent).get("/api/v1/mentions/?queue=decide").json()["results"]

    assert ([m["id"] for m in lead], agent) == ([mention.pk], [])


# --- The pages ----------------------------------------------------------------------------------------------


def page(client, user, **query) -> str:
    client.force_login(user)
    return client.get(reverse("inbox:index"), query).content.decode()


def counts(client, user) -> str:
    client.force_login(user)
    return client.get(reverse("inbox:counts"), HTMX).content.decode()


def test_a_lead_has_the_queue_with_its_count_and_an_agent_does_not(
    client, events_team, care_team, events_lead, events_agent
):
    flagged(events_team, care_team)
    flagged(events_team, care_team)

    assert '<a href="?queue=decide" class="queue">Needs a decision</a>' in page(client, events_lead)
    assert 'Needs a decision <span class="queue__count">2</span>' in counts(client, events_lead)
    assert "?queue=decide" not in page(client, events_agent)
    assert "Needs a decision" not in counts(client, events_agent)


def test_the_queue_shows_the_sentence_and_the_two_decisions(client, events_team, care_team, events_lead):
    mention = flagged(events_team, care_team, text='<script>alert(1)</script> & "doors"')
    url = reverse("inbox:owner_decide", args=[mention.pk])

    html = page(client, events_lead, queue="decide")

    assert '<h2 id="list-heading" class="listpane__title">Needs a decision</h2>' in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;doors&quot;" in html
    assert "<script>alert(1)" not in html
    assert (
        "Needs a decision: team Events keeps it (0.45), but team Customer Care is as likely (0.54, below the "
        "0.60 needed to move it); the lead of team Events decides."
    ) in html
    assert html.count(f'action="{url}"') == 3
    assert ">Keep with Events</button>" in html
    move = f'<input type="hidden" name="team" value="{care_team.pk}">'
    assert f'<input type="hidden" name="move" value="on">{move}' in html
    assert ">Move to Customer Care</button>" in html
    assert (
        f'<option value="{events_team.pk}">' not in html.split(f'id="owner-team-row-{mention.pk}"')[1][:2000]
    )


def test_the_empty_queue_says_what_lands_there(client, events_lead):
    html = page(client, events_lead, queue="decide")

    assert "Nothing needs a decision." in html
    assert "When routing is not sure which team owns a post" in html


def test_an_agent_reaching_for_the_queue_finds_nothing(client, events_team, care_team, events_agent):
    flagged(events_team, care_team, text="a post for the lead")

    html = page(client, events_agent, queue="decide")

    assert "a post for the lead" not in html
    assert "Nothing needs a decision." in html


def test_the_detail_tells_an_agent_who_decides_and_offers_the_lead_the_decision(
    client, events_team, care_team, events_lead, events_agent
):
    mention = flagged(events_team, care_team)
    url = reverse("inbox:detail", args=[mention.pk])

    client.force_login(events_agent)
    agent = client.get(url, **HTMX).content.decode()
    client.force_login(events_lead)
    lead = client.get(url, **HTMX).content.decode()

    assert "Waiting for a decision by the lead of team Events." in agent
    assert "Keep with Events" not in agent
    assert "Waiting for a decision" not in lead
    assert ">Keep with Events</button>" in lead and ">Move to Customer Care</button>" in lead
    assert 'class="badge badge--decide"' not in lead  # the list's badge, not the pane's


def test_the_detail_says_an_admin_decides_for_a_team_without_a_lead(
    client, events_team, care_team, events_agent
):
    mention = flagged(events_team, care_team)
    client.force_login(events_agent)

    html = client.get(reverse("inbox:detail", args=[mention.pk]), **HTMX).content.decode()

    assert "Waiting for a decision by an admin: team Events has no lead." in html


def test_other_queues_mark_a_post_that_waits_for_a_decision(client, events_team, care_team, events_agent):
    flagged(events_team, care_team)

    assert '<span class="badge badge--decide">Needs a decision</span>' in page(client, events_agent)


def test_keeping_it_from_the_page(client, events_team, care_team, events_lead):
    mention = flagged(events_team, care_team)
    client.force_login(events_lead)

    response = client.post(reverse("inbox:owner_decide", args=[mention.pk]), {"team": ""}, **HTMX)

    html = response.content.decode()
    assert "Kept with Events; routing learns from your decision." in html
    assert response["HX-Trigger"].startswith('{"inbox:changed"')
    assert "Waiting for a decision" not in html and ">Keep with Events</button>" not in html
    assert [kind for kind, *_ in corrections()] == ["keep"]


def test_moving_it_from_the_page_to_a_team_the_lead_is_not_on(client, events_team, care_team, events_lead):
    mention = flagged(events_team, care_team)
    client.force_login(events_lead)

    response = client.post(
        reverse("inbox:owner_decide", args=[mention.pk]), {"team": care_team.pk, "move": "on"}, **HTMX
    )

    html = response.content.decode()
    assert "Moved to Customer Care; routing learns from your decision." in html
    assert "It has left your team" in html
    assert fresh(mention).team == care_team


def test_without_javascript_the_lead_goes_back_to_the_queue(client, events_team, care_team, events_lead):
    mention = flagged(events_team, care_team)
    client.force_login(events_lead)

    response = client.post(reverse("inbox:owner_decide", args=[mention.pk]), {"team": care_team.pk})

    assert (response.status_code, response["Location"]) == (302, "/inbox/?queue=decide")
    assert fresh(mention).team == care_team


def test_a_move_without_a_team_is_not_taken_for_keep(client, events_team, care_team, events_lead):
    mention = flagged(events_team, care_team)
    client.force_login(events_lead)

    response = client.post(
        reverse("inbox:owner_decide", args=[mention.pk]), {"team": "", "move": "on"}, **HTMX
    )

    assert "Choose the team to move it to." in response.content.decode()
    assert corrections() == [] and fresh(mention).decision["needs_decision"] is True


def test_a_forged_post_by_an_agent_changes_nothing(client, events_team, care_team, events_agent):
    mention = flagged(events_team, care_team)
    client.force_login(events_agent)

    response = client.post(
        reverse("inbox:owner_decide", args=[mention.pk]), {"team": care_team.pk, "move": "on"}, **HTMX
    )

    assert escape(NOT_A_LEAD) in response.content.decode()
    assert (fresh(mention).team, fresh(mention).decision["needs_decision"], corrections()) == (
        events_team,
        True,
        [],
    )


def test_a_forged_post_by_another_teams_lead_is_a_404(client, events_team, care_team, care_lead):
    mention = flagged(events_team, care_team)
    client.force_login(care_lead)

    response = client.post(reverse("inbox:owner_decide", args=[mention.pk]), {"team": ""}, **HTMX)

    assert response.status_code == 404
    assert (fresh(mention).team, corrections()) == (events_team, [])


def test_the_decision_is_post_only(client, events_team, care_team, events_lead):
    mention = flagged(events_team, care_team)
    client.force_login(events_lead)

    assert client.get(reverse("inbox:owner_decide", args=[mention.pk])).status_code == 405
