"""What a routing process keeps in memory between batches, and how to drop it."""

from __future__ import annotations

from routing.learning import classifier_forget
from routing.rulesets import compiled_forget


def caches_forget() -> None:
    """Drop this process's compiled rule set and loaded classifier (they are keyed by row id, which a
    database recreated from scratch reuses: the benchmark runner gives each area a fresh one)."""
    compiled_forget()
    classifier_forget()
