"""DRF authentication with people's API tokens: ``Authorization: Token <key>``."""

from __future__ import annotations

from django.utils import timezone
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.request import Request

from users.models import ApiToken
from users.selectors import api_token_for_key
from users.services import api_token_touch


class ApiTokenAuthentication(BaseAuthentication):
    """A valid key authenticates its owner; an unknown, expired or revoked one answers 401."""

    keyword = "Token"

    def authenticate(self, request: Request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed("Invalid token header: give one token after 'Token'.")
        try:
            key = parts[1].decode()
        except UnicodeError as exc:
            raise exceptions.AuthenticationFailed("Invalid token.") from exc
        token = api_token_for_key(key=key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        now = timezone.now()
        state = token.state_at(now)
        if state == ApiToken.State.REVOKED:
            raise exceptions.AuthenticationFailed("Token revoked.")
        if state == ApiToken.State.EXPIRED:
            raise exceptions.AuthenticationFailed("Token expired.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        api_token_touch(token=token, now=now)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
