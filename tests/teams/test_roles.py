"""Who leads a team, or stands in: a team without a lead falls back to the admins for escalations nobody
accepts, SLA breach emails and reply approvals, and the pages say so (issue 11)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from foundation.models import DomainEvent
from inbox.actions.escalations import escalations_overdue_raise
from inbox.models import Mention, Reply
from inbox.sla import FIRST_RESPONSE
from inbox.tasks import sla_breach_notify_task
from routing.models import Escalation
from teams.models import Membership, Team
from teams.roles import team_leaders
from tests.factories import ChannelFactory, MembershipFactory, MentionFactory, UserFactory, segment

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def crisis() -> Team:
    return segment("crisis-management").team


@pytest.fixture
def admins():
    """Two admins (the Admins group, a superuser) and one inactive admin who must not be asked."""
    grouped = UserFactory(username="ari", admin=True)
    superuser = UserFactory(username="sol", is_superuser=True)
    UserFactory(username="gone", admin=True, is_active=False)
    return [grouped, superuser]


def test_a_team_with_a_lead_is_led_by_its_leads(crisis, admins):
    lead = MembershipFactory(team=crisis, role=Membership.Role.LEAD, user__username="robin").user
    MembershipFactory(team=crisis)

    leaders = team_leaders(team_id=crisis.pk)

    assert (leaders.users, leaders.admins_stand_in) == ((lead,), False)


def test_a_team_without_a_lead_falls_back_to_the_active_admins(crisis, admins):
    MembershipFactory(team=crisis)

    leaders = team_leaders(team_id=crisis.pk)

    assert (leaders.users, leaders.admins_stand_in) == (tuple(admins), True)


def test_an_escalation_nobody_accepts_goes_to_the_admins_when_the_team_has_no_lead(crisis, admins):
    escalation = Escalation.objects.create(
        mention=MentionFactory(team=crisis),
        from_team=segment("customer-relations").team,
        to_team=crisis,
        reason="crisis signal",
        due_at=timezone.now() - timedelta(minutes=1),
    )

    raised = escalations_overdue_raise()

    assert raised == [escalation.pk]
    event = DomainEvent.objects.get(verb="escalation.to_lead")
    assert (event.after["leads"], event.after["admins_stand_in"]) == (["ari", "sol"], True)


def test_an_sla_breach_is_mailed_to_the_admins_when_the_team_has_no_lead(crisis, admins):
    mention = MentionFactory(
        team=crisis, sla_kind=FIRST_RESPONSE, sla_due_at=timezone.now() - timedelta(minutes=5)
    )

    sent = sla_breach_notify_task(mention.pk)

    assert sent == 2
    assert [message.to for message in mail.outbox] == [["ari@example.com", "sol@example.com"]]


def test_an_sla_breach_is_mailed_to_the_lead_only_when_there_is_one(crisis, admins):
    MembershipFactory(team=crisis, role=Membership.Role.LEAD, user__username="robin")
    mention = MentionFactory(
        team=crisis, sla_kind=FIRST_RESPONSE, sla_due_at=timezone.now() - timedelta(minutes=5)
    )

    sla_breach_notify_task(mention.pk)

    assert [message.to for message in mail.outbox] == [["robin@example.com"]]


def test_the_composer_says_an_admin_will_approve_when_the_team_has_no_lead(client, crisis, admins):
    agent = MembershipFactory(team=crisis).user
    channel = ChannelFactory(segment=segment("crisis-management"))
    mention = MentionFactory(team=crisis, on_channels=[channel], requires_approval=True)
    client.force_login(agent)

    pane = client.get(reverse("inbox:detail", args=[mention.pk]), **HTMX).content.decode()
    saved = client.post(reverse("inbox:reply", args=[mention.pk]), {"text": "We are on it."}, **HTMX)
    client.force_login(admins[0])
    approvals = client.get(reverse("inbox:approvals")).content.decode()

    assert "an admin will approve (this team has no lead)" in pane
    assert "a team lead to approve" not in pane
    assert "an admin will approve (this team has no lead)" in saved.content.decode()
    assert Reply.objects.get().state == Reply.State.AWAITING_APPROVAL
    assert "We are on it." in approvals


def test_the_composer_names_the_team_lead_when_there_is_one(client, crisis, admins):
    MembershipFactory(team=crisis, role=Membership.Role.LEAD)
    agent = MembershipFactory(team=crisis).user
    mention = MentionFactory(team=crisis, requires_approval=True, status=Mention.Status.OPEN)
    client.force_login(agent)

    pane = client.get(reverse("inbox:detail", args=[mention.pk]), **HTMX).content.decode()

    assert "A rule asks a team lead to approve replies" in pane
    assert "an admin will approve" not in pane


def test_the_team_page_says_admins_stand_in_for_a_missing_lead(client, crisis, admins):
    agent = MembershipFactory(team=crisis).user
    client.force_login(agent)

    without_lead = client.get(reverse("teams:detail", args=[crisis.slug])).content.decode()
    MembershipFactory(team=crisis, role=Membership.Role.LEAD)
    with_lead = client.get(reverse("teams:detail", args=[crisis.slug])).content.decode()

    assert "No lead: admins stand in." in without_lead
    assert "No lead" not in with_lead
