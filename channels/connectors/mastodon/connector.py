"""Mastodon through Mastodon.py: mention notifications (mentions, replies and direct messages), hashtag
listening, replies and direct messages out.

Ids. Mastodon ids are per instance: the same post has a different id on every server that knows it, and two
servers hand out the same numbers for different posts. Every id this connector emits (posts, authors, sent
replies, ``in_reply_to``) is therefore ``"<instance host>:<id on that instance>"``, the instance being the
channel's own. Ids stay short (inside the 64 characters of ``Mention.external_id``), a reply's parent gets the
same id its own pull gave it, so threads join up without a lookup, and a reply goes back through the channel
with the local id recovered from the external one. One post seen through two of our channels on *different*
instances has two such ids but one ActivityPub ``uri``, the post's ``canonical_id``: the ingest stores it
once, linked to both channels, each link keeping that channel's id for the post so replies from either
account go to the right status.

Handles. An instance names its own accounts by their bare user name (``acct`` "walker") and every other
account as ``user@host``; authors are stored as ``user@host`` either way, so one person reads the same from
every channel, and a reply that names someone in either form is not addressed to them a second time.

Threads. Statuses carry only ``in_reply_to_id``; finding a thread's root would cost one ``context`` call per
reply out of a budget of 300 calls per five minutes. So a reply's ``conversation_key`` is its parent's
external id and a post that answers nothing is its own key: stable and free. Deeper chains fold onto their
root where the parents are known: in the ingest service, which can take a stored parent's key.

Edits. Notifications of type ``update`` (Mastodon 3.5+) carry a status in its edited version, with
``edited_at``; the ones whose status mentions the account or answers it become posts like mentions, and the
ingest replaces a stored post's text with a later edit, keeping the earlier versions. Mastodon sends them for
statuses the account interacted with; a post that only mentioned us may be edited without one, and keeps the
version we first saw.

Paging. Notifications are walked oldest-first with ``min_id`` (the page *immediately* newer than the cursor,
which ``since_id`` is not: it returns the newest page and leaves a gap behind it), so a backlog of any size
arrives page by page with no gap and no double, and the cursor only ever moves to the newest item returned.
The next ``min_id`` is read from the ``Link: rel="prev"`` header through Mastodon.py's ``_pagination_prev``.

History. ``fetch_history`` (the backfill's) walks the other way: mention notifications from the newest back
with ``max_id`` (the ``Link: rel="next"`` header through ``_pagination_next``, else the oldest item's id), on
a cursor of its own (``{"history": {"max_id": ...}}``) that never touches the live one, until a post older
than the backfill's window or the end of what the instance keeps.
"""

from __future__ import annotations

import email.utils
import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from django.utils import timezone
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
    AuthorData,
    Capabilities,
    ChannelRef,
    ConnectorError,
    ConnectorUnavailable,
    Page,
    Post,
    RateLimited,
    RateLimitInfo,
    RejectedItem,
    SentReply,
    post_time_checked,
)
from channels.connectors.mastodon.rules import LISTENING_QUERIES, REPLY_RULES, addresses, qualified_handle
from channels.connectors.registry import register

T = TypeVar("T")

NETWORK = "mastodon"

NOTIFICATIONS_ENDPOINT = "GET /api/v1/notifications"
HASHTAG_ENDPOINT = "GET /api/v1/timelines/tag/:hashtag"
STATUS_ENDPOINT = "GET /api/v1/statuses/:id"
ACCOUNT_ENDPOINT = "GET /api/v1/accounts/:id"
POST_STATUS_ENDPOINT = "POST /api/v1/statuses"

NOTIFICATIONS_PAGE_SIZE = 40  # Mastodon's default notifications page; every server speaking the API takes it
HASHTAG_PAGE_SIZE = 40  # the most a Mastodon status timeline returns in one page
REQUEST_TIMEOUT = 20.0  # seconds; Mastodon.py waits 300 by default, longer than a pull should ever hang
DEFAULT_RETRY_AFTER = 300.0  # a 429 without a usable reset: Mastodon's budgets refill every five minutes
MIN_RETRY_AFTER = 1.0  # a reset already past (or clocks apart) must not turn into an immediate retry loop
# The cursor of a source that has never returned anything: everything that arrives later is new, so the
# next pull starts from the very first item instead of the newest page, which could leave a gap behind it.
START_OF_TIME = "0"
USER_AGENT = "socialops"

