"""Mastodon's reply rules: how long a status may be, and the ``@author`` its connector puts in front.

Mastodon counts user-perceived characters (grapheme clusters), every ``http(s)://`` link as 23, and a
remote mention ``@user@domain`` as the local ``@user`` only, so addressing someone on another server costs
no more than addressing a neighbour. A status holds 500 of them; a direct message is an ordinary status with
the same limit.

A public reply that does not name its author gets ``@author`` in front (Mastodon's own apps address a reply
that way), and Mastodon counts it (a remote ``@user@host`` as ``@user``), so it is counted with the reply.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from channels.connectors.base import ListeningQueries, ReplyRules
from channels.connectors.text import LINK_LENGTH, grapheme_count, links

STATUS_LIMIT = 500

# "@user@domain": a user name may hold dots and dashes inside; the domain ends with a letter or digit.
_REMOTE_MENTION = re.compile(
    r"(?<![\w/=@])@(?P<user>[a-z0-9_]+(?:[a-z0-9_.-]*[a-z0-9_])?)@[\w-]+(?:\.[\w-]+)*", re.IGNORECASE
)


def status_length(text: str) -> int:
    """How long NFC-normalised ``text`` is as Mastodon counts it."""
    parts, position = [], 0
    for start, end in links(text, bare=False):
        parts.append(_REMOTE_MENTION.sub(r"@\g<user>", text[position:start]))
        parts.append("x" * LINK_LENGTH)
        position = end
    parts.append(_REMOTE_MENTION.sub(r"@\g<user>", text[position:]))
    return grapheme_count("".join(parts))


def instance_host(credentials: Mapping[str, Any]) -> str:
    """The host of a Mastodon channel's instance (``mastodon.social``), lowercase; "" without one."""
    instance_url = credentials.get("instance_url")
    if not isinstance(instance_url, str) or not instance_url.strip():
        return ""
    instance_url = instance_url.strip()
    return urlsplit(instance_url if "://" in instance_url else f"https://{instance_url}").netloc.lower()


def qualified_handle(acct: str, *, instance_host: str) -> str:
    """An account's address as ``user@host`` wherever it was read: an instance names its own accounts by
    ``user`` alone (``acct``), and the same person is ``user@host`` on every other instance, so a bare name
    stored from one channel would name someone else, or no one, on another."""
    acct = acct.lstrip("@")
    if "@" in acct or not acct:
        return acct
    return f"{acct}@{instance_host}"


def addresses(text: str, handle: str, *, instance_host: str) -> bool:
    """Whether ``text``, posted on the instance at ``instance_host``, already addresses the account
    ``handle`` (its ``acct`` there or ``user@host``): as ``@user@host``, or as ``@user`` when the account is
    local to that instance (a bare ``@user`` means the local account of that name)."""
    user, _, host = qualified_handle(handle, instance_host=instance_host).partition("@")
    forms = [f"{user}@{host}"]
    if host.lower() == instance_host.lower():
        forms.append(user)
    return any(
        re.search(rf"(?<![\w@])@{re.escape(form)}(?![\w@])", text, flags=re.IGNORECASE) is not None
        for form in forms
    )


def reply_prefix_length(text: str, author_handle: str, credentials: Mapping[str, Any]) -> int:
    """What the ``@author `` the connector puts in front of a public reply ``text`` that does not address
    its author adds to the count (a remote ``@user@host`` counts as ``@user``); 0 when it names them."""
    handle = author_handle.lstrip("@")
    if addresses(text, handle, instance_host=instance_host(credentials)):
        return 0
    return len(handle.split("@")[0]) + 2  # "@", the user name and a space


REPLY_RULES = ReplyRules(
    limit=STATUS_LIMIT,
    direct_limit=STATUS_LIMIT,
    length=status_length,
    counting="short-links",
    reply_prefix_length=reply_prefix_length,
)


# --- Listening ---------------------------------------------------------------------------------------------

MAX_HASHTAGS = 20  # as many as the channel pages take search queries
_HASHTAG = re.compile(r"#?(\w+)")


def hashtags(text: str) -> list[str]:
    """Hashtags, one a line, each written with its #: the only thing Mastodon can be listened to for.
    ``ValueError`` with a message for the admin otherwise."""
    tags: list[str] = []
    for line in dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()):
        match = _HASHTAG.fullmatch(line)
        if match is None:
            raise ValueError(
                f"{line!r} is not a hashtag. On Mastodon only hashtags can be listened to, one per line."
            )
        tags.append(f"#{match.group(1)}")
    if len(tags) > MAX_HASHTAGS:
        raise ValueError(f"At most {MAX_HASHTAGS} hashtags, one per line.")
    return list(dict.fromkeys(tags))


LISTENING_QUERIES = ListeningQueries(
    label="Hashtags to listen to",
    help_text=(
        "One hashtag per line, e.g. #northwind. Their public timelines on the instance are received along "
        "with the account's mentions."
    ),
    parse=hashtags,
)
