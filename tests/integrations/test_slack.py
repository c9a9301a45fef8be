"""Slack notifications: which events reach which team's webhook, escaped, once; the posting with its
retries; the pages (admins, and leads for their own team)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from channels.crypto import encrypt_json
from foundation.events import event_record, events_consume, events_record_many
from foundation.models import ConsumerPosition, DomainEvent
from inbox.actions.escalations import escalations_overdue_raise
from integrations.models import SlackMessage, SlackNotifier
from integrations.slack import CONSUMER, mrkdwn_escape, slack_events_handle, slack_message_send
from integrations.tasks import slack_notify_task
from routing.models import Escalation
from routing.rulesets import routing_settings_save
from teams.models import Membership
from tests.conftest import wait_until
from tests.factories import AuthorFactory, MembershipFactory, MentionFactory, UserFactory, segment

TEXT = "<!channel> refund now & <https://evil.example|click here> *now*"
ESCAPED = "&lt;!channel&gt; refund now &amp; &lt;https://evil.example|click here&gt; *now*"


def notifier(
    team, name: str, url: str = "https://hooks.slack.example/services/T1/B1/x", **switches
) -> SlackNotifier:
    return SlackNotifier.objects.create(
        team=team, name=name, webhook_url=encrypt_json({"url": url}), **switches
    )


def test_mrkdwn_control_characters_become_entities():
    assert mrkdwn_escape("a & <@U123> > b") == "a &amp; &lt;@U123&gt; &gt; b"


# --- From events to messages (committed events: the consumer reads only finished transactions) ---------


def consume_until(count: int) -> None:
    """Run the consumer task until ``count`` messages exist (another session's open transaction on the
    server can hold events back for a moment)."""

    def done() -> bool:
        slack_notify_task()
        return SlackMessage.objects.count() >= count

    wait_until(done)


@pytest.fixture
def consumer_started(transactional_db, six_segments, settings) -> None:
    settings.SOCIALOPS_BASE_URL = "https://social.example.com"
    events_consume(consumer=CONSUMER, handle=slack_events_handle)  # the position starts at the head


@pytest.fixture
def care_team():
    return segment("customer-relations").team


@pytest.fixture
def crisis_team():
    return segment("crisis-management").team


@pytest.mark.usefixtures("consumer_started")
def test_an_sla_breach_goes_escaped_to_its_team_notifiers_that_want_breaches_once(care_team, crisis_team):
    care = notifier(care_team, "care")
    notifier(care_team, "care, escalations only", on_sla_breaches=False)
    notifier(crisis_team, "crisis")
    mention = MentionFactory(
        team=care_team,
        text=TEXT,
        network="x",
        url="https://x.example/s/1",
        author=AuthorFactory(handle="a<b>"),
    )
    events_record_many(
        actor=None,
        verb="sla.breached",
        objects=[mention],
        before=[{"priority": 20}],
        after=[{"kind": "first_response", "due_at": timezone.now().isoformat(), "raised_to": "team leads"}],
    )

    consume_until(1)
    slack_notify_task()  # again: nothing new

    [message] = SlackMessage.objects.all()
    text = f":hourglass: *SLA breached* (first response)\n@a&lt;b&gt; on x\n> {ESCAPED}"
    links = (
        f"<https://social.example.com/inbox/?open={mention.pk}|Open in socialops> · "
        "<https://x.example/s/1|View post>"
    )
    assert (message.notifier_id, message.state, message.payload) == (
        care.pk,
        "pending",
        {
            "text": text,
            "blocks": [
                {"type": "section", "text": {"type": "mrkdwn", "text": text}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": links}]},
            ],
        },
    )
    breach = DomainEvent.objects.get(verb="sla.breached")
    assert message.event_id == breach.pk
    position = ConsumerPosition.objects.get(name=CONSUMER)
    assert (position.xid, position.event_id) >= (breach.xid, breach.pk)


@pytest.mark.usefixtures("consumer_started")
def test_crisis_mode_switched_on_tells_every_team_that_asked(care_team, crisis_team):
    care = notifier(care_team, "care")
    crisis = notifier(crisis_team, "crisis")
    notifier(crisis_team, "quiet", on_crisis_mode=False)
    switcher = UserFactory(username="duty_lead")

    routing_settings_save(user=switcher, crisis_mode=True, misdirect_threshold=0.6)
    consume_until(2)

    assert sorted(SlackMessage.objects.values_list("notifier_id", "payload__text")) == sorted(
        [
            (care.pk, ":red_circle: *Crisis mode is ON* (switched by duty_lead)"),
            (crisis.pk, ":red_circle: *Crisis mode is ON* (switched by duty_lead)"),
        ]
    )


@pytest.mark.usefixtures("consumer_started")
def test_a_threshold_change_alone_says_nothing(care_team):
    notifier(care_team, "care")
    routing_settings_save(user=None, crisis_mode=False, misdirect_threshold=0.7)
    event = DomainEvent.objects.get(verb="routing_settings.saved")

    def passed() -> bool:
        slack_notify_task()
        return ConsumerPosition.objects.get(name=CONSUMER).event_id >= event.pk

    wait_until(passed)
    assert SlackMessage.objects.count() == 0


@pytest.mark.usefixtures("consumer_started")
def test_escalations_reach_the_team_they_were_escalated_to(care_team, crisis_team):
    notifier(care_team, "care")
    crisis = notifier(crisis_team, "crisis")
    routed = MentionFactory(team=care_team, text="stove recall?")
    late = MentionFactory(team=care_team, text="nobody took me")
    # Routing's own row for a rule's escalation (bulk-written: the mention is the object, no team ids).
    event_record(
        actor=None, verb="mention.routed", obj=routed, after={"escalated_to": crisis_team.slug}, teams=[]
    )
    Escalation.objects.create(
        mention=late,
        from_team=care_team,
        to_team=crisis_team,
        reason="rule",
        due_at=timezone.now() - timedelta(minutes=1),
    )
    escalations_overdue_raise()

    consume_until(2)

    texts = list(SlackMessage.objects.order_by("event_id").values_list("notifier_id", "payload__text"))
    assert texts == [
        (
            crisis.pk,
            f":arrow_up: *Escalated to {crisis_team.name}*\n"
            f"@{routed.author.handle} on simulated\n> stove recall?",
        ),
        (
            crisis.pk,
            f":rotating_light: *Escalation to {crisis_team.name} not accepted in time*: "
            "it goes to the team lead\n"
            f"@{late.author.handle} on simulated\n> nobody took me",
        ),
    ]


# --- Posting --------------------------------------------------------------------------------------------


@pytest.fixture
def message(db, desk, allow_private):
    team = segment("customer-relations").team
    hook = notifier(team, "care", url=f"{desk.url}/services/T1/B1/secret")
    return SlackMessage.objects.create(
        notifier=hook, event_id=1, payload={"text": "hi &amp; bye", "blocks": []}
    )


def test_a_message_is_posted_as_json_and_marked_sent(desk, message):
    desk.answer(200, b"ok")

    assert slack_message_send(message_id=message.pk).state == "sent"
    assert slack_message_send(message_id=message.pk).state == "gone"  # twice: posted once

    [request] = desk.requests
    assert (request.method, request.path, request.headers["content-type"]) == (
        "POST",
        "/services/T1/B1/secret",
        "application/json",
    )
    assert request.json() == {"text": "hi &amp; bye", "blocks": []}
    message.refresh_from_db()
    assert (message.state, message.attempts, message.error) == ("sent", 1, "")


@pytest.mark.parametrize(
    ("status", "headers", "retry_in"),
    [(500, {}, 15), (503, {}, 15), (429, {"Retry-After": "7"}, 7)],
)
def test_a_server_error_or_rate_limit_is_retried_later(desk, message, status, headers, retry_in):
    desk.answer(status, b"busy", headers=headers)

    outcome = slack_message_send(message_id=message.pk)

    message.refresh_from_db()
    assert (outcome.state, outcome.retry_in) == ("pending", retry_in)
    assert (message.state, message.attempts, message.error) == (
        "pending",
        1,
        f"Slack answered {status}: busy",
    )


def test_a_gone_webhook_fails_without_retrying(desk, message):
    desk.answer(404, b"no_service")

    outcome = slack_message_send(message_id=message.pk)

    message.refresh_from_db()
    assert (outcome.state, outcome.retry_in, message.state) == ("failed", None, "failed")
    assert message.error == "Slack answered 404: no_service"


def test_the_fifth_failure_gives_up(desk, message):
    for _ in range(5):
        desk.answer(500, b"down")
        outcome = slack_message_send(message_id=message.pk)

    message.refresh_from_db()
    assert (outcome.state, message.state, message.attempts) == ("failed", "failed", 5)
    assert len(desk.requests) == 5


# --- Pages ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_agents_get_a_404_and_leads_manage_only_their_team(client):
    care_team, crisis_team = segment("customer-relations").team, segment("crisis-management").team
    theirs = notifier(crisis_team, "crisis")
    client.force_login(MembershipFactory(team=care_team).user)
    assert client.get("/integrations/slack/").status_code == 404

    lead = MembershipFactory(team=care_team, role=Membership.Role.LEAD).user
    client.force_login(lead)
    page = client.get("/integrations/slack/new/").content.decode()
    assert f'<option value="{care_team.pk}">{care_team.name}</option>' in page
    assert crisis_team.name not in page
    assert client.get(f"/integrations/slack/{theirs.pk}/").status_code == 404

    response = client.post(
        "/integrations/slack/new/",
        {
            "team": care_team.pk,
            "name": "care room",
            "url": "https://hooks.slack.example/services/T9/B9/zzzz1234",
            "on_escalations": "on",
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    saved = SlackNotifier.objects.get(name="care room")
    assert (saved.team_id, saved.on_escalations, saved.on_sla_breaches, saved.on_crisis_mode) == (
        care_team.pk,
        True,
        False,
        False,
    )
    assert "zzzz1234" not in saved.webhook_url
    listing = client.get("/integrations/slack/").content.decode()
    assert "https://hooks.slack.example/…1234" in listing
    assert "T9/B9" not in listing
    assert "crisis" not in listing.split("<tbody>")[1].split("</tbody>")[0]
