"""Each rule's hits beside it on the rules page: read from the reports app's tally (handed to routing through
``routing.hit_counts``), counted over the last 7 and 30 days, in queries that do not grow with the rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from foundation.events import consumer_start
from inbox.services import mentions_ingest
from reports.models import INTENT, RULE, TallyRollup
from reports.rollups import CONSUMER, rollups_consume
from routing import hit_counts, rulesets
from routing.models import Rule
from tests.factories import ChannelFactory, UserFactory, segment
from tests.inbox.test_services import make_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(UserFactory(username="ada", admin=True))
    return client


def a_rule(name: str, keyword: str) -> Rule:
    return rulesets.rule_save(
        user=None, name=name, when={"keywords": [keyword]}, then=[{"set_priority": "high"}]
    )


class _HitCells(HTMLParser):
    """{rule row id: [text of each hits cell]} and the hits columns' headers of the rules table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[str]] = {}
        self.headers: list[str] = []
        self._row = ""
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "tr":
            self._row = found.get("id") or ""
        if tag in ("td", "th") and "rules__hits" in (found.get("class") or ""):
            self._cell = []

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).strip()
            (self.rows.setdefault(self._row, []) if tag == "td" else self.headers).append(text)
            self._cell = None


def hit_cells(client: Client) -> _HitCells:
    response = client.get(reverse("routing:rules"))
    assert response.status_code == 200
    parser = _HitCells()
    parser.feed(response.content.decode())
    return parser


def test_the_rules_page_counts_each_rules_hits_over_7_and_30_days_from_the_tally(
    admin_client: Client,
) -> None:
    refunds, recalls, quiet = a_rule("Refunds", "refund"), a_rule("Recalls", "recall"), a_rule("Quiet", "zzz")
    other_team = segment("product-promotion").team.pk
    care_team = segment("customer-relations").team.pk
    today = datetime.now(UTC).date()
    cells = [
        # (days ago, team, what, name, count): 6 days ago is the 7-day window's first day, 29 the 30-day's.
        (0, care_team, RULE, refunds.pk, 3),
        (6, other_team, RULE, refunds.pk, 2),
        (7, care_team, RULE, refunds.pk, 5),
        (29, care_team, RULE, refunds.pk, 7),
        (30, care_team, RULE, refunds.pk, 100),  # outside both windows
        (12, care_team, RULE, recalls.pk, 4),
        (1, care_team, INTENT, quiet.pk, 9),  # an intent's tally under the same name: not a rule's hits
    ]
    TallyRollup.objects.bulk_create(
        TallyRollup(day=today - timedelta(days=ago), team_id=team, what=what, name=str(name), count=count)
        for ago, team, what, name, count in cells
    )

    page = hit_cells(admin_client)

    assert page.headers == ["Fired, 7 days", "Fired, 30 days"]
    assert page.rows == {
        f"rule-{refunds.pk}": ["5", "17"],
        f"rule-{recalls.pk}": ["0", "4"],
        f"rule-{quiet.pk}": ["0", "0"],
    }


def test_the_page_reads_the_hits_in_one_query_however_many_rules_and_never_reads_mentions(
    admin_client: Client,
) -> None:
    a_rule("Refunds", "refund")
    with CaptureQueriesContext(connection) as one_rule:
        hit_cells(admin_client)
    for number in range(6):
        a_rule(f"Rule {number}", f"word{number}")

    with CaptureQueriesContext(connection) as seven_rules:
        hit_cells(admin_client)

    assert len(seven_rules) == len(one_rule)
    statements = [query["sql"] for query in seven_rules.captured_queries]
    assert [sql for sql in statements if "reports_tally" in sql] == [
        next(sql for sql in statements if "reports_tally" in sql)
    ]
    assert [sql for sql in statements if "inbox_mention" in sql] == []


def test_a_rule_that_fires_on_ingested_mentions_is_counted_once_the_rollups_consumed_the_events(
    admin_client: Client,
) -> None:
    consumer_start(consumer=CONSUMER)
    refunds, quiet = a_rule("Refunds", "refund"), a_rule("Quiet", "zzz")
    channel = ChannelFactory(segment=segment("customer-relations"))
    mentions_ingest(
        channel=channel,
        posts=[
            make_post(1, text="@northwind_help I want a refund"),
            make_post(2, text="@northwind_help refund please, it broke"),
            make_post(3, text="@northwind_help where is my order?"),
        ],
    )
    assert hit_cells(admin_client).rows[f"rule-{refunds.pk}"] == ["0", "0"]  # not consumed yet

    while rollups_consume():
        pass

    assert hit_cells(admin_client).rows == {f"rule-{refunds.pk}": ["2", "2"], f"rule-{quiet.pk}": ["0", "0"]}


def test_without_a_reader_the_page_shows_no_hits_columns(admin_client: Client, monkeypatch: Any) -> None:
    a_rule("Refunds", "refund")
    monkeypatch.setattr(hit_counts, "_reader", None)

    page = hit_cells(admin_client)

    assert (page.headers, page.rows) == ([], {})
