"""Only the actions write a mention's state: the source of every app is read (AST, no import) and a write to a
Mention outside ``inbox/actions/`` fails here, naming the file and line.

What counts as a write: ``Mention.objects…update(`` / ``bulk_update(`` / ``create(`` / ``bulk_create(`` (also
through a name bound to a ``Mention.objects`` query), ``.save(`` of a mention (a receiver named like one, or
``update_fields`` naming a column only mentions have), ``bulk_update(`` of mentions, and raw SQL that
``UPDATE``s or ``INSERT``s into ``inbox_mention``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("channels", "foundation", "inbox", "integrations", "routing", "socialops", "teams", "users")
ACTIONS = Path("inbox/actions")
# The one exception: the ingest stores new posts (and edits of their text) in bulk, set-based and staged
# through COPY; its owner routes it through the actions separately (issue 14).
INGEST = {Path("inbox/services.py"), Path("inbox/bulk_postgresql.py")}
# Migrations rewrite historical rows with the models of their time, never at run time.
MIGRATIONS = "migrations"

# Columns that only a mention has (Reply, Escalation and Channel have a ``state``, not a ``status``).
MENTION_COLUMNS = frozenset(
    {
        "status",
        "team",
        "team_id",
        "assignee",
        "assignee_id",
        "priority",
        "labels",
        "intent",
        "intent_confidence",
        "sentiment",
        "sentiment_label",
        "is_misdirected",
        "requires_approval",
        "decision",
        "routed_at",
        "snoozed_until",
        "closed_at",
        "sla_kind",
        "sla_warn_at",
        "sla_due_at",
        "sla_state",
    }
)
WRITES = frozenset({"update", "bulk_update", "create", "bulk_create", "update_or_create", "get_or_create"})
RAW_WRITE = re.compile(r"\b(UPDATE|INSERT\s+INTO)\s+inbox_mention\b", re.IGNORECASE)
MENTION_NAME = re.compile(r"mention", re.IGNORECASE)


def _rooted_at_mention_objects(node: ast.AST, query_names: set[str]) -> bool:
    """Whether an expression is a chain starting at ``Mention.objects`` (or a name bound to one)."""
    while True:
        if isinstance(node, ast.Attribute):
            if node.attr == "objects" and isinstance(node.value, ast.Name) and node.value.id == "Mention":
                return True
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Name):
            return node.id in query_names
        else:
            return False


def _names_update_fields(call: ast.Call) -> set[str]:
    for keyword in call.keywords:
        if keyword.arg == "update_fields" and isinstance(keyword.value, (ast.List, ast.Tuple)):
            return {e.value for e in keyword.value.elts if isinstance(e, ast.Constant)}
    return set()


def _receiver_name(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def mention_writes(source: str) -> list[tuple[int, str]]:
    """(line, what) for each write to a mention's state in a module's source."""
    tree = ast.parse(source)
    query_names = {
        target.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign) and _rooted_at_mention_objects(node.value, set())
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_WRITE.search(node.value):
            found.append((node.lineno, "raw SQL writing inbox_mention"))
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method, receiver = node.func.attr, node.func.value
        if method in WRITES and _rooted_at_mention_objects(receiver, query_names):
            found.append((node.lineno, f"Mention.objects….{method}("))
        elif method == "save" and (
            MENTION_NAME.search(_receiver_name(receiver)) or _names_update_fields(node) & MENTION_COLUMNS
        ):
            found.append((node.lineno, f"{_receiver_name(receiver)}.save("))
        elif (
            method == "bulk_update"
            and len(node.args) >= 2
            and isinstance(node.args[1], (ast.List, ast.Tuple))
            and {e.value for e in node.args[1].elts if isinstance(e, ast.Constant)} & MENTION_COLUMNS
        ):
            found.append((node.lineno, "bulk_update( of mention columns"))
    return sorted(found)


def _modules() -> list[Path]:
    return sorted(
        path.relative_to(ROOT)
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if MIGRATIONS not in path.parts
    )


def test_only_the_actions_write_a_mentions_state() -> None:
    outside = [
        f"{path}:{line}: {what}"
        for path in _modules()
        if not path.is_relative_to(ACTIONS) and path not in INGEST
        for line, what in mention_writes((ROOT / path).read_text())
    ]

    assert outside == []


def test_the_actions_are_where_the_writes_are() -> None:
    # The check finds writes where they are: were it blind, the test above would pass for nothing.
    inside = [
        path
        for path in _modules()
        if path.is_relative_to(ACTIONS) and mention_writes((ROOT / path).read_text())
    ]

    assert {p.name for p in inside} == {
        "assignment.py",
        "base.py",
        "escalations.py",
        "routing.py",
        "sla.py",
        "triage.py",
    }


@pytest.mark.parametrize(
    "source",
    [
        "Mention.objects.filter(pk=1).update(team=t)",
        "Mention.objects.bulk_update(rows, ['labels'])",
        "rows = Mention.objects.filter(team=t)\nrows.update(status='closed')",
        "mention.save(update_fields=['status'])",
        "current.save(update_fields=['assignee', 'updated_at'])",
        "Model.objects.bulk_update(rows, ['sla_state'])",
        "cursor.execute('UPDATE inbox_mention SET team_id = 1')",
        "sql = '''update  inbox_mention m set labels = x'''",
    ],
)
def test_each_kind_of_write_is_found(source: str) -> None:
    assert len(mention_writes(source)) == 1


@pytest.mark.parametrize(
    "source",
    [
        "Mention.objects.filter(team=t).count()",
        "reply.save(update_fields=['state', 'error'])",
        "channel.save(update_fields=['team_override'])",
        "Reply.objects.filter(pk=1).update(state='sent')",
        "cursor.execute('SELECT id FROM inbox_mention')",
    ],
)
def test_reads_and_other_rows_are_not_writes(source: str) -> None:
    assert mention_writes(source) == []
