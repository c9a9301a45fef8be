"""The rollup tables the report pages read, and the per-mention state they are summed from.

A mention's *state* (``MentionState``, ``ReplyState``) is what the reports know of it: where it arrived, who
owns it now, its first response and resolution times (wall-clock and in business hours of its SLA calendar),
its escalations and corrections. The rollups (``HourRollup``, ``AgentDayRollup``, ``TallyRollup``) are sums of
those states, one row per cell; ``reports.rollups`` keeps them equal to a from-scratch sum by applying, for
each mention an event touched, its new state minus its old one. Pages read rollups only: their size is
bounded by hours x the dimensions that occur, never by the number of mentions.

Dimensions are plain numbers, not foreign keys: 0 means none (no team yet, no channel), so every cell has one
key and the rollups outlive a deleted team. A mention counts in its current team, intent and priority.
Sizes at a million mentions over 90 days: about 70 (team, account) pairs an hour in ``HourRollup``, and per
day those pairs whole and split by intent, kind and priority in ``DayRollup``: pages over long ranges read
the day table. ``TeamHourRollup`` and ``TeamDayRollup`` hold the same measures per team only (seven rows an
hour or a day instead of 70 to 140): the reads that neither filter nor split by segment, account or network
(headline totals, by team, the heat map) sum a tenth of the rows.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

# Upper bounds (seconds) of the latency histogram buckets, roughly logarithmic: 30 s to a week. A value
# falls in bucket i when i bounds are <= it (PostgreSQL's width_bucket with these thresholds); the last
# bucket is open-ended. Percentiles come from summed histograms (``reports.latency``).
LATENCY_BOUNDS = (
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    14400,
    28800,
    86400,
    172800,
    345600,
    604800,
)
BUCKETS = len(LATENCY_BOUNDS) + 1
# first response and resolution, wall-clock (w) and business hours (b)
HISTOGRAMS = ("frt_w", "frt_b", "res_w", "res_b")


def histogram_columns(name: str) -> list[str]:
    return [f"{name}_{i}" for i in range(BUCKETS)]


HOUR_KEYS = ("hour", "team_id", "segment_id", "channel_id", "network")
TEAM_HOUR_KEYS = ("hour", "team_id")
TEAM_DAY_KEYS = ("day", "team_id")
# The daily rollup holds the plain daily cells (dim "") and the same cells split by one more dimension.
DAY_KEYS = ("day", "team_id", "segment_id", "channel_id", "network", "dim", "value")
SPLITS = ("intent", "kind", "priority")
HOUR_COUNTS = (
    "received",
    "handled",  # closed in this hour (the other counts are by the hour the mention arrived)
    "replied",  # mentions with at least one reply
    "replies",
    "routed",
    "moved_auto",  # owned by a team other than the receiving account's, moved by routing
    "moved_by_agent",  # ... moved there by an agent's re-route
    "corrections",  # re-routes and bounces: routing's errors
    "intent_corrections",
    "reopened",
    "breaches",
    "sla_measured",  # first responses under an SLA policy
    "sla_answered",  # ... within its first-response target
    "negative",
    "neutral",
    "positive",
    "escalations",
    "esc_accepted",
    "esc_bounced",
    "esc_to_lead",  # not taken within the acceptance window
    "esc_accept_seconds",
    "frt_count",
    "frt_seconds",
    "frt_business_seconds",
    "res_seconds",  # of the mentions handled in this hour
    "res_business_seconds",
)
HOUR_MEASURES = HOUR_COUNTS + tuple(c for h in HISTOGRAMS for c in histogram_columns(h))

AGENT_KEYS = ("day", "user_id", "team_id")
AGENT_COUNTS = ("handled", "replies", "frt_count", "frt_seconds", "frt_business_seconds")
AGENT_MEASURES = AGENT_COUNTS + tuple(c for h in ("frt_w", "frt_b") for c in histogram_columns(h))

LOAD_KEYS = ("user_id", "team_id")
LOAD_MEASURES = ("open",)
TALLY_KEYS = ("day", "team_id", "what", "name")
TALLY_MEASURES = ("count",)
RULE, INTENT = "rule", "intent"  # a rule that fired; an intent agents corrected (the one routing gave)

_SUMS = {"frt_seconds", "frt_business_seconds", "res_seconds", "res_business_seconds", "esc_accept_seconds"}


def _measure(name: str) -> models.Field:
    return models.BigIntegerField(default=0) if name in _SUMS else models.IntegerField(default=0)


class Measures(models.Model):
    """The counts, sums and latency histograms of a cell of mentions (see ``HOUR_MEASURES``)."""

    for _name in HOUR_MEASURES:
        locals()[_name] = _measure(_name)
    del _name

    class Meta:
        abstract = True


class HourRollup(Measures):
    """Mentions per hour x team x receiving account (its segment and network come with it)."""

    hour = models.DateTimeField()
    team_id = models.IntegerField()
    segment_id = models.IntegerField()
    channel_id = models.IntegerField()
    network = models.CharField(max_length=20)

    class Meta:
        db_table = "reports_hour"
        constraints = [models.UniqueConstraint(fields=list(HOUR_KEYS), name="reports_hour_cell_unique")]
        indexes = [models.Index(fields=["team_id", "hour"], name="reports_hour_team_idx")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h team {self.team_id} channel {self.channel_id}"


class DayRollup(Measures):
    """Mentions per day x team x receiving account, whole (``dim`` "") and split by intent, kind or priority
    (``dim`` names the split, ``value`` the intent, kind or priority)."""

    day = models.DateField()
    team_id = models.IntegerField()
    segment_id = models.IntegerField()
    channel_id = models.IntegerField()
    network = models.CharField(max_length=20)
    dim = models.CharField(max_length=10)
    value = models.CharField(max_length=30)

    class Meta:
        db_table = "reports_day"
        constraints = [models.UniqueConstraint(fields=list(DAY_KEYS), name="reports_day_cell_unique")]
        indexes = [models.Index(fields=["dim", "day"], name="reports_day_dim_idx")]

    def __str__(self) -> str:
        return f"{self.day} team {self.team_id} channel {self.channel_id} {self.dim} {self.value}"


class TeamHourRollup(Measures):
    """``HourRollup`` summed over the accounts: mentions per hour x team."""

    hour = models.DateTimeField()
    team_id = models.IntegerField()

    class Meta:
        db_table = "reports_teamhour"
        constraints = [
            models.UniqueConstraint(fields=list(TEAM_HOUR_KEYS), name="reports_teamhour_cell_unique")
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h team {self.team_id}"


class TeamDayRollup(Measures):
    """``DayRollup``'s whole cells (no split) summed over the accounts: mentions per day x team."""

    day = models.DateField()
    team_id = models.IntegerField()

    class Meta:
        db_table = "reports_teamday"
        constraints = [
            models.UniqueConstraint(fields=list(TEAM_DAY_KEYS), name="reports_teamday_cell_unique")
        ]

    def __str__(self) -> str:
        return f"{self.day} team {self.team_id}"


