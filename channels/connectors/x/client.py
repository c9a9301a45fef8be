"""X's API calls and their errors, and the account's OAuth 2.0 tokens.

Every request goes through one ``requests`` session with a timeout, and tweepy is never asked to wait on a
rate limit: a 429 becomes :class:`RateLimited` (a spent usage cap :class:`UsageCapped`), a revoked token
:class:`AuthExpired`, an outage :class:`ConnectorUnavailable`; the rate-limit headers of every answer become
:class:`RateLimitInfo`. Tokens are refreshed from the stored refresh token (``_credentials_from_token``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, NoReturn

import requests
import tweepy
from django.conf import settings
from requests.adapters import HTTPAdapter

from channels.connectors.base import (
    AuthExpired,
    ChannelRef,
    ConnectorError,
    ConnectorUnavailable,
    RateLimited,
    RateLimitInfo,
    UsageCapped,
)

logger = logging.getLogger(__name__)


API_HOST = "https://api.twitter.com"  # tweepy 4.17 hard-codes this host for every v2 call
TOKEN_URL = f"{API_HOST}/2/oauth2/token"
SCOPES = ("tweet.read", "tweet.write", "users.read", "dm.read", "dm.write", "offline.access")

PAGE_SIZE = 100  # largest page the mentions, recent search and DM events endpoints return
REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read (seconds); requests waits forever without one
REFRESH_MARGIN_SECONDS = 300  # refresh this close to expiry, so a token never lapses between check and call
ACCESS_TOKEN_LIFETIME = 7200  # what X issues; assumed only when a token response leaves out expires_in
DEFAULT_RETRY_AFTER = 60.0  # a 429 without x-rate-limit-reset: a short wait rather than none (tweepy spins)
MIN_RETRY_AFTER = 1.0  # a reset time already passed (clock skew) still waits a moment

# Rate limits are kept per endpoint, named as X's documentation names them.
MENTIONS_ENDPOINT = "GET /2/users/:id/mentions"
SEARCH_ENDPOINT = "GET /2/tweets/search/recent"
DM_EVENTS_ENDPOINT = "GET /2/dm_events"
CREATE_TWEET_ENDPOINT = "POST /2/tweets"
CREATE_DM_ENDPOINT = "POST /2/dm_conversations/with/:participant_id/messages"
CONVERSATION_DM_EVENTS_ENDPOINT = "GET /2/dm_conversations/with/:participant_id/dm_events"
USERS_ME_ENDPOINT = "GET /2/users/me"
TOKEN_ENDPOINT = "POST /2/oauth2/token"  # noqa: S105 (an endpoint's name, not a secret)

APP_TOKEN_KEY = "app"  # noqa: S105 (names the app-wide token in rate-limit records; not a secret)

# A 403 usually means "not allowed to do this" (reply to a hidden post, a suspended account): retrying or
# re-authorising will not help. These say the token itself is the problem, which re-authorising fixes.
# Problem types are matched on their last path segment: X names them under api.twitter.com in older answers
# and api.x.com in newer ones.
_REAUTHORISE_PROBLEM_TYPES = frozenset({"unsupported-authentication"})
USAGE_CAPPED_PROBLEM_TYPE = "usage-capped"
# X's answer to a spent usage cap says "Daily" or "Monthly" but not when it resets: a daily cap is looked at
# again after the next midnight UTC, a monthly one (it resets on the app's billing day, which the API does
# not tell) once a day, so a capped channel costs one call a day instead of one every window.
USAGE_CAP_RECHECK_SECONDS = 24 * 3600
_REAUTHORISE_ERROR_CODES = frozenset({32, 89})  # "could not authenticate you", "invalid or expired token"
# Token endpoint errors that blame our app's client id or secret, not the channel's grant.
_APP_CREDENTIAL_ERRORS = frozenset({"invalid_client", "unauthorized_client"})


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request a timeout: neither tweepy.Client nor OAuth2UserHandler accepts one."""

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = REQUEST_TIMEOUT
        return super().send(request, **kwargs)


