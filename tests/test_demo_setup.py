"""The demo organisation: logins, one simulated account per segment, SLA policies; safe to run twice."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from channels.models import Channel, Segment
from inbox.models import SlaPolicy

pytestmark = pytest.mark.django_db


def test_demo_setup_is_idempotent_and_gives_working_logins():
    call_command("demo_setup", "--no-backfill", stdout=StringIO())
    call_command("demo_setup", "--no-backfill", stdout=StringIO())

    assert authenticate(username="casey", password="socialops-agent") is not None
    assert Channel.objects.count() == Segment.objects.count() == 6
    assert dict(SlaPolicy.objects.values_list("segment__slug", "first_response_minutes")) == {
        "crisis-management": 15,
        "customer-relations": 60,
    }
