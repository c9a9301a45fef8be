"""Triage through the API: each action calls its service; refusals are 400 with the reason, someone else
holding the mention or having replied is 409, and nothing changes on a refusal."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from foundation.models import DomainEvent
from inbox.models import Mention, Note, Reply
from routing.models import Correction, Escalation, SentimentCorrection
from tests.factories import MembershipFactory, MentionFactory, UserFactory, segment

pytestmark = pytest.mark.django_db


def url(mention: Mention, action: str) -> str:
    return f"/api/v1/mentions/{mention.id}/{action}/"


# --- Assign -------------------------------------------------------------------------------------------------


def test_assign_to_a_teammate_opens_the_mention(api, agent, lead, care_mention):
    response = api(agent).post(url(care_mention, "assign"), {"assignee": lead.id}, format="json")

    assert response.status_code == 200
    assert response.json()["assignee"] == {"id": lead.id, "username": "lee", "name": "lee"}
    assert response.json()["status"] == "open"
    care_mention.refresh_from_db()
    assert (care_mention.assignee_id, care_mention.status) == (lead.id, Mention.Status.OPEN)


def test_unassign_with_null(api, agent, care_mention):
    care_mention.assignee = agent
    care_mention.save()

    response = api(agent).post(
        url(care_mention, "assign"), {"assignee": None, "expected_assignee": agent.id}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["assignee"] is None
    care_mention.refresh_from_db()
    assert care_mention.assignee_id is None


def test_assigning_a_mention_someone_else_took_is_a_409_naming_them(api, agent, lead, care_mention):
    care_mention.assignee = lead
    care_mention.save()

    response = api(agent).post(url(care_mention, "assign"), {"assignee": agent.id}, format="json")

    assert response.status_code == 409
    assert response.json() == {"detail": "lee took this mention first.", "assignee": "lee"}
    care_mention.refresh_from_db()
    assert care_mention.assignee_id == lead.id
    assert not DomainEvent.objects.filter(verb="mention.assigned").exists()


def test_assign_with_a_stale_expected_assignee_is_a_409(api, agent, lead, care_mention):
    care_mention.assignee = lead
    care_mention.save()

    response = api(agent).post(
        url(care_mention, "assign"), {"assignee": None, "expected_assignee": None}, format="json"
    )

    assert response.status_code == 409
    care_mention.refresh_from_db()
    assert care_mention.assignee_id == lead.id


def test_assigning_someone_outside_the_team_is_a_400_with_the_reason(api, agent, crisis_agent, care_mention):
    response = api(agent).post(url(care_mention, "assign"), {"assignee": crisis_agent.id}, format="json")

    assert response.status_code == 400
    assert response.json() == {"detail": "cris is not a member of team Customer Care; re-route it first."}


def test_assigning_an_unknown_user_is_a_400_naming_the_field(api, agent, care_mention):
    response = api(agent).post(url(care_mention, "assign"), {"assignee": 999999}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["assignee"]


# --- Re-route, labels, priority, snooze, close, reopen, spam ------------------------------------------------


def test_reroute_to_a_segment_moves_it_to_that_team_with_the_reason(api, agent, care_mention, crisis_team):
    response = api(agent).post(
        url(care_mention, "reroute"),
        {"segment": "crisis-management", "reason": "about the recall"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["team"]["id"] == crisis_team.id
    care_mention.refresh_from_db()
    assert care_mention.team_id == crisis_team.id
    assert care_mention.decision["correction_reason"] == "about the recall"
    correction = Correction.objects.get()
    assert correction.team_after_id == crisis_team.id


def test_a_sentiment_correction_relabels_the_mention_and_is_stored_for_training(api, agent, care_mention):
    care_mention.sentiment, care_mention.sentiment_label = -0.4, Mention.SentimentLabel.NEGATIVE
    care_mention.save()

    response = api(agent).post(url(care_mention, "sentiment"), {"label": "neutral"}, format="json")

    assert response.status_code == 200
    assert (response.json()["sentiment_label"], response.json()["sentiment"]) == ("neutral", None)
    correction = SentimentCorrection.objects.get()
    assert (correction.mention_id, correction.user_id) == (care_mention.id, agent.id)
    assert (correction.label_before, correction.label_after, correction.text) == (
        "negative",
        "neutral",
        "Where is my order?",
    )
    assert DomainEvent.objects.filter(verb="mention.sentiment_corrected").count() == 1


def test_a_sentiment_that_is_not_a_label_is_a_400_and_nothing_is_stored(api, agent, care_mention):
    response = api(agent).post(url(care_mention, "sentiment"), {"label": "furious"}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["label"]
    assert not SentimentCorrection.objects.exists()
    assert not DomainEvent.objects.filter(verb="mention.sentiment_corrected").exists()


def test_reroute_by_intent(api, agent, care_mention):
    response = api(agent).post(url(care_mention, "reroute"), {"intent": "press_question"}, format="json")

    assert response.status_code == 200
    assert response.json()["intent"] == "press_question"
    assert response.json()["team"]["id"] == segment("reputation-management").team_id


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "team"),
        ({"team": 999999}, "team"),
        ({"segment": "nowhere"}, "segment"),
        ({"intent": "gossip"}, "intent"),
        ({"team": 1, "segment": "crisis-management"}, "segment"),
    ],
)
def test_reroute_input_errors_name_the_field(api, agent, care_mention, care_team, body, field):
    response = api(agent).post(url(care_mention, "reroute"), body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    care_mention.refresh_from_db()
    assert care_mention.team_id == care_team.id


def test_label_adds_and_removes(api, agent, care_mention):
    care_mention.labels = ["old"]
    care_mention.save()

    response = api(agent).post(
        url(care_mention, "label"), {"add": ["Refund", "vip"], "remove": ["old"]}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["labels"] == ["refund", "vip"]


def test_a_label_that_is_not_one_is_a_400_with_the_reason(api, agent, care_mention):
    response = api(agent).post(url(care_mention, "label"), {"add": ["#!?"]}, format="json")

    assert response.status_code == 400
    assert response.json()["detail"].startswith("'#!?' is not a label")
    care_mention.refresh_from_db()
    assert care_mention.labels == []


@pytest.mark.parametrize(("given", "stored"), [("urgent", 40), (10, 10), ("High", 30)])
def test_priority_by_name_or_value(api, agent, care_mention, given, stored):
    response = api(agent).post(url(care_mention, "priority"), {"priority": given}, format="json")

    assert response.status_code == 200
    assert response.json()["priority"] == stored
    care_mention.refresh_from_db()
    assert care_mention.priority == stored


def test_an_unknown_priority_is_a_400_naming_the_field(api, agent, care_mention):
    response = api(agent).post(url(care_mention, "priority"), {"priority": 25}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["priority"]


def test_snooze_until_a_time(api, agent, care_mention):
    until = (timezone.now() + timedelta(hours=3)).replace(microsecond=0)

    response = api(agent).post(url(care_mention, "snooze"), {"until": until.isoformat()}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "snoozed"
    care_mention.refresh_from_db()
    assert care_mention.snoozed_until == until


def test_snoozing_into_the_past_is_a_400_with_the_reason(api, agent, care_mention):
    past = timezone.now() - timedelta(hours=1)

    response = api(agent).post(url(care_mention, "snooze"), {"until": past.isoformat()}, format="json")

    assert response.status_code == 400
    assert response.json() == {"detail": "Choose a time in the future to snooze until."}
    care_mention.refresh_from_db()
    assert care_mention.status == Mention.Status.NEW


def test_close_then_reopen(api, agent, care_mention):
    client = api(agent)

    closed = client.post(url(care_mention, "close"))
    care_mention.refresh_from_db()
    closed_at = care_mention.closed_at
    reopened = client.post(url(care_mention, "reopen"))

    assert (closed.status_code, closed.json()["status"]) == (200, "closed")
    assert closed_at is not None
    assert (reopened.status_code, reopened.json()["status"]) == (200, "open")
    care_mention.refresh_from_db()
    assert care_mention.closed_at is None


def test_spam_closes_labels_and_keeps_a_correction(api, agent, care_mention):
    response = api(agent).post(url(care_mention, "spam"))

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["intent"], response.json()["labels"]) == (
        "closed",
        "spam",
        ["spam"],
    )
    assert Correction.objects.get().intent_after == "spam"


def test_not_spam_puts_it_back_in_the_queue_and_keeps_a_correction(api, agent, care_mention):
    api(agent).post(url(care_mention, "spam"))

    response = api(agent).post(url(care_mention, "not-spam"), {"intent": "complaint"}, format="json")

    assert response.status_code == 200
    assert (response.json()["status"], response.json()["intent"], response.json()["labels"]) == (
        "new",
        "complaint",
        [],
    )
    assert list(Correction.objects.order_by("id").values_list("intent_before", "intent_after")) == [
        (care_mention.intent, "spam"),
        ("spam", "complaint"),
    ]


def test_not_spam_is_a_400_for_a_mention_that_is_not_spam_or_an_intent_that_is_none(api, agent, care_mention):
    ham = api(agent).post(url(care_mention, "not-spam"))
    Mention.objects.filter(pk=care_mention.pk).update(intent="spam")
    unknown = api(agent).post(url(care_mention, "not-spam"), {"intent": "spam"}, format="json")

    assert (ham.status_code, ham.json()) == (400, {"detail": "This mention is not marked as spam."})
    assert (unknown.status_code, unknown.json()) == (400, {"intent": ['"spam" is not a valid choice.']})
    assert Mention.objects.get(pk=care_mention.pk).intent == "spam"
    assert not Correction.objects.exists()


def test_bulk_not_spam(api, agent, care_team):
    spam = MentionFactory(team=care_team, intent="spam")
    ham = MentionFactory(team=care_team, intent="praise")

    response = api(agent).post(
        "/api/v1/mentions/bulk/", {"ids": [spam.pk, ham.pk], "action": "not_spam"}, format="json"
    )

    assert response.json() == {
        "done": [spam.pk],
        "skipped": [{"id": ham.pk, "reason": "is not marked as spam"}],
    }
    assert Mention.objects.get(pk=spam.pk).intent == "other"


def test_a_team_that_sent_a_mention_away_may_not_act_on_it(
    api, crisis_agent, crisis_team, care_team, care_mention
):
    Escalation.objects.create(mention=care_mention, from_team=crisis_team, to_team=care_team, reason="theirs")

    response = api(crisis_agent).post(url(care_mention, "close"))

    assert response.status_code == 400
    assert response.json() == {
        "detail": "Only members of the mention's team can do that; it belongs to another team now."
    }
    care_mention.refresh_from_db()
    assert care_mention.status == Mention.Status.NEW


# --- Notes and replies --------------------------------------------------------------------------------------


def test_add_a_note(api, agent, care_mention):
    response = api(agent).post(url(care_mention, "notes"), {"body": "  Called them back  "}, format="json")

    assert response.status_code == 201
    note = Note.objects.get()
    assert (note.mention_id, note.author_id, note.body) == (care_mention.id, agent.id, "Called them back")
    assert response.json()["id"] == note.id


def test_an_empty_note_is_a_400_naming_the_field(api, agent, care_mention):
    response = api(agent).post(url(care_mention, "notes"), {"body": ""}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["body"]
    assert not Note.objects.exists()


def test_reply_is_queued_on_the_receiving_channel_and_takes_the_mention(
    api, agent, care_mention, care_channel
):
    response = api(agent).post(
        url(care_mention, "replies"), {"text": "Sorry! It ships today."}, format="json"
    )

    assert response.status_code == 201
    reply = Reply.objects.get()
    assert (reply.channel_id, reply.text, reply.state, reply.is_direct) == (
        care_channel.id,
        "Sorry! It ships today.",
        Reply.State.QUEUED,
        False,
    )
    assert response.json()["state"] == "queued"
    care_mention.refresh_from_db()
    assert (care_mention.assignee_id, care_mention.status) == (agent.id, Mention.Status.OPEN)


@pytest.fixture
def teammate_reply(lead, care_mention, care_channel) -> Reply:
    return Reply.objects.create(
        mention=care_mention, channel=care_channel, author=lead, text="Looking into it"
    )


def test_replying_after_someone_else_replied_is_a_409_and_sends_nothing(
    api, agent, care_mention, teammate_reply
):
    response = api(agent).post(url(care_mention, "replies"), {"text": "Me too"}, format="json")

    assert response.status_code == 409
    assert response.json()["detail"].startswith("lee already replied")
    assert list(Reply.objects.values_list("id", flat=True)) == [teammate_reply.id]


def test_confirming_or_having_seen_the_other_reply_sends_it(api, agent, care_mention, teammate_reply):
    client = api(agent)

    seen = client.post(
        url(care_mention, "replies"), {"text": "Seen it", "seen_reply_id": teammate_reply.id}, format="json"
    )
    confirmed = client.post(url(care_mention, "replies"), {"text": "Anyway", "confirm": True}, format="json")

    assert (seen.status_code, confirmed.status_code) == (201, 201)
    assert Reply.objects.count() == 3


def test_a_reply_too_long_for_the_network_is_a_400_with_the_reason(api, agent, care_mention):
    response = api(agent).post(url(care_mention, "replies"), {"text": "x" * 281}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "The reply is 281 characters as Simulated counts them; the limit is 280."
    }
    assert not Reply.objects.exists()


@pytest.fixture
def held_reply(agent, care_mention, care_channel) -> Reply:
    return Reply.objects.create(
        mention=care_mention,
        channel=care_channel,
        author=agent,
        text="We will refund you",
        state=Reply.State.AWAITING_APPROVAL,
    )


def test_a_lead_approves_a_held_reply(api, lead, held_reply):
    response = api(lead).post(f"/api/v1/replies/{held_reply.id}/approve/")

    assert response.status_code == 200
    assert response.json()["state"] == "queued"
    assert response.json()["reviewed_by"]["username"] == "lee"


def test_an_agent_may_not_approve_and_nothing_changes(api, agent, held_reply):
    response = api(agent).post(f"/api/v1/replies/{held_reply.id}/approve/")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "Only a lead of the mention's team (or an admin) can approve or reject replies."
    }
    held_reply.refresh_from_db()
    assert held_reply.state == Reply.State.AWAITING_APPROVAL


def test_a_lead_rejects_with_a_note(api, lead, held_reply):
    response = api(lead).post(
        f"/api/v1/replies/{held_reply.id}/reject/", {"note": "No refunds"}, format="json"
    )

    assert response.status_code == 200
    held_reply.refresh_from_db()
    assert (held_reply.state, held_reply.review_note) == (Reply.State.REJECTED, "No refunds")


def test_retry_a_failed_reply(api, agent, held_reply):
    held_reply.state = Reply.State.FAILED
    held_reply.error = "The network was down"
    held_reply.save()

    response = api(agent).post(f"/api/v1/replies/{held_reply.id}/retry/")

    assert response.status_code == 200
    assert (response.json()["state"], response.json()["error"]) == ("queued", "")


def test_retrying_a_reply_that_did_not_fail_is_a_400(api, agent, held_reply):
    response = api(agent).post(f"/api/v1/replies/{held_reply.id}/retry/")

    assert response.status_code == 400
    assert response.json() == {
        "detail": "Only a failed or waiting reply can be retried; this one is awaiting approval."
    }


# --- Escalations --------------------------------------------------------------------------------------------


@pytest.fixture
def escalated(care_team, crisis_team) -> Escalation:
    """A support question the crisis team received and sent to customer care, which owns it while it waits."""
    mention = MentionFactory(team=care_team, is_misdirected=True)
    return Escalation.objects.create(
        mention=mention, from_team=crisis_team, to_team=care_team, reason="support"
    )


def test_accept_an_escalation(api, agent, escalated, care_team):
    response = api(agent).post(url(escalated.mention, "escalation/accept"))

    assert response.status_code == 200
    assert response.json()["state"] == "accepted"
    assert response.json()["decided_by"]["username"] == "ada"
    escalated.refresh_from_db()
    assert escalated.state == Escalation.State.ACCEPTED
    assert escalated.mention.team_id == care_team.id


def test_bounce_an_escalation_back_with_a_reason(api, agent, escalated, crisis_team):
    response = api(agent).post(
        url(escalated.mention, "escalation/bounce"), {"reason": "It is about the recall"}, format="json"
    )

    assert response.status_code == 200
    escalated.refresh_from_db()
    assert (escalated.state, escalated.bounce_reason) == (Escalation.State.BOUNCED, "It is about the recall")
    assert Mention.objects.get(pk=escalated.mention_id).team_id == crisis_team.id


def test_bouncing_without_a_reason_is_a_400_naming_the_field(api, agent, escalated):
    response = api(agent).post(url(escalated.mention, "escalation/bounce"), {}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == ["reason"]
    escalated.refresh_from_db()
    assert escalated.state == Escalation.State.PENDING


def test_accepting_when_nothing_is_escalated_is_a_400(api, agent, care_mention):
    response = api(agent).post(url(care_mention, "escalation/accept"))

    assert response.status_code == 400
    assert response.json() == {"detail": "This mention has no open escalation."}


# --- Bulk ---------------------------------------------------------------------------------------------------

BULK = "/api/v1/mentions/bulk/"


def test_bulk_close_does_what_it_may_and_says_why_it_skipped_the_rest(
    api, agent, care_team, crisis_team, crisis_mention
):
    mine = [MentionFactory(team=care_team) for _ in range(3)]
    sent_away = MentionFactory(team=crisis_team)
    Escalation.objects.create(mention=sent_away, from_team=care_team, to_team=crisis_team, reason="theirs")
    selection = [m.id for m in mine] + [sent_away.id, crisis_mention.id, 999999]

    response = api(agent).post(BULK, {"ids": selection, "action": "close"}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "done": sorted(m.id for m in mine),
        "skipped": sorted(
            [
                {"id": sent_away.id, "reason": "belongs to another team"},
                {"id": crisis_mention.id, "reason": "not found"},
                {"id": 999999, "reason": "not found"},
            ],
            key=lambda s: s["id"],
        ),
    }
    assert set(Mention.objects.filter(status=Mention.Status.CLOSED).values_list("id", flat=True)) == {
        m.id for m in mine
    }


def test_bulk_assign_and_label(api, agent, lead, care_team):
    mentions = [MentionFactory(team=care_team) for _ in range(2)]
    selection = [m.id for m in mentions]
    client = api(agent)

    assigned = client.post(BULK, {"ids": selection, "action": "assign", "assignee": lead.id}, format="json")
    labelled = client.post(BULK, {"ids": selection, "action": "label", "labels": ["Returns"]}, format="json")

    assert (assigned.status_code, labelled.status_code) == (200, 200)
    assert sorted(Mention.objects.values_list("assignee_id", "status", "labels")) == [
        (lead.id, "open", ["returns"]),
        (lead.id, "open", ["returns"]),
    ]


def test_bulk_reroute_to_a_segment(api, agent, care_team, crisis_team):
    mentions = [MentionFactory(team=care_team) for _ in range(2)]

    response = api(agent).post(
        BULK,
        {
            "ids": [m.id for m in mentions],
            "action": "reroute",
            "segment": "crisis-management",
            "reason": "recall",
        },
        format="json",
    )

    assert response.status_code == 200
    assert set(Mention.objects.values_list("team_id", flat=True)) == {crisis_team.id}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"ids": list(range(1, 1002)), "action": "close"}, "ids"),
        ({"ids": [], "action": "close"}, "ids"),
        ({"ids": [1], "action": "explode"}, "action"),
        ({"ids": [1], "action": "priority", "priority": "whenever"}, "priority"),
    ],
)
def test_bulk_input_errors_name_the_field(api, agent, body, field):
    response = api(agent).post(BULK, body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]


def test_bulk_action_missing_its_parameter_is_a_400_with_the_reason(api, agent, care_mention):
    response = api(agent).post(BULK, {"ids": [care_mention.id], "action": "assign"}, format="json")

    assert response.status_code == 400
    assert response.json() == {"detail": "Choose who to assign the selection to."}
    care_mention.refresh_from_db()
    assert care_mention.assignee_id is None


def test_admins_may_assign_anyone_through_bulk(api, admin, crisis_mention):
    helper = MembershipFactory(team=crisis_mention.team, user=UserFactory(username="helper")).user

    response = api(admin).post(
        BULK, {"ids": [crisis_mention.id], "action": "assign", "assignee": helper.id}, format="json"
    )

    assert response.json() == {"done": [crisis_mention.id], "skipped": []}
