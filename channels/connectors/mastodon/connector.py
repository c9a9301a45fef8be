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

This folder alone imports Mastodon.py: the calls and their errors are in ``client``, payloads to posts in
``parsing``, the reply and listening rules in ``rules``, connecting an account in ``connect``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from django.utils import timezone

from channels.connectors.base import (
    AuthExpired,
    Capabilities,
    ChannelRef,
    ConnectorError,
    Page,
    Post,
    RateLimitInfo,
    SentReply,
)
from channels.connectors.mastodon.client import (
    ACCOUNT_ENDPOINT,
    ACCOUNT_STATUSES_ENDPOINT,
    HASHTAG_ENDPOINT,
    NOTIFICATIONS_ENDPOINT,
    POST_STATUS_ENDPOINT,
    STATUS_ENDPOINT,
    _Client,
    _id_prefix,
    _is_behind,
    _token_key,
)
from channels.connectors.mastodon.parsing import (
    NETWORK,
    VISIBILITIES,
    _Batch,
    _local_id,
    _participants,
    _post,
    _sent_reply,
    _timestamp,
    html_to_text,
)
from channels.connectors.mastodon.rules import LISTENING_QUERIES, REPLY_RULES, addresses
from channels.connectors.registry import register
from channels.connectors.text import published_as

NOTIFICATIONS_PAGE_SIZE = 40  # Mastodon's default notifications page; every server speaking the API takes it
HASHTAG_PAGE_SIZE = 40  # the most a Mastodon status timeline returns in one page
# Mentions (replies and direct messages are mentions too), and edits of statuses the account interacted
# with: an edit of a post that mentions us replaces the stored text. The history walk asks for mentions
# only: the statuses it returns are already in their latest version.
NOTIFICATION_TYPES = ("mention", "update")
# How many of the account's newest statuses are read to find a reply whose outcome was lost: one page, the
# most the endpoint returns. A lost reply is minutes old; an account posting 40 times since is not ours.
OWN_STATUSES_PAGE_SIZE = 40
_HASHTAG_QUERY = re.compile(r"#(\w+)")


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
        reparse=lambda raw, channel: _quarantined_post(raw, channel),
        finds_sent=True,  # the account's own statuses, direct ones included
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

    def find_reply(
        self, channel: ChannelRef, *, in_reply_to: str, conversation: str, text: str, since: datetime
    ) -> SentReply | None:
        """The account's status answering ``in_reply_to`` that says ``text``, among its newest statuses.

        Mastodon keeps a reply's idempotency key for an hour; this is what tells, after that hour or after
        an answer lost on the way back, whether a retry would post the reply twice. ``conversation`` is not
        needed: the account's statuses name what they answer.
        """
        client = self._client(channel)
        parent = _local_id(in_reply_to, client.id_prefix)
        return self._find_own(
            channel, client, text, since, lambda status: str(status.get("in_reply_to_id") or "") == parent
        )

    def find_direct_message(
        self, channel: ChannelRef, *, recipient_id: str, text: str, since: datetime
    ) -> SentReply | None:
        """The account's direct status mentioning ``recipient_id`` that says ``text``."""
        client = self._client(channel)
        recipient = _local_id(recipient_id, client.id_prefix)

        def to_recipient(status: Mapping[str, Any]) -> bool:
            mentioned = {str(m.get("id")) for m in status.get("mentions") or () if isinstance(m, Mapping)}
            return status.get("visibility") == "direct" and recipient in mentioned

        return self._find_own(channel, client, text, since, to_recipient)

    def _find_own(
        self,
        channel: ChannelRef,
        client: _Client,
        text: str,
        since: datetime,
        matches: Callable[[Mapping[str, Any]], bool],
    ) -> SentReply | None:
        account_id = channel.external_account_id.removeprefix(client.id_prefix)
        statuses = client.call(
            ACCOUNT_STATUSES_ENDPOINT,
            lambda api: api.account_statuses(account_id, exclude_reblogs=True, limit=OWN_STATUSES_PAGE_SIZE),
        ).items
        for status in statuses:
            if not isinstance(status, Mapping) or not matches(status):
                continue
            try:
                published_at = _timestamp(str(status.get("created_at") or ""))
            except ValueError:
                continue
            content = status.get("content")
            if (
                published_at >= since
                and isinstance(content, str)
                and published_as(text, html_to_text(content))
            ):
                return _sent_reply(status, client.id_prefix)
        return None

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


def _idempotency_key(channel: ChannelRef, target: str, text: str) -> str:
    # Mastodon posts a status once per key (kept for an hour), so a retried task cannot post it twice.
    return hashlib.sha256(f"{channel.slug}|{target}|{text}".encode()).hexdigest()


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


def _quarantined_post(raw: Mapping[str, Any], channel: ChannelRef) -> Post:
    """A quarantined item read again (the quarantine's retry): a notification, a hashtag hit as the ingest
    kept it (``{"hashtag", "status"}``) or a bare status the parser refused (a hashtag hit, its tag not
    kept). Ids take the channel's instance prefix, as in a pull. ValueError says what is wrong."""
    try:
        instance_url, _ = _credentials(channel)
    except ConnectorError as exc:
        raise ValueError(str(exc)) from exc
    prefix, host = _id_prefix(instance_url), urlsplit(instance_url).netloc.lower()
    status = raw.get("status")
    try:
        if isinstance(status, Mapping) and "hashtag" in raw:
            return _post(status, raw, prefix=prefix, host=host, keyword=True)
        if "status" in raw:
            return _post(_field_status(raw), raw, prefix=prefix, host=host)
        return _post(raw, {"status": dict(raw)}, prefix=prefix, host=host, keyword=True)
    except (KeyError, TypeError) as exc:
        raise ValueError(str(exc)) from exc


def _field_status(notification: Mapping[str, Any]) -> Mapping[str, Any]:
    status = notification.get("status")
    if not isinstance(status, Mapping):
        raise ValueError(f"notification status is {type(status).__name__}, not an object")
    return status


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


def _own_account_matcher(channel: ChannelRef, prefix: str) -> Callable[[str], bool]:
    """Whether an account id on the instance is the channel's own (stored bare or as ``host:id``)."""
    stored = channel.external_account_id
    own = {stored, stored.removeprefix(prefix)} - {""}
    return own.__contains__
