"""API tokens (stored hashed) and the record of sign-in lock-outs."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A person's named API token. Only the SHA-256 of the key is kept; the prefix finds the row."""

    class Lifetime(models.IntegerChoices):
        WEEK = 7, "7 days"
        MONTH = 30, "30 days"
        QUARTER = 90, "90 days"
        YEAR = 365, "1 year"

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="api_token_user_idx")]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def state_at(self, now: datetime) -> ApiToken.State:
        if self.revoked_at is not None:
            return self.State.REVOKED
        if self.expires_at <= now:
            return self.State.EXPIRED
        return self.State.ACTIVE

    @property
    def state(self) -> ApiToken.State:
        return self.state_at(timezone.now())


class SignInLockout(models.Model):
    """Sign-ins refused for a while after too many failures: one row per lock-out, for the audit trail."""

    class Scope(models.TextChoices):
        ACCOUNT = "account", "This username from this address"
        ADDRESS = "address", "Every username from this address"

    scope = models.CharField(max_length=10, choices=Scope.choices)
    username = models.CharField(max_length=150, blank=True)
    address = models.GenericIPAddressField()
    failures = models.PositiveIntegerField()
    locked_until = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "sign-in lock-out"

    def __str__(self) -> str:
        who = f"{self.username!r} from {self.address}" if self.scope == self.Scope.ACCOUNT else self.address
        return f"sign-in lock-out of {who}"


class Preferences(models.Model):
    """How one person likes the app: list density, colour theme, reply signature and time zone."""

    class Density(models.TextChoices):
        COMFORTABLE = "comfortable", "Comfortable"
        COMPACT = "compact", "Compact (one line per mention)"

    class Theme(models.TextChoices):
        SYSTEM = "system", "Follow the system"
        LIGHT = "light", "Light"
        DARK = "dark", "Dark"

    SIGNATURE_MAX_LENGTH = 100  # a reply on X is 280 characters: a signature may take a third at most

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preferences"
    )
    density = models.CharField(max_length=12, choices=Density.choices, default=Density.COMFORTABLE)
    theme = models.CharField(max_length=6, choices=Theme.choices, default=Theme.SYSTEM)
    signature = models.CharField(
        max_length=SIGNATURE_MAX_LENGTH,
        blank=True,
        help_text="Added below the text of a new reply, e.g. “— Kim”.",
    )
    # Empty: the installation's zone (settings.TIME_ZONE).
    time_zone = models.CharField(max_length=64, blank=True)

    class Meta:
        verbose_name_plural = "preferences"

    def __str__(self) -> str:
        return f"preferences of user {self.user_id}"
