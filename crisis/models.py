"""Incidents: what the radar raised, from its first alert until a person closes it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class CrisisPolicy(models.Model):
    """What an incident opened for a segment (or one of its accounts) does to crisis mode: suggest it to the
    leads (the default, also for segments without a row) or switch it on by itself; and whether every reply
    to a post routed by crisis mode waits for a lead's approval."""

    segment = models.OneToOneField("channels.Segment", on_delete=models.CASCADE, related_name="crisis_policy")
    switch_on = models.BooleanField(
        default=False, help_text="Switch crisis mode on by itself when an incident opens; else suggest it."
    )
    approval_required = models.BooleanField(
        default=False, help_text="In crisis mode, every reply to a matching post waits for a lead's approval."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "crisis policies"

    def __str__(self) -> str:
        return f"crisis policy of {self.segment_id}"


class Incident(models.Model):
    """A run of radar alerts close together (``crisis.services.alerts_record``), crisis mode as the incident
    had it, and how it was closed (the "all clear")."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    class CrisisMode(models.TextChoices):
        NONE = "", "Not suggested"  # an organisation-wide incident with no segment: the leads decide
        SUGGESTED = "suggested", "Suggested"
        ON = "on", "On"
        ENDED = "ended", "Ended by the all clear"

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
    # Where the incident is: the first alert's brand account (else segment) among its alerts; none when every
    # alert was organisation-wide (an emerging term, or the whole brand's volume).
    segment = models.ForeignKey(
        "channels.Segment", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.ForeignKey(
        "channels.Channel", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    crisis_mode = models.CharField(max_length=10, choices=CrisisMode.choices, default="", blank=True)
    crisis_mode_at = models.DateTimeField(null=True, blank=True)
    crisis_mode_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty with a time: the segment's policy switched it on.",
    )
    crisis_rule = models.ForeignKey(
        "routing.Rule",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="The routing rule crisis mode added for the incident's posts; deleted by the all clear.",
    )

    class Meta:
        ordering = ["-opened_at", "-id"]
        indexes = [models.Index(fields=["status", "-last_alert_at"], name="incident_open_idx")]

    def __str__(self) -> str:
        return f"incident {self.pk}: {self.summary[:80]}"
