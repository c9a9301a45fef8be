"""Mastodon payloads to posts: mention and update notifications and hashtag timeline statuses, with their
authors (``user@host`` wherever they were read), visibility (direct is a DM), language, edits, the status
``uri`` that names a post on every server, and HTML turned into plain text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any, TypeVar

from channels.connectors.base import (
    AuthorData,
    ConnectorError,
    Post,
    RejectedItem,
    SentReply,
    avatar_url_checked,
    post_time_checked,
)
from channels.connectors.mastodon.rules import qualified_handle

T = TypeVar("T")

NETWORK = "mastodon"

MAX_EXTERNAL_ID_LENGTH = 64  # Mention.external_id and Author.external_id are 64 characters wide

VISIBILITIES = frozenset({"public", "unlisted", "private", "direct"})
_LANGUAGE_SUBTAG = re.compile(r"[a-z]{2,8}")  # a BCP 47 primary language subtag
# ISO 639's codes for "undetermined", "several", "not listed" and "no linguistic content": no language.
_NO_LANGUAGE = frozenset({"und", "mul", "mis", "zxx"})


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
        # avatar_static: the still image (avatar may be an animated GIF); both are https on real instances.
        avatar_url=avatar_url_checked(account.get("avatar_static") or account.get("avatar")),
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
