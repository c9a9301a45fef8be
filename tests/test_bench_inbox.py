"""The inbox benchmark at a tiny size: the set-based loader and the measures, in the test database."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Count, F

from bench import bench_inbox
from inbox.models import Author, Mention, MentionChannel
from routing.models import Escalation

ROWS = 5_000  # the Customer Care team queue then holds a little over 100 mentions: two pages and a bit

pytestmark = pytest.mark.django_db


def _index_names() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'inbox_mention'")
        return {row[0] for row in cursor.fetchall()}


def test_loader_builds_the_data_set_once_and_reuses_it() -> None:
    indexes = _index_names()
    dataset = bench_inbox.dataset_ensure(ROWS, progress=False)

    assert not dataset.reused
    assert dataset.rows == ROWS
    assert Mention.objects.count() == ROWS
    assert Author.objects.count() == dataset.authors == ROWS // 10
    assert Mention.objects.values("team_id").distinct().count() == 6
    # Every mention on one channel of its network, a few on two.
    receipts = MentionChannel.objects.count()
    assert ROWS < receipts < ROWS * 1.06
    assert not MentionChannel.objects.exclude(channel__network=F("mention__network")).exists()
    statuses = dict(Mention.objects.values_list("status").annotate(n=Count("id")))
    assert set(statuses) == {"new", "open", "pending", "snoozed", "closed"}
    assert 0.7 < statuses["closed"] / ROWS < 0.9
    assigned = Mention.objects.exclude(assignee=None).count() / ROWS
    assert 0.25 < assigned < 0.38
    assert not Mention.objects.filter(status="new").exclude(assignee=None).exists()
    escalated = Escalation.objects.count() / ROWS
    assert 0.07 < escalated < 0.13
    assert not Escalation.objects.filter(from_team=F("to_team")).exists()
    # The indexes dropped for the load are all back.
    assert _index_names() == indexes
    assert {"mention_text_search_idx", "mention_team_queue_idx"} <= indexes

    again = bench_inbox.dataset_ensure(ROWS, progress=False)
    assert again.reused and again.rows == ROWS
    assert Mention.objects.count() == ROWS


def test_measures_return_figures_and_leave_the_data_as_it_was() -> None:
    dataset = bench_inbox.dataset_ensure(ROWS, progress=False)
    before = list(Mention.objects.order_by("id").values_list("id", "status", "closed_at", "updated_at"))
    figures: dict[str, object] = {}

    bench_inbox.measure(
        lambda name, value: figures.__setitem__(name, value),
        dataset,
        requests=5,
        warmup=1,
        deep_pages=1,
        search_rounds=1,
        bulk_size=20,
        bulk_rounds=2,
    )

    for name in (
        "list_p95_ms_first_page",
        "list_p95_ms_first_page_admin",
        "page_p95_ms_first_page",
        "list_p95_ms_deep_page",
        "search_p95_ms",
        "bulk_500_s",
    ):
        assert isinstance(figures[name], float) and figures[name] > 0, name
    assert isinstance(figures["queries_per_page"], int) and figures["queries_per_page"] > 0
    assert isinstance(figures["queries_per_page_constant"], bool)
    assert figures["search_queries"] >= 20
    # The bulk rounds closed and reopened rows: they are back as they were, with no audit trail left.
    assert (
        list(Mention.objects.order_by("id").values_list("id", "status", "closed_at", "updated_at")) == before
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM inbox_auditevent")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT to_regclass(%s)", [bench_inbox.BULK_BACKUP_TABLE])
        assert cursor.fetchone()[0] is None


def test_p95_is_the_nearest_rank() -> None:
    assert bench_inbox.p95(list(range(1, 101))) == 95
    assert bench_inbox.p95([3.0]) == 3.0
