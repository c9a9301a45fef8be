"""What every action shares: its error, who may act (``foundation.access`` through ``teams.roles``), the
row lock, and the live event it publishes after commit."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from foundation.access import may_work_on
from foundation.live import event_publish
from inbox.models import Mention
from teams.roles import actor_of

OTHER_TEAM = "belongs to another team"  # why a bulk action skipped a mention the actor may not work on
NOT_OURS = "Only members of the mention's team can do that; it belongs to another team now."


class TriageError(ValueError):
    """An action this user cannot do, or not in the object's state; the message says why."""


@dataclass(frozen=True)
class BulkResult:
    """What a many form did: the mentions it changed, and why it skipped the others (mention id -> reason,
    a predicate of "This mention …")."""

    done: list[int]
    skipped: dict[int, str] = field(default_factory=dict)


def workable(actor: Any, mentions: Iterable[Mention]) -> tuple[list[Mention], dict[int, str]]:
    """The mentions the actor may work on, and the others with the reason they are skipped."""
    who = actor_of(actor)
    kept, skipped = [], {}
    for m in mentions:
        if may_work_on(who, team_id=m.team_id):
            kept.append(m)
        else:
            skipped[m.pk] = OTHER_TEAM
    return kept, skipped


def check_can_work(actor: Any, mention: Mention) -> None:
    if not may_work_on(actor_of(actor), team_id=mention.team_id):
        raise TriageError(NOT_OURS)


def single(result: BulkResult, mention: Mention) -> Mention:
    """The single form's answer from its many form: the mention as written, or the refusal in words."""
    reason = result.skipped.get(mention.pk)
    if reason == OTHER_TEAM:
        raise TriageError(NOT_OURS)
    if reason is not None:
        raise TriageError(f"This mention {reason}.")
    return Mention.objects.get(pk=mention.pk)


def locked(mention: Mention) -> Mention:
    # No select_related: after waiting for the row lock PostgreSQL returns the mention's new version but
    # keeps the joined rows it read before waiting, so a joined assignee would be the old one (or none).
    return Mention.objects.select_for_update(of=("self",)).get(pk=mention.pk)


def locked_many(mentions: Sequence[Mention]) -> list[Mention]:
    """The mentions' current rows, locked in id order (two bulk actions never wait on each other in a
    circle)."""
    return list(
        Mention.objects.select_for_update(of=("self",)).filter(pk__in=[m.pk for m in mentions]).order_by("pk")
    )


def touch(mention: Mention, fields: list[str]) -> None:
    mention.updated_at = timezone.now()
    mention.save(update_fields=[*fields, "updated_at"])


def publish(kind: str, mentions: Iterable[Mention], actor: Any, **extra: Any) -> None:
    """One live event for the mentions after commit, naming their teams (each browser gets its teams')."""
    mentions = list(mentions)
    payload = {
        "ids": [m.pk for m in mentions],
        "teams": sorted({m.team_id for m in mentions if m.team_id is not None}),
        "actor": getattr(actor, "username", "") if actor is not None else "",
        **extra,
    }
    transaction.on_commit(lambda: event_publish(kind, payload))


def plain(value: Any) -> Any:
    """A value as an audit event keeps it (JSON)."""
    return value.isoformat() if isinstance(value, datetime) else value