MAX_EXTERNAL_ID_LENGTH = 64  # Mention.external_id and Author.external_id are 64 characters wide
# 64, less the ":" and 26 for the longest ids servers speaking the Mastodon API use (GoToSocial's ULIDs).
# A longer host name is replaced by a digest of it, so that every id of one instance shares one prefix.
MAX_HOST_IN_ID = 37

VISIBILITIES = frozenset({"public", "unlisted", "private", "direct"})
# Mentions (replies and direct messages are mentions too), and edits of statuses the account interacted
# with: an edit of a post that mentions us replaces the stored text. The history walk asks for mentions
# only: the statuses it returns are already in their latest version.
NOTIFICATION_TYPES = ("mention", "update")
_HASHTAG_QUERY = re.compile(r"#(\w+)")
_LANGUAGE_SUBTAG = re.compile(r"[a-z]{2,8}")  # a BCP 47 primary language subtag
# ISO 639's codes for "undetermined", "several", "not listed" and "no linguistic content": no language.
_NO_LANGUAGE = frozenset({"und", "mul", "mis", "zxx"})


# --- The connector ---------------------------------------------------------------------------------------


@register(NETWORK)
class MastodonConnector:
    """Pulls a Mastodon account's mentions (and, for ``#hashtag`` listening queries, that hashtag's
    timeline on the account's instance) and posts replies and direct messages as the account.

    Credentials: ``instance_url`` (``https://mastodon.social``) and ``access_token``. The channel's
    ``external_account_id`` is the account's id on its instance (bare or as ``host:id``).
    """

    network = NETWORK
    label = "Mastodon"  # what people read for the network
    capabilities = Capabilities(
        reply_rules=REPLY_RULES,
        history=True,
        direct_messages=True,
        direct_messages_are_posts=True,  # a direct message is a status with visibility "direct"
        hide_reply=False,  # Mastodon has no hiding of replies
        listening=True,  # #hashtag queries: their timelines on the account's instance
        listening_queries=LISTENING_QUERIES,
        connect_urls="channels.connectors.mastodon.urls",
    )

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or timezone.now
        # One client per channel and connector: a pull makes several calls through one connection, and
        # Mastodon.py's one-off instance lookup for hashtag timelines is cached on the client.
        self._clients: dict[tuple[str, str], _Client] = {}

    def fetch(self, channel: ChannelRef, cursor: Mapping[str, Any]) -> Page:
        """Return the mentions after ``cursor["min_id"]`` and the hashtag hits after each tag's cursor.

        An empty cursor starts from the newest page (older history is a backfill's job). ``has_more`` says a
        source walked forward from its cursor returned a full page, so more is waiting after it.
        """
        state = _Cursor.parse(cursor)
        client = self._client(channel)
        batch = _Batch(
            prefix=client.id_prefix,
            host=client.host,
            own_account=_own_account_matcher(channel, client.id_prefix),
        )

        notifications = client.call(
            NOTIFICATIONS_ENDPOINT,
            lambda api: api.notifications(
                types=list(NOTIFICATION_TYPES), min_id=state.min_id, limit=NOTIFICATIONS_PAGE_SIZE
            ),
        )
        # Pages come newest first; the inbox gets them oldest first, so a parent precedes its replies.
        for item in reversed(notifications.items):
            batch.add_notification(item)
        min_id = notifications.next_min_id(state.min_id)
        has_more = _is_behind(state.min_id, notifications, NOTIFICATIONS_PAGE_SIZE)
        rate_limits: dict[str, RateLimitInfo] = {}
        if notifications.rate_limit is not None:
            rate_limits[NOTIFICATIONS_ENDPOINT] = notifications.rate_limit

        hashtag_cursors: dict[str, str] = {}
        for tag in _hashtags(channel):
            since = state.hashtags.get(tag)
            timeline = client.call(
                HASHTAG_ENDPOINT,
                lambda api, tag=tag, since=since: api.timeline_hashtag(
                    tag, min_id=since, limit=HASHTAG_PAGE_SIZE
                ),
            )
            for item in reversed(timeline.items):
                batch.add_hashtag_hit(item, tag)
            hashtag_cursors[tag] = timeline.next_min_id(since)
            has_more = has_more or _is_behind(since, timeline, HASHTAG_PAGE_SIZE)
            if timeline.rate_limit is not None:  # one budget per account and endpoint: the latest counts
                rate_limits[HASHTAG_ENDPOINT] = timeline.rate_limit

        next_cursor: dict[str, Any] = {"min_id": min_id}
        if hashtag_cursors:
            next_cursor["hashtags"] = hashtag_cursors
        return Page(
            posts=tuple(batch.posts),
            cursor=next_cursor,
            has_more=has_more,
            rejected=tuple(batch.rejected),
            rate_limits=tuple(rate_limits.values()),
        )

    def fetch_history(self, channel: ChannelRef, cursor: Mapping[str, Any], *, since: datetime) -> Page:
        """Return the page of mention notifications older than ``cursor["history"]["max_id"]`` (the newest
        page for an empty cursor), walking back in time; ``since`` must be timezone-aware.

        Posts are built as ``fetch`` builds them (kinds, text, rejected items, rate limits, errors). A post
        older than ``since`` is not returned and ends the walk (``has_more`` False), as does an empty page or
        a short one without a ``Link: rel="next"``. Hashtag timelines are not walked: the history of a
        listening query is not backfilled, only the account's mentions, replies and direct messages.
        """
        max_id = _history_max_id(cursor)
        client = self._client(channel)
        batch = _Batch(
            prefix=client.id_prefix,
            host=client.host,
            own_account=_own_account_matcher(channel, client.id_prefix),
            since=since,
        )
        notifications = client.call(
            NOTIFICATIONS_ENDPOINT,
            lambda api: api.notifications(types=["mention"], max_id=max_id, limit=NOTIFICATIONS_PAGE_SIZE),
        )
        # Newest first, as the page came: the first post older than the window ends the walk.
        for item in notifications.items:
            batch.add_notification(item)
            if batch.reached_since:
                break
        next_max_id = notifications.next_max_id(max_id)
        has_more = (
            not batch.reached_since
            and bool(notifications.items)
            and (len(notifications.items) >= NOTIFICATIONS_PAGE_SIZE or notifications.has_next)
        )
        next_cursor: dict[str, Any] = {"history": {"max_id": next_max_id}} if next_max_id is not None else {}
        rate_limits = (notifications.rate_limit,) if notifications.rate_limit is not None else ()
        return Page(
            posts=tuple(reversed(batch.posts)),  # oldest first, as fetch hands them out
            cursor=next_cursor,
            has_more=has_more,
            rejected=tuple(batch.rejected),
            rate_limits=rate_limits,
        )

    def endpoints(self, channel: ChannelRef) -> tuple[tuple[str, str], ...]:
        """Notifications always; the hashtag timeline when a listening query is a hashtag."""
        token_key = _token_key(channel)
        pairs = [(NOTIFICATIONS_ENDPOINT, token_key)]
        if _hashtags(channel):
            pairs.append((HASHTAG_ENDPOINT, token_key))
        return tuple(pairs)

    def reply(self, channel: ChannelRef, *, in_reply_to: str, text: str) -> SentReply:
        """Answer the post with external id ``in_reply_to`` with the same visibility (a direct message stays
        direct) and content warning, addressed as Mastodon's own apps address a reply: the author and
        everyone the post mentions, except this account and whoever ``text`` already names.

        An idempotency key derived from the target and the text makes a retried reply post once.
        """
        client = self._client(channel)
        status_id = _local_id(in_reply_to, client.id_prefix)
        original = client.call(STATUS_ENDPOINT, lambda api: api.status(status_id)).body
        if not isinstance(original, Mapping):
            raise ConnectorError(f"Mastodon returned no status for {in_reply_to}")
        visibility = original.get("visibility")
        if visibility not in VISIBILITIES:
            # Replying with a guessed visibility could make a private conversation public.
            raise ConnectorError(f"status {in_reply_to} has no known visibility ({visibility!r})")
        is_own = _own_account_matcher(channel, client.id_prefix)
        addressees = [
            acct
            for account_id, acct in _participants(original)
            if not is_own(account_id) and not addresses(text, acct, instance_host=client.host)
        ]
        body = " ".join([*(f"@{acct}" for acct in addressees), text])
        spoiler_text = original.get("spoiler_text") or None
        sent = client.call(
            POST_STATUS_ENDPOINT,
            lambda api: api.status_post(
                body,
                in_reply_to_id=status_id,
                visibility=visibility,
                spoiler_text=spoiler_text,
                idempotency_key=_idempotency_key(channel, f"reply:{in_reply_to}", text),
            ),
        )
        return _sent_reply(sent.body, client.id_prefix)

    def send_direct_message(self, channel: ChannelRef, *, recipient_id: str, text: str) -> SentReply:
        """Send a direct (mentioned-people-only) status to the author with external id ``recipient_id``.

        Mastodon delivers a direct status to the accounts it mentions, so the recipient's address is looked
        up and put in front of ``text``.
        """
        client = self._client(channel)
        account_id = _local_id(recipient_id, client.id_prefix)
        account = client.call(ACCOUNT_ENDPOINT, lambda api: api.account(account_id)).body
        acct = account.get("acct") if isinstance(account, Mapping) else None
        if not isinstance(acct, str) or not acct:
            raise ConnectorError(f"Mastodon returned no address for account {recipient_id}")
        body = text if addresses(text, acct, instance_host=client.host) else f"@{acct} {text}"
        sent = client.call(
            POST_STATUS_ENDPOINT,
            lambda api: api.status_post(
                body,
                visibility="direct",
                idempotency_key=_idempotency_key(channel, f"dm:{recipient_id}", text),
            ),
        )
        return _sent_reply(sent.body, client.id_prefix)

    def _client(self, channel: ChannelRef) -> _Client:
        instance_url, access_token = _credentials(channel)
        key = (instance_url, access_token)
        if key not in self._clients:
            self._clients[key] = _Client(
                instance_url=instance_url,
                access_token=access_token,
                token_key=_token_key(channel),
                clock=self.clock,
            )
        return self._clients[key]


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


