"""Mastodon's API calls through Mastodon.py and their errors: a client per channel that never sleeps on a rate
limit (a 429 becomes :class:`RateLimited`), a timeout on every call, Link-header paging, and the rate-limit
headers of every answer as :class:`RateLimitInfo`. Ids are per instance, so each carries the instance's
prefix (``host:id``).
"""

from __future__ import annotations

import email.utils
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests
from mastodon import Mastodon
from mastodon.errors import (
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from channels.connectors.base import (
    AuthExpired,
    ChannelRef,
    ConnectorError,
    ConnectorUnavailable,
    RateLimited,
    RateLimitInfo,
)

NOTIFICATIONS_ENDPOINT = "GET /api/v1/notifications"
HASHTAG_ENDPOINT = "GET /api/v1/timelines/tag/:hashtag"
STATUS_ENDPOINT = "GET /api/v1/statuses/:id"
ACCOUNT_ENDPOINT = "GET /api/v1/accounts/:id"
POST_STATUS_ENDPOINT = "POST /api/v1/statuses"
ACCOUNT_STATUSES_ENDPOINT = "GET /api/v1/accounts/:id/statuses"
REQUEST_TIMEOUT = 20.0  # seconds; Mastodon.py waits 300 by default, longer than a pull should ever hang
DEFAULT_RETRY_AFTER = 300.0  # a 429 without a usable reset: Mastodon's budgets refill every five minutes
MIN_RETRY_AFTER = 1.0  # a reset already past (or clocks apart) must not turn into an immediate retry loop
# The cursor of a source that has never returned anything: everything that arrives later is new, so the
# next pull starts from the very first item instead of the newest page, which could leave a gap behind it.
START_OF_TIME = "0"
USER_AGENT = "socialops"
# 64, less the ":" and 26 for the longest ids servers speaking the Mastodon API use (GoToSocial's ULIDs).
# A longer host name is replaced by a digest of it, so that every id of one instance shares one prefix.
MAX_HOST_IN_ID = 37


def mastodon_client(
    *, instance_url: str, access_token: str, session: requests.Session | None = None
) -> Mastodon:
    """The one place a Mastodon.py client is built.

    ``ratelimit_method="throw"``: "wait" and "pace" sleep inside the worker; a 429 must reschedule the pull
    instead. ``version_check_mode="none"``: no version lookup before the first real call.
    """
    return Mastodon(
        access_token=access_token,
        api_base_url=instance_url,
        ratelimit_method="throw",
        request_timeout=REQUEST_TIMEOUT,
        version_check_mode="none",
        session=session,
        user_agent=USER_AGENT,
    )


# --- Calls and their responses ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Response:
    """One call's outcome: Mastodon.py's result (for its paging information), the JSON body as the server
    sent it, and what the rate-limit headers said."""

    result: Any
    body: Any
    rate_limit: RateLimitInfo | None

    @property
    def items(self) -> list[Any]:
        if not isinstance(self.body, list):
            raise ConnectorError(f"Mastodon returned {type(self.body).__name__} where a list was expected")
        return self.body

    def next_min_id(self, current: str | None) -> str:
        """The cursor after this page: the ``min_id`` of the ``Link: rel="prev"`` header (the newest item),
        else the first item's id; the current cursor when the page is empty."""
        prev = getattr(self.result, "_pagination_prev", None)
        # Mastodon.py turns an all-digit id into an int; cursors and ids stay strings.
        if isinstance(prev, Mapping) and prev.get("min_id") is not None:
            return str(prev["min_id"])
        for item in self.items:
            if isinstance(item, Mapping) and isinstance(item.get("id"), str | int):
                return str(item["id"])
        return current if current is not None else START_OF_TIME

    @property
    def has_next(self) -> bool:
        """Whether the server linked an older page (``Link: rel="next"``)."""
        pagination = getattr(self.result, "_pagination_next", None)
        return isinstance(pagination, Mapping) and pagination.get("max_id") is not None

    def next_max_id(self, current: str | None) -> str | None:
        """The history cursor after this page: the ``max_id`` of the ``Link: rel="next"`` header (the oldest
        item), else the last item's id; the current cursor when the page is empty."""
        pagination = getattr(self.result, "_pagination_next", None)
        if isinstance(pagination, Mapping) and pagination.get("max_id") is not None:
            return str(pagination["max_id"])
        for item in reversed(self.items):
            if isinstance(item, Mapping) and isinstance(item.get("id"), str | int):
                return str(item["id"])
        return current


def _is_behind(since: str | None, page: _Response, page_size: int) -> bool:
    """Whether more is waiting after this page: it was full, and it was read forward from a cursor. A first
    page (no cursor) is the newest there is; what is full behind it is history, not news."""
    return since is not None and len(page.items) >= page_size


class _Client:
    """A Mastodon.py client for one channel that keeps the last HTTP response it received.

    Mastodon.py returns parsed objects only. From the raw response we take the body, because Mastodon.py's
    permissive typing turns a malformed value into ``None`` (and pads every object with absent fields),
    while a bad item must be quarantined as it came; and the rate-limit headers of each call, because its
    own counters read 300 of 300 when a header is missing.
    """

    def __init__(
        self, *, instance_url: str, access_token: str, token_key: str, clock: Callable[[], datetime]
    ) -> None:
        self.id_prefix = _id_prefix(instance_url)
        self.host = urlsplit(instance_url).netloc.lower()
        self.token_key = token_key
        self.clock = clock
        self.last_response: requests.Response | None = None
        session = requests.Session()
        session.hooks["response"].append(self._keep_response)
        self.api = mastodon_client(instance_url=instance_url, access_token=access_token, session=session)

    def call(self, endpoint: str, request: Callable[[Mastodon], Any]) -> _Response:
        """Make one API call; Mastodon.py's errors come out as the connector error family."""
        self.last_response = None
        try:
            result = request(self.api)
        except MastodonError as exc:
            raise self._translate(endpoint, exc) from exc
        response = self.last_response
        if response is None:  # every Mastodon.py call that returns has received a response
            raise ConnectorError(f"Mastodon.py returned from {endpoint} without an HTTP response")
        try:
            body = response.json()
        except ValueError:
            raise ConnectorError(f"Mastodon answered {endpoint} with something other than JSON") from None
        return _Response(result=result, body=body, rate_limit=self._rate_limit(endpoint, response))

    def _keep_response(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.last_response = response
        # Mastodon.py raises MastodonRatelimitError on a reset or date header it cannot parse, failing a call
        # that succeeded. We read those headers ourselves (below); an unreadable one is dropped before it can.
        for header in ("X-RateLimit-Reset", "Date"):
            value = response.headers.get(header)
            if value is not None and _parse_http_time(value) is None:
                del response.headers[header]

    def _rate_limit(self, endpoint: str, response: requests.Response) -> RateLimitInfo | None:
        headers = response.headers
        limit = _int_or_none(headers.get("X-RateLimit-Limit"))
        remaining = _int_or_none(headers.get("X-RateLimit-Remaining"))
        reset_at = _reset_at(headers, self.clock())
        if limit is None and remaining is None and reset_at is None:
            return None
        return RateLimitInfo(
            endpoint=endpoint, token_key=self.token_key, limit=limit, remaining=remaining, reset_at=reset_at
        )

    def _translate(self, endpoint: str, exc: MastodonError) -> ConnectorError:
        response = self.last_response
        if isinstance(exc, MastodonRatelimitError):
            if response is None or response.status_code != 429:
                return ConnectorError(
                    f"Mastodon.py could not read the rate-limit headers of {endpoint}: {exc}"
                )
            info = self._rate_limit(endpoint, response)
            now = self.clock()
            if info is not None and info.reset_at is not None:
                retry_after = max(MIN_RETRY_AFTER, (info.reset_at - now).total_seconds())
            else:
                retry_after = DEFAULT_RETRY_AFTER
            limits = (info,) if info is not None else ()
            return RateLimited(
                retry_after, f"Mastodon rate limit hit on {endpoint}; retry after {retry_after:.0f}s", limits
            )
        detail = _describe(exc, response)
        if isinstance(exc, MastodonUnauthorizedError):
            return AuthExpired(f"Mastodon refused the access token on {endpoint}: {detail}")
        if isinstance(exc, MastodonNetworkError | MastodonServerError):
            # MastodonNetworkError covers timeouts and refused connections; MastodonServerError every 5xx.
            return ConnectorUnavailable(f"Mastodon is unavailable on {endpoint}: {detail}")
        if isinstance(exc, MastodonNotFoundError):
            return ConnectorError(f"Mastodon found nothing at {endpoint}: {detail}")
        return ConnectorError(f"Mastodon error on {endpoint}: {detail}")


def _describe(exc: MastodonError, response: requests.Response | None) -> str:
    """The status and the server's own words ({"error": ...}) for an API error; the exception otherwise."""
    if response is None or response.ok:
        return str(exc) or type(exc).__name__
    # Read from the response: Mastodon.py casts an error body to the endpoint's return type first, which
    # loses the server's message for list endpoints.
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, Mapping) else None
    return f"{response.status_code} {response.reason}" + (f": {error}" if isinstance(error, str) else "")


def _token_key(channel: ChannelRef) -> str:
    return f"user:{channel.external_account_id}"


def _id_prefix(instance_url: str) -> str:
    host = urlsplit(instance_url).netloc.lower()
    if len(host) > MAX_HOST_IN_ID:
        host = "host-" + hashlib.sha256(host.encode()).hexdigest()[:16]
    return f"{host}:"


# --- Headers ---------------------------------------------------------------------------------------------


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _parse_http_time(value: str) -> datetime | None:
    """An ISO-8601 time (Mastodon's reset), Unix seconds (GoToSocial's), or an HTTP date (``Date``)."""
    value = value.strip()
    if value.isdigit():
        return datetime.fromtimestamp(int(value), tz=UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        try:
            moment = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _reset_at(headers: Mapping[str, str], now: datetime) -> datetime | None:
    """When the budget refills, on our clock: the server's reset, less the server's own ``Date`` when it
    sent one, so a worker whose clock is off still waits as long as the server means."""
    reset = _parse_http_time(headers.get("X-RateLimit-Reset") or "")
    if reset is None:
        return None
    server_now = _parse_http_time(headers.get("Date") or "")
    if server_now is None:
        return reset
    return now + timedelta(seconds=(reset - server_now).total_seconds())
