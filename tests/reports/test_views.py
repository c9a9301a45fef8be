"""The report pages: who may open them, the range and filters, the CSV of each chart against its table view,
and the links from points into the inbox listing exactly the posts behind them."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from html import unescape
from types import SimpleNamespace
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from foundation.events import consumer_start
from inbox.actions import routing as routing_actions
from inbox.actions import triage
from inbox.actions.replies import reply_create
from inbox.models import Mention
from inbox.services import mentions_ingest
from reports.models import DigestSubscription
from reports.rollups import CONSUMER, rollups_consume
from teams.models import Membership
from tests.factories import ChannelFactory, MembershipFactory, UserFactory, segment
from tests.inbox.test_services import make_post

# Two days ago at noon: inside the default range (the last 30 days), in the past as the inbox's dates are.
NOON = (datetime.now(UTC) - timedelta(days=2)).replace(hour=12, minute=0, second=0, microsecond=0)
DAY = NOON.date().isoformat()
RANGE = {"since": (NOON.date() - timedelta(days=6)).isoformat(), "until": DAY}
PAGES = ("overview", "responsiveness", "routing", "sentiment", "people")


@pytest.fixture
def world(db: None) -> SimpleNamespace:
    """Three posts on the customer-relations account and two on the promotion account, posted and received
    at NOON; one care post answered after 10 minutes by Ada and closed, one re-routed to promotion by the
    admin, one given to Ada."""
    care, promo = segment("customer-relations"), segment("product-promotion")
    w = SimpleNamespace(care=care.team, promo=promo.team)
    w.care_channel = ChannelFactory(segment=care, slug="help", handle="@northwind_help")
    w.promo_channel = ChannelFactory(segment=promo, slug="shop", handle="@northwind_shop")
    w.admin = UserFactory(username="root", admin=True)
    w.lead = MembershipFactory(team=w.care, user__username="lea", role=Membership.Role.LEAD).user
    w.promo_lead = MembershipFactory(team=w.promo, user__username="pat", role=Membership.Role.LEAD).user
    w.ada = MembershipFactory(team=w.care, user__username="ada").user
    consumer_start(consumer=CONSUMER)
    with time_machine.travel(NOON, tick=False) as clock:
        care_posts = [make_post(n, text="@brand where is my order?", created_at=NOON) for n in (1, 2, 3)]
        promo_posts = [make_post(n, text="@brand any discount code?", created_at=NOON) for n in (4, 5)]
        mentions_ingest(channel=w.care_channel, posts=care_posts)
        mentions_ingest(channel=w.promo_channel, posts=promo_posts)
        Mention.objects.filter(external_id__in=["ext-1", "ext-2", "ext-3"]).update(team=w.care)
        Mention.objects.filter(external_id__in=["ext-4", "ext-5"]).update(team=w.promo)
        clock.move_to(NOON + timedelta(minutes=10))
        answered = Mention.objects.get(external_id="ext-1")
        reply_create(actor=w.ada, mention=answered, text="On its way.")
        triage.mention_close(actor=w.ada, mention=answered)
        w.rerouted = Mention.objects.get(external_id="ext-2")
        routing_actions.mention_reroute(actor=w.admin, mention=w.rerouted, team=w.promo, reason="a sale")
        triage.mention_assign(actor=w.admin, mention=Mention.objects.get(external_id="ext-3"), assignee=w.ada)
    while rollups_consume():
        pass
    return w


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def table_rows(rendered) -> list[list[str]]:
    """A rendered chart's table view as the CSV writes it: the header, then the row names and the numbers (a
    matrix with shares: each count followed by its share)."""
    table = rendered.table

    def text(value) -> str:
        return "" if value is None else str(value)

    def name(label: str) -> str:  # a spreadsheet would run "@..." as a formula: the CSV quotes it
        return f"'{label}" if label.startswith(("=", "+", "-", "@")) else label

    if not table.share_label:
        return [[table.corner, *map(name, table.columns)]] + [
            [name(row.header), *(text(c.value) for c in row.cells)] for row in table.rows
        ]
    header = [table.corner]
    for column in table.columns:
        header += [name(column), f"{name(column)}: {table.share_label} (%)"]
    return [header] + [
        [name(row.header), *(t for c in row.cells for t in (text(c.value), text(c.share)))]
        for row in table.rows
    ]


def inbox_ids(client: Client, link: str) -> set[int]:
    response = client.get(unescape(link))
    assert response.status_code == 200
    return {m.pk for m in response.context["mentions"]}


@pytest.mark.parametrize("name", PAGES)
def test_an_agent_gets_a_403_and_a_visitor_the_sign_in_page(world: SimpleNamespace, name: str) -> None:
    url = reverse(f"reports:{name}")

    refused = signed_in(world.ada).get(url)
    visitor = Client().get(url)

    assert refused.status_code == 403
    assert visitor.status_code == 302
    assert visitor["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("name", PAGES)
def test_a_lead_and_an_admin_open_every_report(world: SimpleNamespace, name: str) -> None:
    lead = signed_in(world.lead).get(reverse(f"reports:{name}"), RANGE)
    admin = signed_in(world.admin).get(reverse(f"reports:{name}"), RANGE)

    assert (lead.status_code, admin.status_code) == (200, 200)
    assert lead.context["charts"]
    assert "No mentions in this range" not in lead.content.decode()
    assert f'<a href="/reports/{"" if name == "overview" else name + "/"}' in lead.content.decode()


def test_the_main_nav_links_reports_for_leads_and_admins_only(world: SimpleNamespace) -> None:
    link = '<a href="/reports/"'

    lead, agent, admin = (
        signed_in(u).get("/inbox/").content.decode() for u in (world.lead, world.ada, world.admin)
    )

    assert link in lead
    assert link in admin
    assert link not in agent


def test_a_lead_sees_their_team_only_whatever_the_query_asks(world: SimpleNamespace) -> None:
    lead = signed_in(world.lead)

    own = lead.get(reverse("reports:overview"), RANGE)
    asked_for_other = lead.get(reverse("reports:overview"), {**RANGE, "team": world.promo.pk})
    admin = signed_in(world.admin).get(reverse("reports:overview"), RANGE)

    received = {s.label: s.value for s in own.context["page"].stats}["Received"]
    assert received == "2"  # one care post went to promotion
    assert {s.label: s.value for s in asked_for_other.context["page"].stats}["Received"] == "2"
    assert "team" not in own.context["form"].fields  # one team: nothing to choose
    assert {s.label: s.value for s in admin.context["page"].stats}["Received"] == "5"


def test_the_segment_filter_narrows_every_chart(world: SimpleNamespace) -> None:
    admin = signed_in(world.admin)

    response = admin.get(reverse("reports:overview"), {**RANGE, "segment": "product-promotion"})

    volume = response.context["charts"]["volume"]["chart"].table
    assert [column for column in volume.columns] == ["Product promotion / sales"]
    assert sum(row.cells[0].value or 0 for row in volume.rows) == 2
    assert {s.label: s.value for s in response.context["page"].stats}["Received"] == "2"


def test_a_range_with_no_mentions_says_so(world: SimpleNamespace) -> None:
    long_ago = (NOON.date() - timedelta(days=60)).isoformat()

    response = signed_in(world.lead).get(reverse("reports:routing"), {"since": long_ago, "until": long_ago})

    assert response.status_code == 200
    assert "No mentions in this range." in response.content.decode()
    assert 'class="report-charts"' not in response.content.decode()


def test_a_range_that_ends_before_it_begins_is_refused_with_a_reason(world: SimpleNamespace) -> None:
    response = signed_in(world.lead).get(reverse("reports:overview"), {"since": DAY, "until": RANGE["since"]})

    assert response.status_code == 200
    assert "The range ends before it begins: swap the dates." in response.content.decode()
    assert response.context["page"] is None


@pytest.mark.parametrize(
    ("name", "chart"),
    [
        ("overview", "volume"),
        ("overview", "new_handled"),
        ("responsiveness", "first_response"),
        ("responsiveness", "heat_map"),
        ("routing", "misroutes"),
        ("routing", "correction_rate"),
        ("sentiment", "sentiment"),
        ("people", "agents_work"),
    ],
)
def test_the_csv_of_a_chart_is_its_table_view(world: SimpleNamespace, name: str, chart: str) -> None:
    admin = signed_in(world.admin)
    url = reverse(f"reports:{name}")

    page = admin.get(url, RANGE)
    exported = admin.get(url, {**RANGE, "csv": chart})

    rendered = page.context["charts"][chart]["chart"]
    assert exported.status_code == 200
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    assert csv_rows(exported) == table_rows(rendered)
    assert not rendered.is_empty
    assert f"?since={RANGE['since']}&amp;until={DAY}&amp;csv={chart}" in page.content.decode()


def test_the_csv_of_the_misroute_matrix_has_the_counts_and_shares(world: SimpleNamespace) -> None:
    exported = signed_in(world.admin).get(reverse("reports:routing"), {**RANGE, "csv": "misroutes"})

    rows = csv_rows(exported)
    header, *body = rows
    cells = {row[0]: dict(zip(header[1:], row[1:], strict=True)) for row in body}
    promo_owner = next(name for name in header[1:] if name.startswith("Product promotion"))
    assert header[0] == "Arrival account \\ Owning team"
    help_desk = cells["'@northwind_help"]  # quoted: a spreadsheet would run "@..." as a formula
    assert help_desk[promo_owner] == "1"
    assert help_desk[f"{promo_owner}: of the moved, by routing (%)"] == "0.0"  # an agent moved it


def test_an_unknown_chart_is_a_404(world: SimpleNamespace) -> None:
    response = signed_in(world.admin).get(reverse("reports:overview"), {"csv": "nothing"})

    assert response.status_code == 404


def test_a_volume_point_lists_exactly_its_posts_in_the_inbox(world: SimpleNamespace) -> None:
    admin = signed_in(world.admin)
    response = admin.get(reverse("reports:overview"), RANGE)
    table = response.context["charts"]["volume"]["chart"].table
    row = next(r for r in table.rows if r.header == DAY)
    care = row.cells[table.columns.index("Customer relations")]

    query = parse_qs(urlsplit(care.link).query)

    assert care.value == 3
    assert query == {
        "queue": ["all"],
        "segment": ["customer-relations"],
        "since": [DAY],
        "until": [DAY],
    }
    assert inbox_ids(admin, care.link) == set(
        Mention.objects.filter(external_id__in=["ext-1", "ext-2", "ext-3"]).values_list("pk", flat=True)
    )
    assert care.link in unescape(response.content.decode())  # the drawn point carries the same link


def test_a_lead_s_links_carry_their_team(world: SimpleNamespace) -> None:
    lead = signed_in(world.lead)
    response = lead.get(reverse("reports:overview"), RANGE)
    table = response.context["charts"]["new_handled"]["chart"].table
    row = next(r for r in table.rows if r.header == DAY)
    new, handled = row.cells

    assert parse_qs(urlsplit(new.link).query)["team"] == [str(world.care.pk)]
    assert new.value == len(inbox_ids(lead, new.link)) == 2
    assert handled.value == 1
    assert handled.link == ""  # counted by the day it was closed: the inbox cannot list those


def test_a_misroute_cell_lists_the_re_routed_post(world: SimpleNamespace) -> None:
    admin = signed_in(world.admin)
    response = admin.get(reverse("reports:routing"), RANGE)
    table = response.context["charts"]["misroutes"]["chart"].table
    row = next(r for r in table.rows if r.header == "@northwind_help")
    column = next(i for i, name in enumerate(table.columns) if name.startswith("Product promotion"))

    assert row.cells[column].value == 1
    assert inbox_ids(admin, row.cells[column].link) == {world.rerouted.pk}


def test_a_sentiment_point_links_to_its_sentiment(world: SimpleNamespace) -> None:
    admin = signed_in(world.admin)
    response = admin.get(reverse("reports:sentiment"), RANGE)
    table = response.context["charts"]["sentiment"]["chart"].table
    row = next(r for r in table.rows if r.header == DAY)
    linked = [cell for cell in row.cells if cell.link]

    for cell, name in zip(row.cells, table.columns, strict=False):
        if cell.link:
            assert parse_qs(urlsplit(cell.link).query)["sentiment"] == [name.lower()]
    assert linked
    expected = {
        cell.link: set(
            Mention.objects.filter(
                sentiment_label=parse_qs(urlsplit(cell.link).query)["sentiment"][0]
            ).values_list("pk", flat=True)
        )
        for cell in linked
    }
    assert {link: inbox_ids(admin, link) for link in expected} == expected


def test_the_responsiveness_heat_map_counts_arrivals_by_weekday_and_hour(world: SimpleNamespace) -> None:
    response = signed_in(world.admin).get(reverse("reports:responsiveness"), RANGE)

    heat = response.context["charts"]["heat_map"]["chart"]
    weekday = heat.table.rows[NOON.weekday()]
    assert weekday.cells[NOON.hour].value == 5
    assert sum(c.value or 0 for r in heat.table.rows for c in r.cells) == 5
    assert all(c.link == "" for r in heat.table.rows for c in r.cells)  # the inbox has no hour filter


def test_people_shows_what_ada_did(world: SimpleNamespace) -> None:
    lead = signed_in(world.lead)
    response = lead.get(reverse("reports:people"), RANGE)
    table = response.context["charts"]["agents_work"]["chart"].table
    ada = next(r for r in table.rows if r.header == "ada")

    assert [c.value for c in ada.cells] == [1, 1]
    assert parse_qs(urlsplit(ada.cells[0].link).query)["assignee"] == [str(world.ada.pk)]
    assert inbox_ids(lead, ada.cells[0].link) == set(
        Mention.objects.filter(external_id="ext-1").values_list("pk", flat=True)
    )


def test_the_digest_switch_is_per_person_and_off_by_default(world: SimpleNamespace) -> None:
    lead = signed_in(world.lead)
    page = lead.get(reverse("reports:overview")).content.decode()

    switched = lead.post(reverse("reports:digest"), {"enabled": "on", "next": "/reports/routing/"})
    refused = signed_in(world.ada).post(reverse("reports:digest"), {"enabled": "on"})

    assert "Weekly digest email: <strong>off</strong>" in page
    assert switched.status_code == 302
    assert switched["Location"] == "/reports/routing/"
    assert refused.status_code == 403
    assert list(DigestSubscription.objects.values_list("user__username", "enabled")) == [("lea", True)]
    again = lead.get(reverse("reports:overview")).content.decode()
    assert "Weekly digest email: <strong>on</strong>" in again
    lead.post(reverse("reports:digest"), {"enabled": "off", "next": "https://elsewhere.example/"})
    assert list(DigestSubscription.objects.values_list("enabled", flat=True)) == [False]


def test_on_sqlite_the_reports_say_they_need_postgresql(world: SimpleNamespace, monkeypatch) -> None:
    from django.db import connection

    monkeypatch.setattr(connection, "vendor", "sqlite")  # the embedded default of `make run`

    response = signed_in(world.lead).get(reverse("reports:routing"), RANGE)
    refused = signed_in(world.ada).get(reverse("reports:routing"))

    assert response.status_code == 200
    assert "Reports need PostgreSQL." in response.content.decode()
    assert response.context.get("charts") is None
    assert refused.status_code == 403
