"""The one interface every network connector implements, the data it returns and the errors it raises.

Connectors are the only code that imports a network SDK. They turn payloads into the frozen dataclasses
below and failures into the small error family, so pull tasks and the ingest service never see an SDK type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

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


class UsageCapped(RateLimited):
    """The network's usage cap (posts read per day or month) is reached: nothing is read until it resets.

    ``period`` is what the network said ("Daily", "Monthly" or ""); ``retry_after`` is when to look again.
    """

    def __init__(
        self, retry_after: float, message: str = "", limits: tuple[RateLimitInfo, ...] = (), period: str = ""
    ) -> None:
        self.period = period
        super().__init__(retry_after, message, limits)


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
    avatar_url: str = ""  # the network's profile image; https only (avatar_url_checked), "" when none


AVATAR_URL_MAX_LENGTH = 500  # X's and Mastodon's image addresses are under 200 characters; room for CDNs


def avatar_url_checked(value: object) -> str:
    """A profile image address as a network sent it, if it is one a page may load: an absolute https URL
    with a host, no credentials, no spaces or control characters, at most AVATAR_URL_MAX_LENGTH long.
    Anything else (http, data:, javascript:, relative, too long) is "": the page shows initials instead."""
    if not isinstance(value, str) or not value or len(value) > AVATAR_URL_MAX_LENGTH:
        return ""
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return ""
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        return ""
    if parts.scheme != "https" or not host or parts.username or parts.password:
        return ""
    return value


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
    # When the author last edited the post (None: never, or the network does not say). A stored post that
    # arrives again with a later edit time has its text replaced, the earlier version kept in its history.
    edited_at: datetime | None = None
    # The post's id on every server, where the network gives one that differs from server to server's
    # external ids (Mastodon's ActivityPub uri): posts received through several accounts under different
    # external ids are one mention when it matches. Empty: the external id names the post everywhere.
    canonical_id: str = ""
    url: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)
    language: str = ""


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
class StreamStatus:
    """How one stream of a channel (its mentions, its DMs, one listening query) fared in the last fetch.

    ``outcome`` is one of :data:`STREAM_OUTCOMES`; a stream that is not ``ok`` says why in ``error`` and,
    when it is paused, until when (``retry_at``). One stream's failure never holds back another.
    """

    name: str  # stable key, e.g. "mentions", "dms", "search:<query>"
    label: str  # what a person reads on the channel page
    outcome: str = "ok"
    error: str = ""
    retry_at: datetime | None = None

    @property
    def is_failing(self) -> bool:
        return self.outcome not in STREAM_HEALTHY_OUTCOMES


# ok: read; waiting: another stream of the channel is paging through a backlog and goes first.
STREAM_HEALTHY_OUTCOMES = frozenset({"ok", "waiting"})
STREAM_OUTCOMES = (
    "ok",
    "waiting",
    "budget_spent",  # the endpoint has no calls left for this token until retry_at; not called
    "rate_limited",  # the network answered 429 until retry_at
    "usage_capped",  # the network's monthly or daily usage cap is reached; paused until retry_at
    "unavailable",  # a network error or a 5xx; tried again on the next pull
    "failed",  # refused (403, 400, ...); tried again after retry_at
)


@dataclass(frozen=True)
class Page:
    """One page of a pull: the posts, the items that failed to parse, and the cursor that follows it.

    ``cursor`` is what the channel stores once these posts are stored (in the same transaction);
    ``has_more`` says another page is waiting right now. ``streams`` says how each of the channel's streams
    fared (empty for a connector with one stream), ``partial_errors`` what the network said it could not
    include (a deleted post, a suspended author) beside the data it did send.
    """

    posts: tuple[Post, ...]
    cursor: Mapping[str, Any]
    has_more: bool = False
    rejected: tuple[RejectedItem, ...] = ()
    rate_limits: tuple[RateLimitInfo, ...] = ()
    streams: tuple[StreamStatus, ...] = ()
    partial_errors: tuple[str, ...] = ()


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
    # (endpoint, token_key) -> when its budget resets, for the endpoints whose last answer said no calls
    # are left: a connector with several streams skips those streams and reads the others.
    budget_spent_until: Mapping[tuple[str, str], datetime] = field(default_factory=dict)
    # Serialises token refreshes of this channel across processes (pulls, replies, backfills): see
    # CredentialsGuard. None refreshes without it (tests, one-off tools).
    credentials_guard: CredentialsGuard | None = field(default=None, compare=False, repr=False)


class CredentialsGuard(Protocol):
    """Runs a token refresh of one channel under that channel's lock.

    Called with ``refresh(stored)``: the guard takes the lock, reads the credentials stored now and passes
    them in; ``refresh`` returns the new set to store, or None when the stored set needs no refresh (another
    pull or reply refreshed it meanwhile). The guard stores the new set before it lets go of the lock and
    returns the set to use.
    """

    def __call__(
        self, refresh: Callable[[Mapping[str, Any]], Mapping[str, Any] | None]
    ) -> Mapping[str, Any]: ...


@dataclass(frozen=True)
class ReplyRules:
    """How long a reply on a network may be, counted the way that network counts it.

    ``length`` takes NFC-normalised text and is what ``reply_create`` checks. ``counting`` names how the
    composer's counter in the browser counts as the agent types (``static/js/inbox.js`` knows each):
    "graphemes" (user-perceived characters), "weighted" (twitter-text's weights, every link 23) or
    "short-links" (characters, every http(s) link 23, a remote ``@user@host`` as ``@user``).

    ``reply_prefix_length(text, author_handle, credentials)``, where the connector puts something in front
    of a public reply (Mastodon names the author unless the reply already does), is how much that adds, in
    the network's count, so that it is counted with the reply; None where nothing is added.
    """

    limit: int
    direct_limit: int
    length: Callable[[str], int]
    counting: str = "graphemes"
    reply_prefix_length: Callable[[str, str, Mapping[str, Any]], int] | None = None


@dataclass(frozen=True)
class ListeningQueries:
    """What a network listens for beyond mentions, as the channel pages ask for it.

    ``parse`` turns what the admin typed (one query a line) into the queries to store, or raises
    ``ValueError`` with a message for the admin.
    """

    label: str
    help_text: str
    parse: Callable[[str], list[str]]


@dataclass(frozen=True)
class Capabilities:
    """What a connector can do beyond fetch and reply, declared on its class instead of found by probing.

    - ``reply_rules``: the network's limits and length counting, and what the connector adds in front of a
      reply; None leaves a reply to ``channels.connectors.text.FALLBACK_RULES``.
    - ``history``: the connector has ``fetch_history(channel, cursor, *, since)`` for the backfill.
    - ``direct_messages``: it can send (and pull) direct messages at all; an account may still refuse them.
    - ``direct_messages_are_posts``: a direct message is a post with a visibility (Mastodon), so the answer
      to one is a reply in its thread that stays direct; otherwise (X, Bluesky) a direct message is a
      separate conversation with no post to reply to, and the answer to one goes back as a direct message.
    - ``hide_reply``: it can hide a reply to the account's own post.
    - ``listening``: it listens for a channel's listening queries (the channel page offers them only then);
      ``listening_queries`` says what they are, when not search queries (``channels.forms``' default).
    - ``search_app_token``: its listening searches can spend an app-wide bearer token instead of the
      account's budget (X): the channel page offers to store one.
    - ``connect_urls``: the dotted module whose ``urlpatterns`` are the network's connect flow, mounted at
      ``/channels/connect/<network>/``; its ``CONNECT_URL_NAME`` is where "connect" and "re-authorise" go.
    - ``status``: what the channel page says about the connection beyond its state, as (label, text) pairs,
      from the channel's credentials and cursor (say, that direct messages are off, and why).
    - ``finds_sent``: it implements :class:`FindsSent`, so a reply whose earlier attempt may have been
      published (a timeout, a worker that stopped mid-call) is looked for before it is sent again.
    - ``reparse``: turns one quarantined item, as it was kept (``QuarantinedItem.raw``), back into a post
      of the channel, or raises ``ValueError`` saying what is still wrong; offline, no network call. None:
      the network's items cannot be read again one at a time, so its quarantine offers no retry.
    """

    reply_rules: ReplyRules | None = None
    history: bool = False
    direct_messages: bool = True
    direct_messages_are_posts: bool = False
    hide_reply: bool = False
    listening: bool = True
    listening_queries: ListeningQueries | None = None
    search_app_token: bool = False
    connect_urls: str = ""
    status: Callable[[Mapping[str, Any], Mapping[str, Any]], tuple[tuple[str, str], ...]] | None = None
    finds_sent: bool = False
    reparse: Callable[[Mapping[str, Any], ChannelRef], Post] | None = None


@runtime_checkable
class Connector(Protocol):
    """Pulls posts for a channel, one page at a time, from a stored cursor, and sends replies."""

    network: str
    capabilities: Capabilities

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


@runtime_checkable
class FindsSent(Protocol):
    """Looks on the network for a reply or direct message the channel's account already published.

    After an attempt whose outcome is unknown (the network may have published the post and the answer was
    lost), the sender asks before posting again; X has no idempotency key, and Mastodon keeps one an hour.
    Each returns the post as :meth:`Connector.reply` would have (None when it is not there) and raises the
    connector error family like any call. ``since`` bounds how far back to look (timezone-aware).
    """

    def find_reply(
        self, channel: ChannelRef, *, in_reply_to: str, conversation: str, text: str, since: datetime
    ) -> SentReply | None:
        """The account's reply to ``in_reply_to`` (in ``conversation``, where the network has one) that
        says ``text``, published after ``since``."""
        ...

    def find_direct_message(
        self, channel: ChannelRef, *, recipient_id: str, text: str, since: datetime
    ) -> SentReply | None:
        """The account's direct message to ``recipient_id`` that says ``text``, sent after ``since``."""
        ...
