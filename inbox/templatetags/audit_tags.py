"""The audit trail's changes in words, for pages that show a few events (a mention's history)."""

from __future__ import annotations

from collections.abc import Sequence

from django import template

from foundation.models import DomainEvent
from inbox.audit_views import AuditChange, audit_history

register = template.Library()


@register.simple_tag
def audit_changes_of(events: Sequence[DomainEvent]) -> list[tuple[DomainEvent, list[AuditChange]]]:
    """``{% audit_changes_of detail.audit as history %}``: each event with what it changed (context left out:
    the pane is narrow), names looked up once for all of them."""
    return [(event, [c for c in changes if c.changed]) for event, changes in audit_history(events)]
