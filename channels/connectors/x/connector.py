"""X (formerly Twitter) through tweepy.Client and the X API v2: mentions, keyword search and DMs in; replies
and direct messages out; OAuth 2.0 (authorization code with PKCE) to connect an account.

This module alone imports tweepy. Every request goes through one ``requests`` session with a timeout, and
tweepy is never asked to wait on a rate limit: a 429 becomes :class:`RateLimited` and the task reschedules.

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
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NoReturn

import requests
import tweepy
from django.conf import settings
from requests.adapters import HTTPAdapter

from channels.connectors.base import (
    AuthExpired,
    AuthorData,
    Capabilities,
    ChannelRef,
    ConnectorError,
    ConnectorUnavailable,
    Page,
    Post,
    PostTimeRefused,
    RateLimited,
    RateLimitInfo,
    RejectedItem,
    SentReply,
    StreamStatus,
    UsageCapped,
    post_time_checked,
)
from channels.connectors.registry import register
from channels.connectors.x.rules import REPLY_RULES

logger = logging.getLogger(__name__)

NETWORK = "x"
API_HOST = "https://api.twitter.com"  # tweepy 4.17 hard-codes this host for every v2 call
TOKEN_URL = f"{API_HOST}/2/oauth2/token"
WEB_HOST = "https://x.com"
SCOPES = ("tweet.read", "tweet.write", "users.read", "dm.read", "dm.write", "offline.access")

PAGE_SIZE = 100  # largest page the mentions, recent search and DM events endpoints return
REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read (seconds); requests waits forever without one
REFRESH_MARGIN_SECONDS = 300  # refresh this close to expiry, so a token never lapses between check and call
ACCESS_TOKEN_LIFETIME = 7200  # what X issues; assumed only when a token response leaves out expires_in
DEFAULT_RETRY_AFTER = 60.0  # a 429 without x-rate-limit-reset: a short wait rather than none (tweepy spins)
MIN_RETRY_AFTER = 1.0  # a reset time already passed (clock skew) still waits a moment

TWEET_FIELDS = (
    "created_at",
    "conversation_id",
    "in_reply_to_user_id",
    "referenced_tweets",
    "lang",
    "entities",
    "author_id",
    "note_tweet",  # the full text of a post longer than 280 characters; ``text`` is cut short
    "withheld",  # the countries a post is withheld in
)
# referenced_tweets.id brings the quoted post into includes.tweets, .author_id its author into includes.users.
TWEET_EXPANSIONS = (
    "author_id",
    "referenced_tweets.id",
    "in_reply_to_user_id",
    "referenced_tweets.id.author_id",
)
# X's newer API documents (OpenAPI 2.167) rename these; whether the live API answers with the new names is
# unknown, so the parser reads either (a rename must not silently turn retweets into posts).
REFERENCED_KEYS = ("referenced_tweets", "referenced_posts")
NOTE_KEYS = ("note_tweet", "note_post")
INCLUDED_POSTS_KEYS = ("tweets", "posts")
EDIT_HISTORY_KEYS = ("edit_history_tweet_ids", "edit_history_post_ids")
USER_FIELDS = ("username", "name", "verified", "public_metrics")
DM_EVENT_FIELDS = ("id", "text", "event_type", "created_at", "dm_conversation_id", "sender_id")
DM_EXPANSIONS = ("sender_id",)
DM_MESSAGE_EVENT = "MessageCreate"  # the other DM events are people joining or leaving a group

# Rate limits are kept per endpoint, named as X's documentation names them.
MENTIONS_ENDPOINT = "GET /2/users/:id/mentions"
SEARCH_ENDPOINT = "GET /2/tweets/search/recent"
DM_EVENTS_ENDPOINT = "GET /2/dm_events"
CREATE_TWEET_ENDPOINT = "POST /2/tweets"
CREATE_DM_ENDPOINT = "POST /2/dm_conversations/with/:participant_id/messages"
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

HISTORY_KEY = "history"  # fetch_history's cursor entry, apart from the live streams' entries

KIND_MENTION = "mention"
KIND_REPLY = "reply"
KIND_DM = "dm"
KIND_KEYWORD = "keyword"


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


class _MalformedItem(ValueError):
    """An item of a page that cannot become a Post; it is quarantined and the page goes on."""


class _RequestRefused(ConnectorError):
    """X answered 400: the request itself is wrong. Kept apart so a stale page token can be dropped."""


@dataclass
class _StreamResult:
    posts: list[Post] = field(default_factory=list)
    rejected: list[RejectedItem] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)  # every well-formed id seen, skipped or not
    skipped: Counter[str] = field(default_factory=Counter)
    reached_since_id: bool = False
    partial_errors: list[str] = field(default_factory=list)


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
        connect_urls="channels.connectors.x.urls",
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


def _tweet_results(
    body: Mapping[str, Any], *, account_id: str, since_id: int | None, is_search: bool
) -> _StreamResult:
    result = _StreamResult()
    users = _users_by_id(body.get("includes"))
    included = _included_posts(body.get("includes"))
    for item in _data_items(body):
        _collect(
            result, item, since_id, lambda tweet: _tweet_post(tweet, users, account_id, is_search, included)
        )
    return result


def _dm_results(body: Mapping[str, Any], *, account_id: str, since_id: int | None) -> _StreamResult:
    result = _StreamResult()
    users = _users_by_id(body.get("includes"))
    for item in _data_items(body):
        _collect(result, item, since_id, lambda event: _dm_post(event, users, account_id))
    return result


def _collect(
    result: _StreamResult,
    item: Any,
    since_id: int | None,
    parse: Callable[[Mapping[str, Any]], Post | str],
) -> None:
    """Parse one item into ``result``: a post, a skip (with its reason) or a rejected item."""
    if not isinstance(item, Mapping):
        result.rejected.append(RejectedItem(raw={"item": item}, error="item is not a JSON object"))
        return
    item_id = _snowflake(item.get("id"))
    if item_id is not None:
        if since_id is not None and item_id <= since_id:
            # Already covered by an earlier run. DM events come newest first, so the run is done.
            result.reached_since_id = True
            return
        result.ids.append(item_id)
    try:
        outcome = parse(item)
    except _MalformedItem as exc:
        result.rejected.append(RejectedItem(raw=dict(item), error=str(exc)))
        return
    if isinstance(outcome, str):
        result.skipped[outcome] += 1
    else:
        result.posts.append(outcome)


def _data_items(body: Mapping[str, Any]) -> list[Any]:
    data = body.get("data")
    if data is None:
        return []  # an empty page has only meta (result_count 0)
    if not isinstance(data, list):
        raise ConnectorError(f"X page data must be a list, got {type(data).__name__}")
    return data


def _users_by_id(includes: Any) -> dict[str, Mapping[str, Any]]:
    users = includes.get("users") if isinstance(includes, Mapping) else None
    if not isinstance(users, list):
        return {}
    return {str(user["id"]): user for user in users if isinstance(user, Mapping) and user.get("id")}


def _tweet_post(
    tweet: Mapping[str, Any],
    users: Mapping[str, Mapping[str, Any]],
    account_id: str,
    is_search: bool,
    included: Mapping[str, Mapping[str, Any]] | None = None,
) -> Post | str:
    """The tweet as a Post, or why it is skipped ("retweet", "own post").

    Beside X's own ``tweet`` and ``author``, ``raw`` holds what the inbox shows of its context: the
    ``quoted`` post, the ``links`` X shortened (their t.co address kept, the text showing the expanded
    one), ``withheld`` (where and why) and ``edit_of`` (the ids this post is an edit of, oldest first).
    """
    tweet_id = _required_id(tweet, "id")
    author_id = _required_id(tweet, "author_id")
    references = _references(tweet)
    if "retweeted" in references:
        return "retweet"
    if author_id == account_id:
        return "own post"
    author = _author(users, author_id)
    replied_to = references.get("replied_to", "")
    if is_search:
        kind = KIND_KEYWORD
    elif replied_to or tweet.get("in_reply_to_user_id"):
        kind = KIND_REPLY
    else:
        kind = KIND_MENTION
    return Post(
        network=NETWORK,
        external_id=tweet_id,
        kind=kind,
        text=_unescape(_expanded(_tweet_text(tweet), _links(tweet))),
        created_at=_created_at(tweet),
        author=author,
        conversation_key=str(tweet.get("conversation_id") or ""),
        in_reply_to=replied_to,
        url=_status_url(author.handle, tweet_id),
        raw=_tweet_raw(tweet, users, author_id, references, included or {}),
        language=_language(tweet.get("lang")),
    )


def _tweet_raw(
    tweet: Mapping[str, Any],
    users: Mapping[str, Mapping[str, Any]],
    author_id: str,
    references: Mapping[str, str],
    included: Mapping[str, Mapping[str, Any]],
) -> dict[str, Any]:
    raw: dict[str, Any] = {"tweet": dict(tweet), "author": dict(users[author_id])}
    quoted_id = references.get("quoted")
    if quoted_id:
        raw["quoted"] = _quoted(quoted_id, included.get(quoted_id), users)
    links = _links(tweet)
    if links:
        raw["links"] = links
    withheld = tweet.get("withheld")
    if isinstance(withheld, Mapping):
        codes = withheld.get("country_codes")
        raw["withheld"] = {
            "country_codes": [str(code) for code in codes] if isinstance(codes, list) else [],
            "copyright": withheld.get("copyright") is True,
        }
    history = next((tweet[key] for key in EDIT_HISTORY_KEYS if isinstance(tweet.get(key), list)), [])
    earlier = [
        str(item) for item in history if _snowflake(item) is not None and str(item) != str(tweet["id"])
    ]
    if earlier:
        raw["edit_of"] = sorted(earlier, key=int)
    return raw


def _quoted(
    quoted_id: str, quoted: Mapping[str, Any] | None, users: Mapping[str, Mapping[str, Any]]
) -> dict[str, Any]:
    """What the inbox shows of a quoted post; X leaves a deleted or withheld one out of includes."""
    if not isinstance(quoted, Mapping):
        return {"id": quoted_id, "text": "", "author_handle": "", "url": _status_url("", quoted_id)}
    author = users.get(str(quoted.get("author_id") or ""), {})
    handle = author.get("username") if isinstance(author.get("username"), str) else ""
    try:
        text = _unescape(_expanded(_tweet_text(quoted), _links(quoted)))
    except _MalformedItem:
        text = ""
    return {"id": quoted_id, "text": text, "author_handle": handle, "url": _status_url(handle, quoted_id)}


def _links(tweet: Mapping[str, Any]) -> list[dict[str, str]]:
    """The t.co links of the post's text with the addresses they stand for (those of a long post's note
    when it has one)."""
    note = next((tweet[key] for key in NOTE_KEYS if isinstance(tweet.get(key), Mapping)), None)
    entities = (
        note.get("entities") if isinstance(note, Mapping) and note.get("entities") else tweet.get("entities")
    )
    urls = entities.get("urls") if isinstance(entities, Mapping) else None
    links = []
    for entity in urls if isinstance(urls, list) else []:
        if not isinstance(entity, Mapping):
            continue
        short, expanded = entity.get("url"), entity.get("expanded_url")
        if isinstance(short, str) and isinstance(expanded, str) and short and expanded and short != expanded:
            links.append({"url": short, "expanded_url": expanded})
    return links


def _expanded(text: str, links: Iterable[Mapping[str, str]]) -> str:
    for link in links:
        text = text.replace(link["url"], link["expanded_url"])
    return text


def _included_posts(includes: Any) -> dict[str, Mapping[str, Any]]:
    if not isinstance(includes, Mapping):
        return {}
    posts = next((includes[key] for key in INCLUDED_POSTS_KEYS if isinstance(includes.get(key), list)), [])
    return {str(post["id"]): post for post in posts if isinstance(post, Mapping) and post.get("id")}


def _dm_post(event: Mapping[str, Any], users: Mapping[str, Mapping[str, Any]], account_id: str) -> Post | str:
    """The DM event as a Post, or why it is skipped ("not a message", "own message")."""
    event_id = _required_id(event, "id")
    if event.get("event_type") != DM_MESSAGE_EVENT:
        return "not a message"
    sender_id = _required_id(event, "sender_id")
    if sender_id == account_id:
        return "own message"
    text = event.get("text")
    if not isinstance(text, str):
        raise _MalformedItem("DM event has no text")
    author = _author(users, sender_id)
    conversation_id = str(event.get("dm_conversation_id") or "")
    return Post(
        network=NETWORK,
        external_id=event_id,
        kind=KIND_DM,
        # DM text is sent as typed; only post text carries X's HTML escaping.
        text=text,
        created_at=_created_at(event),
        author=author,
        conversation_key=conversation_id,
        url=_messages_url(conversation_id),
        raw={"dm_event": dict(event), "sender": dict(users[sender_id])},
    )


# X's language pseudo-codes: quote only, media only, hashtags only, cashtags only, mentions only, art or
# emoji only; with "und" (undetermined) and "zxx" (no linguistic content) they say nothing of a language.
_NO_LANGUAGE = frozenset({"und", "qst", "qme", "qht", "qam", "qct", "art", "zxx"})
# X tags Indonesian with the withdrawn ISO 639 code "in"; the code is "id".
_LANGUAGE_ALIASES = {"in": "id"}


def _language(lang: Any) -> str:
    """X's ``lang`` as an ISO 639-1 code, or "" when X did not tell one."""
    if not isinstance(lang, str):
        return ""
    code = lang.strip().lower()
    if code in _NO_LANGUAGE:
        return ""
    return _LANGUAGE_ALIASES.get(code, code)[:16]


