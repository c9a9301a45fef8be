"""Segments (the strategy matrix) and channels (brand accounts on a network)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import models
from django.db.models import Q

from channels.connectors.registry import network_label
from channels.fields import EncryptedJSONField
from teams.models import Team


class Network(models.TextChoices):
    """The networks built in, as names for code. Which networks exist is the registry's to say
    (``channels.connectors.registry``): the network columns take any registered one, without ``choices``."""

    X = "x", "X"
    MASTODON = "mastodon", "Mastodon"
    BLUESKY = "bluesky", "Bluesky"
    SIMULATED = "simulated", "Simulated"


class Segment(models.Model):
    """One of the six purposes a brand account serves, with its playbook and the team that owns it."""

    slug = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=80, unique=True)
    follow = models.TextField(help_text="Who to listen to.")
    create = models.TextField(help_text="What the account posts.")
    engage = models.TextField(help_text="How to respond.")
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="segments")
    default_poll_seconds = models.PositiveIntegerField(
        default=120,
        help_text="How often channels of this segment are pulled unless a channel says otherwise.",
    )
    acceptance_window_minutes = models.PositiveIntegerField(
        default=60, help_text="How long an escalation may wait before it goes to the owning team's lead."
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


class Channel(models.Model):
    """A brand account on one network, received into the shared inbox."""

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        NEEDS_REAUTH = "needs_reauth", "Needs re-authorisation"

    slug = models.SlugField(max_length=60, unique=True)
    network = models.CharField(max_length=20)  # a registered network (channels.connectors.registry)
    handle = models.CharField(max_length=254)  # "@" and a Bluesky handle, a domain name of up to 253
    external_account_id = models.CharField(max_length=300)  # a DID on Bluesky (did:web can be long)
    segment = models.ForeignKey(Segment, on_delete=models.PROTECT, related_name="channels")
    team_override = models.ForeignKey(
        Team,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="channels_owned",
        help_text="Owning team when it is not the segment's team.",
    )
    credentials = EncryptedJSONField(blank=True, default=dict)
    listening_queries = models.JSONField(
        default=list, blank=True, help_text="Brand keywords, hashtags and product categories to search for."
    )
    poll_interval_seconds = models.PositiveIntegerField(
        null=True, blank=True, help_text="Pull cadence; empty means the segment's default."
    )
    cursor = models.JSONField(default=dict, blank=True, help_text="Where the next pull starts, per stream.")
    state = models.CharField(max_length=20, choices=State.choices, default=State.ACTIVE)
    last_pull_at = models.DateTimeField(null=True, blank=True)
    last_pull_result = models.JSONField(default=dict, blank=True)
    next_pull_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["network", "external_account_id"], name="channel_network_account_unique"
            ),
        ]
        indexes = [models.Index(fields=["state", "next_pull_at"], name="channel_due_idx")]
        ordering = ["segment__position", "handle"]

    def __str__(self) -> str:
        return f"{self.handle} ({self.get_network_display()})"

    def get_network_display(self) -> str:
        return network_label(self.network)

    @property
    def owning_team_id(self) -> int:
        return self.team_override_id or self.segment.team_id

    @property
    def poll_seconds(self) -> int:
        return self.poll_interval_seconds or self.segment.default_poll_seconds

    @property
    def needs_reauth(self) -> bool:
        return self.state == self.State.NEEDS_REAUTH

    @property
    def last_pull_summary(self) -> str:
        """The last pull's outcome in a few words, for the admin pages."""
        result = self.last_pull_result or {}
        if not result:
            return "Never pulled"
        summary = f"{result.get('outcome', 'unknown')}: {result.get('inserted', 0)} new"
        summary = f"{summary} ({result['error']})" if result.get("error") else summary
        failing = self.failing_streams
        if failing:
            summary = f"{summary}; not read: " + ", ".join(stream["label"] for stream in failing)
        return summary

    @property
    def failing_streams(self) -> list[dict]:
        """The streams (mentions, DMs, one listening query) the last pull could not read, each with its
        ``label``, ``outcome``, ``error`` and ``retry_at`` (when it is tried again, or None)."""
        streams = (self.last_pull_result or {}).get("streams") or {}
        return [
            stream
            for stream in streams.values()
            if isinstance(stream, dict) and stream.get("outcome") not in ("ok", "waiting")
        ]

    @property
    def partial_errors(self) -> list[str]:
        """What the network said it left out of the last pull's pages (deleted posts, suspended authors)."""
        return list((self.last_pull_result or {}).get("partial_errors") or [])


class QuarantinedItem(models.Model):
    """An item from a network or an import that could not be stored, kept with the reason for a person."""

    class Source(models.TextChoices):
        PULL = "pull", "Pull"
        IMPORT = "import", "Import"

    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="quarantined_items")
    source = models.CharField(max_length=10, choices=Source.choices)
    network = models.CharField(max_length=20)  # a registered network (channels.connectors.registry)
    external_id = models.CharField(max_length=200, blank=True)
    error = models.TextField()
    raw = models.JSONField(default=dict, blank=True, help_text="The item as it arrived.")
    line_number = models.PositiveIntegerField(null=True, blank=True, help_text="Line of the imported file.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.channel} {self.source}: {self.error[:60]}"


class RateBudgetQuerySet(models.QuerySet):
    def for_endpoints(self, network: str, endpoints: Iterable[tuple[str, str]]) -> RateBudgetQuerySet:
        """The budgets of these (endpoint, token key) pairs on a network; none when no pair is given."""
        pairs = Q(pk__in=[])
        for endpoint, token_key in endpoints:
            pairs |= Q(endpoint=endpoint, token_key=token_key)
        return self.filter(pairs, network=network)


class RateBudget(models.Model):
    """What a network last said about the calls left on one endpoint for one token, and when they reset."""

    network = models.CharField(max_length=20)  # a registered network (channels.connectors.registry)
    endpoint = models.CharField(max_length=120)
    token_key = models.CharField(max_length=120, help_text='"user:<account id>" or "app"; never the token.')
    limit = models.PositiveIntegerField(null=True, blank=True)
    remaining = models.PositiveIntegerField(null=True, blank=True)
    reset_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = RateBudgetQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["network", "endpoint", "token_key"], name="ratebudget_unique")
        ]

    def __str__(self) -> str:
        return f"{self.network} {self.endpoint} [{self.token_key}]: {self.remaining}/{self.limit}"
