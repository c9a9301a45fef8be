"""What the account page and the API authentication read."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from users.models import ApiToken
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
