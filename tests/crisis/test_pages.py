"""Incidents are for team leads and admins: the list page, its search, and the live banner's events."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from crisis.models import Incident
from foundation.live import EVENTS_CHANNEL, event_publish
from teams.models import Membership
from tests.factories import MembershipFactory, TeamFactory, UserFactory


@pytest.fixture
def team():
    return TeamFactory(name="Care", slug="care")


@pytest.fixture
def agent(team):
    return MembershipFactory(team=team, role=Membership.Role.AGENT, user=UserFactory(username="agent")).user


@pytest.fixture
def lead(team):
    return MembershipFactory(team=team, role=Membership.Role.LEAD, user=UserFactory(username="lead")).user


@pytest.fixture
def incidents():
    now = timezone.now()
    return [
        Incident.objects.create(
            opened_at=now - timedelta(hours=3),
            summary="negative share of @northwind_help 61% over the last 10 min vs 12% usual",
            scope="channel:northwind_help",
            signal="negative_share",
            terms=["headlamp melted"],
            alerts=[{"text": "a"}, {"text": "b"}],
        ),
        Incident.objects.create(
            opened_at=now - timedelta(hours=1),
            summary="emerging term <script>alert(1)</script>: 9 posts over the last 30 min",
            scope="all",
            signal="emerging_term",
            terms=["site down"],
            status=Incident.Status.CLOSED,
        ),
    ]


@pytest.mark.django_db
def test_agents_are_refused_and_anonymous_visitors_sent_to_log_in(client, agent, incidents) -> None:
    url = reverse("crisis:incidents")
    assert client.get(url).status_code == 302
    client.force_login(agent)
    assert client.get(url).status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["lead", "admin"])
def test_leads_and_admins_see_incidents_newest_first_escaped(client, lead, incidents, who) -> None:
    client.force_login(lead if who == "lead" else UserFactory(username="boss", admin=True))

    page = client.get(reverse("crisis:incidents")).content.decode()

    assert page.index(f"incident-{incidents[1].pk}") < page.index(f"incident-{incidents[0].pk}")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page
    assert 'href="/crisis/incidents/"' in page  # the header's link for leads and admins


@pytest.mark.django_db
def test_incidents_are_searched_by_words_and_status(client, lead, incidents) -> None:
    client.force_login(lead)
    url = reverse("crisis:incidents")

    by_term = client.get(url, {"q": "headlamp"}).content.decode()
    by_status = client.get(url, {"status": "closed"}).content.decode()

    assert f"incident-{incidents[0].pk}" in by_term and f"incident-{incidents[1].pk}" not in by_term
    assert f"incident-{incidents[1].pk}" in by_status and f"incident-{incidents[0].pk}" not in by_status


def _stream_events(client, user, publish) -> list[dict]:
    client.force_login(user)
    response = client.get(reverse("inbox:events"))
    stream = iter(response.streaming_content)
    assert next(stream) == b"retry: 2000\n\n"
    subscriber = redis.Redis.from_url(settings.REDIS_URL)

    def later() -> None:
        deadline = time.monotonic() + 5
        while subscriber.pubsub_numsub(EVENTS_CHANNEL)[0][1] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        publish()

    threading.Thread(target=later).start()
    events, buffer, deadline = [], b"", time.monotonic() + 10
    for chunk in stream:
        buffer += chunk
        if b"event: change" in buffer or time.monotonic() > deadline:
            break
    for line in buffer.split(b"\n"):
        if line.startswith(b"data: "):
            events.append(json.loads(line[6:]))
    response.close()
    return [e for e in events if not e["kind"].startswith("live.")]  # the stream's own news


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["agent", "lead"])
def test_the_radar_alert_reaches_leads_not_agents(client, team, agent, lead, who) -> None:
    def publish() -> None:
        event_publish("crisis.alert", {"ids": [], "teams": [team.pk], "leads_only": True, "summary": "spike"})
        event_publish("mention.closed", {"ids": [7], "teams": [team.pk], "actor": "x"})

    events = _stream_events(client, agent if who == "agent" else lead, publish)

    assert [e["kind"] for e in events] == (["mention.closed"] if who == "agent" else ["crisis.alert"])
