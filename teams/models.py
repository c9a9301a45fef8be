"""Teams own segments and channels; memberships give people a role in a team."""

from django.conf import settings
from django.db import models


class Team(models.Model):
    """A group of people that owns one or more segments and answers their posts."""

    class Assignment(models.TextChoices):
        MANUAL = "manual", "Manual: agents take mentions from the queue"
        ROUND_ROBIN = "round_robin", "Round-robin: each available agent in turn, within capacity"
        LOAD_BALANCED = "load_balanced", "Load-balanced: whoever has the most room, within capacity"

    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=60, unique=True)
    description = models.TextField(blank=True)
    assignment = models.CharField(max_length=20, choices=Assignment.choices, default=Assignment.MANUAL)
    last_assigned_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text="Where round-robin stopped; the next mention goes to the next person after them.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A person's place in a team. Admins are a site-wide role (the "Admins" group), not a membership."""

    class Role(models.TextChoices):
        AGENT = "agent", "Agent"
        LEAD = "lead", "Team lead"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.AGENT)
    capacity = models.PositiveSmallIntegerField(
        default=20, help_text="Open mentions auto-assignment gives this person at most, in this team."
    )
    is_away = models.BooleanField(default=False, help_text="Away: auto-assignment skips them.")
    away_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="membership_user_team_unique")]
        ordering = ["team__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.get_role_display()})"


class ChannelHandover(models.Model):
    """A brand account passing from one team to another: offered by the team that owns it or asked for by
    another, and settled by the other side's lead (or an admin); a crisis take-over is recorded here too."""

    class Kind(models.TextChoices):
        OFFER = "offer", "Offered by its team"
        REQUEST = "request", "Asked for by another team"
        CRISIS = "crisis", "Taken during crisis mode"

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for the other team"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"
        TAKEN = "taken", "Held by the crisis team"
        SUPERSEDED = "superseded", "Over: the account changed hands since"

    channel = models.ForeignKey("channels.Channel", on_delete=models.CASCADE, related_name="handovers")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    state = models.CharField(max_length=12, choices=State.choices, default=State.PENDING)
    from_team = models.ForeignKey(
        Team, on_delete=models.CASCADE, related_name="handovers_out", help_text="The owner when it began."
    )
    to_team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="handovers_in")
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["channel", "to_team"],
                condition=models.Q(state="pending"),
                name="handover_one_pending_per_team",
            ),
            models.CheckConstraint(
                condition=~models.Q(from_team=models.F("to_team")), name="handover_between_two_teams"
            ),
        ]
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: channel {self.channel_id} from {self.from_team} to {self.to_team}"

    @property
    def is_offer(self) -> bool:
        return self.kind == self.Kind.OFFER

    @property
    def initiating_team_id(self) -> int:
        """The side that started it (and may withdraw it); the other side accepts or declines."""
        return self.from_team_id if self.kind == self.Kind.OFFER else self.to_team_id

    @property
    def answering_team_id(self) -> int:
        return self.to_team_id if self.kind == self.Kind.OFFER else self.from_team_id
