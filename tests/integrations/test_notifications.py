"""Notifications to people: who the domain events address (an @name in a note, an escalation to their team,
a reply for their approval, an SLA warning on their mention, an assignment), once; the bell's list, marking
read, the choices, the e-mails and the live event to their inbox alone."""

from __future__ import annotations

import pytest
from django.core import mail
from django.utils import timezone

from foundation.events import events_consume, events_record_many
from foundation.models import DomainEvent
from inbox.actions.triage import mentions_assign, note_add
from inbox.streams import framer
from integrations.models import Notification, NotificationChoice
from integrations.notifications import (
    CONSUMER,
    at_names,
    notification_emails_send,
    notifications_handle,
)
from integrations.tasks import notifications_consume_task
from teams.models import Membership
from tests.conftest import wait_until
from tests.factories import MembershipFactory, MentionFactory, segment

pytestmark = pytest.mark.usefixtures("consumer_started")


@pytest.fixture
def consumer_started(transactional_db, six_segments, settings) -> None:
    settings.SOCIALOPS_BASE_URL = "https://social.example.com"
    events_consume(consumer=CONSUMER, handle=notifications_handle)  # the position starts at the head


@pytest.fixture
def care():
    return segment("customer-relations").team


@pytest.fixture
def crisis():
    return segment("crisis-management").team


def member(team, username: str, role: str = Membership.Role.AGENT, email: str = ""):
    return MembershipFactory(team=team, role=role, user__username=username, user__email=email).user


def consume_until(count: int) -> None:
    """Run the consumer until ``count`` notifications exist (another session's open transaction can hold
    events back for a moment)."""

    def done() -> bool:
        notifications_consume_task()
        return Notification.objects.count() >= count

    wait_until(done)


def mine(user) -> list[tuple[str, str]]:
    return list(Notification.objects.filter(user=user).order_by("id").values_list("kind", "text"))


def test_names_in_a_note_are_usernames_not_email_domains():
    assert at_names("@Grace and @bob.smith, see this. mail ada@example.com") == {"grace", "bob.smith"}
    assert at_names("@ada.") == {"ada"}
    assert at_names("no one") == set()


def test_an_at_name_in_a_note_notifies_that_person_if_they_may_see_the_mention_never_the_writer(care, crisis):
    ada = member(care, "ada")
    grace = member(care, "Grace")
    outsider = member(crisis, "olga")
    mention = MentionFactory(team=care)

    note_add(actor=ada, mention=mention, body="@grace can you take this? @olga too, and me @ada, @nobody")
    consume_until(1)
    notifications_consume_task()  # again: nothing new

    assert mine(grace) == [("mentioned", f"ada mentioned you in a note on @{mention.author.handle}'s post")]
    assert mine(outsider) == []  # not in the mention's team: a note's @name is no way to see a team's posts
    assert mine(ada) == []
    assert Notification.objects.get(user=grace).mention_id == mention.pk


def test_an_assignment_by_someone_else_notifies_the_assignee_not_a_self_assignment(care):
    lead = member(care, "lena", Membership.Role.LEAD)
    ada = member(care, "ada")
    first, second = MentionFactory(team=care), MentionFactory(team=care)

    mentions_assign(actor=lead, mentions=[first], assignee=ada)
    mentions_assign(actor=ada, mentions=[second], assignee=ada)
    consume_until(1)

    assert mine(ada) == [("assigned", f"lena assigned @{first.author.handle}'s post to you")]


def test_escalations_approvals_and_sla_warnings_reach_whom_they_concern(care, crisis):
    lead = member(care, "lena", Membership.Role.LEAD)
    ada = member(care, "ada")
    olga = member(crisis, "olga")
    writer = member(care, "wendy")
    escalated = MentionFactory(team=care)
    waiting = MentionFactory(team=care)
    late = MentionFactory(team=care, assignee=ada)
    events_record_many(
        actor=None,
        verb="mention.routed",
        objects=[escalated],
        before=[{}],
        after=[{"team": "customer-relations", "escalated_to": crisis.slug}],
    )
    events_record_many(
        actor=writer, verb="reply.awaiting_approval", objects=[waiting], before=[{}], after=[{}]
    )
    events_record_many(actor=None, verb="sla.warning", objects=[late], before=[{}], after=[{}])

    consume_until(3)

    assert mine(olga) == [
        ("escalation", f"Routing escalated @{escalated.author.handle}'s post to {crisis.name}")
    ]
    assert mine(lead) == [
        ("approval", f"wendy's reply to @{waiting.author.handle}'s post waits for your approval")
    ]
    assert mine(ada) == [("sla_warning", f"The SLA of @{late.author.handle}'s post runs out soon")]
    assert mine(writer) == []


