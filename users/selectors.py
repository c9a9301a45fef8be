"""What the account page and the API authentication read."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from django.http import HttpRequest

from users.models import ApiToken, Preferences
from users.tokens import key_matches, key_prefix


def api_tokens_for_user(*, user: AbstractBaseUser) -> QuerySet[ApiToken]:
    """A person's own tokens, newest first (nobody sees anyone else's)."""
    return ApiToken.objects.filter(user=user)


def api_token_for_key(*, key: str) -> ApiToken | None:
    """The token whose key this is (whatever its state), else None."""
    prefix = key_prefix(key)
    if prefix is None:
        return None
    token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
    if token is None or not key_matches(key, token.key_hash):
        return None
    return token


def preferences_for_user(*, user: AbstractBaseUser) -> Preferences:
    """A person's preferences; the defaults (unsaved) for someone who never changed them."""
    return Preferences.objects.filter(user=user).first() or Preferences(user=user)


REQUEST_PREFERENCES = "_socialops_preferences"


def preferences_for_request(request: HttpRequest) -> Preferences | None:
    """The signed-in person's preferences, read once per request (the middleware and the header both ask);
    None for a visitor who is not signed in."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return None
    if not hasattr(request, REQUEST_PREFERENCES):
        setattr(request, REQUEST_PREFERENCES, preferences_for_user(user=user))
    return getattr(request, REQUEST_PREFERENCES)
