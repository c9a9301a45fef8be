"""X API v2 payloads to posts: tweets with their expansions (authors, the posts they reply to and quote,
expanded links, edits, withheld posts), in the older and the newer field spellings (``referenced_tweets`` and
``referenced_posts``, ...), direct message events, and X's language tags.

An item that cannot become a post is :class:`_MalformedItem`, quarantined while the rest of its page goes on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from channels.connectors.base import (
    AuthorData,
    ChannelRef,
    ConnectorError,
    Post,
    PostTimeRefused,
    RejectedItem,
    avatar_url_checked,
    post_time_checked,
)

NETWORK = "x"
WEB_HOST = "https://x.com"

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
USER_FIELDS = ("username", "name", "verified", "public_metrics", "profile_image_url")
DM_EVENT_FIELDS = ("id", "text", "event_type", "created_at", "dm_conversation_id", "sender_id")
DM_EXPANSIONS = ("sender_id",)
DM_MESSAGE_EVENT = "MessageCreate"  # the other DM events are people joining or leaving a group

KIND_MENTION = "mention"
KIND_REPLY = "reply"
KIND_DM = "dm"
KIND_KEYWORD = "keyword"


class _MalformedItem(ValueError):
    """An item of a page that cannot become a Post; it is quarantined and the page goes on."""


@dataclass
class _StreamResult:
    posts: list[Post] = field(default_factory=list)
    rejected: list[RejectedItem] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)  # every well-formed id seen, skipped or not
    skipped: Counter[str] = field(default_factory=Counter)
    reached_since_id: bool = False
    partial_errors: list[str] = field(default_factory=list)


def _tweet_results(
    body: Mapping[str, Any], *, account_id: str, since_id: int | None, is_search: bool
) -> _StreamResult:
    result = _StreamResult()
    users = _users_by_id(body.get("includes"))
    included = _included_posts(body.get("includes"))
    for item in _data_items(body):
        _collect(
            result,
            item,
            since_id,
            lambda tweet: _tweet_post(tweet, users, account_id, is_search, included),
            includes=body.get("includes"),
        )
    return result


def _dm_results(body: Mapping[str, Any], *, account_id: str, since_id: int | None) -> _StreamResult:
    result = _StreamResult()
    users = _users_by_id(body.get("includes"))
    for item in _data_items(body):
        _collect(
            result,
            item,
            since_id,
            lambda event: _dm_post(event, users, account_id),
            includes=body.get("includes"),
        )
    return result


def _collect(
    result: _StreamResult,
    item: Any,
    since_id: int | None,
    parse: Callable[[Mapping[str, Any]], Post | str],
    *,
    includes: Any = None,
) -> None:
    """Parse one item into ``result``: a post, a skip (with its reason) or a rejected item. A rejected item is
    kept with the part of the page's ``includes`` it names (its author or sender, the posts it references
    and their authors), so the quarantine's retry can read it again on its own (``quarantined_post``)."""
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
        kept = dict(item)
        own = _own_includes(item, includes)
        if own:
            kept["includes"] = own
        result.rejected.append(RejectedItem(raw=kept, error=str(exc)))
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


def _own_includes(item: Mapping[str, Any], includes: Any) -> dict[str, list[Any]]:
    """Of a page's ``includes``, what one item names: the posts it references, then the users who wrote or
    sent it or them."""
    if not isinstance(includes, Mapping) or "includes" in item:
        return {}
    posts = _included_posts(includes)
    referenced = item.get("referenced_tweets")
    own_posts = [
        posts[str(ref.get("id"))]
        for ref in (referenced if isinstance(referenced, list) else [])
        if isinstance(ref, Mapping) and str(ref.get("id")) in posts
    ]
    wanted = {str(person.get(key)) for person in [item, *own_posts] for key in ("author_id", "sender_id")}
    own_users = [user for user_id, user in _users_by_id(includes).items() if user_id in wanted]
    own: dict[str, list[Any]] = {}
    if own_users:
        own["users"] = own_users
    if own_posts:
        own["tweets"] = own_posts
    return own


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
        avatar_url=avatar_url_checked(user.get("profile_image_url")),
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


def quarantined_post(raw: Mapping[str, Any], channel: ChannelRef) -> Post:
    """A quarantined item read again (the quarantine's retry): a tweet or DM event the parser refused, or
    a post the ingest refused (kept as its ``raw``: ``tweet`` with ``author``, ``dm_event`` with
    ``sender``). X sends a tweet's author in the page's ``includes``; an item kept without them (no
    ``raw["includes"]``) stays refused for its author. ValueError says what is wrong."""
    item: Mapping[str, Any] = raw
    users = _users_by_id(raw.get("includes"))
    for key, person in (("tweet", "author"), ("dm_event", "sender")):
        if isinstance(raw.get(key), Mapping) and isinstance(raw.get(person), Mapping):
            item = raw[key]
            users = {str(raw[person].get("id")): raw[person]}
    try:
        if item.get("event_type") is not None:
            outcome = _dm_post(item, users, channel.external_account_id)
        else:
            included = _included_posts(raw.get("includes"))
            outcome = _tweet_post(item, users, channel.external_account_id, False, included)
    except (_MalformedItem, KeyError, TypeError) as exc:
        raise ValueError(str(exc)) from exc
    if isinstance(outcome, str):
        raise ValueError(f"X leaves this item out of the inbox ({outcome})")
    return outcome