# --- Turning payloads into posts -------------------------------------------------------------------------


class _Batch:
    """The posts and rejected items of one page, each post once (the first source to bring it wins, and
    notifications are read first, so a hashtag hit that also mentions us stays a mention)."""

    def __init__(
        self,
        *,
        prefix: str,
        host: str,
        own_account: Callable[[str], bool],
        since: datetime | None = None,
    ) -> None:
        self.prefix = prefix
        self.host = host
        self.is_own = own_account
        # A history walk's window: the first post older than it is not kept and sets reached_since.
        self.since = since
        self.reached_since = False
        self.posts: list[Post] = []
        self.rejected: list[RejectedItem] = []
        self._seen: set[str] = set()

    def add_notification(self, item: Any) -> None:
        # Servers older than Mastodon 3.5 ignore types[]: other notifications are not posts for the inbox.
        kind = item.get("type") if isinstance(item, Mapping) else None
        if kind not in (None, "mention", "update"):
            return
        if kind == "update" and not self._concerns_us(item.get("status")):
            return  # an edit of a post we boosted or favourited but that never addressed us
        self._add(
            item,
            lambda: _post(_field(item, "status", Mapping), item, prefix=self.prefix, host=self.host),
            newer_wins=True,
        )

    def add_hashtag_hit(self, item: Any, tag: str) -> None:
        if isinstance(item, Mapping) and (item.get("reblog") or self._is_own_status(item)):
            return  # a boost repeats a post we see anyway; our own posts are not mentions of us
        raw = {"hashtag": tag, "status": item}
        self._add(item, lambda: _post(item, raw, prefix=self.prefix, host=self.host, keyword=True))

    def _add(self, item: Any, build: Callable[[], Post], *, newer_wins: bool = False) -> None:
        try:
            post = build()
        except (KeyError, TypeError, ValueError) as exc:
            raw = item if isinstance(item, Mapping) else {"item": item}
            self.rejected.append(RejectedItem(raw=raw, error=str(exc)))
            return
        if self.since is not None and post.created_at < self.since:
            self.reached_since = True
            return
        if post.external_id not in self._seen:
            self._seen.add(post.external_id)
            self.posts.append(post)
        elif newer_wins:
            # A mention and its edit in one page (oldest first): the post is stored once, as last edited.
            at = next(i for i, kept in enumerate(self.posts) if kept.external_id == post.external_id)
            if _edit_time(post) >= _edit_time(self.posts[at]):
                self.posts[at] = post

    def _concerns_us(self, status: Any) -> bool:
        """Whether a status mentions the account or answers one of its posts."""
        if not isinstance(status, Mapping):
            return True  # let the parser reject it with its reason
        if self.is_own(str(status.get("in_reply_to_account_id"))):
            return True
        return any(
            isinstance(person, Mapping) and self.is_own(str(person.get("id")))
            for person in status.get("mentions") or ()
        )

    def _is_own_status(self, status: Mapping[str, Any]) -> bool:
        account = status.get("account")
        return isinstance(account, Mapping) and self.is_own(str(account.get("id")))


