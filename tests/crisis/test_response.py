"""The response to an incident: the segment's policy (suggest crisis mode, or switch it on), crisis mode
routing the incident's posts to the crisis team, urgent, with approval when the policy asks, the all clear
that only a person gives, the opening email, Slack and webhooks, and the incident's page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from channels.connectors.base import AuthorData, Post
from channels.crypto import encrypt_json
from crisis.actions import IncidentError, incident_close, incident_crisis_mode_on
from crisis.detector import NEGATIVE, TERM, VOLUME, Alert
from crisis.models import CrisisPolicy, Incident
from crisis.selectors import incident_timeline
from crisis.services import alerts_record, incident_email_send
from foundation.models import DomainEvent
from inbox.actions.replies import mentions_reply
from inbox.models import CannedResponse, Mention, Reply
from inbox.services import mentions_ingest
from integrations.models import SlackMessage, SlackNotifier, WebhookDelivery, WebhookSubscription
from integrations.slack import slack_events_handle
from integrations.webhooks import deliveries_for_events
from routing.models import RoutingSettings, Rule
from teams.models import Membership
from tests.factories import ChannelFactory, MembershipFactory, UserFactory, segment

ANGRY = "My Northwind headlamp melted and burned my hand. Terrible, dangerous, awful product"


def alert(scope: str, signal: str = NEGATIVE, *, minutes_ago: int = 1, terms=("headlamp melted",)) -> Alert:
    minute = int(timezone.now().timestamp()) // 60 - minutes_ago
    return Alert(
        minute,
        scope,
        signal,
        10,
        40,
        0.9,
        0.1,
        12.0,
        40_000,
        tuple(terms),
        f"{signal} of {scope}: 90% vs 10%",
    )


def posts(count: int, *, text: str = ANGRY, start: int = 0, handle: str = "hiker") -> list[Post]:
    now = timezone.now()
    return [
        Post(
            network="simulated",
            external_id=f"resp-{start + i}",
            kind="mention",
            text=f"{text} ({start + i})",
            created_at=now - timedelta(seconds=30),
            author=AuthorData(
                external_id=f"{handle}-{i}",
                handle=f"{handle}{i}",
                display_name=f"Hiker {i}",
                follower_count=100 * (i + 1),
            ),
            conversation_key=f"resp-{start + i}",
            raw={"id": f"resp-{start + i}"},
        )
        for i in range(count)
    ]


@pytest.fixture
def care():
    return segment("customer-relations")


@pytest.fixture
def help_channel(care):
    return ChannelFactory(slug="northwind-help", handle="@northwind_help", segment=care)


@pytest.fixture
def lead(care):
    return MembershipFactory(
        team=care.team, role=Membership.Role.LEAD, user=UserFactory(username="lena", first_name="Lena")
    ).user


@pytest.fixture
def agent(care):
    return MembershipFactory(
        team=care.team, role=Membership.Role.AGENT, user=UserFactory(username="ari")
    ).user


@pytest.fixture
def other_lead():
    events = segment("event-coverage")
    return MembershipFactory(
        team=events.team, role=Membership.Role.LEAD, user=UserFactory(username="eve")
    ).user


# --- Opening: the policy ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_incident_on_an_account_suggests_crisis_mode_by_default(help_channel, care) -> None:
    incident = alerts_record([alert("all", VOLUME), alert("channel:northwind-help")])

    incident.refresh_from_db()
    assert (incident.channel, incident.segment) == (help_channel, care)
    assert incident.crisis_mode == Incident.CrisisMode.SUGGESTED
    assert not RoutingSettings.current().crisis_mode and incident.crisis_rule is None
    opened = DomainEvent.objects.get(verb="incident.opened")
    crisis_team = segment("crisis-management").team_id
    assert sorted(opened.team_ids) == sorted({care.team_id, crisis_team})
    assert opened.after["crisis_mode"] == "suggested"


@pytest.mark.django_db
def test_an_organisation_wide_incident_concerns_every_team_and_suggests_nothing() -> None:
    incident = alerts_record([alert("all", TERM)])

    incident.refresh_from_db()
    assert incident.segment is None and incident.crisis_mode == Incident.CrisisMode.NONE
    assert len(DomainEvent.objects.get(verb="incident.opened").team_ids) >= 6


@pytest.mark.django_db
def test_a_segment_that_asks_for_it_switches_crisis_mode_on_and_routes_the_incidents_posts(
    help_channel, care, agent
) -> None:
    CrisisPolicy.objects.create(segment=care, switch_on=True, approval_required=True)
    other = ChannelFactory(slug="northwind-events", segment=segment("event-coverage"))

    incident = alerts_record([alert("channel:northwind-help")])

    incident.refresh_from_db()
    assert incident.crisis_mode == Incident.CrisisMode.ON and incident.crisis_mode_by is None
    assert RoutingSettings.current().crisis_mode
    rule = Rule.objects.get(pk=incident.crisis_rule_id)
    assert rule.position <= Rule.objects.order_by("position").first().position
    on = DomainEvent.objects.get(verb="incident.crisis_mode_on")
    assert on.actor is None and on.after["by_policy"] and on.after["approval_required"]

    mentions_ingest(channel=help_channel, posts=posts(2))
    mentions_ingest(channel=help_channel, posts=posts(1, text="Thanks, the new tent is lovely", start=50))
    mentions_ingest(channel=other, posts=posts(1, start=60))

    crisis_team = segment("crisis-management").team_id
    routed = Mention.objects.filter(external_id__in=["resp-0", "resp-1"])
    assert {(m.team_id, m.priority, m.requires_approval) for m in routed} == {
        (crisis_team, Mention.Priority.URGENT, True)
    }
    assert all(f"incident-{incident.pk}" in m.labels for m in routed)
    assert Mention.objects.get(external_id="resp-50").team_id == care.team_id  # not negative: not matching
    assert f"incident-{incident.pk}" not in Mention.objects.get(external_id="resp-60").labels  # elsewhere

    # An agent's reply to a routed post waits for a lead's approval.
    MembershipFactory(team_id=crisis_team, user=agent)
    result = mentions_reply(actor=agent, mentions=list(routed), text="Hi {author}, we are on it. {agent}")
    assert len(result.done) == 2
    assert set(Reply.objects.values_list("state", flat=True)) == {Reply.State.AWAITING_APPROVAL}
    first = Reply.objects.select_related("mention__author").first()
    assert first.text == f"Hi @{first.mention.author.handle}, we are on it. ari"


# --- Crisis mode by hand, and the all clear -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_lead_switches_crisis_mode_on_and_only_a_person_with_a_summary_gives_the_all_clear(
    help_channel, lead, agent, other_lead
) -> None:
    incident = alerts_record([alert("channel:northwind-help")])

    with pytest.raises(IncidentError):
        incident_crisis_mode_on(actor=agent, incident=incident)
    with pytest.raises(IncidentError):
        incident_crisis_mode_on(actor=other_lead, incident=incident)
    incident = incident_crisis_mode_on(actor=lead, incident=incident)
    assert incident.crisis_mode == Incident.CrisisMode.ON and incident.crisis_mode_by == lead
    with pytest.raises(IncidentError, match="already on"):
        incident_crisis_mode_on(actor=lead, incident=incident)
    assert RoutingSettings.current().crisis_mode

    with pytest.raises(IncidentError, match="Only a person"):
        incident_close(actor=None, incident=incident, summary="fine")
    with pytest.raises(IncidentError, match="summary"):
        incident_close(actor=lead, incident=incident, summary="  ")
    rule_id = incident.crisis_rule_id
    closed = incident_close(actor=lead, incident=incident, summary="Batch 42 recalled; replies sent.")

    assert closed.status == Incident.Status.CLOSED and closed.closed_by == lead
    assert closed.closing_summary == "Batch 42 recalled; replies sent."
    assert closed.crisis_mode == Incident.CrisisMode.ENDED
    assert not Rule.objects.filter(pk=rule_id).exists()
    assert not RoutingSettings.current().crisis_mode
    event = DomainEvent.objects.get(verb="incident.closed")
    assert event.actor == lead and event.after["summary"] == "Batch 42 recalled; replies sent."
    assert event.after["crisis_mode_off"] is True
    assert DomainEvent.objects.filter(verb="routing_settings.saved", actor=lead).count() == 2  # on, off
    with pytest.raises(IncidentError, match="already closed"):
        incident_close(actor=lead, incident=closed, summary="again")


@pytest.mark.django_db
def test_crisis_mode_stays_on_while_another_incident_holds_it(help_channel, lead) -> None:
    first = incident_crisis_mode_on(actor=lead, incident=alerts_record([alert("channel:northwind-help")]))
    Incident.objects.filter(pk=first.pk).update(last_alert_at=timezone.now() - timedelta(hours=5))
    second = alerts_record([alert("channel:northwind-help", minutes_ago=0)])
    assert second.pk != first.pk
    incident_crisis_mode_on(actor=lead, incident=second)

    closed = incident_close(actor=lead, incident=first, summary="first one handled")

    assert closed.crisis_mode == Incident.CrisisMode.ENDED
    assert RoutingSettings.current().crisis_mode
    assert Rule.objects.filter(name=f"Crisis mode: incident {second.pk}").exists()


# --- Alerts out: email, Slack, webhooks ---------------------------------------------------------------------


@pytest.mark.django_db
def test_the_opening_email_goes_to_the_concerned_leads_and_the_admins(
    help_channel, lead, agent, other_lead, settings
) -> None:
    settings.SOCIALOPS_BASE_URL = "https://social.example.com"
    admin = UserFactory(username="boss", admin=True)
    incident = alerts_record([alert("channel:northwind-help")])

    assert incident_email_send(incident=incident) == 2

    [message] = mail.outbox
    assert sorted(message.to) == sorted([lead.email, admin.email])
    assert "@northwind_help" in message.subject
    assert incident.summary in message.body and "Crisis mode is suggested" in message.body
    assert f"https://social.example.com/crisis/incidents/{incident.pk}/" in message.body


@pytest.mark.django_db
def test_incidents_reach_slack_notifiers_of_the_concerned_teams_and_webhooks(
    help_channel, care, lead
) -> None:
    url = encrypt_json({"url": "https://hooks.slack.example/services/T1/B1/x"})
    care_room = SlackNotifier.objects.create(team=care.team, name="care", webhook_url=url)
    SlackNotifier.objects.create(team=segment("event-coverage").team, name="events", webhook_url=url)
    hook = WebhookSubscription.objects.create(
        name="pager",
        url="https://hooks.example.com/in",
        secret_encrypted=encrypt_json({"secret": "s"}),
        event_types=["incident.opened", "incident.closed"],
    )
    incident = alerts_record([alert("channel:northwind-help")])
    incident_close(actor=lead, incident=incident, summary="<!channel> all fine")
    events = list(DomainEvent.objects.filter(verb__startswith="incident.").order_by("id"))

    slack_events_handle(events)
    deliveries_for_events(events)

    texts = list(SlackMessage.objects.order_by("id").values_list("notifier_id", "payload__text"))
    assert [n for n, _ in texts] == [care_room.pk, care_room.pk]
    assert texts[0][1].startswith(f":rotating_light: *Crisis radar: incident {incident.pk} opened*")
    assert "&lt;!channel&gt; all fine" in texts[1][1] and "by lena" in texts[1][1]
    assert sorted(WebhookDelivery.objects.filter(subscription=hook).values_list("event_type", flat=True)) == [
        "incident.closed",
        "incident.opened",
    ]


# --- The page ---------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_is_for_the_concerned_leads_and_admins(
    client, help_channel, lead, agent, other_lead
) -> None:
    incident = alerts_record([alert("channel:northwind-help")])
    url = reverse("crisis:incident", args=[incident.pk])

    assert client.get(url).status_code == 302
    client.force_login(agent)
    assert client.get(url).status_code == 403
    assert client.post(reverse("crisis:crisis_mode", args=[incident.pk])).status_code == 403
    client.force_login(other_lead)
    assert client.get(url).status_code == 404  # another team's incident
    assert f"incident-{incident.pk}" not in client.get(reverse("crisis:incidents")).content.decode()
    client.force_login(UserFactory(username="boss", admin=True))
    assert client.get(url).status_code == 200
    client.force_login(lead)
    assert client.get(url).status_code == 200


@pytest.mark.django_db
def test_the_page_shows_the_incident_escaped_and_its_buttons_act(client, help_channel, care) -> None:
    # An admin may work on every team's mentions: the burst's posts go to care or, as crisis signals, to the
    # crisis team. (A lead's bulk action skips another team's mentions, with the reason.)
    lead = UserFactory(username="boss", first_name="Bo", admin=True)
    mentions_ingest(channel=help_channel, posts=posts(3))
    mentions_ingest(
        channel=help_channel, posts=posts(1, text="<script>alert(1)</script> headlamp melted, awful", start=9)
    )
    incident = alerts_record([alert("channel:northwind-help")])
    client.force_login(lead)
    url = reverse("crisis:incident", args=[incident.pk])

    page = client.get(url).content.decode()

    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<svg" in page and "Posts per 5 minutes" in page
    buckets = incident_timeline(incident)
    assert sum(b.posts for b in buckets) == 4 and sum(b.negative for b in buckets) >= 3  # one batch, 4 posts
    assert "headlamp melted" in page  # a top term
    assert page.count('name="ids"') == 4
    assert "Switch crisis mode on" in page and "The radar suggests crisis mode" in page
    assert (
        f'href="/crisis/incidents/{incident.pk}/"' in client.get(reverse("crisis:incidents")).content.decode()
    )

    client.post(reverse("crisis:crisis_mode", args=[incident.pk]))
    assert Incident.objects.get(pk=incident.pk).crisis_mode == Incident.CrisisMode.ON

    holding = CannedResponse.objects.get(segment__slug="crisis-management")
    ids = list(Mention.objects.values_list("pk", flat=True))
    client.post(
        reverse("crisis:bulk", args=[incident.pk]), {"action": "reply", "canned": holding.pk, "ids": ids}
    )
    assert Reply.objects.filter(state=Reply.State.QUEUED).count() == 4  # the lead's own replies go out
    again = client.post(
        reverse("crisis:bulk", args=[incident.pk]),
        {"action": "reply", "canned": holding.pk, "ids": ids},
        follow=True,
    ).content.decode()
    assert "4 skipped" in again and Reply.objects.count() == 4  # one holding statement per post

    client.post(
        reverse("crisis:bulk", args=[incident.pk]), {"action": "assign", "assignee": lead.pk, "ids": ids}
    )
    assert set(Mention.objects.values_list("assignee_id", flat=True)) == {lead.pk}

    closing = client.post(
        reverse("crisis:all_clear", args=[incident.pk]),
        {"summary": "Recall announced <b>today</b>"},
        follow=True,
    ).content.decode()
    assert "All clear: incident" in closing and "Recall announced &lt;b&gt;today&lt;/b&gt;" in closing
    assert "gave the all clear" in closing and "switched crisis mode on" in closing
    assert "replied" in closing or "queued a reply" in closing  # the mentions' audit


@pytest.mark.django_db
def test_only_admins_set_the_policies(client, care, lead) -> None:
    url = reverse("crisis:policy", args=[care.pk])
    client.force_login(lead)
    assert client.post(url, {"switch_on": "on"}).status_code == 403
    client.force_login(UserFactory(username="boss", admin=True))

    client.post(url, {"switch_on": "on", "approval_required": "on"})

    policy = CrisisPolicy.objects.get(segment=care)
    assert policy.switch_on and policy.approval_required
    assert DomainEvent.objects.filter(verb="crisis_policy.saved").count() == 1
