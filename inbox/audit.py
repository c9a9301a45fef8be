"""The audit trail: who did what to which object, with the state before and after."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib.contenttypes.models import ContentType

from inbox.models import AuditEvent


def _actor(user: Any) -> Any:
    return user if user is not None and getattr(user, "is_authenticated", False) else None


def audit_record(
    *, actor: Any, verb: str, obj: Any, before: dict | None = None, after: dict | None = None
) -> None:
    """One audit event in the caller's transaction; ``actor`` None (or anonymous) means the system did it."""
    AuditEvent.objects.create(
        actor=_actor(actor),
        verb=verb,
        object_type=ContentType.objects.get_for_model(obj),
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        before=before or {},
        after=after or {},
    )


def audit_record_many(
    *, actor: Any, verb: str, objects: Sequence[Any], before: Sequence[dict], after: Sequence[dict]
) -> None:
    """One audit event per object, written in one statement (bulk actions)."""
    if not objects:
        return
    object_type = ContentType.objects.get_for_model(objects[0])
    who = _actor(actor)
    AuditEvent.objects.bulk_create(
        [
            AuditEvent(
                actor=who,
                verb=verb,
                object_type=object_type,
                object_id=str(obj.pk),
                object_repr=str(obj)[:200],
                before=b,
                after=a,
            )
            for obj, b, a in zip(objects, before, after, strict=True)
        ],
        batch_size=1000,
    )
