"""Connecting an X account: OAuth 2.0 authorization code with PKCE, through tweepy.

The connect views (``views``) send the admin to X with :func:`x_authorization_start` and, when X sends them
back, trade the code for tokens and find out whose account it is with :func:`x_authorization_finish`.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
import tweepy
from django.conf import settings
from oauthlib.oauth2 import InsecureTransportError, OAuth2Error

from channels.connectors.base import ConnectorError
from channels.connectors.x.client import (
    SCOPES,
    TOKEN_ENDPOINT,
    USERS_ME_ENDPOINT,
    _call,
    _credentials_from_token,
    _json_body,
    _raise_for_token_status,
    _raise_transport_error,
    _sent_field,
    _timed_session,
)
from channels.connectors.x.connector import XConnector


def x_authorization_start(*, redirect_uri: str) -> tuple[str, dict[str, str]]:
    """The X address to send the admin to, and what to keep in their session until X sends them back.

    The kept dict holds the ``state`` (checked against the callback, against forged callbacks) and the
    PKCE ``code_verifier`` (sent with the code, proving this server started the flow).
    """
    handler = _oauth_handler(redirect_uri)
    url = handler.get_authorization_url()
    state = parse_qs(urlsplit(url).query)["state"][0]
    # tweepy keeps the verifier on the oauthlib client and has no accessor for it.
    return url, {"state": state, "code_verifier": str(handler._client.code_verifier)}


def x_authorization_finish(
    *,
    redirect_uri: str,
    state_kept: Mapping[str, str],
    authorization_response_url: str,
    clock: Callable[[], float] = time.time,
) -> dict[str, Any]:
    """Trade the callback's code for tokens and look up whose account it is.

    Returns ``{"credentials": {access_token, refresh_token, expires_at, scope}, "account_id", "username",
    "name"}``. A callback whose state is not the one kept is refused before anything is sent to X.
    """
    query = parse_qs(urlsplit(authorization_response_url).query)
    returned_state = (query.get("state") or [""])[0]
    kept_state = str(state_kept.get("state") or "")
    if not kept_state or not hmac.compare_digest(returned_state.encode(), kept_state.encode()):
        raise ConnectorError("the X callback's state does not match this session's; authorisation refused")
    if "error" in query:
        raise ConnectorError(f"X did not authorise the account: {query['error'][0]}")
    handler = _oauth_handler(redirect_uri)
    handler.state = kept_state
    handler.new_state()  # with a string in .state, oauthlib keeps it as the state to check
    handler._client.code_verifier = str(state_kept.get("code_verifier") or "")
    handler.register_compliance_hook(
        "access_token_response", lambda response: _checked_token_response(response, clock())
    )
    try:
        token = handler.fetch_token(authorization_response_url)
    except Warning as granted:
        # oauthlib raises when X grants other scopes than asked; keep what was granted (the scope is stored,
        # and a stream its scope lacks is not read).
        token = granted.token  # type: ignore[attr-defined]
    except InsecureTransportError as exc:
        raise ConnectorError(
            "the X callback address must use https (for local development over http set "
            "OAUTHLIB_INSECURE_TRANSPORT=1)"
        ) from exc
    except OAuth2Error as exc:
        raise ConnectorError(f"X refused the authorization code: {exc.error}: {exc.description}") from exc
    except requests.RequestException as exc:
        _raise_transport_error(exc, TOKEN_ENDPOINT)
    credentials = _credentials_from_token(token, clock())
    client = XConnector(clock=clock).api_client(credentials["access_token"])
    response = _call(
        lambda: client.get_me(user_auth=False, user_fields=["username", "name"]),
        endpoint=USERS_ME_ENDPOINT,
        token_key="user:me",  # noqa: S106 (the account's id is what this call finds out)
        now=clock,
    )
    body = _json_body(response, USERS_ME_ENDPOINT)
    return {
        "credentials": credentials,
        "account_id": _sent_field(body, "id", USERS_ME_ENDPOINT),
        "username": _sent_field(body, "username", USERS_ME_ENDPOINT),
        "name": str(body["data"].get("name") or ""),
    }


def _oauth_handler(redirect_uri: str) -> tweepy.OAuth2UserHandler:
    client_id = getattr(settings, "X_CLIENT_ID", "")
    if not client_id:
        raise ConnectorError("X_CLIENT_ID is not set, so no X account can be connected")
    handler = tweepy.OAuth2UserHandler(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=list(SCOPES),
        client_secret=getattr(settings, "X_CLIENT_SECRET", "") or None,
    )
    _timed_session(handler)
    return handler


def _checked_token_response(response: requests.Response, now: float) -> requests.Response:
    """Compliance hook: fail on a refused or broken token answer before oauthlib tries to parse it."""
    _raise_for_token_status(response, now, refreshing=False)
    return response
