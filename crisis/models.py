"""Incidents: what the radar raised, from its first alert until a person closes it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Incident(models.Model):
    """A run of radar alerts close together (``crisis.services.alerts_record``), and how it was closed."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    opened_at = models.DateTimeField(default=timezone.now)
    last_alert_at = models.DateTimeField(default=timezone.now)
    summary = models.CharField(max_length=500, help_text="The first alert, in words.")
    scope = models.CharField(
        max_length=120, help_text="Where the first alert was: all, segment:..., channel:..."
    )
    signal = models.CharField(max_length=30)
    terms = models.JSONField(default=list, blank=True)
    alerts = models.JSONField(
        default=list, blank=True, help_text="Every alert of the incident, oldest first."
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closing_summary = models.TextField(blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["status", "-last_alert_at"], name="incident_open_idx")]

    def __str__(self) -> str:
        return f"incident {self.pk}: {self.summary[:80]}"
