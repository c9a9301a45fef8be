"""Team pages as a lead, a member, an outsider and an admin see and use them."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.urls import reverse
from django.utils.html import escape

from foundation.models import DomainEvent
from inbox.models import Mention
from routing.models import Escalation
from teams.models import Membership, Team
from tests.factories import (
    ChannelFactory,
    MembershipFactory,
    MentionFactory,
    UserFactory,
    segment,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def team() -> Team:
    return segment("customer-relations").team


@pytest.fixture
def lead(team):
    return MembershipFactory(team=team, role=Membership.Role.LEAD, user__first_name="Lee").user


@pytest.fixture
def agent(team):
    return MembershipFactory(team=team, user__first_name="Ada", user__last_name="Agent").user


@pytest.fixture
def outsider():
    return MembershipFactory(team=segment("crisis-management").team).user


def test_lead_sees_people_load_channels_and_queue_health(client, lead, agent, team):
    MentionFactory(team=team, assignee=agent, status=Mention.Status.OPEN)
    MentionFactory(team=team)
    waiting = MentionFactory(team=team)
    Escalation.objects.create(
        mention=waiting, from_team=segment("crisis-management").team, to_team=team, reason="x"
    )
    ChannelFactory(handle="@acme_help", segment=segment("customer-relations"))
    client.force_login(lead)

    html = client.get(reverse("teams:detail", args=[team.slug])).content.decode()

    assert "Ada Agent" in html
    assert "@acme_help" in html
    assert "<div><dt>Open</dt><dd>3</dd></div>" in html
    assert "<div><dt>Unassigned</dt><dd>2</dd></div>" in html
    assert '?queue=escalated">1</a>' in html
    assert "Save assignment" in html


class TableCells(HTMLParser):
    """The first table of a page as rows of cells: (column span, text, names of its controls)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[tuple[int, str, list[str]]]] = []
        self.depth = 0
        self.done = False
        self.cell: list | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        attrs = dict(attrs)
        if self.done:
            return
        if tag == "table":
            self.depth += 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag in ("td", "th"):
            self.cell = [int(attrs.get("colspan") or 1), "", []]
            self.rows[-1].append(self.cell)
        elif (
            self.cell is not None
            and tag in ("input", "select")
            and attrs.get("name") != "csrfmiddlewaretoken"
        ):
            self.cell[2].append(attrs.get("name"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "table" and self.depth:
            self.depth -= 1
            self.done = True
        elif tag in ("td", "th"):
            self.cell = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell[1] += data.strip()


def people_table(html: str) -> list[list[tuple[int, str, list[str]]]]:
    parser = TableCells()
    parser.feed(html[html.index('<section aria-labelledby="members-title"') :])
    return [[(span, text, names) for span, text, names in row] for row in parser.rows]


def test_a_leads_people_table_has_each_control_under_its_heading(client, lead, agent, team):
    client.force_login(lead)

    header, *rows = people_table(client.get(reverse("teams:detail", args=[team.slug])).content.decode())

    assert [text for _, text, _ in header] == ["Name", "Role", "Open mentions", "Capacity", "Away", "Actions"]
    assert [sum(span for span, _, _ in row) for row in rows] == [6, 6]
    assert [[names for _, _, names in row] for row in rows] == [
        [[], ["role"], [], ["capacity"], ["away"], []],
        [[], ["role"], [], ["capacity"], ["away"], []],
    ]


def test_a_members_people_table_has_a_cell_under_each_heading(client, lead, agent, team):
    client.force_login(agent)

    header, *rows = people_table(client.get(reverse("teams:detail", args=[team.slug])).content.decode())

    assert [text for _, text, _ in header] == ["Name", "Role", "Open mentions", "Capacity", "Away"]
    assert sorted([text for _, text, _ in row] for row in rows) == [
        ["Ada Agent", "Agent", "0", "20", "Available"],
        ["Lee", "Team lead", "0", "20", "Available"],
    ]


def test_an_empty_teams_people_table_spans_every_column(client):
    empty = segment("event-coverage").team
    client.force_login(UserFactory(admin=True))

    header, *rows = people_table(client.get(reverse("teams:detail", args=[empty.slug])).content.decode())

    assert [[span for span, _, _ in row] for row in rows] == [[len(header)]]


def test_spam_is_not_counted_in_queue_health_or_load(client, lead, agent, team):
    MentionFactory(team=team, assignee=agent, status=Mention.Status.OPEN, intent="spam")
    MentionFactory(team=team, intent="spam")
    MentionFactory(team=team)
    client.force_login(lead)

    html = client.get(reverse("teams:detail", args=[team.slug])).content.decode()
    _header, *rows = people_table(html)

    assert "<div><dt>Open</dt><dd>1</dd></div>" in html
    assert "<div><dt>Unassigned</dt><dd>1</dd></div>" in html
    assert sorted(row[2][1] for row in rows) == ["0", "0"]


def test_member_reads_the_page_without_controls(client, agent, team):
    client.force_login(agent)

    html = client.get(reverse("teams:detail", args=[team.slug])).content.decode()

    assert "You are a member of this team." in html
    assert "Save assignment" not in html
    assert "Add a person" not in html


def test_outsider_gets_404_for_the_page_and_every_post(client, outsider, agent, team):
    membership = Membership.objects.get(user=agent)
    channel = ChannelFactory()
    client.force_login(outsider)
    posts = [
        (reverse("teams:member_add", args=[team.slug]), {"user": outsider.pk}),
        (reverse("teams:member_update", args=[team.slug, membership.pk]), {"capacity": 1}),
        (reverse("teams:member_remove", args=[team.slug, membership.pk]), {}),
        (reverse("teams:member_away", args=[team.slug, membership.pk]), {"away": "on"}),
        (reverse("teams:assignment", args=[team.slug]), {"mode": "round_robin"}),
        (reverse("teams:channel_request", args=[team.slug]), {"channel": channel.pk}),
        (
            reverse("teams:channel_offer", args=[team.slug]),
            {"channel": channel.pk, "to_team": segment("crisis-management").team_id},
        ),
        (reverse("teams:channel_crisis_take", args=[team.slug]), {"channel": channel.pk}),
    ]

    assert client.get(reverse("teams:detail", args=[team.slug])).status_code == 404
    for url, data in posts:
        assert client.post(url, data).status_code == 404, url
    membership.refresh_from_db()
    assert (membership.capacity, membership.is_away) == (20, False)
    assert Team.objects.get(pk=team.pk).assignment == Team.Assignment.MANUAL
    assert not DomainEvent.objects.exists()


def test_an_agent_cannot_forge_lead_posts_for_their_own_team(client, agent, team):
    client.force_login(agent)

    response = client.post(reverse("teams:assignment", args=[team.slug]), {"mode": "round_robin"})

    assert response.status_code == 404
    assert Team.objects.get(pk=team.pk).assignment == Team.Assignment.MANUAL


def test_lead_adds_a_member_sets_capacity_and_assignment(client, lead, team):
    newcomer = UserFactory(first_name="Nia")
    client.force_login(lead)

    client.post(
        reverse("teams:member_add", args=[team.slug]), {"user": newcomer.pk, "role": "agent", "capacity": 7}
    )
    membership = Membership.objects.get(user=newcomer, team=team)
    client.post(
        reverse("teams:member_update", args=[team.slug, membership.pk]), {"role": "agent", "capacity": 12}
    )
    response = client.post(
        reverse("teams:assignment", args=[team.slug]), {"mode": "round_robin"}, follow=True
    )

    membership.refresh_from_db()
    assert membership.capacity == 12
    assert Team.objects.get(pk=team.pk).assignment == Team.Assignment.ROUND_ROBIN
    assert "Assignment: Round-robin" in response.content.decode()
    assert list(DomainEvent.objects.order_by("id").values_list("verb", flat=True)) == [
        "team.member_added",
        "team.member_changed",
        "team.assignment_changed",
    ]


def test_bad_capacity_is_refused_with_a_message(client, lead, agent, team):
    membership = Membership.objects.get(user=agent)
    client.force_login(lead)

    response = client.post(
        reverse("teams:member_update", args=[team.slug, membership.pk]), {"capacity": "0"}, follow=True
    )

    assert "Capacity is between 1 and 500 open mentions." in response.content.decode()
    membership.refresh_from_db()
    assert membership.capacity == 20


def test_lead_gives_back_an_account_held_by_hand(client, lead, team):
    deals = ChannelFactory(handle="@acme_deals", segment=segment("product-promotion"), team_override=team)
    client.force_login(lead)

    html = client.get(reverse("teams:detail", args=[team.slug])).content.decode()
    client.post(reverse("teams:channel_release", args=[team.slug, deals.pk]))

    assert "Give back to Sales &amp; Promotion" in html
    deals.refresh_from_db()
    assert deals.team_override_id is None
    assert deals.owning_team_id == segment("product-promotion").team_id


def test_the_header_away_switch(client, agent, team):
    MentionFactory(team=team, assignee=agent, status=Mention.Status.OPEN)
    client.force_login(agent)

    response = client.post(reverse("teams:my_away"), {"away": "on", "next": "/inbox/"}, follow=True)

    assert "You are away" in response.content.decode()
    assert (
        "Away · I&#x27;m back" in response.content.decode() or "Away · I'm back" in response.content.decode()
    )
    assert Membership.objects.get(user=agent).is_away is True
    assert Mention.objects.get().assignee is None


def test_admin_sees_every_team(client):
    client.force_login(UserFactory(admin=True))

    html = client.get(reverse("teams:index")).content.decode()

    for name in Team.objects.values_list("name", flat=True):
        assert escape(name) in html
