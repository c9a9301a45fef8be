"""Authors, mentions (one row per post, linked to every channel that received it) and the audit trail."""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Value
from django.utils import timezone

from channels.models import Channel, Network
from teams.models import Team


class Author(models.Model):
    """A person or account on a network who wrote to us."""

    network = models.CharField(max_length=20, choices=Network.choices)
    external_id = models.CharField(max_length=64)
    handle = models.CharField(max_length=120)
    display_name = models.CharField(max_length=200, blank=True)
    follower_count = models.PositiveIntegerField(default=0)
    is_verified = models.BooleanField(default=False)
    # db_default: the bulk ingest inserts authors naming its columns, and leaves tags to people.
    tags = models.JSONField(
        default=list,
        db_default=Value([], output_field=models.JSONField()),
        blank=True,
        help_text="Set by people: vip, influencer, detractor, advocate, employee. Rules can test them.",
    )
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["network", "external_id"], name="author_network_external_unique")
        ]

    def __str__(self) -> str:
        return f"@{self.handle}"


class Mention(models.Model):
    """One post from a network. A post that names several of our accounts is one mention on many channels."""

    class Kind(models.TextChoices):
        MENTION = "mention", "Mention"
        REPLY = "reply", "Reply"
        DM = "dm", "Direct message"
        KEYWORD = "keyword", "Keyword hit"

    class Status(models.TextChoices):
        NEW = "new", "New"
        OPEN = "open", "Open"
        PENDING = "pending", "Pending"
        SNOOZED = "snoozed", "Snoozed"
        CLOSED = "closed", "Closed"

    class Priority(models.IntegerChoices):
        LOW = 10, "Low"
        NORMAL = 20, "Normal"
        HIGH = 30, "High"
        URGENT = 40, "Urgent"

    class SentimentLabel(models.TextChoices):
        NEGATIVE = "negative", "Negative"
        NEUTRAL = "neutral", "Neutral"
        POSITIVE = "positive", "Positive"

    network = models.CharField(max_length=20, choices=Network.choices)
    external_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MENTION)
    text = models.TextField()
    url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(help_text="When the author posted it.")
    received_at = models.DateTimeField(default=timezone.now, help_text="When socialops stored it.")
    author = models.ForeignKey(Author, on_delete=models.PROTECT, related_name="mentions")
    conversation_key = models.CharField(max_length=80, blank=True)
    in_reply_to = models.CharField(max_length=64, blank=True, help_text="External id of the parent post.")
    raw = models.JSONField(default=dict, blank=True)
    channels = models.ManyToManyField(Channel, through="MentionChannel", related_name="mentions")

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.NEW)
    # No single-column indexes on team and assignee: the queue indexes below lead with them, and every
    # index costs the ingest a write per mention.
    team = models.ForeignKey(
        Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="mentions", db_index=False
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_mentions",
        db_index=False,
    )
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    intent = models.CharField(max_length=30, blank=True)
    sentiment = models.FloatField(null=True, blank=True, help_text="Compound score from -1 to 1.")
    sentiment_label = models.CharField(max_length=10, choices=SentimentLabel.choices, blank=True)
    is_misdirected = models.BooleanField(default=False)
    # Routing's results. db_default: the bulk ingest inserts mentions naming only its own columns.
    intent_confidence = models.FloatField(null=True, blank=True)
    labels = models.JSONField(default=list, db_default=Value([], output_field=models.JSONField()), blank=True)
    requires_approval = models.BooleanField(
        default=False, db_default=False, help_text="A rule asked for approval before any reply."
    )
    decision = models.JSONField(
        default=dict,
        db_default=Value({}, output_field=models.JSONField()),
        blank=True,
        help_text="The routing decision: owner, rules fired, explanation, rule set and model versions.",
    )
    routed_at = models.DateTimeField(null=True, blank=True, help_text="Empty until routing has decided.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["network", "external_id"], name="mention_network_external_unique")
        ]
        indexes = [
            models.Index(
                "team",
                "status",
                models.F("created_at").desc(),
                models.F("id").desc(),
                name="mention_team_queue_idx",
            ),
            models.Index(models.F("created_at").desc(), models.F("id").desc(), name="mention_newest_idx"),
            models.Index(fields=["network", "conversation_key"], name="mention_conversation_idx"),
            # Partial: only the mentions waiting for routing, which the sweeper looks for.
            models.Index(fields=["id"], name="mention_unrouted_idx", condition=models.Q(routed_at=None)),
            # Partial: new mentions have no assignee, so the ingest writes no entry here for them.
            models.Index(
                fields=["assignee", "status"],
                name="mention_assignee_idx",
                condition=models.Q(assignee__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.network}:{self.external_id}"


class MentionChannel(models.Model):
    """The fact that a channel received a mention (a mention can arrive on several channels)."""

    # The unique (mention, channel) index serves lookups by mention; a second index would only cost writes.
    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="receipts", db_index=False)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="receipts")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mention", "channel"], name="mentionchannel_unique")]

    def __str__(self) -> str:
        return f"{self.mention} on {self.channel}"


class AuditEvent(models.Model):
    """Who did what to which object, with the state before and after."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    verb = models.CharField(max_length=60)
    object_type = models.ForeignKey(ContentType, on_delete=models.PROTECT, related_name="+")
    object_id = models.CharField(max_length=64)
    object = GenericForeignKey("object_type", "object_id")
    object_repr = models.CharField(max_length=200)
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.actor or 'system'} {self.verb} {self.object_repr}"
