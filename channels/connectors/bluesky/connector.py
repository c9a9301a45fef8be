"""The Bluesky connector: mention, reply and quote notifications in; replies threaded under the post they
answer; direct messages both ways through the chat service where the app password allows them; backfill.

Paging. ``listNotifications`` returns the newest notifications first and its ``cursor`` leads to *older*
ones: there is no "after this one". So a pull reads from the newest page back until it meets the newest
notification the last completed pull stored (``seen``), one page per fetch, handing each page's posts to
the ingest as it goes. While a walk is under way the cursor holds it (``walk``: the API's cursor and the
newest notification of this walk), so a pull interrupted after any page resumes where it stopped, and
``seen`` moves to the walk's newest only when the walk reaches it: nothing between is skipped, however many
pages a burst of mentions fills. A walk cursor the server refuses later (cursors are opaque and need not
last) restarts the walk from the newest page. A channel's very first pull takes the newest page only (older
history is the backfill's job).

Direct messages. An app password reaches the chat service only when it was created with "Allow access to
your direct messages"; the connect page finds out and stores ``dms``. A refusal met later (a password
replaced outside socialops) is kept in the cursor (``dms.refused``, with the reason), and pulls go on
without direct messages until the account is connected again, which clears it. Direct messages never hold
back mentions: a chat call that fails (a rate limit, an outage) leaves their cursor where it was, with the
reason (``dms.failed``), and the page of mentions is delivered; their budget is the chat service's own and
is not among ``endpoints``, so a spent one cannot skip a pull of mentions either.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from atproto_client.models.dot_dict import DotDict
from django.utils import timezone

from channels.connectors.base import (
    AuthExpired,
    Capabilities,
    ChannelRef,
    ConnectorError,
    ConnectorUnavailable,
    Page,
    Post,
    RateLimited,
    RejectedItem,
    SentReply,
    StreamStatus,
)
from channels.connectors.bluesky.client import (
    BlueskyClient,
    Credentials,
    DirectMessagesRefused,
    Response,
)
from channels.connectors.bluesky.parsing import (
    KIND_BY_REASON,
    NETWORK,
    POST_COLLECTION,
    WEB,
    message_post,
    notification_post,
    post_url,
    quarantined_post,
)
from channels.connectors.bluesky.rules import REPLY_RULES, facets
from channels.connectors.registry import register

LIST_NOTIFICATIONS = "app.bsky.notification.listNotifications"
GET_POSTS = "app.bsky.feed.getPosts"
CREATE_RECORD = "com.atproto.repo.createRecord"
RESOLVE_HANDLE = "com.atproto.identity.resolveHandle"
LIST_CONVOS = "chat.bsky.convo.listConvos"
GET_MESSAGES = "chat.bsky.convo.getMessages"
GET_CONVO_FOR_MEMBERS = "chat.bsky.convo.getConvoForMembers"
SEND_MESSAGE = "chat.bsky.convo.sendMessage"

NOTIFICATIONS_PAGE_SIZE = 100  # the most listNotifications returns in one page
CONVOS_PAGE_SIZE = 20  # conversations with news looked at per pull: the most recently active ones
MESSAGES_PAGE_SIZE = 50
REASONS = tuple(KIND_BY_REASON)
MENTIONS_LABEL = "Mentions, replies and quotes"
DMS_LABEL = "Direct messages"


@register(NETWORK)
class BlueskyConnector:
    """Pulls a Bluesky account's mentions, replies and quotes (and its direct messages where allowed), and
    posts replies and direct messages as the account.

    Credentials: ``identifier`` (the handle), ``app_password``, ``service`` (the server to sign in to),
    ``session`` (the last session, kept to avoid signing in on every pull) and ``dms`` (whether the app
    password reaches direct messages). ``external_account_id`` is the account's DID.
    """

    network = NETWORK
    label = "Bluesky"  # what people read for the network
    capabilities = Capabilities(
        reply_rules=REPLY_RULES,
        history=True,
        direct_messages=True,
        hide_reply=False,  # Bluesky's threadgate hides replies per post; not offered yet
        listening=False,  # searchPosts is not walked yet: mentions, replies, quotes and DMs only
        connect_urls="channels.connectors.bluesky.urls",
        reparse=quarantined_post,
        status=lambda credentials, cursor: _status(credentials, cursor),
    )

    def __init__(self, *, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or timezone.now
        self._clients: dict[str, BlueskyClient] = {}
        self._sessions: dict[str, dict[str, str]] = {}

    # --- Pulling --------------------------------------------------------------------------------------

    def fetch(self, channel: ChannelRef, cursor: Mapping[str, Any]) -> Page:
        """Return the next page of the walk back to the last seen notification (see the module's note)."""
        state = _NotificationCursor.parse(cursor.get("notifications"))
        client = self._client(channel)
        try:
            response = _list_notifications(client, state.walk_cursor)
        except (RateLimited, ConnectorUnavailable, AuthExpired):
            raise
        except ConnectorError:
            if state.walk_cursor is None:
                raise
            # The server no longer takes the walk's cursor: walk again from the newest page. What the
            # broken walk stored is stored already (the ingest keeps one copy); nothing older is skipped.
            state = _NotificationCursor(state.seen, None, None)
            response = _list_notifications(client, None)
        items = _list(response.body, "notifications")
        posts: list[Post] = []
        rejected: list[RejectedItem] = []
        newest = state.walk_newest
        reached_seen = False
        for item in items:  # newest first
            marker = _marker(item)
            if marker is not None and state.is_seen(marker):
                reached_seen = True
                break
            if newest is None and marker is not None:
                newest = marker
            _add(item, posts, rejected)
        next_api_cursor = response.body.get("cursor")
        walking = (
            state.seen is not None
            and not reached_seen
            and bool(items)
            and isinstance(next_api_cursor, str)
            and bool(next_api_cursor)
        )
        next_cursor: dict[str, Any] = {key: value for key, value in cursor.items() if key != "notifications"}
        if walking:
            next_cursor["notifications"] = {
                "seen": state.seen,
                "walk": {"cursor": next_api_cursor, "newest": newest},
            }
        streams = [StreamStatus(name="mentions", label=MENTIONS_LABEL)]
        if walking:
            if channel.credentials.get("dms"):
                streams.append(StreamStatus(name="dms", label=DMS_LABEL, outcome="waiting"))
        else:
            next_cursor["notifications"] = {"seen": newest or state.seen}
            if channel.credentials.get("dms"):
                streams.append(self._fetch_messages(client, cursor, next_cursor, posts, rejected))
        return Page(
            posts=tuple(reversed(posts)),  # oldest first, so a parent precedes its replies
            cursor=next_cursor,
            has_more=walking,
            rejected=tuple(rejected),
            rate_limits=(response.rate_limit,) if response.rate_limit else (),
            streams=tuple(streams),
        )

    def fetch_history(self, channel: ChannelRef, cursor: Mapping[str, Any], *, since: datetime) -> Page:
        """Return the page of notifications older than ``cursor["history"]["cursor"]`` (the newest page for an
        empty cursor), walking back; a post indexed before ``since`` ends the walk and is not returned."""
        history = cursor.get("history") or {}
        api_cursor = history.get("cursor") if isinstance(history, Mapping) else None
        if api_cursor is not None and not isinstance(api_cursor, str):
            raise ConnectorError(f"bluesky history cursor must be a string, got {cursor!r}")
        response = _list_notifications(self._client(channel), api_cursor)
        items = _list(response.body, "notifications")
        posts: list[Post] = []
        rejected: list[RejectedItem] = []
        reached_since = False
        for item in items:
            marker = _marker(item)
            if marker is not None and _parse_time(marker["indexed_at"]) < since:
                reached_since = True
                break
            _add(item, posts, rejected)
        next_api_cursor = response.body.get("cursor")
        has_more = (
            not reached_since and bool(items) and isinstance(next_api_cursor, str) and bool(next_api_cursor)
        )
        return Page(
            posts=tuple(reversed(posts)),
            cursor={"history": {"cursor": next_api_cursor}} if has_more else {},
            has_more=has_more,
            rejected=tuple(rejected),
            rate_limits=(response.rate_limit,) if response.rate_limit else (),
        )

    def _fetch_messages(
        self,
        client: BlueskyClient,
        cursor: Mapping[str, Any],
        next_cursor: dict[str, Any],
        posts: list[Post],
        rejected: list[RejectedItem],
    ) -> StreamStatus:
        """Direct messages sent since the last one seen, from the most recently active conversations; how
        reading them went."""
        dms = cursor.get("dms") if isinstance(cursor.get("dms"), Mapping) else {}
        seen_at = dms.get("seen_at") if isinstance(dms.get("seen_at"), str) else None
        if dms.get("refused"):
            next_cursor["dms"] = dict(dms)
            return StreamStatus(name="dms", label=DMS_LABEL, outcome="failed", error=str(dms["refused"]))
        try:
            convos_response = client.query(LIST_CONVOS, DotDict({"limit": CONVOS_PAGE_SIZE}), chat=True)
            newest_seen = seen_at
            messages: list[Post] = []
            for convo in _list(convos_response.body, "convos"):
                last = convo.get("lastMessage") if isinstance(convo, Mapping) else None
                last_at = last.get("sentAt") if isinstance(last, Mapping) else None
                if not isinstance(last_at, str) or (seen_at is not None and last_at <= seen_at):
                    continue
                if seen_at is None:
                    # First pull with direct messages: from now on, as for notifications.
                    newest_seen = max(newest_seen or last_at, last_at)
                    continue
                response = client.query(
                    GET_MESSAGES,
                    DotDict({"convoId": convo.get("id"), "limit": MESSAGES_PAGE_SIZE}),
                    chat=True,
                )
                for message in _list(response.body, "messages"):
                    sent_at = message.get("sentAt") if isinstance(message, Mapping) else None
                    if isinstance(sent_at, str) and sent_at <= seen_at:
                        break  # newest first: the rest was seen
                    if isinstance(message, Mapping) and message.get("$type", "").endswith(
                        "#deletedMessageView"
                    ):
                        continue
                    try:
                        post = message_post(message, convo, own_did=client.did)
                    except ValueError as exc:
                        rejected.append(
                            RejectedItem(
                                raw=dict(message) if isinstance(message, Mapping) else {}, error=str(exc)
                            )
                        )
                        continue
                    if isinstance(sent_at, str):
                        newest_seen = max(newest_seen or sent_at, sent_at)
                    if post is not None:
                        messages.append(post)
            posts.extend(messages)  # reversed with the page: newest first here, oldest first out
            next_cursor["dms"] = {"seen_at": newest_seen} if newest_seen else {}
            return StreamStatus(name="dms", label=DMS_LABEL)
        except DirectMessagesRefused as exc:
            next_cursor["dms"] = {"refused": str(exc)}
            return StreamStatus(name="dms", label=DMS_LABEL, outcome="failed", error=str(exc))
        except ConnectorError as exc:
            # Tried again at the next pull from the same point; the mentions of this page go through.
            next_cursor["dms"] = {**({"seen_at": seen_at} if seen_at else {}), "failed": str(exc)}
            return _failed_stream(exc, self.clock())

    def endpoints(self, channel: ChannelRef) -> tuple[tuple[str, str], ...]:
        """Notifications only: direct messages must not hold back a pull (see the module's note)."""
        return ((LIST_NOTIFICATIONS, _token_key(channel)),)

    # --- Sending --------------------------------------------------------------------------------------

    def reply(self, channel: ChannelRef, *, in_reply_to: str, text: str) -> SentReply:
        """Post ``text`` as a reply to the post at URI ``in_reply_to``: ``reply.parent`` is that post and
        ``reply.root`` its thread's root (the post itself when it answers nothing), each with its CID, and
        mentions and links become facets."""
        client = self._client(channel)
        found = _list(client.query(GET_POSTS, DotDict({"uris": [in_reply_to]})).body, "posts")
        parent = found[0] if found and isinstance(found[0], Mapping) else None
        if parent is None or not isinstance(parent.get("cid"), str):
            raise ConnectorError(f"the post {in_reply_to} no longer exists on Bluesky")
        parent_ref = {"uri": parent.get("uri") or in_reply_to, "cid": parent["cid"]}
        record = parent.get("record") if isinstance(parent.get("record"), Mapping) else {}
        thread = record.get("reply") if isinstance(record.get("reply"), Mapping) else {}
        root = thread.get("root") if isinstance(thread.get("root"), Mapping) else None
        root_ref = (
            {"uri": root["uri"], "cid": root["cid"]}
            if root and "uri" in root and "cid" in root
            else parent_ref
        )
        post: dict[str, Any] = {
            "$type": POST_COLLECTION,
            "text": text,
            "createdAt": self.clock().isoformat().replace("+00:00", "Z"),
            "reply": {"root": root_ref, "parent": parent_ref},
        }
        post_facets = facets(text, resolve_handle=lambda handle: _resolve(client, handle))
        if post_facets:
            post["facets"] = post_facets
        if isinstance(record.get("langs"), list) and record["langs"]:
            post["langs"] = record["langs"][:1]  # the reply is written in the language it answers, usually
        created = client.procedure(
            CREATE_RECORD, DotDict({"repo": client.did, "collection": POST_COLLECTION, "record": post})
        ).body
        uri = created.get("uri")
        if not isinstance(uri, str):
            raise ConnectorError("Bluesky accepted the reply but returned no URI for it")
        return SentReply(external_id=uri, url=post_url(uri, channel.handle.lstrip("@")), raw=created)

    def send_direct_message(self, channel: ChannelRef, *, recipient_id: str, text: str) -> SentReply:
        """Send ``text`` to the account with DID ``recipient_id`` in their conversation with this account."""
        if channel.credentials.get("dms") is False:
            raise DirectMessagesRefused(
                "direct messages are off for this channel: its app password does not allow them. Connect the "
                "account again with an app password created with “Allow access to your direct messages”"
            )
        client = self._client(channel)
        convo = client.query(GET_CONVO_FOR_MEMBERS, DotDict({"members": [recipient_id]}), chat=True).body.get(
            "convo"
        )
        convo_id = convo.get("id") if isinstance(convo, Mapping) else None
        if not isinstance(convo_id, str):
            raise ConnectorError(f"Bluesky opened no conversation with {recipient_id}")
        message: dict[str, Any] = {"text": text}
        message_facets = facets(text, resolve_handle=lambda handle: _resolve(client, handle))
        if message_facets:
            message["facets"] = message_facets
        sent = client.procedure(
            SEND_MESSAGE, DotDict({"convoId": convo_id, "message": message}), chat=True
        ).body
        message_id = sent.get("id")
        if not isinstance(message_id, str):
            raise ConnectorError("Bluesky accepted the message but returned no id for it")
        return SentReply(
            external_id=f"chat:{convo_id}:{message_id}", url=f"{WEB}/messages/{convo_id}", raw=sent
        )

    # --- Credentials ----------------------------------------------------------------------------------

    def refreshed_credentials(self, channel: ChannelRef) -> dict[str, Any] | None:
        """The channel's credentials with the session this connector last had, or None if it is unchanged."""
        session = self._sessions.get(channel.slug)
        if session is None or session == channel.credentials.get("session"):
            return None
        return {**channel.credentials, "session": session}

    def _client(self, channel: ChannelRef) -> BlueskyClient:
        if channel.slug not in self._clients:

            def keep(session: dict[str, str], slug: str = channel.slug) -> None:
                self._sessions[slug] = session

            self._clients[channel.slug] = BlueskyClient(
                Credentials.of(channel), token_key=_token_key(channel), clock=self.clock, on_session=keep
            )
        return self._clients[channel.slug]


# --- Cursors ------------------------------------------------------------------------------------------------


class _NotificationCursor:
    """``{"seen": {"indexed_at", "uri"}, "walk": {"cursor", "newest"}}``: the newest notification stored by
    the last completed walk, and the walk under way if there is one."""

    def __init__(
        self, seen: dict[str, str] | None, walk_cursor: str | None, walk_newest: dict[str, str] | None
    ):
        self.seen = seen
        self.walk_cursor = walk_cursor
        self.walk_newest = walk_newest

    @classmethod
    def parse(cls, value: Any) -> _NotificationCursor:
        if value is None:
            return cls(None, None, None)
        if not isinstance(value, Mapping):
            raise ConnectorError(f"bluesky notifications cursor must be an object, got {value!r}")
        seen = _marker_or_none(value.get("seen"), value)
        walk = value.get("walk")
        if walk is None:
            return cls(seen, None, None)
        if not isinstance(walk, Mapping) or not isinstance(walk.get("cursor"), str):
            raise ConnectorError(f"bluesky notifications walk needs a cursor, got {value!r}")
        return cls(seen, walk["cursor"], _marker_or_none(walk.get("newest"), value))

    def is_seen(self, marker: Mapping[str, str]) -> bool:
        """Whether a notification was stored by an earlier walk: indexed before the seen one, or it."""
        if self.seen is None:
            return False
        if marker["uri"] == self.seen["uri"]:
            return True
        return _parse_time(marker["indexed_at"]) < _parse_time(self.seen["indexed_at"])


def _marker(item: Any) -> dict[str, str] | None:
    if not isinstance(item, Mapping):
        return None
    uri, indexed_at = item.get("uri"), item.get("indexedAt")
    if not isinstance(uri, str) or not isinstance(indexed_at, str):
        return None
    try:
        _parse_time(indexed_at)
    except ValueError:
        return None
    return {"uri": uri, "indexed_at": indexed_at}


def _marker_or_none(value: Any, cursor: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if (
        not isinstance(value, Mapping)
        or not isinstance(value.get("uri"), str)
        or not isinstance(value.get("indexed_at"), str)
    ):
        raise ConnectorError(f"bluesky cursor marker needs uri and indexed_at, got {cursor!r}")
    return {"uri": value["uri"], "indexed_at": value["indexed_at"]}


def _parse_time(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return moment


# --- Helpers ------------------------------------------------------------------------------------------------


def _list_notifications(client: BlueskyClient, api_cursor: str | None) -> Response:
    params: dict[str, Any] = {"limit": NOTIFICATIONS_PAGE_SIZE, "reasons": list(REASONS)}
    if api_cursor is not None:
        params["cursor"] = api_cursor
    return client.query(LIST_NOTIFICATIONS, DotDict(params))


def _list(body: Mapping[str, Any], key: str) -> list[Any]:
    items = body.get(key)
    if not isinstance(items, list):
        raise ConnectorError(f"Bluesky returned no {key} list")
    return items


def _add(item: Any, posts: list[Post], rejected: list[RejectedItem]) -> None:
    if isinstance(item, Mapping) and item.get("reason") not in KIND_BY_REASON:
        return  # a like or follow the server sent although the request asked for mentions only
    try:
        posts.append(notification_post(item))
    except ValueError as exc:
        rejected.append(
            RejectedItem(
                raw=dict(item) if isinstance(item, Mapping) else {"item": repr(item)}, error=str(exc)
            )
        )


def _resolve(client: BlueskyClient, handle: str) -> str | None:
    try:
        did = client.query(RESOLVE_HANDLE, DotDict({"handle": handle})).body.get("did")
    except ConnectorError as exc:
        if "InvalidRequest" in str(exc) or "Unable to resolve" in str(exc):
            return None
        raise
    return did if isinstance(did, str) else None


def _status(credentials: Mapping[str, Any], cursor: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    """Whether the channel receives and answers direct messages, and if not, why and what to do."""
    dms = cursor.get("dms") if isinstance(cursor.get("dms"), Mapping) else {}
    if not credentials.get("dms"):
        text = (
            "Off: the app password does not allow them. Connect the account again with an app password "
            "created with “Allow access to your direct messages” to receive and answer them."
        )
    elif dms.get("refused"):
        text = f"Off since Bluesky refused them: {dms['refused']}."
    elif dms.get("failed"):
        text = f"Received and answered; the last pull could not read them ({dms['failed']}) and tries again."
    else:
        text = "Received and answered."
    return (("Direct messages", text),)


def _failed_stream(exc: ConnectorError, now: datetime) -> StreamStatus:
    """The direct-message stream's status after a chat call failed with ``exc``."""
    if isinstance(exc, RateLimited):
        retry_at = now + timedelta(seconds=exc.retry_after)
        return StreamStatus(
            name="dms", label=DMS_LABEL, outcome="rate_limited", error=str(exc), retry_at=retry_at
        )
    outcome = "unavailable" if isinstance(exc, ConnectorUnavailable) else "failed"
    return StreamStatus(name="dms", label=DMS_LABEL, outcome=outcome, error=str(exc))


MAX_TOKEN_KEY_LENGTH = 120  # RateBudget.token_key


def _token_key(channel: ChannelRef) -> str:
    """``user:<DID>``; a did:web DID can be a whole domain name, too long for the column, and is then
    named by a digest of itself."""
    key = f"user:{channel.external_account_id}"
    if len(key) > MAX_TOKEN_KEY_LENGTH:
        key = "user:" + hashlib.sha256(channel.external_account_id.encode()).hexdigest()
    return key