def _post(
    status: Mapping[str, Any], raw: Mapping[str, Any], *, prefix: str, host: str, keyword: bool = False
) -> Post:
    """One status as a Post; raises ValueError naming what is wrong with it."""
    status_id = _external_id(prefix, _id(status, "id"))
    account = _field(status, "account", Mapping)
    visibility = _field(status, "visibility", str)
    if visibility not in VISIBILITIES:
        raise ValueError(f"status visibility {visibility!r} is not one of {sorted(VISIBILITIES)}")
    parent_id = status.get("in_reply_to_id")
    in_reply_to = _external_id(prefix, _id(status, "in_reply_to_id")) if parent_id is not None else ""
    if keyword:
        kind = "keyword"
    elif visibility == "direct":
        kind = "dm"
    elif in_reply_to:
        kind = "reply"
    else:
        kind = "mention"
    url = status.get("url") or status.get("uri") or ""
    if not isinstance(url, str):
        raise ValueError(f"status url {url!r} is not a string")
    return Post(
        network=NETWORK,
        external_id=status_id,
        kind=kind,
        text=html_to_text(_field(status, "content", str)),
        created_at=_timestamp(_field(status, "created_at", str)),
        author=_author(account, prefix=prefix, host=host),
        conversation_key=in_reply_to or status_id,
        in_reply_to=in_reply_to,
        edited_at=_edited_at(status.get("edited_at")),
        canonical_id=_uri(status),
        url=url,
        raw=raw,
        language=_language(status.get("language")),
    )