def _required_id(item: Mapping[str, Any], name: str) -> str:
    value = item.get(name)
    if _snowflake(value) is None:
        raise _MalformedItem(f"missing or malformed {name}: {value!r}")
    return str(value)


def _references(tweet: Mapping[str, Any]) -> dict[str, str]:
    """The tweet's referenced tweets by type (replied_to, quoted, retweeted)."""
    references = next((tweet[key] for key in REFERENCED_KEYS if tweet.get(key) is not None), None) or []
    if not isinstance(references, list) or not all(isinstance(ref, Mapping) for ref in references):
        raise _MalformedItem("referenced_tweets is not a list of objects")
    return {str(ref.get("type")): str(ref.get("id") or "") for ref in references}


def _tweet_text(tweet: Mapping[str, Any]) -> str:
    note = next((tweet[key] for key in NOTE_KEYS if tweet.get(key) is not None), None)
    if isinstance(note, Mapping) and isinstance(note.get("text"), str):
        return note["text"]
    text = tweet.get("text")
    if not isinstance(text, str):
        raise _MalformedItem("missing text")
    return text


def _author(users: Mapping[str, Mapping[str, Any]], user_id: str) -> AuthorData:
    user = users.get(user_id)
    if user is None:
        raise _MalformedItem(f"author {user_id} is not in includes.users")
    handle = user.get("username")
    if not isinstance(handle, str) or not handle:
        raise _MalformedItem(f"author {user_id} has no username")
    metrics = user.get("public_metrics")
    followers = metrics.get("followers_count", 0) if isinstance(metrics, Mapping) else 0
    return AuthorData(
        external_id=user_id,
        handle=handle,
        display_name=str(user.get("name") or ""),
        follower_count=followers if isinstance(followers, int) and not isinstance(followers, bool) else 0,
        is_verified=user.get("verified") is True,
    )


