"""Escalations: a misdirected mention handed from the receiving team to the team that owns it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from channels.models import Segment
from routing.facts import INTENTS
from teams.models import Team


class SentimentLabel(models.TextChoices):
    """The tone routing's sentiment model gives a post, and agents correct."""

    NEGATIVE = "negative", "Negative"
    NEUTRAL = "neutral", "Neutral"
    POSITIVE = "positive", "Positive"


class Escalation(models.Model):
    """A mention handed from one team to another, waiting to be accepted or bounced back."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        BOUNCED = "bounced", "Bounced back"
        ESCALATED_TO_LEAD = "to_lead", "Escalated to lead"

    mention = models.ForeignKey("inbox.Mention", on_delete=models.CASCADE, related_name="escalations")
    from_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="escalations_sent")
    to_team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="escalations_received")
    reason = models.TextField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    created_at = models.DateTimeField(default=timezone.now)
    due_at = models.DateTimeField(
        null=True, blank=True, help_text="Not accepted by then, it goes to the owning team's lead."
    )
    bounce_reason = models.TextField(blank=True)
    escalated_to_lead_at = models.DateTimeField(null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        indexes = [
            models.Index(fields=["to_team", "state"], name="escalation_inbox_idx"),
            models.Index(fields=["due_at"], name="escalation_due_idx", condition=Q(state="pending")),
        ]
        constraints = [
            # A post received on several accounts is escalated once: one open escalation per mention.
            models.UniqueConstraint(
                fields=["mention"], condition=Q(state__in=["pending", "to_lead"]), name="escalation_one_open"
            )
        ]
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.mention} {self.from_team} -> {self.to_team} ({self.state})"


class IntentRoute(models.Model):
    """Which segment owns an intent. Seeded from the segment playbooks; admins edit it."""

    intent = models.CharField(max_length=30, unique=True, choices=[(i, i.replace("_", " ")) for i in INTENTS])
    segment = models.ForeignKey(
        Segment,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: nobody owns it, the post stays with the team of the account that received it.",
    )

    class Meta:
        ordering = ["intent"]

    def __str__(self) -> str:
        return f"{self.intent} -> {self.segment or 'receiving team'}"


class Rule(models.Model):
    """One admin rule: a condition tree over a post's facts and the actions to take when it holds.

    ``when`` and ``then`` use the rule language of ``routing.rules``; a rule that does not compile is refused
    on save by the service that saves it. Every change publishes a new ``RuleSetVersion``.
    """

    position = models.PositiveIntegerField(default=0, help_text="Rules run in this order, lowest first.")
    name = models.CharField(max_length=120)
    enabled = models.BooleanField(default=True)
    when = models.JSONField(help_text="Condition tree: all / any / not over the post's facts.")
    then = models.JSONField(help_text="Actions, in order.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def as_spec(self) -> dict:
        """The rule as the rule language reads it."""
        return {
            "id": self.pk,
            "name": self.name,
            "enabled": self.enabled,
            "when": self.when,
            "then": self.then,
        }


class RuleSetVersion(models.Model):
    """A published snapshot of everything routing decides with: rules in order, the intent map, settings.

    Decisions record the version they used, so an explanation can always be traced to the rules of the day.
    """

    number = models.PositiveIntegerField(unique=True)
    rules = models.JSONField(default=list, help_text="Rule specs in order, disabled ones included.")
    intent_segments = models.JSONField(default=dict, help_text="Intent -> owning segment slug.")
    misdirect_threshold = models.FloatField(default=0.6)
    summary = models.CharField(max_length=200, blank=True, help_text="What changed.")
    published_at = models.DateTimeField(default=timezone.now)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-number"]

    def __str__(self) -> str:
        return f"rule set v{self.number}"


class RoutingSettings(models.Model):
    """Organisation-wide routing switches (one row)."""

    crisis_mode = models.BooleanField(default=False, help_text="Rules can test it; on during an incident.")
    misdirect_threshold = models.FloatField(
        default=0.6, help_text="Intent confidence from which a post counts as misdirected."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "routing settings"

    def __str__(self) -> str:
        return "Routing settings"

    @classmethod
    def current(cls) -> RoutingSettings:
        return cls.objects.get_or_create(pk=1)[0]


class Correction(models.Model):
    """An agent's re-route or intent correction, a bounced escalation, or a lead's "keep it here": kept as
    data and used to train the routing models (``routing.learning``)."""

    class Kind(models.TextChoices):
        REROUTE = "reroute", "Re-routed"
        BOUNCE = "bounce", "Escalation bounced"
        KEEP = "keep", "Kept by the lead"

    mention = models.ForeignKey(
        "inbox.Mention", on_delete=models.SET_NULL, null=True, related_name="corrections"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    text = models.TextField(help_text="The post's text when it was corrected; training keeps working after.")
    intent_before = models.CharField(max_length=30, blank=True)
    intent_after = models.CharField(max_length=30, blank=True, help_text="Empty: no intent to learn from.")
    team_before = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    team_after = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.REROUTE, db_default="reroute")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.intent_before or '-'} -> {self.intent_after or '-'} on {self.mention_id}"


class SentimentCorrection(models.Model):
    """An agent's corrected sentiment label for a mention: kept as data and used to train the organisation's
    sentiment adjustment (``routing.sentiment.SentimentAdjustment``)."""

    mention = models.ForeignKey(
        "inbox.Mention", on_delete=models.SET_NULL, null=True, related_name="sentiment_corrections"
    )
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    text = models.TextField(help_text="The post's text when it was corrected; training keeps working after.")
    label_before = models.CharField(max_length=10, choices=SentimentLabel.choices, blank=True)
    label_after = models.CharField(max_length=10, choices=SentimentLabel.choices)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.label_before or '-'} -> {self.label_after} on {self.mention_id}"


class SentimentState(models.Model):
    """One trained version of the organisation's sentiment adjustment, as plain arrays (never a pickle)."""

    version = models.PositiveIntegerField(unique=True)
    state = models.BinaryField(help_text="numpy .npz of plain arrays; loaded with allow_pickle=False.")
    corrections = models.PositiveIntegerField(default=0, help_text="Corrections it was trained from.")
    last_correction_id = models.PositiveBigIntegerField(
        default=0, help_text="The newest correction it saw: a newer one means training again."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-version"]

    def __str__(self) -> str:
        return f"sentiment v{self.version} ({self.corrections} corrections)"


class ModelVersion(models.Model):
    """One trained version of the organisation's routing models: the intent model and the owner model,
    trained together from the stored examples (``routing.learning``), backtested on the newest corrections
    they did not see, and promoted (made active) only when not worse than the active version."""

    number = models.PositiveIntegerField(unique=True)
    intent_state = models.BinaryField(help_text="The intent model: numpy .npz of plain arrays.")
    owner_state = models.BinaryField(help_text="The owner model: numpy .npz of plain arrays.")
    is_active = models.BooleanField(default=False, help_text="The version routing decides with.")
    promoted = models.BooleanField(default=False, help_text="Passed its backtest when it was trained.")
    verdict = models.CharField(max_length=300, blank=True, help_text="Why it was or was not promoted.")
    examples = models.JSONField(default=dict, help_text="What it learned from, by kind: counts.")
    last_correction_id = models.PositiveBigIntegerField(
        default=0, help_text="The newest correction it saw: a newer one means training again."
    )
    held_back = models.PositiveIntegerField(default=0, help_text="Newest corrections it was backtested on.")
    held_back_accuracy = models.FloatField(
        null=True, blank=True, help_text="Owner accuracy on them of this version trained without them."
    )
    held_back_accuracy_active = models.FloatField(
        null=True, blank=True, help_text="The same for the version that was active then."
    )
    temperature = models.FloatField(default=1.0, help_text="Calibration of the owner model's confidence.")
    training_seconds = models.FloatField(default=0.0)
    reason = models.CharField(max_length=40, blank=True, help_text="What started the training.")
    created_at = models.DateTimeField(default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"], condition=Q(is_active=True), name="model_one_active"
            )
        ]

    def __str__(self) -> str:
        return f"model v{self.number}"
