"""The ground floor's tables: the domain events (the transactional outbox, read as the audit trail too),
how far each consumer of them has got, and the live-event rows of the embedded default."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone


class TransactionId(models.Func):
    """The id of the transaction that writes the row: PostgreSQL's 64-bit ``pg_current_xact_id()``.

    Consumers read events in (transaction, id) order and only from transactions older than every one still
    running, so an event whose transaction commits late is never skipped. SQLite has one writer at a time,
    so ids already follow commit order there and the value is 0.
    """

    output_field = models.BigIntegerField()

    def as_sql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        return "0", []

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        return "(pg_current_xact_id()::text::bigint)", []


class DomainEvent(models.Model):
    """Something that happened, recorded in the transaction that made it happen: who did what to which
    object, with the state before and after. The audit log shows these rows; the live stream, webhooks and
    rollups consume them in order (``foundation.events.events_consume``)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # audit_actor_idx leads with the actor
    )
    verb = models.CharField(max_length=60)
    object_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.CharField(max_length=64)
    object = GenericForeignKey("object_type", "object_id")
    object_repr = models.CharField(max_length=200)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    # The mention the event is about (the object itself, or the mention of a reply or an escalation). A plain
    # number, not a foreign key: the ground floor knows no mentions, and an event outlives an erased mention.
    mention_id = models.BigIntegerField(null=True, blank=True)
    team_ids = models.JSONField(default=list, blank=True)  # the teams whose screens and hooks it concerns
    xid = models.BigIntegerField(null=True, blank=True, db_default=TransactionId())

    class Meta:
        db_table = "inbox_auditevent"  # the audit trail's table since the first release
        indexes = [
            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
            # The audit log's pages filtered by who or by what was done, newest first, by keyset.
            models.Index(fields=["actor", "-created_at", "-id"], name="audit_actor_idx"),
            models.Index(fields=["verb", "-created_at", "-id"], name="audit_verb_idx"),
            # Consumers read in (transaction, id) order from where they stopped.
            models.Index(fields=["xid", "id"], name="event_outbox_idx"),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor or 'system'} {self.verb} {self.object_repr}"


class ConsumerPosition(models.Model):
    """How far one consumer of the domain events has got: the (transaction, id) of the last event it
    handled. It moves in the same transaction as the consumer's own writes, so nothing is handled twice."""

    name = models.CharField(max_length=100, unique=True)
    xid = models.BigIntegerField(default=0)
    event_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} at {self.xid}/{self.event_id}"


class LiveEvent(models.Model):
    """A live event for browsers when no Redis is configured (the embedded default): the event stream
    polls this table instead of subscribing to Redis. Rows older than a few minutes are pruned."""

    kind = models.CharField(max_length=60)
    payload = models.JSONField(default=dict)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        db_table = "inbox_liveevent"

    def __str__(self) -> str:
        return self.kind