def _created_at(item: Mapping[str, Any]) -> datetime:
    value = item.get("created_at")
    if not isinstance(value, str):
        raise _MalformedItem(f"missing created_at: {value!r}")
    try:
        created = datetime.fromisoformat(value)
    except ValueError:
        raise _MalformedItem(f"created_at is not an ISO 8601 time: {value!r}") from None
    if created.tzinfo is None:
        raise _MalformedItem(f"created_at has no time zone: {value!r}")
    try:
        return post_time_checked(created)
    except PostTimeRefused as exc:
        raise _MalformedItem(str(exc)) from None


def _unescape(text: str) -> str:
    # X escapes exactly these three in post text. html.unescape would also turn a literal "&copy" that
    # someone typed into "©"; "&amp;" goes last so that "&amp;lt;" stays the "&lt;" that was typed.
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _snowflake(value: Any) -> int | None:
    """An X id (a decimal string of up to 19 digits) as a number, so that ids compare by age."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 19:
        return int(value)
    return None


def _status_url(handle: str, tweet_id: str) -> str:
    handle = handle.lstrip("@")
    # X's own form for a post whose author's name is unknown: it redirects to the canonical address.
    return f"{WEB_HOST}/{handle}/status/{tweet_id}" if handle else f"{WEB_HOST}/i/web/status/{tweet_id}"


def _messages_url(conversation_id: str) -> str:
    return f"{WEB_HOST}/messages/{conversation_id}" if conversation_id else f"{WEB_HOST}/messages"


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


# --- Tokens ----------------------------------------------------------------------------------------------


def _user_token_key(channel: ChannelRef) -> str:
    return f"user:{channel.external_account_id}"


def _token_key(stream: _Stream, channel: ChannelRef, credentials: Mapping[str, Any]) -> str:
    # Search spends the app's bearer token when there is one, so it does not eat into the user's budget.
    if stream.is_search and _bearer_token(credentials):
        return APP_TOKEN_KEY
    return _user_token_key(channel)


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