def _timed_session(session: requests.Session | None = None) -> requests.Session:
    session = session if session is not None else requests.Session()
    session.mount("https://", _TimeoutAdapter())
    session.hooks["response"].append(_rate_reset_header_normalised)
    return session


def _rate_reset_header_normalised(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """Make ``x-rate-limit-reset`` a whole number of seconds, or drop it.

    tweepy reads it with ``int()`` and raises ValueError (outside its error family) on anything else, such
    as "1780000137.5" or an empty value, before we see the 429. A fractional reset is rounded up; one that
    is no number at all is dropped, so the 429 waits the default and says the header was missing.
    """
    value = response.headers.get("x-rate-limit-reset")
    if value is None:
        return
    try:
        int(value)
    except ValueError:
        try:
            seconds = float(value)
        except ValueError:
            seconds = float("nan")
        if math.isfinite(seconds):
            response.headers["x-rate-limit-reset"] = str(math.ceil(seconds))
        else:
            del response.headers["x-rate-limit-reset"]


class _RequestRefused(ConnectorError):
    """X answered 400: the request itself is wrong. Kept apart so a stale page token can be dropped."""


# --- Calls and errors ------------------------------------------------------------------------------------


def _call(
    call: Callable[[], requests.Response],
    *,
    endpoint: str,
    token_key: str,
    now: Callable[[], float],
    limits: list[RateLimitInfo] | None = None,
) -> requests.Response:
    """Run one tweepy call, turning its failures into the connector error family.

    The rate-limit headers of the answer, refused or not, are appended to ``limits`` (when given), and a
    :class:`RateLimited` carries every limit seen so far in the fetch.
    """
    limits = limits if limits is not None else []
    try:
        response = call()
    except tweepy.HTTPException as exc:
        info = _rate_limit_info(exc.response.headers, endpoint, token_key)
        if info is not None:
            limits.append(info)
        _raise_http_error(exc, endpoint, token_key, now(), tuple(limits))
    except requests.RequestException as exc:
        _raise_transport_error(exc, endpoint)
    except tweepy.TweepyException as exc:
        raise ConnectorError(f"X call {endpoint} failed: {exc}") from exc
    except (ValueError, TypeError, KeyError) as exc:
        # tweepy reading something unexpected in an answer; a failed call, not a crashed pull.
        raise ConnectorError(f"X call {endpoint} failed on an unexpected answer: {exc!r}") from exc
    info = _rate_limit_info(response.headers, endpoint, token_key)
    if info is not None:
        limits.append(info)
    return response


def _raise_http_error(
    exc: tweepy.HTTPException,
    endpoint: str,
    token_key: str,
    now: float,
    limits: tuple[RateLimitInfo, ...],
) -> NoReturn:
    detail = _error_detail(exc)
    problem = _problem(exc)
    if isinstance(exc, tweepy.TooManyRequests) and _problem_name(problem) == USAGE_CAPPED_PROBLEM_TYPE:
        period = str(problem.get("period") or "")
        retry_after = _usage_cap_retry_after(period, now)
        until = datetime.fromtimestamp(now + retry_after, UTC).isoformat(timespec="seconds")
        raise UsageCapped(
            retry_after,
            f"X usage cap reached ({period or 'period not given'}) on {endpoint} ({token_key}): {detail}; "
            f"paused until the cap resets (looking again at {until})",
            limits=limits,
            period=period,
        ) from exc
    if isinstance(exc, tweepy.TooManyRequests):
        retry_after, note = _retry_after(exc.reset_time, now)
        raise RateLimited(
            retry_after,
            f"X rate limit reached on {endpoint} ({token_key}): {detail}; {note}",
            limits=limits,
        ) from exc
    if isinstance(exc, tweepy.Unauthorized):
        raise AuthExpired(f"X refused the token for {endpoint} ({token_key}): {detail}") from exc
    if isinstance(exc, tweepy.Forbidden):
        names_token = _problem_name(problem) in _REAUTHORISE_PROBLEM_TYPES
        if names_token or _REAUTHORISE_ERROR_CODES & set(exc.api_codes):
            raise AuthExpired(f"X does not accept the token for {endpoint} ({token_key}): {detail}") from exc
        raise ConnectorError(f"X forbade {endpoint} ({token_key}): {detail}") from exc
    if isinstance(exc, tweepy.TwitterServerError):
        raise ConnectorUnavailable(f"X failed on {endpoint}: {detail}") from exc
    if isinstance(exc, tweepy.BadRequest):
        raise _RequestRefused(f"X refused {endpoint} ({token_key}) as a bad request: {detail}") from exc
    raise ConnectorError(f"X refused {endpoint} ({token_key}): {detail}") from exc


# Failures on the way to X or back, worth a retry; other request errors are mistakes in the request itself.
_TRANSPORT_FAILURES = (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)


def _raise_transport_error(exc: requests.RequestException, endpoint: str) -> NoReturn:
    if isinstance(
        exc, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError
    ):
        raise ConnectorUnavailable(f"X could not be reached for {endpoint}: {exc}") from exc
    raise ConnectorError(f"X request {endpoint} could not be sent: {exc}") from exc


def _retry_after(reset_time: int | None, now: float) -> tuple[float, str]:
    if reset_time is None:
        return DEFAULT_RETRY_AFTER, (
            f"X sent no x-rate-limit-reset header, so retrying after the default {DEFAULT_RETRY_AFTER:.0f}s"
        )
    retry_after = max(MIN_RETRY_AFTER, reset_time - now)
    return retry_after, f"the budget resets in {retry_after:.0f}s"


def _error_detail(exc: tweepy.HTTPException) -> str:
    # tweepy's message is "<status> <reason>" plus the body's errors or detail, over several lines.
    return " | ".join(line for line in str(exc).splitlines() if line.strip())


def _problem(exc: tweepy.HTTPException) -> Mapping[str, Any]:
    """The answer's RFC 7807 problem body, or an empty mapping."""
    try:
        body = exc.response.json()
    except ValueError:
        return {}
    return body if isinstance(body, Mapping) else {}


def _problem_name(problem: Mapping[str, Any]) -> str:
    """The last path segment of the problem type: "https://api.x.com/2/problems/usage-capped" and its
    api.twitter.com twin are both "usage-capped"."""
    return str(problem.get("type") or "").rstrip("/").rsplit("/", 1)[-1]


def _usage_cap_retry_after(period: str, now: float) -> float:
    if period.lower() == "daily":
        midnight = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return max(MIN_RETRY_AFTER, midnight.timestamp() + 24 * 3600 - now)
    return float(USAGE_CAP_RECHECK_SECONDS)


def _rate_limit_info(headers: Mapping[str, str], endpoint: str, token_key: str) -> RateLimitInfo | None:
    limit = _header_int(headers, "x-rate-limit-limit")
    remaining = _header_int(headers, "x-rate-limit-remaining")
    reset = _header_int(headers, "x-rate-limit-reset")
    if limit is None and remaining is None and reset is None:
        return None
    reset_at = datetime.fromtimestamp(reset, tz=UTC) if reset is not None else None
    return RateLimitInfo(
        endpoint=endpoint, token_key=token_key, limit=limit, remaining=remaining, reset_at=reset_at
    )


def _header_int(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _json_body(response: requests.Response, endpoint: str) -> dict[str, Any]:
    """The answer's JSON object; an answer of only ``errors`` (no data, no meta) is a failure."""
    try:
        body = response.json()
    except ValueError as exc:
        # A 2xx that is not JSON comes from something between us and X (a proxy, a captive portal).
        raise ConnectorUnavailable(f"X answered {endpoint} with a body that is not JSON") from exc
    if not isinstance(body, dict):
        raise ConnectorError(f"X answered {endpoint} with JSON that is not an object")
    errors = body.get("errors")
    if errors and "data" not in body and "meta" not in body:
        raise ConnectorError(f"X answered {endpoint} with errors only: {_errors_text(errors)}")
    return body


def _partial_errors(body: Mapping[str, Any], endpoint: str) -> list[str]:
    """The ``errors`` X sent beside the data: what it could not include (a deleted or withheld post, a
    suspended author), one line each, for the pull result and the channel page. The data is still good."""
    errors = body.get("errors")
    if not errors:
        return []
    errors = errors if isinstance(errors, list) else [errors]
    logger.info("X answered %s with %d partial errors: %s", endpoint, len(errors), _errors_text(errors))
    return [_errors_text([error]) for error in errors]


def _errors_text(errors: Any) -> str:
    if not isinstance(errors, list):
        return str(errors)
    parts = []
    for error in errors:
        if isinstance(error, Mapping):
            parts.append(str(error.get("detail") or error.get("message") or error.get("title") or error))
        else:
            parts.append(str(error))
    return "; ".join(parts)


def _sent_field(body: Mapping[str, Any], name: str, endpoint: str) -> str:
    data = body.get("data")
    value = data.get(name) if isinstance(data, Mapping) else None
    if not value:
        raise ConnectorError(f"X accepted {endpoint} but its answer has no data.{name}")
    return str(value)


# --- Tokens ----------------------------------------------------------------------------------------------


def _user_token_key(channel: ChannelRef) -> str:
    return f"user:{channel.external_account_id}"


def _bearer_token(credentials: Mapping[str, Any]) -> str:
    return str(credentials.get("bearer_token") or getattr(settings, "X_BEARER_TOKEN", "") or "")


def _access_token(credentials: Mapping[str, Any]) -> str:
    token = credentials.get("access_token")
    if not token:
        raise AuthExpired("the channel has no X access token; connect the account again")
    return str(token)


def _epoch(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _raise_for_token_status(response: requests.Response, now: float, *, refreshing: bool) -> None:
    """Turn a failed token-endpoint answer into the connector error family."""
    status = response.status_code
    if status < 400:
        return
    if status == 429:
        retry_after, note = _retry_after(_header_int(response.headers, "x-rate-limit-reset"), now)
        raise RateLimited(retry_after, f"X rate limit reached on {TOKEN_ENDPOINT}; {note}")
    if status >= 500:
        raise ConnectorUnavailable(f"X failed on {TOKEN_ENDPOINT}: {status} {response.reason}")
    try:
        body = response.json()
    except ValueError:
        body = {}
    body = body if isinstance(body, Mapping) else {}
    error = str(body.get("error") or status)
    description = str(body.get("error_description") or response.reason or "")
    message = f"X token endpoint refused: {error}: {description}"
    if error in _APP_CREDENTIAL_ERRORS:
        raise ConnectorError(f"{message} (check X_CLIENT_ID and X_CLIENT_SECRET)")
    if refreshing:
        raise AuthExpired(f"{message}; the channel must be authorised again")
    raise ConnectorError(message)


def _token_body(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body.get("access_token"):
        raise ConnectorError(f"X token endpoint answered without an access token ({response.status_code})")
    return body


def _credentials_from_token(
    token: Mapping[str, Any], now: float, *, previous_refresh_token: str = ""
) -> dict[str, Any]:
    """What is stored for a channel from a token response; ``expires_at`` is epoch seconds."""
    expires_in = _epoch(token.get("expires_in"))
    credentials: dict[str, Any] = {
        "access_token": str(token["access_token"]),
        # X rotates refresh tokens; should an answer leave it out, the one just used is still the one.
        "refresh_token": str(token.get("refresh_token") or previous_refresh_token),
        "expires_at": int(now + (expires_in if expires_in is not None else ACCESS_TOKEN_LIFETIME)),
    }
    scope = token.get("scope")
    if isinstance(scope, list | tuple):
        scope = " ".join(scope)
    if scope:
        credentials["scope"] = str(scope)
    return credentials
