"""Outbound integrations: webhook subscriptions and their deliveries, CRM hand-offs, chat notifiers."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from inbox.models import Mention
from teams.models import Team

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


# --- Hand-off to a CRM or helpdesk, and chat notifications (integrations/handoff/, integrations/slack.py) --


class HandOffIntegration(models.Model):
    """An external system mentions can be handed off to: a generic JSON endpoint or HubSpot's tickets.

    ``config`` holds what may be shown (URL, body template, JSON pointers, pipeline and stage, portal id);
    ``secret`` the Fernet-encrypted credentials (HubSpot's private-app token, a generic endpoint's
    Authorization header), never shown back in full."""

    class Kind(models.TextChoices):
        GENERIC = "generic", "Generic JSON"
        HUBSPOT = "hubspot", "HubSpot ticket"

    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=50, unique=True, help_text="What a rule's hand_off action names.")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    config = models.JSONField(default=dict, blank=True)
    secret = models.TextField(blank=True)  # channels.crypto token of a dict
    # Only this team's mentions may go there (a team's own helpdesk); none: every team's.
    team = models.ForeignKey(Team, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class HandOff(models.Model):
    """A mention handed off to an external system: pending until the case exists there, then linked with
    its id and address (and the case's status, pulled back while it is open), or failed with the reason."""

    class State(models.TextChoices):
        PENDING = "pending", "Sending"
        LINKED = "linked", "Linked"
        FAILED = "failed", "Failed"

    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="handoffs")
    integration = models.ForeignKey(HandOffIntegration, on_delete=models.PROTECT, related_name="handoffs")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    external_id = models.CharField(max_length=200, blank=True)
    external_url = models.URLField(max_length=500, blank=True)
    external_status = models.CharField(max_length=100, blank=True)
    is_closed = models.BooleanField(default=False, help_text="The external case is closed: no more pulls.")
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    linked_at = models.DateTimeField(null=True, blank=True)
    status_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Handing off twice (a double click, a rule and an agent) makes one case; a failed one is retried.
            models.UniqueConstraint(fields=["mention", "integration"], name="handoff_one_per_integration")
        ]
        indexes = [
            models.Index(fields=["status_checked_at"], name="handoff_open_idx", condition=Q(state="linked"))
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"mention {self.mention_id} to {self.integration_id} ({self.state})"


class SlackNotifier(models.Model):
    """A team's Slack-compatible incoming webhook and which happenings it is told about."""

    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="slack_notifiers")
    name = models.CharField(max_length=100)
    webhook_url = models.TextField()  # channels.crypto token of {"url": ...}: the URL is the credential
    on_escalations = models.BooleanField(default=True)
    on_sla_breaches = models.BooleanField(default=True)
    on_crisis_mode = models.BooleanField(default=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team__name", "name"]

    def __str__(self) -> str:
        return f"{self.team} / {self.name}"


class SlackMessage(models.Model):
    """One notification for one notifier, written with the consumer's position (so once per event), then
    posted by a task that retries what can heal."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    notifier = models.ForeignKey(SlackNotifier, on_delete=models.CASCADE, related_name="messages")
    event_id = models.BigIntegerField()
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["notifier", "event_id"], name="slack_message_once")]
        indexes = [
            models.Index(fields=["created_at"], name="slack_pending_idx", condition=Q(state="pending"))
        ]

    def __str__(self) -> str:
        return f"{self.notifier_id} event {self.event_id} ({self.state})"


# --- Notifications to people (integrations.notifications) ------------------------------------------------


class Notification(models.Model):
    """Something addressed to one person: an @mention in a note, an escalation to their team, a reply
    waiting for their approval, an SLA warning on their mention, a mention assigned to them. Written by the
    domain events' consumer (once per person and event), shown under the bell, read when they say so."""

    class Kind(models.TextChoices):
        MENTIONED = "mentioned", "Mentioned in a note"
        ESCALATION = "escalation", "Escalations to my teams"
        APPROVAL = "approval", "Replies waiting for my approval"
        SLA_WARNING = "sla_warning", "SLA warnings on my mentions"
        ASSIGNED = "assigned", "Mentions assigned to me"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    event_id = models.BigIntegerField()  # the domain event it came from
    mention_id = models.BigIntegerField(
        null=True, blank=True
    )  # a plain number: it outlives an erased mention
    text = models.CharField(max_length=300)  # our own words, with names; never the network's text
    actor_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "event_id", "kind"], name="notification_once"),
        ]
        indexes = [
            models.Index(fields=["user", "-id"], name="notification_user_idx"),
            models.Index(fields=["user"], name="notification_unread_idx", condition=Q(read_at__isnull=True)),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.kind} ({self.event_id})"


class NotificationChoice(models.Model):
    """How one person wants one kind of notification besides the bell: in the browser (a system
    notification while the inbox is open) and by e-mail. Without a row: the bell only."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=20, choices=Notification.Kind.choices)
    browser = models.BooleanField(default=False)
    email = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="notification_choice_once")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.kind}"