class AgentDayRollup(models.Model):
    """What each person did per day and team: mentions handled (closed while theirs), replies, first
    responses."""

    day = models.DateField()
    user_id = models.IntegerField()
    team_id = models.IntegerField()
    for _name in AGENT_MEASURES:
        locals()[_name] = _measure(_name)
    del _name

    class Meta:
        db_table = "reports_agentday"
        constraints = [models.UniqueConstraint(fields=list(AGENT_KEYS), name="reports_agentday_cell_unique")]

    def __str__(self) -> str:
        return f"{self.day} user {self.user_id} team {self.team_id}"


class LoadRollup(models.Model):
    """Open mentions (new, open, pending) each person holds now, per team."""

    user_id = models.IntegerField()
    team_id = models.IntegerField()
    open = models.IntegerField(default=0)

    class Meta:
        db_table = "reports_load"
        constraints = [models.UniqueConstraint(fields=list(LOAD_KEYS), name="reports_load_cell_unique")]

    def __str__(self) -> str:
        return f"user {self.user_id} team {self.team_id}: {self.open} open"


class TallyRollup(models.Model):
    """Per day and team: how often each rule fired, and which intents agents corrected."""

    day = models.DateField()
    team_id = models.IntegerField()
    what = models.CharField(max_length=10)
    name = models.CharField(max_length=60)
    count = models.IntegerField(default=0)

    class Meta:
        db_table = "reports_tally"
        constraints = [models.UniqueConstraint(fields=list(TALLY_KEYS), name="reports_tally_cell_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.what} {self.name}: {self.count}"


class MentionState(models.Model):
    """What the rollups hold of one mention (its contribution is derived from this row alone), so a change
    is applied as new minus old. Read by the rollup consumer by mention id; pages never read it."""

    mention_id = models.BigIntegerField(primary_key=True)
    received_hour = models.DateTimeField()
    closed_hour = models.DateTimeField(null=True)
    team_id = models.IntegerField()
    segment_id = models.IntegerField()
    channel_id = models.IntegerField()
    network = models.CharField(max_length=20)
    intent = models.CharField(max_length=30)
    kind = models.CharField(max_length=10)
    priority = models.SmallIntegerField()
    sentiment = models.CharField(max_length=10)
    replies = models.IntegerField()
    first_reply_day = models.DateField(null=True)
    first_reply_author_id = models.IntegerField()
    frt_seconds = models.IntegerField(null=True)
    frt_business_seconds = models.IntegerField(null=True)
    res_seconds = models.IntegerField(null=True)
    res_business_seconds = models.IntegerField(null=True)
    # Their latency histogram buckets (``bucket``), kept so that the rebuild's SQL need not find them.
    frt_w_bucket = models.SmallIntegerField(null=True)
    frt_b_bucket = models.SmallIntegerField(null=True)
    res_w_bucket = models.SmallIntegerField(null=True)
    res_b_bucket = models.SmallIntegerField(null=True)
    closer_id = models.IntegerField()  # who held it when it was closed (0: nobody)
    holder_id = models.IntegerField(default=0)  # who holds it while it is new, open or pending (0: nobody)
    routed = models.BooleanField()
    moved = models.CharField(max_length=5)  # "", "auto" or "agent"
    corrections = models.IntegerField()
    reopened = models.IntegerField()
    breaches = models.IntegerField()
    sla = models.SmallIntegerField(null=True)  # first response within target: 1, late: 0, no policy: null
    escalations = models.IntegerField()
    esc_accepted = models.IntegerField()
    esc_bounced = models.IntegerField()
    esc_to_lead = models.IntegerField()
    esc_accept_seconds = models.BigIntegerField()
    rules = models.JSONField(default=list)  # ids of the rules that fired, as text
    corrected_intents = models.JSONField(default=list)  # the intent routing gave, once per correction of it

    class Meta:
        db_table = "reports_mentionstate"

    def __str__(self) -> str:
        return f"report state of mention {self.mention_id}"


class ReplyState(models.Model):
    """A reply as the per-agent rollup counts it (author, day, team of the mention)."""

    reply_id = models.BigIntegerField(primary_key=True)
    mention_id = models.BigIntegerField(db_index=True)
    author_id = models.IntegerField()
    day = models.DateField()
    team_id = models.IntegerField()

    class Meta:
        db_table = "reports_replystate"

    def __str__(self) -> str:
        return f"report state of reply {self.reply_id}"


class DigestSubscription(models.Model):
    """Whether a team lead (or admin) gets the weekly digest email; no row means off. ``last_week`` is the
    Monday of the last week sent, so a second run of the weekly task sends nothing twice."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="report_digest"
    )
    enabled = models.BooleanField(default=False)
    last_week = models.DateField(null=True, blank=True)

    def __str__(self) -> str:
        return f"weekly digest of user {self.user_id}: {'on' if self.enabled else 'off'}"