def _edited_at(value: Any) -> datetime | None:
    """When the status was last edited; None for a status never edited, and for an edit time that cannot
    be read (the post is kept, as not edited, rather than lost)."""
    if not isinstance(value, str):
        return None
    try:
        return _timestamp(value)
    except ValueError:
        return None


def _uri(status: Mapping[str, Any]) -> str:
    """The status's ActivityPub id, the same on every server that knows the post; "" when it has none."""
    uri = status.get("uri")
    return uri if isinstance(uri, str) and uri.startswith(("https://", "http://")) else ""


def _edit_time(post: Post) -> datetime:
    return post.edited_at or post.created_at


def _language(value: Any) -> str:
    """The primary subtag of the language the author's app set on the status (ISO 639: "en" from "en-GB"),
    lowercase; "" when the status has none (null) or something that is not a language tag. A wrong tag
    only loses a routing hint, so it never rejects the post."""
    if not isinstance(value, str):
        return ""
    primary = re.split(r"[-_]", value.strip(), maxsplit=1)[0].lower()
    if primary in _NO_LANGUAGE or not _LANGUAGE_SUBTAG.fullmatch(primary):
        return ""
    return primary


def _author(account: Mapping[str, Any], *, prefix: str, host: str) -> AuthorData:
    followers = account.get("followers_count")
    if followers is None:
        followers = 0
    if isinstance(followers, bool) or not isinstance(followers, int) or followers < 0:
        raise ValueError(f"account followers_count {followers!r} is not a count")
    display_name = account.get("display_name") or ""
    if not isinstance(display_name, str):
        raise ValueError(f"account display_name {display_name!r} is not a string")
    return AuthorData(
        external_id=_external_id(prefix, _id(account, "id")),
        handle=qualified_handle(_field(account, "acct", str), instance_host=host),
        display_name=display_name,
        follower_count=followers,
        # Mastodon has no verified accounts. A profile field's verified_at only proves the person controls
        # the linked web page, which half the fediverse does; it says nothing about reach or identity.
        is_verified=False,
    )