def test_the_list_shows_only_my_notifications_and_marks_read_only_mine(client, care):
    ada = member(care, "ada")
    grace = member(care, "grace")
    mention = MentionFactory(team=care, text="<script>alert(1)</script>")
    note_add(actor=grace, mention=mention, body="@ada look")
    note_add(actor=ada, mention=mention, body="@grace done")
    consume_until(2)
    theirs = Notification.objects.get(user=grace)

    client.force_login(ada)
    page = client.get("/notifications/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "grace mentioned you in a note" in body and "ada mentioned you" not in body
    assert f"/inbox/?open={mention.pk}" in body
    assert "data-bell-count>1<" in body  # the bell in the header

    client.post("/notifications/read/", {"id": [theirs.pk]})  # someone else's: ignored
    assert Notification.objects.get(pk=theirs.pk).read_at is None
    client.post("/notifications/read/", {"all": "1"})
    assert not Notification.objects.filter(user=ada, read_at__isnull=True).exists()
    assert "data-bell-count hidden>0<" in client.get("/notifications/?unread=1").content.decode()


def test_the_pages_ask_to_sign_in(client):
    assert client.get("/notifications/").status_code == 302
    assert client.post("/notifications/read/", {"all": "1"}).status_code == 302


def test_choices_are_saved_and_emails_go_to_who_chose_them_once_per_person(client, care):
    ada = member(care, "ada", email="ada@example.com")
    member(care, "grace", email="grace@example.com")
    writer = member(care, "wendy")
    client.force_login(ada)
    assert (
        client.post(
            "/notifications/settings/", {"email": ["mentioned", "bogus"], "browser": ["assigned"]}
        ).status_code
        == 302
    )
    assert set(NotificationChoice.objects.filter(user=ada).values_list("kind", "browser", "email")) >= {
        ("mentioned", False, True),
        ("assigned", True, False),
    }
    assert not NotificationChoice.objects.filter(kind="bogus").exists()
    mention = MentionFactory(team=care)
    note_add(actor=writer, mention=mention, body="@ada @grace please look")
    consume_until(2)
    mail.outbox.clear()

    sent = notification_emails_send(event_ids=list(Notification.objects.values_list("event_id", flat=True)))

    assert sent == 1  # grace chose no e-mail
    [message] = mail.outbox
    assert message.to == ["ada@example.com"]
    assert message.subject == f"wendy mentioned you in a note on @{mention.author.handle}'s post"
    assert f"https://social.example.com/inbox/?open={mention.pk}" in message.body


def test_a_notification_live_event_reaches_only_the_named_person():
    event = {"kind": "notification.new", "users": ["ada"], "teams": [], "unread": 2, "id": 7}
    ada = framer(admin=False, team_ids={1}, username="ada")
    admin = framer(admin=True, team_ids=set(), username="root")
    assert b'"unread": 2' in ada(event)
    assert admin(event) is None
    assert framer(admin=False, team_ids={1}, username="grace")(event) is None


def test_a_notification_is_written_once_however_often_its_event_is_handled(care):
    ada = member(care, "ada")
    lead = member(care, "lena", Membership.Role.LEAD)
    mentions_assign(actor=lead, mentions=[MentionFactory(team=care)], assignee=ada)
    consume_until(1)

    again = list(DomainEvent.objects.filter(verb="mention.assigned"))
    notifications_handle(again)
    assert Notification.objects.filter(user=ada).count() == 1
    assert Notification.objects.get(user=ada).created_at <= timezone.now()
