"""Backtests: what a draft rule set would change over the last days of routed mentions. Changes nothing.

Here: the report's shape, where a backtest keeps its draft and progress, and what counts as a change.
Running one reads the mentions, so it is ``inbox.backtest.rules_backtest`` (its task is
``inbox.tasks.rules_backtest``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Max

from routing.facts import Decision
from routing.models import Rule

UNSAVED_RULE_ID = 0  # the id a draft of a rule not saved yet carries (routing.views)


@dataclass(frozen=True)
class BacktestChange:
    mention_id: int
    text: str
    before: dict[str, Any]
    after: dict[str, Any]


@dataclass(frozen=True)
class BacktestReport:
    mentions: int
    days: int
    teams_before: dict[str, int]
    teams_after: dict[str, int]
    changed: int
    escalations_added: int
    escalations_removed: int
    sample: tuple[BacktestChange, ...]


def rule_id_next() -> int:
    """The id the next rule saved will get: what the table's id sequence hands out next (never below the
    highest id there is). Another rule saved first takes it, so it is a forecast, for reports."""
    table = Rule._meta.db_table
    last = None
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # NULL until the sequence hands out its first value.
            cursor.execute(
                "SELECT pg_sequence_last_value(pg_get_serial_sequence(%s, 'id')::regclass)", [table]
            )
            last = cursor.fetchone()[0]
        elif connection.vendor == "sqlite":  # Django's ids are AUTOINCREMENT: the last one is kept here
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            row = cursor.fetchone()
            last = row[0] if row else None
    highest = Rule.objects.aggregate(n=Max("id"))["n"] or 0
    return max(last or 0, highest) + 1


def outcome(d: Decision) -> tuple:
    return (d.team, d.priority, d.labels, d.escalate_to, d.assignee, d.require_approval, d.notifications)


# A backtest's draft and report stay this long: time to read the report and publish, not to hoard.
BACKTEST_TTL_SECONDS = 60 * 60
BACKTEST_SAMPLE_SIZE = 20  # changed decisions shown with their explanations


def backtest_keys(backtest_id: str) -> tuple[str, str]:
    """Cache keys of a backtest: its draft (written by the page) and its progress and report (by the task)."""
    return f"routing:backtest:{backtest_id}", f"routing:backtest:{backtest_id}:progress"
