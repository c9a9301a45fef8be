"""Bluesky payloads turned into posts: notifications (``app.bsky.notification.listNotifications#notification``
holding an ``app.bsky.feed.post`` record) and chat messages (``chat.bsky.convo.defs#messageView``).

Ids. A post's external id is its ``at://`` URI (``at://<author DID>/app.bsky.feed.post/<record key>``), the
same on every server, so a post seen by two brand accounts is one mention. An author's id is their DID,
which outlives handle changes. A direct message's id is ``chat:<conversation id>:<message id>``.

Threads. A reply's record names its thread's root and its parent (``reply.root``/``reply.parent``), so its
conversation key is the root's URI and a post that answers nothing is its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from channels.connectors.base import (
    AuthorData,
    ChannelRef,
    Post,
    PostTimeRefused,
    avatar_url_checked,
    post_time_checked,
)

NETWORK = "bluesky"
WEB = "https://bsky.app"
POST_COLLECTION = "app.bsky.feed.post"
# The reasons a brand account must answer; likes, reposts and follows are not posts addressed to it.
KIND_BY_REASON = {"mention": "mention", "reply": "reply", "quote": "mention"}


def notification_post(notification: Mapping[str, Any]) -> Post:
    """The post a mention, reply or quote notification carries; ValueError says what is wrong with it."""
    reason = _field(notification, "reason", str)
    kind = KIND_BY_REASON.get(reason)
    if kind is None:
        raise ValueError(f"reason {reason!r} is not a mention, reply or quote")
    uri = _field(notification, "uri", str)
    if not uri.startswith("at://") or f"/{POST_COLLECTION}/" not in uri:
        raise ValueError(f"uri {uri!r} is not the at:// URI of a post")
    record = _field(notification, "record", Mapping)
    text = record.get("text", "")
    if not isinstance(text, str):
        raise ValueError(f"record text is {type(text).__name__}, not a string")
    author = author_data(_field(notification, "author", Mapping))
    root_uri, parent_uri = _reply_refs(record)
    return Post(
        network=NETWORK,
        external_id=uri,
        kind=kind,
        text=text,
        created_at=_created_at(record, notification),
        author=author,
        conversation_key=root_uri or uri,
        in_reply_to=parent_uri,
        url=post_url(uri, author.handle),
        raw=dict(notification),
        language=_language(record),
    )


def message_post(message: Mapping[str, Any], convo: Mapping[str, Any], *, own_did: str) -> Post | None:
    """The direct message as a post, or None for one the account sent itself."""
    message_id = _field(message, "id", str)
    convo_id = _field(convo, "id", str)
    sender = _field(message, "sender", Mapping)
    sender_did = _field(sender, "did", str)
    if sender_did == own_did:
        return None
    text = message.get("text", "")
    if not isinstance(text, str):
        raise ValueError(f"message text is {type(text).__name__}, not a string")
    members = [m for m in convo.get("members") or () if isinstance(m, Mapping) and m.get("did") == sender_did]
    author = author_data(members[0]) if members else AuthorData(external_id=sender_did, handle=sender_did)
    sent_at = _timestamp(_field(message, "sentAt", str), "sentAt")
    key = f"chat:{convo_id}"
    return Post(
        network=NETWORK,
        external_id=f"{key}:{message_id}",
        kind="dm",
        text=text,
        created_at=post_time_checked(sent_at),
        author=author,
        conversation_key=key,
        url=f"{WEB}/messages/{convo_id}",
        raw={"message": dict(message), "convo_id": convo_id},
    )


def author_data(profile: Mapping[str, Any]) -> AuthorData:
    """An ``app.bsky.actor.defs#profileView(Basic)``. Its follower count is not part of these views."""
    display_name = profile.get("displayName") or ""
    if not isinstance(display_name, str):
        raise ValueError(f"author displayName {display_name!r} is not a string")
    verification = profile.get("verification")
    verified = isinstance(verification, Mapping) and verification.get("verifiedStatus") == "valid"
    followers = profile.get("followersCount") or 0
    if isinstance(followers, bool) or not isinstance(followers, int) or followers < 0:
        raise ValueError(f"author followersCount {followers!r} is not a count")
    return AuthorData(
        external_id=_field(profile, "did", str),
        handle=_field(profile, "handle", str),
        display_name=display_name,
        follower_count=followers,
        is_verified=verified,
        avatar_url=avatar_url_checked(profile.get("avatar")),
    )


def post_url(uri: str, handle: str) -> str:
    """``at://<did>/app.bsky.feed.post/<key>`` is ``bsky.app/profile/<handle>/post/<key>``."""
    record_key = uri.rsplit("/", 1)[-1]
    return f"{WEB}/profile/{handle}/post/{record_key}"


def _reply_refs(record: Mapping[str, Any]) -> tuple[str, str]:
    reply = record.get("reply")
    if reply is None:
        return "", ""
    if not isinstance(reply, Mapping):
        raise ValueError("record reply is not an object")
    root = _field(_field(reply, "root", Mapping), "uri", str)
    parent = _field(_field(reply, "parent", Mapping), "uri", str)
    return root, parent


def _language(record: Mapping[str, Any]) -> str:
    langs = record.get("langs")
    if isinstance(langs, list) and langs and isinstance(langs[0], str):
        return langs[0]
    return ""


def _created_at(record: Mapping[str, Any], notification: Mapping[str, Any]) -> datetime:
    """The record's ``createdAt``, which its author's app writes; when that is missing or impossible (a
    clock in the future), the time the network indexed it."""
    created = record.get("createdAt")
    if isinstance(created, str):
        try:
            return post_time_checked(_timestamp(created, "createdAt"))
        except (ValueError, PostTimeRefused):
            pass
    return post_time_checked(_timestamp(_field(notification, "indexedAt", str), "indexedAt"))


def _timestamp(value: str, name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name} {value!r} is not an ISO-8601 time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _field(mapping: Any, key: str, kind: type) -> Any:
    """``mapping[key]``, present and of ``kind``, or a ValueError that says which it is not."""
    if not isinstance(mapping, Mapping):
        raise ValueError(f"expected an object holding {key!r}, got {type(mapping).__name__}")
    value = mapping.get(key)
    if value is None:
        raise ValueError(f"{key!r} is missing")
    if not isinstance(value, kind):
        raise ValueError(f"{key!r} is {type(value).__name__}, not {kind.__name__}")
    return value


def quarantined_post(raw: Mapping[str, Any], channel: ChannelRef) -> Post:
    """A quarantined notification read again (the quarantine's retry); ValueError says what is wrong. A
    direct message is read with its conversation, which the quarantine does not keep: it cannot be retried
    alone."""
    if "reason" not in raw:
        raise ValueError("only a mention, reply or quote notification can be read again on its own")
    try:
        return notification_post(raw)
    except (KeyError, TypeError) as exc:
        raise ValueError(str(exc)) from exc
