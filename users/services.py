"""What changes a person's credentials (API tokens, passwords) and preferences. Each owns its transaction
and audits."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from foundation.events import event_record
from users.models import ApiToken, Preferences
from users.tokens import key_generate, key_hash

DEFAULT_LIFETIME = ApiToken.Lifetime.QUARTER
PREFERENCE_FIELDS = ("density", "theme", "signature", "time_zone")
LAST_USED_PRECISION = timedelta(minutes=1)  # one write a minute per token at most, however busy a script


def api_token_create(
    *, user: AbstractBaseUser, name: str, lifetime_days: int = DEFAULT_LIFETIME
) -> tuple[ApiToken, str]:
    """A new token for ``user`` and its key, which is never available again."""
    key, prefix = key_generate()
    now = timezone.now()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name,
            prefix=prefix,
            key_hash=key_hash(key),
            created_at=now,
            expires_at=now + timedelta(days=lifetime_days),
        )
        event_record(
            actor=user,
            verb="api_token.created",
            obj=token,
            after={"name": name, "expires_at": token.expires_at.isoformat()},
        )
    return token, key


def api_token_revoke(*, user: AbstractBaseUser, token_id: int) -> ApiToken:
    """Revokes one of ``user``'s own tokens (another person's is ApiToken.DoesNotExist). Idempotent."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token_id, user=user)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            event_record(actor=user, verb="api_token.revoked", obj=token, after={"name": token.name})
    return token


def api_token_touch(*, token: ApiToken, now: datetime) -> None:
    """Records that the token was used, at most once a minute (the condition is in the UPDATE, so
    concurrent requests do not write twice)."""
    if token.last_used_at is not None and now - token.last_used_at < LAST_USED_PRECISION:
        return
    ApiToken.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_PRECISION), pk=token.pk
    ).update(last_used_at=now)


def password_change(*, user: AbstractBaseUser, new_password: str) -> int:
    """Sets the password and revokes every API token of the person; returns how many were revoked.

    Their other sessions end too: Django checks each session against a hash of the password."""
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        revoked = ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        event_record(actor=user, verb="user.password_changed", obj=user, after={"tokens_revoked": revoked})
    return revoked


def preferences_update(
    *,
    user: AbstractBaseUser,
    first_name: str,
    last_name: str,
    density: str,
    theme: str,
    signature: str,
    time_zone: str,
) -> Preferences:
    """Saves a person's name and preferences (made on first save) and audits what changed."""
    with transaction.atomic():
        preferences, _ = Preferences.objects.select_for_update().get_or_create(user=user)
        before = {
            "first_name": user.first_name,
            "last_name": user.last_name,
            **{field: getattr(preferences, field) for field in PREFERENCE_FIELDS},
        }
        user.first_name, user.last_name = first_name, last_name
        user.save(update_fields=["first_name", "last_name"])
        preferences.density, preferences.theme = density, theme
        preferences.signature, preferences.time_zone = signature, time_zone
        preferences.save()
        after = {"first_name": first_name, "last_name": last_name, "density": density, "theme": theme}
        after |= {"signature": signature, "time_zone": time_zone}
        changed = {field: value for field, value in after.items() if before[field] != value}
        if changed:
            event_record(
                actor=user,
                verb="user.preferences_changed",
                obj=user,
                before={field: before[field] for field in changed},
                after=changed,
            )
    return preferences
