"""Escalations: a misdirected mention handed from the receiving team to the team that owns it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from inbox.models import Mention
from teams.models import Team


class Escalation(models.Model):
    """A mention handed from one team to another, waiting to be accepted or bounced back."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        BOUNCED = "bounced", "Bounced back"
        ESCALATED_TO_LEAD = "to_lead", "Escalated to lead"

    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="escalations")
    from_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="escalations_sent")
    to_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="escalations_received")
    reason = models.TextField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [models.Index(fields=["to_team", "state"], name="escalation_inbox_idx")]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.mention} {self.from_team} -> {self.to_team} ({self.state})"
