"""Authors, mentions (one row per post, linked to every channel that received it) and the audit trail."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Value
from django.utils import timezone

from channels.connectors.registry import network_label
from channels.models import Channel
from routing.models import SentimentLabel
from teams.models import Team


class Author(models.Model):
    """A person or account on a network who wrote to us."""

    network = models.CharField(max_length=20)  # a registered network (channels.connectors.registry)
    external_id = models.CharField(max_length=300)  # a DID on Bluesky
    handle = models.CharField(max_length=254)  # a Bluesky handle is a domain name of up to 253
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
    # Written by the people app (routing.facts.AUTHOR_SEGMENTS): the segments of the person behind this
    # handle, copied here so that inbox filters and routing rules, floors below people, can read them.
    segments = models.JSONField(
        default=list,
        db_default=Value([], output_field=models.JSONField()),
        blank=True,
        help_text="The person's segments (influencer, advocate, ...), kept current by the people app.",
    )
    # The network's profile image (https only: channels.connectors.base.avatar_url_checked); "" is initials.
    # db_default: inserts that name their columns (the bulk ingest, imports) may leave it out.
    avatar_url = models.URLField(max_length=500, blank=True, default="", db_default="")
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["network", "external_id"], name="author_network_external_unique")
        ]

    def __str__(self) -> str:
        return f"@{self.handle}"

    def get_network_display(self) -> str:
        return network_label(self.network)


LANGUAGE_MAX_LENGTH = 16  # a BCP 47 tag as networks send them ("en", "pt-BR", "zh-Hant")


def choice_display(field: str, choices: list[tuple]):
    """A ``get_FOO_display`` for a field with fixed choices, reading a dict built once: Django's own builds
    a dict of the choices on every call (it must allow choices that change), which a 50-row list calls
    hundreds of times. Defined in the model's body, it takes the place of Django's (which is only added
    when the class has none). Same answer: the label, or the value itself when it is no choice."""
    labels = {value: str(label) for value, label in choices}

    def display(self) -> object:
        value = getattr(self, field)
        return labels.get(value, value)

    display.__name__ = f"get_{field}_display"
    return display


class Mention(models.Model):
    """One post from a network. A post that names several of our accounts is one mention on many channels."""

    # The intent routing gives spam, and the one an agent's "Spam" sets: spam leaves the work queues for a
    # view of its own and runs no SLA clock, whether routing or a person said so.
    SPAM_INTENT = "spam"
    # The text of a mention whose author was erased or that the retention policy reached (people.privacy): it
    # keeps its counts for reports, and learning leaves it out.
    ERASED_TEXT = "[erased]"

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

    SentimentLabel = (
        SentimentLabel  # routing's labels: the mention stores what routing's sentiment model says
    )

    network = models.CharField(max_length=20)  # a registered network (channels.connectors.registry)
    external_id = models.CharField(max_length=300)  # an at:// URI on Bluesky, 70 characters and more
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.MENTION)
    text = models.TextField()
    url = models.URLField(max_length=500, blank=True)
    created_at = models.DateTimeField(help_text="When the author posted it.")
    received_at = models.DateTimeField(default=timezone.now, help_text="When socialops stored it.")
    author = models.ForeignKey(Author, on_delete=models.PROTECT, related_name="mentions")
    conversation_key = models.CharField(max_length=300, blank=True)
    in_reply_to = models.CharField(max_length=300, blank=True, help_text="External id of the parent post.")
    raw = models.JSONField(default=dict, blank=True)
    language = models.CharField(
        max_length=LANGUAGE_MAX_LENGTH,
        blank=True,
        default="",
        db_default="",
        help_text="The language the network tagged the post with (ISO 639-1 where there is one); empty when "
        "it did not say, and routing guesses from the text.",
    )
    # An edit that keeps the post's id (Mastodon's) replaces the text when it is later than this; earlier
    # versions are kept in raw["edit_history"] (see edit_history), as X's edits are.
    edited_at = models.DateTimeField(null=True, blank=True, help_text="When the author last edited the post.")
    # db_default: the bulk ingest names its columns. Unique per network when set (see Meta).
    canonical_id = models.CharField(
        max_length=500,
        blank=True,
        default="",
        db_default="",
        help_text="The post's id on every server (Mastodon's status uri) when external ids differ by server.",
    )
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
    # Triage state.
    snoozed_until = models.DateTimeField(null=True, blank=True, help_text="A snoozed mention wakes up then.")
    closed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(
        null=True, blank=True, help_text="Last triage change by a person; empty for untouched mentions."
    )
    # The SLA clock (inbox.sla): which deadline runs now, when it warns and when it is breached. Set by the
    # SLA tick shortly after arrival; db_default because the bulk ingest does not name these columns.
    sla_kind = models.CharField(max_length=20, blank=True, db_default="", default="")
    sla_warn_at = models.DateTimeField(null=True, blank=True)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    sla_state = models.CharField(max_length=10, blank=True, db_default="", default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["network", "external_id"], name="mention_network_external_unique"
            ),
            # Partial: only posts with a canonical id (Mastodon's) write an entry here.
            models.UniqueConstraint(
                fields=["network", "canonical_id"],
                condition=~models.Q(canonical_id=""),
                name="mention_network_canonical_unique",
            ),
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
            # Partial: the SLA tick watches running clocks only.
            models.Index(
                fields=["sla_warn_at"],
                name="mention_sla_running_idx",
                condition=models.Q(sla_due_at__isnull=False) & ~models.Q(sla_state="breached"),
            ),
            # Partial: the "needs a decision" queue of team leads (routing.engine: the owner is uncertain).
            models.Index(
                fields=["team", "id"],
                name="mention_needs_decision_idx",
                condition=models.Q(decision__needs_decision=True),
            ),
            # Partial: the wake-up sweep looks only at snoozed mentions.
            models.Index(
                fields=["snoozed_until"],
                name="mention_snoozed_idx",
                condition=models.Q(snoozed_until__isnull=False),
            ),
        ]
        # PostgreSQL also has mention_text_search_idx, a GIN index over to_tsvector('simple', text), made by
        # migration 0005 (an expression index SQLite cannot build). SQLite has the FTS5 table
        # inbox_mention_fts and its triggers, made by migration 0009. Django remakes this table on SQLite to
        # alter or drop a column (and for some new ones), which drops the triggers: such a migration must
        # create them again.

    def __str__(self) -> str:
        return f"{self.network}:{self.external_id}"

    def get_network_display(self) -> str:
        return network_label(self.network)

    # The list shows these for every row (see choice_display).
    get_status_display = choice_display("status", Status.choices)
    get_priority_display = choice_display("priority", Priority.choices)
    get_sentiment_label_display = choice_display("sentiment_label", SentimentLabel.choices)

    @property
    def is_spam(self) -> bool:
        return self.intent == self.SPAM_INTENT

    # What a connector keeps of a post's context in its payload (see _tweet_raw in connectors.x.parsing).

    @property
    def quoted(self) -> dict | None:
        """The post this one quotes: ``id``, ``text``, ``author_handle``, ``url`` (text empty when the
        network left it out: deleted or withheld)."""
        quoted = self.raw.get("quoted") if isinstance(self.raw, dict) else None
        return quoted if isinstance(quoted, dict) else None

    @property
    def links(self) -> list[dict]:
        """The shortened links of the text, each with the ``url`` the network sent and the ``expanded_url``
        the text shows."""
        links = self.raw.get("links") if isinstance(self.raw, dict) else None
        return [link for link in links if isinstance(link, dict)] if isinstance(links, list) else []

    @property
    def withheld(self) -> dict | None:
        """Where the network withholds the post (``country_codes``) and whether for ``copyright``."""
        withheld = self.raw.get("withheld") if isinstance(self.raw, dict) else None
        return withheld if isinstance(withheld, dict) else None

    @property
    def edit_history(self) -> list[dict]:
        """The earlier versions of an edited post, oldest first: ``external_id`` and ``text``."""
        history = self.raw.get("edit_history") if isinstance(self.raw, dict) else None
        return [item for item in history if isinstance(item, dict)] if isinstance(history, list) else []


class MentionChannel(models.Model):
    """The fact that a channel received a mention (a mention can arrive on several channels)."""

    # The unique (mention, channel) index serves lookups by mention; a second index would only cost writes.
    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="receipts", db_index=False)
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="receipts")
    received_at = models.DateTimeField(default=timezone.now)
    # db_default: the bulk ingest names its columns. Replies from this channel go to this id.
    external_id = models.CharField(
        max_length=300,  # as wide as Mention.external_id
        blank=True,
        default="",
        db_default="",
        help_text="The post's id as this channel received it, if not the mention's (another server's id).",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mention", "channel"], name="mentionchannel_unique")]
        indexes = [
            # Partial: only receipts of posts stored under another server's id, where a reply's parent is
            # looked up by the id this channel's server gave it.
            models.Index(
                fields=["external_id"],
                name="mentionchannel_external_idx",
                condition=~models.Q(external_id=""),
            )
        ]

    def __str__(self) -> str:
        return f"{self.mention} on {self.channel}"


class Note(models.Model):
    """An internal note on a mention: seen by the team, never sent to the network."""

    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="notes")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"Note on {self.mention_id} by {self.author}"


class Reply(models.Model):
    """A reply an agent wrote, and what became of it on the network."""

    class State(models.TextChoices):
        AWAITING_APPROVAL = "awaiting_approval", "Awaiting approval"
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        REJECTED = "rejected", "Rejected"

    mention = models.ForeignKey(Mention, on_delete=models.CASCADE, related_name="replies")
    channel = models.ForeignKey(Channel, on_delete=models.PROTECT, related_name="replies")
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    text = models.TextField()
    is_direct = models.BooleanField(default=False, help_text="Sent as a direct message, not in public.")
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    error = models.TextField(blank=True, help_text="Why the last send failed, in words an agent can act on.")
    attempts = models.PositiveSmallIntegerField(default=0)
    external_id = models.CharField(max_length=300, blank=True)
    url = models.URLField(max_length=500, blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    review_note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)
    # The outbox: a queued reply is delivered by whoever finds it due, the send task queued when it was
    # written or the sweeper (inbox.tasks.replies_send_due), so a lost task message or a broker outage
    # delays a reply but never strands it.
    next_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="When a queued reply is next due to be sent (empty once settled)."
    )
    handed_off_at = models.DateTimeField(
        null=True, blank=True, help_text="When a send task was last queued for it; the sweeper waits on it."
    )
    attempt_started_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Set while an attempt talks to the network; found still set, the worker stopped mid-call.",
    )
    attempts_at_retry = models.PositiveSmallIntegerField(
        default=0,
        help_text="The attempt count when an agent last pressed Retry: each Retry gets its own tries.",
    )
    outcome_unknown = models.BooleanField(
        default=False,
        help_text="An earlier attempt may have been published (a timeout, a worker that stopped mid-call): "
        "the next attempt looks for it on the network before sending.",
    )

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["state"],
                name="reply_awaiting_idx",
                condition=models.Q(state="awaiting_approval"),
            ),
            models.Index(
                fields=["next_attempt_at"], name="reply_queued_due_idx", condition=models.Q(state="queued")
            ),
        ]
        verbose_name_plural = "replies"

    def __str__(self) -> str:
        return f"Reply to {self.mention_id} ({self.state})"


class CannedResponse(models.Model):
    """A reply template for a segment. Placeholders: {author}, {author_name}, {agent}, {channel}."""

    segment = models.ForeignKey(
        "channels.Segment",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="canned_responses",
        help_text="Empty: offered on every segment.",
    )
    title = models.CharField(max_length=120)
    body = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title


class SavedView(models.Model):
    """A named set of inbox filters, private to its owner or shared with a team."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views")
    team = models.ForeignKey(
        Team,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="saved_views",
        help_text="Shared with this team; empty for a private view.",
    )
    name = models.CharField(max_length=80)
    filters = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["owner", "name"], name="savedview_owner_name_unique")]

    def __str__(self) -> str:
        return self.name


