"""Outbound integrations: webhook subscriptions and their deliveries, CRM hand-offs, chat notifiers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

# --- Outbound webhooks (integrations.webhooks, integrations.delivery) ------------------------------------


class WebhookSubscription(models.Model):
    """An admin's subscription: which domain events (verbs, "*" for all) about which mentions are POSTed,
    signed with its secret, to its URL. Paused by hand or after too many failures in a row."""

    ALL_EVENTS = "*"

    name = models.CharField(max_length=100)
    url = models.URLField(max_length=500)
    event_types = models.JSONField(default=list, help_text='Verbs such as "mention.assigned"; "*" for all.')
    # Filters: empty means any. A filter on the mention matches only events about a mention.
    team = models.ForeignKey("teams.Team", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    segment = models.ForeignKey(
        "channels.Segment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    channel = models.ForeignKey(
        "channels.Channel", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    intent = models.CharField(max_length=30, blank=True)
    min_priority = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Only mentions of this priority or higher."
    )
    # Fernet tokens (channels.crypto), never the secret itself. During a rotation the previous secret
    # signs too until previous_secret_expires_at, so receivers can switch without losing a delivery.
    secret_encrypted = models.TextField()
    previous_secret_encrypted = models.TextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    paused_reason = models.CharField(max_length=300, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class WebhookDelivery(models.Model):
    """One event for one subscription: its payload as it will be sent, and how its attempts went.

    pending: not tried yet; failed: tried, tried again at next_attempt_at; delivered; dead: given up after
    the retry window. A worker claims a row by moving next_attempt_at past its lease, so a worker killed
    mid-delivery leaves the row due again when the lease runs out."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        FAILED = "failed", "Failed, will retry"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Gave up"

    OPEN_STATES = (State.PENDING, State.FAILED)

    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    event_id = models.BigIntegerField(null=True, blank=True)  # the DomainEvent; none for a test event
    event_type = models.CharField(max_length=60)
    mention_id = models.BigIntegerField(null=True, blank=True)
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    retry_until = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response_ms = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Fan-out is exactly once through the consumer position; this makes a second row impossible too.
            models.UniqueConstraint(
                fields=["subscription", "event_id"],
                condition=Q(event_id__isnull=False),
                name="webhook_delivery_once",
            ),
        ]
        indexes = [
            models.Index(fields=["subscription", "-id"], name="webhook_delivery_log_idx"),
            # Partial: the sweep of due deliveries and the per-mention order look at open rows only.
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due_idx",
                condition=Q(state__in=["pending", "failed"]),
            ),
            models.Index(
                fields=["subscription", "mention_id", "id"],
                name="webhook_delivery_order_idx",
                condition=Q(state__in=["pending", "failed"]),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} to {self.subscription_id} ({self.state})"
