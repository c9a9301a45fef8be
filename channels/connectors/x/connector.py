"""X (formerly Twitter) through tweepy.Client and the X API v2: mentions, keyword search and DMs in; replies
and direct messages out; OAuth 2.0 (authorization code with PKCE) to connect an account.

This folder alone imports tweepy: the calls, their errors and the tokens are in ``client``, payloads to posts
in ``parsing``, connecting an account in ``oauth``. Every request goes through one ``requests`` session with
a timeout, and tweepy is never asked to wait on a rate limit: a 429 becomes :class:`RateLimited` and the
task reschedules.

One fetch reads the channel's streams (mentions timeline, DM events, and one recent search per listening
query) and keeps one cursor entry per stream::

    {"mentions": {"since_id": "1578516295611748353"},
     "dms": {"since_id": "..."},
     "searches": {"northwind": {"since_id": "...", "newest_id": "...", "next_token": "..."},
                  "#trailfest": {"since_id": "...", "failure": {"outcome": "failed", "error": "...",
                                                                "until": 1780000900.0}}}}

``since_id`` is the newest id a finished run covered. While a run pages back through a backlog the entry
also holds the page token and the newest id seen since the run began; only when the stream is exhausted
does ``since_id`` move up to that newest id, so a run cut short resumes where it stopped and a post that
arrives mid-run is picked up by the next run.

Streams fail on their own: a stream X refuses keeps its ``failure`` (and is not asked again before
``until``), is reported in ``Page.streams`` and holds back none of the others. A ``since_id`` X refuses as
too old (a query without hits for a week) is replaced by a ``start_time`` window.

A backfill walks the mentions timeline back in time with :meth:`XConnector.fetch_history` instead, on a
cursor of its own (``{"history": {"pagination_token": "..."}}``), down to a ``start_time``.

OAuth 2.0 user tokens expire after two hours. A connector refreshes a token that is due within
:data:`REFRESH_MARGIN_SECONDS` before using it, under the channel's ``credentials_guard`` (one refresh at a
time per channel, from the token stored at that moment: X rotates refresh tokens, so the old one is spent),
keeps the new token set for the rest of its life and hands it back through
:meth:`XConnector.refreshed_credentials`.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests
import tweepy
from django.conf import settings

from channels.connectors.base import (
    AuthExpired,
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
    StreamStatus,
    UsageCapped,
)
from channels.connectors.registry import register
from channels.connectors.text import published_as
from channels.connectors.x.client import (
    APP_TOKEN_KEY,
    CONVERSATION_DM_EVENTS_ENDPOINT,
    CREATE_DM_ENDPOINT,
    CREATE_TWEET_ENDPOINT,
    DM_EVENTS_ENDPOINT,
    MENTIONS_ENDPOINT,
    PAGE_SIZE,
    REFRESH_MARGIN_SECONDS,
    SEARCH_ENDPOINT,
    TOKEN_ENDPOINT,
    TOKEN_URL,
    _access_token,
    _bearer_token,
    _call,
    _credentials_from_token,
    _epoch,
    _json_body,
    _partial_errors,
    _raise_for_token_status,
    _raise_transport_error,
    _RequestRefused,
    _sent_field,
    _timed_session,
    _token_body,
    _user_token_key,
)
from channels.connectors.x.parsing import (
    DM_EVENT_FIELDS,
    DM_EXPANSIONS,
    DM_MESSAGE_EVENT,
    NETWORK,
    TWEET_EXPANSIONS,
    TWEET_FIELDS,
    USER_FIELDS,
    _dm_results,
    _messages_url,
    _snowflake,
    _status_url,
    _StreamResult,
    _tweet_results,
    _tweet_text,
    _unescape,
    quarantined_post,
)
from channels.connectors.x.rules import REPLY_RULES

logger = logging.getLogger(__name__)


# Fields asked for when looking for a reply whose outcome was lost: what tells which post it answers and when.
FIND_TWEET_FIELDS = ("created_at", "conversation_id", "referenced_tweets")
FIND_DM_EVENT_FIELDS = ("id", "text", "event_type", "created_at", "sender_id", "dm_conversation_id")
HISTORY_KEY = "history"  # fetch_history's cursor entry, apart from the live streams' entries


@dataclass(frozen=True)
class _Stream:
    """One source of posts for a channel, with the page-token parameter its endpoint uses.

    Mentions and DMs are one stream each; every listening query is a stream of its own, with its own
    cursor, budget check and failure state, so a query X refuses never holds back the others.
    """

    name: str
    label: str
    endpoint: str
    token_param: str  # recent search pages with next_token, the others with pagination_token
    sends_since_id: bool  # the DM events endpoint has no since_id: older events are dropped here instead
    query: str = ""  # the listening query, for a search stream

    @property
    def is_search(self) -> bool:
        return self.endpoint == SEARCH_ENDPOINT


MENTIONS = _Stream("mentions", "Mentions", MENTIONS_ENDPOINT, "pagination_token", sends_since_id=True)
DMS = _Stream("dms", "Direct messages", DM_EVENTS_ENDPOINT, "pagination_token", sends_since_id=False)
SEARCHES_KEY = "searches"  # the cursor entry holding one state per listening query
LEGACY_SEARCH_KEY = "search"  # the one state all listening queries shared before each had its own


def _search_stream(query: str) -> _Stream:
    return _Stream(f"search:{query}", f"Search “{query}”", SEARCH_ENDPOINT, "next_token", True, query=query)


# A stream X refused (403, 400) is tried again after this long rather than on every pull: one
# rate-limit window, so a refusal costs at most one call per window.
FAILED_STREAM_RETRY_SECONDS = 900
# Recent search covers the last 7 days; a start_time a minute inside that is never refused as too old.
SEARCH_WINDOW_SECONDS = 7 * 24 * 3600 - 60
TWITTER_EPOCH_MS = 1288834974657  # X ids carry their creation time in milliseconds since this moment
EARLIEST_START_TIME = datetime(2010, 11, 6, 0, 0, 1, tzinfo=UTC)  # the earliest start_time X accepts


@register(NETWORK)
class XConnector:
    """Reads a brand account's mentions, DMs and keyword hits from X and sends its replies and DMs."""

    network = NETWORK
    label = "X"  # what people read for the network
    capabilities = Capabilities(
        reply_rules=REPLY_RULES,
        history=True,
        direct_messages=True,
        hide_reply=False,  # PUT /2/tweets/:id/hidden is not called yet
        listening=True,  # recent search, one query ORing the channel's listening queries
        search_app_token=True,
        finds_sent=True,  # a recent search of the conversation; the DM conversation's events
        connect_urls="channels.connectors.x.urls",
        reparse=quarantined_post,
    )

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        self.clock = clock or time.time
        self._session = _timed_session()
        # Token sets refreshed by this connector, by channel slug; used for its later calls and handed back.
        self._refreshed: dict[str, dict[str, Any]] = {}

    # --- The Connector protocol ---------------------------------------------------------------------

    def fetch(self, channel: ChannelRef, cursor: Mapping[str, Any]) -> Page:
        """Return the next page of the channel's streams after ``cursor``.

        A stream paging through a backlog goes on alone until it is exhausted; otherwise every stream is
        read once from its ``since_id``. An empty cursor starts each stream "from now", with its newest page
        as a head start; older history is the backfill's business.

        Each stream fails on its own: its error is kept in its cursor state (with the time it may be tried
        again) and reported in ``Page.streams``, and the other streams are read all the same. Only when
        every stream was tried and failed does the fetch raise (the first failure); a refused user token
        (``AuthExpired``) raises at once, since every stream needs it.
        """
        if not isinstance(cursor, Mapping):
            raise ConnectorError(f"X cursor must be a mapping, got {type(cursor).__name__}")
        credentials = self._credentials(channel)
        streams = _streams(channel, credentials)
        states = {stream.name: _stream_state(cursor, stream) for stream in streams}
        now = self.clock()
        due = [stream for stream in streams if not _paused(states[stream.name], now)]
        # A stream paging through a backlog goes first, unless it has to wait itself (its budget is spent):
        # then the others are read meanwhile.
        paging = [
            stream
            for stream in due
            if stream.token_param in states[stream.name]
            and not _budget_spent(channel, stream, credentials, now)
        ]
        to_read = paging or due
        posts: list[Post] = []
        rejected: list[RejectedItem] = []
        limits: list[RateLimitInfo] = []
        partial_errors: list[str] = []
        skipped: Counter[str] = Counter()
        next_states: dict[str, dict[str, Any]] = {}
        statuses: list[StreamStatus] = []
        failures: list[ConnectorError] = []
        # Budgets found spent during this fetch count too: after one listening query's 429 the next query
        # on the same endpoint and token would only earn another.
        spent = dict(channel.budget_spent_until)
        for stream in streams:
            state = states[stream.name]
            token_key = _token_key(stream, channel, credentials)
            spent_until = spent.get((stream.endpoint, token_key))
            if stream not in to_read:
                next_states[stream.name] = state
                statuses.append(_stored_status(stream, state))
            elif spent_until is not None and spent_until.timestamp() > now:
                # The last answer said this endpoint has no calls left for this token: calling would only
                # earn a 429. The channel's other streams are read all the same.
                next_states[stream.name] = state
                statuses.append(
                    StreamStatus(
                        stream.name,
                        stream.label,
                        "budget_spent",
                        f"no calls left until {spent_until.astimezone(UTC).isoformat(timespec='seconds')}",
                        spent_until,
                    )
                )
            else:
                try:
                    result, next_state = self._read(stream, channel, credentials, state, limits)
                except ConnectorError as exc:
                    if isinstance(exc, AuthExpired) and token_key != APP_TOKEN_KEY:
                        raise  # the channel's own token: every stream needs it
                    failures.append(exc)
                    if isinstance(exc, RateLimited) and not isinstance(exc, UsageCapped):
                        spent[(stream.endpoint, token_key)] = datetime.fromtimestamp(
                            self.clock() + exc.retry_after, UTC
                        )
                    failure = _failure(exc, self.clock())
                    logger.warning("x channel %s: %s failed: %s", channel.slug, stream.name, exc)
                    next_states[stream.name] = {
                        **{key: value for key, value in state.items() if key != "failure"},
                        "failure": failure,
                    }
                    statuses.append(_stored_status(stream, next_states[stream.name]))
                    continue
                next_states[stream.name] = next_state
                statuses.append(StreamStatus(stream.name, stream.label))
                spent.update(
                    ((info.endpoint, info.token_key), info.reset_at)
                    for info in limits
                    if info.remaining == 0 and info.reset_at is not None
                )
                posts.extend(result.posts)
                rejected.extend(result.rejected)
                skipped.update(result.skipped)
                partial_errors.extend(result.partial_errors)
        if failures and len(failures) == len(streams):
            # Every stream was tried and none could be read: the fetch failed as a whole, as a network of
            # one stream does, and the pull's outcome (and its retry) is this first failure's.
            raise failures[0]
        if skipped:
            logger.info("x channel %s: skipped %s", channel.slug, dict(sorted(skipped.items())))
        next_cursor = _cursor_with(cursor, streams, next_states, read=[stream.name for stream in to_read])
        has_more = any(
            stream.token_param in next_states[stream.name]
            and not _paused(next_states[stream.name], now)
            and not _budget_spent(channel, stream, credentials, now)
            for stream in streams
        )
        return Page(
            posts=_unique(posts),
            cursor=next_cursor,
            has_more=has_more,
            rejected=tuple(rejected),
            rate_limits=tuple(limits),
            streams=tuple(statuses),
            partial_errors=tuple(partial_errors),
        )

    def fetch_history(self, channel: ChannelRef, cursor: Mapping[str, Any], *, since: datetime) -> Page:
        """Return the next page of the channel's mentions walking back in time, for a backfill.

        The walk starts at the newest mention (an empty ``cursor``) and goes back one page (up to
        :data:`PAGE_SIZE` posts) per call with X's ``pagination_token``, sending ``start_time=since`` so
        that X itself stops at the start of the window. X keeps only the 800 most recent mentions on this
        timeline, so a window further back ends early. The cursor is the walk's own and never the live
        one::

            {"history": {"pagination_token": "..."}}

        ``has_more`` stays True while X hands out a ``next_token``; the last page's cursor is
        ``{"history": {}}``. Posts, skips (retweets, the account's own posts), rejected items, rate limits,
        errors and token refreshes are exactly those of :meth:`fetch`; a page token X refuses as stale
        restarts the walk from the newest mention (the posts fetched again are duplicates).

        Only mentions are walked: recent search covers just the last 7 days (which the live pulls
        already read), and the DM events endpoint has no time filter to stop the walk with.
        """
        if not isinstance(cursor, Mapping):
            raise ConnectorError(f"X history cursor must be a mapping, got {type(cursor).__name__}")
        state = _history_state(cursor)
        if not isinstance(since, datetime) or since.tzinfo is None:
            raise ConnectorError(f"X history needs an aware datetime for since, got {since!r}")
        start_time = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # the form X's docs ask for
        credentials = self._credentials(channel)
        token_key = _user_token_key(channel)
        client = self.api_client(_access_token(credentials))
        limits: list[RateLimitInfo] = []
        try:
            response = self._request(
                MENTIONS, client, channel, state, "", token_key, limits, start_time=start_time
            )
        except _RequestRefused:
            if MENTIONS.token_param not in state:
                raise
            logger.warning(
                "x channel %s: history page token refused; restarting from the newest", channel.slug
            )
            state = {}
            response = self._request(
                MENTIONS, client, channel, state, "", token_key, limits, start_time=start_time
            )
        body = _json_body(response, MENTIONS.endpoint)
        result = _tweet_results(body, account_id=channel.external_account_id, since_id=None, is_search=False)
        result.partial_errors.extend(_partial_errors(body, MENTIONS.endpoint))
        if result.skipped:
            logger.info(
                "x channel %s: history skipped %s", channel.slug, dict(sorted(result.skipped.items()))
            )
        meta = body.get("meta")
        next_token = meta.get("next_token") if isinstance(meta, Mapping) else None
        next_state = {MENTIONS.token_param: str(next_token)} if next_token else {}
        return Page(
            posts=_unique(result.posts),
            cursor={**cursor, HISTORY_KEY: next_state},
            has_more=bool(next_token),
            rejected=tuple(result.rejected),
            rate_limits=tuple(limits),
            partial_errors=tuple(result.partial_errors),
        )

    def endpoints(self, channel: ChannelRef) -> tuple[tuple[str, str], ...]:
        """The endpoints a fetch for this channel may call, with the token each spends."""
        credentials = self._refreshed.get(channel.slug, channel.credentials)
        return tuple(
            dict.fromkeys(
                (stream.endpoint, _token_key(stream, channel, credentials))
                for stream in _streams(channel, credentials)
            )
        )

    def reply(self, channel: ChannelRef, *, in_reply_to: str, text: str) -> SentReply:
        """Post ``text`` as the channel's account, in reply to the post ``in_reply_to``."""
        credentials = self._credentials(channel)
        client = self.api_client(_access_token(credentials))
        token_key = _user_token_key(channel)
        response = _call(
            lambda: client.create_tweet(text=text, in_reply_to_tweet_id=in_reply_to, user_auth=False),
            endpoint=CREATE_TWEET_ENDPOINT,
            token_key=token_key,
            now=self.clock,
        )
        body = _json_body(response, CREATE_TWEET_ENDPOINT)
        tweet_id = _sent_field(body, "id", CREATE_TWEET_ENDPOINT)
        return SentReply(external_id=tweet_id, url=_status_url(channel.handle, tweet_id), raw=body)

    def send_direct_message(self, channel: ChannelRef, *, recipient_id: str, text: str) -> SentReply:
        """Send ``text`` as a one-to-one direct message to the X user ``recipient_id``."""
        credentials = self._credentials(channel)
        client = self.api_client(_access_token(credentials))
        response = _call(
            lambda: client.create_direct_message(participant_id=recipient_id, text=text, user_auth=False),
            endpoint=CREATE_DM_ENDPOINT,
            token_key=_user_token_key(channel),
            now=self.clock,
        )
        body = _json_body(response, CREATE_DM_ENDPOINT)
        event_id = _sent_field(body, "dm_event_id", CREATE_DM_ENDPOINT)
        conversation_id = str(body["data"].get("dm_conversation_id") or "")
        return SentReply(external_id=event_id, url=_messages_url(conversation_id), raw=body)

    def find_reply(
        self, channel: ChannelRef, *, in_reply_to: str, conversation: str, text: str, since: datetime
    ) -> SentReply | None:
        """The account's post in ``conversation`` answering ``in_reply_to`` and saying ``text``, published
        after ``since``: a recent search of the conversation's posts by the account.

        X has no idempotency key, so this is the only way to tell whether a create whose answer was lost
        (a timeout, a worker that stopped mid-call) published the reply. A post that answers nothing starts
        its own conversation, so its id stands in for a conversation the mention did not record.
        """
        credentials = self._credentials(channel)
        client = self.api_client(_access_token(credentials))
        query = f"conversation_id:{conversation or in_reply_to} from:{channel.external_account_id}"
        # A reply retried after a week is looked for in the week recent search covers.
        earliest = datetime.fromtimestamp(self.clock() - SEARCH_WINDOW_SECONDS, UTC)
        response = _call(
            lambda: client.search_recent_tweets(
                query,
                start_time=_rfc3339(max(since, earliest)),
                max_results=PAGE_SIZE,
                tweet_fields=list(FIND_TWEET_FIELDS),
                user_auth=False,
            ),
            endpoint=SEARCH_ENDPOINT,
            token_key=_user_token_key(channel),
            now=self.clock,
        )
        for tweet in _json_body(response, SEARCH_ENDPOINT).get("data") or ():
            if not isinstance(tweet, Mapping) or not isinstance(tweet.get("id"), str):
                continue
            answers = any(
                isinstance(ref, Mapping) and ref.get("type") == "replied_to" and ref.get("id") == in_reply_to
                for ref in tweet.get("referenced_tweets") or ()
            )
            if answers and _says(tweet, text):
                return SentReply(
                    external_id=tweet["id"], url=_status_url(channel.handle, tweet["id"]), raw=tweet
                )
        return None

    def find_direct_message(
        self, channel: ChannelRef, *, recipient_id: str, text: str, since: datetime
    ) -> SentReply | None:
        """The account's direct message to ``recipient_id`` saying ``text``, among the newest events of
        their one-to-one conversation, sent after ``since``."""
        credentials = self._credentials(channel)
        client = self.api_client(_access_token(credentials))
        response = _call(
            lambda: client.get_direct_message_events(
                participant_id=recipient_id,
                dm_event_fields=list(FIND_DM_EVENT_FIELDS),
                event_types=DM_MESSAGE_EVENT,
                max_results=PAGE_SIZE,
                user_auth=False,
            ),
            endpoint=CONVERSATION_DM_EVENTS_ENDPOINT,
            token_key=_user_token_key(channel),
            now=self.clock,
        )
        for event in _json_body(response, CONVERSATION_DM_EVENTS_ENDPOINT).get("data") or ():
            if not isinstance(event, Mapping) or not isinstance(event.get("id"), str):
                continue
            sent_at = _iso_time(event.get("created_at"))
            if (
                str(event.get("sender_id") or "") == channel.external_account_id
                and sent_at is not None
                and sent_at >= since
                and _says(event, text)
            ):
                conversation_id = str(event.get("dm_conversation_id") or "")
                return SentReply(external_id=event["id"], url=_messages_url(conversation_id), raw=event)
        return None

    # --- Credentials --------------------------------------------------------------------------------

    def refreshed_credentials(self, channel: ChannelRef) -> dict[str, Any] | None:
        """The channel's credentials as this connector refreshed them, or None if it refreshed nothing.

        Callers store them after every fetch, reply or DM, whether the call succeeded or raised: X has
        already spent the old refresh token, so a token set that is not stored forces a re-authorisation.
        """
        refreshed = self._refreshed.get(channel.slug)
        return dict(refreshed) if refreshed is not None else None

    def api_client(self, access_token: str) -> tweepy.Client:
        """A tweepy client that sends ``access_token`` (an OAuth 2.0 user or app token) as a bearer token.

        It shares this connector's session (timeouts, kept-alive connections), returns raw responses so
        that rate-limit headers and malformed items can be read here, and never waits on a rate limit.
        """
        client = tweepy.Client(
            bearer_token=access_token, return_type=requests.Response, wait_on_rate_limit=False
        )
        client.session = self._session
        return client

    def _credentials(self, channel: ChannelRef) -> Mapping[str, Any]:
        """The channel's credentials, refreshed first when the access token expires soon.

        With the channel's ``credentials_guard`` the refresh runs under the channel's lock, from the
        credentials stored at that moment: a pull and a reply that both find the token due refresh it once,
        and the one that comes second uses the token the first stored (X spends a refresh token on use,
        so refreshing with the old one again would look like a revoked grant).
        """
        credentials = self._refreshed.get(channel.slug, channel.credentials)
        if not self._refresh_due(credentials):
            # Without a refresh token an expiring token is still tried: X answers 401 when it has lapsed.
            return credentials
        if channel.credentials_guard is None:
            refreshed = self._refreshed_set(credentials)
        else:
            refreshed = dict(
                channel.credentials_guard(lambda stored: self._refresh_if_due(stored, credentials))
            )
        self._refreshed[channel.slug] = refreshed
        return refreshed

    def _refresh_due(self, credentials: Mapping[str, Any]) -> bool:
        expires_at = _epoch(credentials.get("expires_at"))
        return (
            expires_at is not None
            and expires_at - self.clock() <= REFRESH_MARGIN_SECONDS
            and bool(credentials.get("refresh_token"))
        )

    def _refresh_if_due(self, stored: Mapping[str, Any], ours: Mapping[str, Any]) -> dict[str, Any] | None:
        """Under the channel's lock: the new set to store, or None when the stored set is fresh."""
        if stored and not self._refresh_due(stored):
            logger.info("x channel token already refreshed by another pull or reply; using it")
            return None
        return self._refreshed_set(stored or ours)

    def _refreshed_set(self, credentials: Mapping[str, Any]) -> dict[str, Any]:
        refreshed = {**credentials, **self._refresh(str(credentials["refresh_token"]))}
        logger.info("x access token refreshed")
        return refreshed

    def _refresh(self, refresh_token: str) -> dict[str, Any]:
        """Trade the refresh token for a new token set at X's token endpoint."""
        client_id = getattr(settings, "X_CLIENT_ID", "")
        client_secret = getattr(settings, "X_CLIENT_SECRET", "")
        if not client_id:
            raise ConnectorError("X_CLIENT_ID is not set, so an expiring X token cannot be refreshed")
        try:
            response = self._session.post(
                TOKEN_URL,
                data={"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id},
                # A confidential client (one with a secret) must authenticate; a public client sends its id.
                auth=(client_id, client_secret) if client_secret else None,
                headers={"Accept": "application/json"},
            )
        except requests.RequestException as exc:
            _raise_transport_error(exc, TOKEN_ENDPOINT)
        _raise_for_token_status(response, self.clock(), refreshing=True)
        body = _token_body(response)
        return _credentials_from_token(body, self.clock(), previous_refresh_token=refresh_token)

    # --- Streams ------------------------------------------------------------------------------------

    def _read(
        self,
        stream: _Stream,
        channel: ChannelRef,
        credentials: Mapping[str, Any],
        state: dict[str, Any],
        limits: list[RateLimitInfo],
    ) -> tuple[_StreamResult, dict[str, Any]]:
        """Read one page of ``stream`` from ``state``; return what it held and the stream's next state."""
        token_key = _token_key(stream, channel, credentials)
        token = _access_token(credentials) if token_key != APP_TOKEN_KEY else _bearer_token(credentials)
        client = self.api_client(token)
        query = _search_query([stream.query]) if stream.is_search else ""
        state = {key: value for key, value in state.items() if key != "failure"}
        start_time = ""
        try:
            response = self._request(stream, client, channel, state, query, token_key, limits)
        except _RequestRefused as refused:
            if stream.token_param in state:
                # Page tokens can go stale (a run left half-done for days); restart the run from the newest
                # post. The pages fetched again are duplicates, which ingest drops.
                logger.warning(
                    "x channel %s: %s page token refused; restarting run", channel.slug, stream.name
                )
                state = {key: value for key, value in state.items() if key != stream.token_param}
            elif stream.sends_since_id and state.get("since_id") and "since_id" in str(refused):
                # A since_id older than the endpoint's window (recent search: 7 days, so a query without
                # hits for a week) is refused on every pull from then on. Ask for the window instead.
                start_time = _start_time_for(stream, str(state["since_id"]), self.clock())
                logger.warning(
                    "x channel %s: %s since_id %s refused; reading from %s instead",
                    channel.slug,
                    stream.name,
                    state["since_id"],
                    start_time,
                )
                state = {}
            else:
                raise
            response = self._request(
                stream, client, channel, state, query, token_key, limits, start_time=start_time
            )
        body = _json_body(response, stream.endpoint)
        since_id = _snowflake(state.get("since_id"))
        if stream is DMS:
            result = _dm_results(body, account_id=channel.external_account_id, since_id=since_id)
        else:
            result = _tweet_results(
                body,
                account_id=channel.external_account_id,
                since_id=since_id,
                is_search=stream.is_search,
            )
        result.partial_errors.extend(_partial_errors(body, stream.endpoint))
        next_state = _next_state(stream, state, result, body.get("meta"))
        return result, next_state

    def _request(
        self,
        stream: _Stream,
        client: tweepy.Client,
        channel: ChannelRef,
        state: Mapping[str, Any],
        query: str,
        token_key: str,
        limits: list[RateLimitInfo],
        *,
        start_time: str = "",
    ) -> requests.Response:
        """Call the stream's endpoint; record the rate-limit headers of the answer, whatever it was."""
        params: dict[str, Any] = {"max_results": PAGE_SIZE, "user_auth": False}
        if stream.sends_since_id and state.get("since_id"):
            params["since_id"] = state["since_id"]
        if start_time:
            params["start_time"] = start_time  # the oldest time X returns; tweets endpoints only
        if state.get(stream.token_param):
            params[stream.token_param] = state[stream.token_param]
        if stream is DMS:
            params.update(
                dm_event_fields=list(DM_EVENT_FIELDS),
                event_types=DM_MESSAGE_EVENT,
                expansions=list(DM_EXPANSIONS),
                user_fields=list(USER_FIELDS),
            )
        else:
            params.update(
                expansions=list(TWEET_EXPANSIONS),
                tweet_fields=list(TWEET_FIELDS),
                user_fields=list(USER_FIELDS),
            )

        def call() -> requests.Response:
            if stream is MENTIONS:
                return client.get_users_mentions(channel.external_account_id, **params)
            if stream.is_search:
                return client.search_recent_tweets(query, **params)
            return client.get_direct_message_events(**params)

        return _call(call, endpoint=stream.endpoint, token_key=token_key, now=self.clock, limits=limits)


# --- Streams, cursors and pages --------------------------------------------------------------------------


def _streams(channel: ChannelRef, credentials: Mapping[str, Any]) -> tuple[_Stream, ...]:
    """The streams this channel reads, in the order a page lists their posts."""
    streams = [MENTIONS]
    scope = credentials.get("scope")
    # A token granted before DMs were asked for would get 403 on every pull; an unknown scope is ours.
    if not isinstance(scope, str) or "dm.read" in scope.split():
        streams.append(DMS)
    queries = dict.fromkeys(query.strip() for query in channel.listening_queries if query and query.strip())
    streams.extend(_search_stream(query) for query in queries)
    return tuple(streams)


def _stream_state(cursor: Mapping[str, Any], stream: _Stream) -> dict[str, Any]:
    if stream.is_search:
        searches = cursor.get(SEARCHES_KEY, {})
        if not isinstance(searches, Mapping):
            raise ConnectorError(f"X cursor for {SEARCHES_KEY} must be a mapping, got {searches!r}")
        state = searches.get(stream.query)
        if state is None:
            # Before each query had its own state one search covered them all: its since_id holds for
            # each of them (its page token does not).
            legacy = cursor.get(LEGACY_SEARCH_KEY)
            since_id = legacy.get("since_id") if isinstance(legacy, Mapping) else None
            state = {"since_id": since_id} if _snowflake(since_id) is not None else {}
    else:
        state = cursor.get(stream.name, {})
    if not isinstance(state, Mapping):
        raise ConnectorError(f"X cursor for {stream.name} must be a mapping, got {state!r}")
    for key in ("since_id", "newest_id"):
        if key in state and _snowflake(state[key]) is None:
            raise ConnectorError(f"X cursor for {stream.name} has a {key} that is not an id: {state[key]!r}")
    return dict(state)


def _cursor_with(
    cursor: Mapping[str, Any],
    streams: Iterable[_Stream],
    states: Mapping[str, dict[str, Any]],
    read: Iterable[str],
) -> dict[str, Any]:
    """The cursor after a fetch: each stream's new state; queries no longer listened to are dropped."""
    next_cursor = {key: value for key, value in cursor.items() if key != LEGACY_SEARCH_KEY}
    searches: dict[str, Any] = {}
    for stream in streams:
        if stream.is_search:
            searches[stream.query] = states[stream.name]
        elif stream.name in read or stream.name in cursor:
            next_cursor[stream.name] = states[stream.name]
    if searches:
        next_cursor[SEARCHES_KEY] = searches
    else:
        next_cursor.pop(SEARCHES_KEY, None)
    return next_cursor


def _budget_spent(channel: ChannelRef, stream: _Stream, credentials: Mapping[str, Any], now: float) -> bool:
    spent_until = channel.budget_spent_until.get((stream.endpoint, _token_key(stream, channel, credentials)))
    return spent_until is not None and spent_until.timestamp() > now


def _paused(state: Mapping[str, Any], now: float) -> bool:
    failure = state.get("failure")
    until = _epoch(failure.get("until")) if isinstance(failure, Mapping) else None
    return until is not None and until > now


def _failure(exc: ConnectorError, now: float) -> dict[str, Any]:
    """A stream's failure as kept in its cursor state: what happened, and until when it is not tried."""
    if isinstance(exc, UsageCapped):
        outcome, until = "usage_capped", now + exc.retry_after
    elif isinstance(exc, RateLimited):
        outcome, until = "rate_limited", now + exc.retry_after
    elif isinstance(exc, ConnectorUnavailable):
        outcome, until = "unavailable", None
    else:
        outcome, until = "failed", now + FAILED_STREAM_RETRY_SECONDS
    return {"outcome": outcome, "error": str(exc), "until": until}


def _stored_status(stream: _Stream, state: Mapping[str, Any]) -> StreamStatus:
    """The status of a stream not read in this fetch: its stored failure, or waiting its turn."""
    failure = state.get("failure")
    if not isinstance(failure, Mapping):
        return StreamStatus(stream.name, stream.label, "waiting")
    until = _epoch(failure.get("until"))
    return StreamStatus(
        stream.name,
        stream.label,
        str(failure.get("outcome") or "failed"),
        str(failure.get("error") or ""),
        datetime.fromtimestamp(until, UTC) if until is not None else None,
    )


def _start_time_for(stream: _Stream, since_id: str, now: float) -> str:
    """The start of the window that replaces a refused ``since_id``: the id's own time, but never before
    what the endpoint accepts (recent search: the last 7 days)."""
    created_ms = (int(since_id) >> 22) + TWITTER_EPOCH_MS
    start = max(datetime.fromtimestamp(created_ms / 1000, UTC), EARLIEST_START_TIME)
    if stream.is_search:
        start = max(start, datetime.fromtimestamp(now - SEARCH_WINDOW_SECONDS, UTC))
    return start.strftime("%Y-%m-%dT%H:%M:%SZ")


def _history_state(cursor: Mapping[str, Any]) -> dict[str, Any]:
    state = cursor.get(HISTORY_KEY, {})
    if not isinstance(state, Mapping):
        raise ConnectorError(f"X history cursor must be a mapping, got {state!r}")
    token = state.get(MENTIONS.token_param)
    if token is not None and not isinstance(token, str):
        raise ConnectorError(f"X history cursor has a page token that is not a string: {token!r}")
    return {MENTIONS.token_param: token} if token else {}


def _next_state(
    stream: _Stream, state: Mapping[str, Any], result: _StreamResult, meta: Any
) -> dict[str, Any]:
    """Where the stream goes on from: the same run's next page, or the next run's since_id."""
    since_id = _snowflake(state.get("since_id"))
    newest_in_run = _snowflake(state.get("newest_id"))
    newest = max([*result.ids, *([newest_in_run] if newest_in_run is not None else [])], default=None)
    next_token = meta.get("next_token") if isinstance(meta, Mapping) else None
    if since_id is None:
        # First run: the newest page is the head start; the backlog behind it is not followed.
        return {"since_id": str(newest)} if newest is not None else {}
    newest = max(since_id, newest) if newest is not None else since_id
    if next_token and not result.reached_since_id:
        return {"since_id": str(since_id), "newest_id": str(newest), stream.token_param: str(next_token)}
    return {"since_id": str(newest)}


def _unique(posts: Iterable[Post]) -> tuple[Post, ...]:
    # A keyword hit that also mentions the account arrives twice in one page; the mention (listed first)
    # says more about it.
    seen: set[str] = set()
    unique = []
    for post in posts:
        if post.external_id not in seen:
            seen.add(post.external_id)
            unique.append(post)
    return tuple(unique)


def _search_query(listening_queries: Iterable[str]) -> str:
    """One recent-search query for all the channel's listening queries, without retweets.

    Each listening query keeps its own operators inside parentheses. The OR-ed group is bracketed too,
    because X applies AND (here: ``-is:retweet``) before OR.
    """
    terms = list(dict.fromkeys(query.strip() for query in listening_queries if query and query.strip()))
    if not terms:
        return ""
    if len(terms) == 1:
        return f"({terms[0]}) -is:retweet"
    return "(" + " OR ".join(f"({term})" for term in terms) + ") -is:retweet"


def _token_key(stream: _Stream, channel: ChannelRef, credentials: Mapping[str, Any]) -> str:
    # Search spends the app's bearer token when there is one, so it does not eat into the user's budget.
    if stream.is_search and _bearer_token(credentials):
        return APP_TOKEN_KEY
    return _user_token_key(channel)


def _says(item: Mapping[str, Any], text: str) -> bool:
    try:
        published = _unescape(_tweet_text(item))
    except ValueError:
        return False
    return published_as(text, published)


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # X refuses fractions of a second


def _iso_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
