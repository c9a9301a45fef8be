"""The apps are floors: an app imports the ground floor and the apps below it, never one above, so there is
no import cycle between apps. The test reads every module's imports (at the top and inside functions)."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Bottom to top. A model may point at a model above it by name ("inbox.Mention") without importing it.
FLOORS = [
    "foundation",
    "teams",
    "channels",
    "routing",
    "inbox",
    "people",
    "reports",
    "crisis",
    "integrations",
    "users",
    "socialops",
]


def _imports() -> dict[tuple[str, str], list[str]]:
    """(importing app, imported app) -> where, for every import of one of our apps by another."""
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for app in FLOORS:
        for path in sorted((ROOT / app).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    target = name.split(".")[0]
                    if target in FLOORS and target != app:
                        found[(app, target)].append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def _upward(found: dict[tuple[str, str], list[str]]) -> dict[tuple[str, str], list[str]]:
    return {edge: where for edge, where in found.items() if FLOORS.index(edge[0]) < FLOORS.index(edge[1])}


def test_no_app_imports_an_app_above_it() -> None:
    upward = {f"{a} -> {b}": where for (a, b), where in _upward(_imports()).items()}

    assert upward == {}, "an app imports one above it (move the code down, or the caller up)"


def test_a_task_sent_by_name_to_a_floor_above_exists() -> None:
    """Lower floors ask for work above them by the task's name (``current_app.send_task``), never by import;
    each name sent must be a registered task, or the work would wait in the queue for nobody."""
    from socialops.celery import app

    sent = set()
    for app_dir in FLOORS:
        for path in sorted((ROOT / app_dir).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "send_task"
                    and node.args
                    and isinstance(node.args[0], ast.Constant)
                ):
                    sent.add(node.args[0].value)
    app.loader.import_default_modules()

    assert sent, "the walk found no task sent by name"
    assert sorted(sent - set(app.tasks)) == []


def test_the_ground_floor_imports_none_of_our_apps() -> None:
    found = _imports()

    assert [edge for edge in found if edge[0] == "foundation"] == []