def _field(mapping: Mapping[str, Any], key: str, kind: type[T]) -> T:
    """``mapping[key]``, present and of ``kind``, or a ValueError that says which it is not."""
    if not isinstance(mapping, Mapping):
        raise ValueError(f"expected an object holding {key!r}, got {type(mapping).__name__}")
    value = mapping.get(key)
    if value is None:
        raise ValueError(f"{key!r} is missing")
    if not isinstance(value, kind):
        raise ValueError(f"{key!r} is {type(value).__name__}, not {kind.__name__}")
    return value


def _id(mapping: Mapping[str, Any], key: str) -> str:
    """An id field as a string (the API sends strings; some servers send numbers)."""
    value = _field(mapping, key, object)
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "":
        raise ValueError(f"{key!r} is not an id: {value!r}")
    return str(value)


def _timestamp(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"created_at {value!r} is not an ISO-8601 time") from None
    # The API sends UTC ("...Z"); a server that leaves the zone out means UTC too.
    return post_time_checked(moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC))


def _participants(status: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(account id, acct) of the author and then everyone the status mentions, each once."""
    people: dict[str, str] = {}
    candidates = [status.get("account"), *(status.get("mentions") or ())]
    for person in candidates:
        if isinstance(person, Mapping) and isinstance(person.get("acct"), str):
            people.setdefault(str(person.get("id")), person["acct"])
    return list(people.items())


def _sent_reply(status: Any, prefix: str) -> SentReply:
    try:
        external_id = _external_id(prefix, _id(status, "id"))
    except ValueError as exc:
        raise ConnectorError(f"Mastodon accepted the status but returned no usable one: {exc}") from None
    return SentReply(external_id=external_id, url=status.get("url") or "", raw=status)


def _idempotency_key(channel: ChannelRef, target: str, text: str) -> str:
    # Mastodon posts a status once per key (kept for an hour), so a retried task cannot post it twice.
    return hashlib.sha256(f"{channel.slug}|{target}|{text}".encode()).hexdigest()


# --- HTML to plain text ----------------------------------------------------------------------------------

_PARAGRAPH_TAGS = frozenset({"p", "div", "blockquote", "pre", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6"})
_LINE_TAGS = frozenset({"br", "li"})
# Mastodon sanitises content, so these should never arrive; if they do, their contents are code, not words,
# and are dropped. Markup the author *typed* arrives escaped and stays as the literal text they wrote.
_DROPPED_TAGS = frozenset({"script", "style", "template"})
_PARAGRAPH_BREAK = "\n\n"


class _PlainText(HTMLParser):
    """Collects the text of status HTML, with the line breaks its block and break tags stand for."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)  # entities arrive unescaped in handle_data
        self.parts: list[str] = []
        self._dropped_depth = 0
        self._pre_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROPPED_TAGS:
            self._dropped_depth += 1
        elif tag in _PARAGRAPH_TAGS:
            self.parts.append(_PARAGRAPH_BREAK)
        elif tag in _LINE_TAGS:
            self.parts.append("\n")
        if tag == "pre":
            self._pre_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROPPED_TAGS:
            self._dropped_depth = max(0, self._dropped_depth - 1)
        elif tag in _PARAGRAPH_TAGS:
            self.parts.append(_PARAGRAPH_BREAK)
        if tag == "pre":
            self._pre_depth = max(0, self._pre_depth - 1)

    def handle_data(self, data: str) -> None:
        if self._dropped_depth:
            return
        # Outside <pre>, HTML whitespace is layout, not content; line breaks come from <p> and <br>.
        self.parts.append(data if self._pre_depth else re.sub(r"\s+", " ", data))


def html_to_text(content: str) -> str:
    """Mastodon's HTML status content as plain text: paragraphs apart by a blank line, ``<br>`` a line
    break, links as their text (the full URL for a shortened link), entities unescaped."""
    parser = _PlainText()
    parser.feed(content)
    parser.close()
    text = "".join(parser.parts)
    text = re.sub(r" *\n *", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


# --- Cursors, credentials and ids ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Cursor:
    """Where a channel's pull stands: ``{"min_id": <newest mention notification returned>,
    "hashtags": {<tag>: <newest status of that tag returned>}}``."""

    min_id: str | None
    hashtags: Mapping[str, str]

    @classmethod
    def parse(cls, cursor: Mapping[str, Any]) -> _Cursor:
        min_id = cursor.get("min_id")
        hashtags = cursor.get("hashtags", {})
        if min_id is not None and not isinstance(min_id, str):
            raise ConnectorError(f"mastodon cursor min_id must be a string, got {cursor!r}")
        if not isinstance(hashtags, Mapping) or not all(
            isinstance(tag, str) and isinstance(value, str) for tag, value in hashtags.items()
        ):
            raise ConnectorError(f"mastodon cursor hashtags must map tags to ids, got {cursor!r}")
        return cls(min_id=min_id, hashtags=hashtags)


def _history_max_id(cursor: Mapping[str, Any]) -> str | None:
    """The ``max_id`` of a history cursor (``{"history": {"max_id": ...}}``); None starts at the newest."""
    history = cursor.get("history", {})
    max_id = history.get("max_id") if isinstance(history, Mapping) else None
    if not isinstance(history, Mapping) or (max_id is not None and not isinstance(max_id, str)):
        raise ConnectorError(f"mastodon history cursor max_id must be a string, got {cursor!r}")
    return max_id


def _hashtags(channel: ChannelRef) -> list[str]:
    """The listening queries that are one hashtag, lower-cased (Mastodon's tags ignore case), each once.

    Other queries (words, phrases) are not listened to on Mastodon: its full-text search covers only posts
    whose authors opted in, and cannot be walked by id.
    """
    tags: dict[str, None] = {}
    for query in channel.listening_queries:
        match = _HASHTAG_QUERY.fullmatch(query.strip())
        if match:
            tags.setdefault(match.group(1).lower(), None)
    return list(tags)


def _credentials(channel: ChannelRef) -> tuple[str, str]:
    instance_url = channel.credentials.get("instance_url")
    access_token = channel.credentials.get("access_token")
    if not isinstance(instance_url, str) or not instance_url.strip():
        raise ConnectorError(f"mastodon channel {channel.slug} has no instance_url credential")
    instance_url = instance_url.strip().rstrip("/")
    if "://" not in instance_url:
        instance_url = f"https://{instance_url}"
    parts = urlsplit(instance_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        raise ConnectorError(f"mastodon channel {channel.slug}: {instance_url!r} is not an instance address")
    if not isinstance(access_token, str) or not access_token:
        raise AuthExpired(f"mastodon channel {channel.slug} has no access token; connect the account again")
    return instance_url, access_token


def _token_key(channel: ChannelRef) -> str:
    return f"user:{channel.external_account_id}"


def _id_prefix(instance_url: str) -> str:
    host = urlsplit(instance_url).netloc.lower()
    if len(host) > MAX_HOST_IN_ID:
        host = "host-" + hashlib.sha256(host.encode()).hexdigest()[:16]
    return f"{host}:"


def _external_id(prefix: str, local_id: str) -> str:
    external_id = f"{prefix}{local_id}"
    if len(external_id) > MAX_EXTERNAL_ID_LENGTH:
        raise ValueError(f"id {local_id!r} is too long for a {MAX_EXTERNAL_ID_LENGTH}-character external id")
    return external_id


def _local_id(external_id: str, prefix: str) -> str:
    """The id on the channel's instance behind one of our external ids."""
    if not external_id.startswith(prefix) or len(external_id) == len(prefix):
        raise ConnectorError(
            f"{external_id!r} is not a post or account of this channel's instance ({prefix.rstrip(':')})"
        )
    return external_id[len(prefix) :]


def _own_account_matcher(channel: ChannelRef, prefix: str) -> Callable[[str], bool]:
    """Whether an account id on the instance is the channel's own (stored bare or as ``host:id``)."""
    stored = channel.external_account_id
    own = {stored, stored.removeprefix(prefix)} - {""}
    return own.__contains__


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
