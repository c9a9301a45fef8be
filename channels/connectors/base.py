"""The one interface every network connector implements, the data it returns and the errors it raises.

Connectors are the only code that imports a network SDK. They turn payloads into the frozen dataclasses
below and failures into the small error family, so pull tasks and the ingest service never see an SDK type.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable

# --- Errors ---------------------------------------------------------------------------------------------


class ConnectorError(Exception):
    """Anything a connector could not do that is not one of the cases below."""


class RateLimited(ConnectorError):
    """The network refused the call for now; try again after ``retry_after`` seconds.

    ``limits`` carries what the refusing response said about the budget (endpoint, reset), when it said so.
    """

    def __init__(self, retry_after: float, message: str = "", limits: tuple[RateLimitInfo, ...] = ()) -> None:
        self.retry_after = max(0.0, float(retry_after))
        self.limits = limits
        super().__init__(message or f"rate limited; retry after {self.retry_after:.0f}s")


class ConnectorUnavailable(ConnectorError):
    """A network error, a timeout or a 5xx: worth retrying with backoff."""


class AuthExpired(ConnectorError):
    """The token was revoked or expired: terminal until someone re-authorises the channel."""


# --- Post times -----------------------------------------------------------------------------------------

# No network we pull from or import existed before 2006 (X began that March): an earlier time is broken.
EARLIEST_POST_AT = datetime(2006, 1, 1, tzinfo=UTC)
# Clocks of networks and export tools drift by minutes, time zones by hours; a day later than now is a
# wrong date, and years 1 or 9999 stored as such would break every page that reads them back.
POST_FUTURE_TOLERANCE = timedelta(days=1)


class PostTimeRefused(ValueError):
    """A post time outside the window a real post can have; the message says which bound and why."""


def post_time_checked(moment: datetime, *, now: datetime | None = None) -> datetime:
    """``moment`` in UTC when it can be a post's time: with a UTC offset, not before 2006, at most a day
    after ``now``. Otherwise :class:`PostTimeRefused`. The one check every way in (pulls, imports, the API)
    uses; comparing aware times never overflows, converting year 9999 at -05:00 to UTC would."""
    if moment.utcoffset() is None:
        raise PostTimeRefused(f"created_at {moment.isoformat()} has no UTC offset")
    if moment < EARLIEST_POST_AT:
        raise PostTimeRefused(
            f"created_at {moment.isoformat()} is before {EARLIEST_POST_AT:%Y-%m-%d}, earlier than any social "
            "network"
        )
    now = now or datetime.now(UTC)
    if moment > now + POST_FUTURE_TOLERANCE:
        raise PostTimeRefused(
            f"created_at {moment.isoformat()} is more than a day in the future (now is "
            f"{now.astimezone(UTC).isoformat(timespec='seconds')})"
        )
    return moment.astimezone(UTC)


# --- Data -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuthorData:
    """Who wrote a post, as the network describes them."""

    external_id: str
    handle: str
    display_name: str = ""
    follower_count: int = 0
    is_verified: bool = False


@dataclass(frozen=True)
class Post:
    """One post from a network, ready for the ingest service."""

    network: str
    external_id: str
    kind: str  # one of inbox.models.Mention.Kind values
    text: str
    created_at: datetime
    author: AuthorData
    conversation_key: str = ""
    in_reply_to: str = ""
    url: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RateLimitInfo:
    """What a response said about the budget of one endpoint for one token.

    ``token_key`` names the token without revealing it: "user:<account id>" for a channel's own token,
    "app" for an app-wide bearer token. ``reset_at`` is when ``remaining`` goes back to ``limit``.
    """

    endpoint: str
    token_key: str
    limit: int | None
    remaining: int | None
    reset_at: datetime | None


@dataclass(frozen=True)
class RejectedItem:
    """An item of a page that could not be turned into a Post; the rest of the page is kept."""

    raw: Mapping[str, Any]
    error: str


@dataclass(frozen=True)
class Page:
    """One page of a pull: the posts, the items that failed to parse, and the cursor that follows it.

    ``cursor`` is what the channel stores once these posts are stored (in the same transaction);
    ``has_more`` says another page is waiting right now.
    """

    posts: tuple[Post, ...]
    cursor: Mapping[str, Any]
    has_more: bool = False
    rejected: tuple[RejectedItem, ...] = ()
    rate_limits: tuple[RateLimitInfo, ...] = ()


@dataclass(frozen=True)
class SentReply:
    """A reply or direct message the network accepted."""

    external_id: str
    url: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChannelRef:
    """What a connector needs to know about a channel, without the ORM."""

    slug: str
    network: str
    handle: str
    external_account_id: str
    segment_slug: str
    credentials: Mapping[str, Any] = field(default_factory=dict)
    listening_queries: tuple[str, ...] = ()


@runtime_checkable
class Connector(Protocol):
    """Pulls posts for a channel, one page at a time, from a stored cursor, and sends replies."""

    network: str

    def fetch(self, channel: ChannelRef, cursor: Mapping[str, Any]) -> Page:
        """Return the next page after ``cursor`` (an empty mapping means "from now")."""
        ...

    def endpoints(self, channel: ChannelRef) -> tuple[tuple[str, str], ...]:
        """The (endpoint, token_key) pairs a fetch for this channel may call, so a pull whose budget is
        spent can be skipped before any call is made."""
        ...

    def reply(self, channel: ChannelRef, *, in_reply_to: str, text: str) -> SentReply:
        """Post a public reply to the post with external id ``in_reply_to``."""
        ...

    def send_direct_message(self, channel: ChannelRef, *, recipient_id: str, text: str) -> SentReply:
        """Send a direct message to the author with external id ``recipient_id``."""
        ...