class SlaPolicy(models.Model):
    """Response and resolution targets for a segment's mentions, counted in business hours."""

    segment = models.OneToOneField("channels.Segment", on_delete=models.CASCADE, related_name="sla_policy")
    enabled = models.BooleanField(default=True)
    first_response_minutes = models.PositiveIntegerField(default=60)
    next_response_minutes = models.PositiveIntegerField(
        default=120, help_text="For a new post in a conversation we already answered."
    )
    resolution_minutes = models.PositiveIntegerField(default=24 * 60)
    warn_before_minutes = models.PositiveIntegerField(default=15, help_text="Warn this long before a breach.")
    timezone = models.CharField(max_length=60, default="UTC")
    business_days = models.JSONField(
        default=list, blank=True, help_text="Weekdays 0 (Monday) to 6; empty: every day."
    )
    business_start = models.TimeField(
        null=True, blank=True, help_text="Empty with the end: around the clock."
    )
    business_end = models.TimeField(null=True, blank=True)
    holidays = models.JSONField(default=list, blank=True, help_text="ISO dates when the clock stops.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "SLA policy"
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return f"SLA for {self.segment}"


class SlaCursor(models.Model):
    """How far the SLA tick has started clocks: mentions are taken in id order (one row)."""

    last_mention_id = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"SLA clocks started up to mention {self.last_mention_id}"
