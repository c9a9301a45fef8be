"""The demo organisation: logins, one simulated account per segment, SLA policies; safe to run twice."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import call_command
from django.urls import reverse

from channels.models import Channel, Segment
from inbox.models import SlaPolicy
from teams.models import Membership, Team
from teams.roles import team_leaders

pytestmark = pytest.mark.django_db


def test_demo_setup_is_idempotent_and_gives_working_logins():
    call_command("demo_setup", "--no-backfill", stdout=StringIO())
    call_command("demo_setup", "--no-backfill", stdout=StringIO())

    assert authenticate(username="casey", password="socialops-agent") is not None
    assert Segment.objects.count() == 6
    assert Channel.objects.count() == 7  # one a segment, and a Bluesky-shaped one for customer care
    assert dict(SlaPolicy.objects.values_list("segment__slug", "first_response_minutes")) == {
        "crisis-management": 15,
        "customer-relations": 60,
    }


def test_every_demo_team_has_a_lead_with_a_working_login():
    call_command("demo_setup", "--no-backfill", stdout=StringIO())

    leads = dict(
        Membership.objects.filter(role=Membership.Role.LEAD).values_list("team__slug", "user__username")
    )
    assert leads == {
        "customer-care": "lead",
        "crisis-response": "robin",
        "communications": "morgan",
        "advocacy": "morgan",
        "sales-promotion": "jordan",
        "events": "jordan",
    }
    assert set(leads) == set(Team.objects.values_list("slug", flat=True))
    stand_ins = [team_leaders(team_id=pk).admins_stand_in for pk in Team.objects.values_list("pk", flat=True)]
    assert stand_ins == [False] * 6
    for username in ("robin", "morgan", "jordan"):
        assert authenticate(username=username, password="socialops-lead") is not None, username


def test_the_demo_admin_logs_into_django_admin_and_edits_canned_responses(client):
    # An admin made by an earlier demo set-up (before it made them staff) is fixed by running it again.
    get_user_model().objects.create_user(username="admin", password="socialops-admin")
    call_command("demo_setup", "--no-backfill", stdout=StringIO())

    logged_in = client.login(username="admin", password="socialops-admin")
    index = client.get("/django-admin/")
    canned = client.get(reverse("admin:inbox_cannedresponse_changelist"))
    quarantine = client.get(reverse("admin:channels_quarantineditem_changelist"))

    assert logged_in is True
    assert (index.status_code, canned.status_code, quarantine.status_code) == (200, 200, 200)
    assert get_user_model().objects.filter(username="admin", is_staff=True).count() == 1
    assert get_user_model().objects.filter(is_staff=True).count() == 1  # no one else is staff
