"""The line format of ``import_mentions`` and of the API's create endpoint for generic sources
(docs/import-format.md): one JSON object per post, turned into the connectors' ``Post`` or refused with every
wrong field named."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from channels.connectors.base import AuthorData, Post, PostTimeRefused, post_time_checked
from channels.connectors.registry import registered_networks
from foundation.parsers import json_loads_checked
from inbox.models import Mention

REQUIRED_FIELDS = ("external_id", "text", "author_handle", "created_at")
# The longest post a network lets someone else write, which is not the limit of what we may reply: X's
# long posts (Premium) reach 25,000 characters, and each Mastodon server sets its own limit (500 by default,
# far more on many). So a genuine post is never refused and a runaway one still is.
POST_TEXT_LIMIT = 25_000
DM_TEXT_LIMIT = 10_000  # X's direct messages; no network allows longer
# A date alone parses as midnight with no zone; it deserves its own message, not "has no UTC offset".
_BARE_DATE = re.compile(r"\d{4}-?\d{2}-?\d{2}")
_JSON_TYPE_NAMES = {
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true or false",
    type(None): "null",
    list: "an array",
    dict: "an object",
}


class LineRefused(ValueError):
    """A line that cannot become a post; the message says why, in the file format's terms."""


def post_from_object(item: Mapping[str, Any], *, default_network: str) -> Post:
    """The post one line describes; raises :class:`LineRefused` naming every field that is wrong."""
    problems: list[str] = []
    missing = [name for name in REQUIRED_FIELDS if item.get(name) is None]
    if missing:
        problems.append(f"missing required field{'s' if len(missing) > 1 else ''} {', '.join(missing)}")

    def string(name: str, *, default: str = "") -> str:
        value = item.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            problems.append(f"{name} must be a string, not {json_type(value)}")
            return default
        return value

    external_id = string("external_id").strip()
    if isinstance(item.get("external_id"), str) and not external_id:
        problems.append("external_id is empty")
    text = string("text")
    handle = string("author_handle").strip().removeprefix("@")
    if isinstance(item.get("author_handle"), str) and not handle:
        problems.append("author_handle is empty")
    author_id = string("author_id").strip()
    author_name = string("author_name")
    in_reply_to = string("in_reply_to").strip()
    url = string("url").strip()
    kind = string("kind", default=Mention.Kind.MENTION.value)  # the ingest refuses an unknown kind
    network = string("network", default=default_network)
    networks = registered_networks()
    if isinstance(item.get("network"), str) and network not in networks:
        problems.append(f"unknown network {network!r} (expected one of {', '.join(networks)})")
    elif text:
        problems.extend(text_problems(text, network=network, kind=kind))

    followers = item.get("author_followers", 0)
    if followers is None:
        followers = 0
    elif isinstance(followers, bool) or not isinstance(followers, int) or followers < 0:
        problems.append(f"author_followers must be a whole number, 0 or more, not {json.dumps(followers)}")
        followers = 0

    created_at = None
    if "created_at" not in missing:
        try:
            created_at = parse_created_at(item["created_at"])
        except LineRefused as exc:
            problems.append(str(exc))

    if problems or created_at is None:
        raise LineRefused("; ".join(problems))
    return Post(
        network=network,
        external_id=external_id,
        kind=kind,
        text=text,
        created_at=created_at,
        author=AuthorData(
            # Without an id, the handle is the only stable thing that names the author across imports.
            external_id=author_id or handle.lower(),
            handle=handle,
            display_name=author_name,
            follower_count=followers,
        ),
        conversation_key=in_reply_to or external_id,
        in_reply_to=in_reply_to,
        url=url,
        raw=dict(item),
    )


def parse_created_at(value: Any) -> datetime:
    """An ISO-8601 date and time with a UTC offset. A naive time or a bare date is refused: guessing the
    zone would misplace every post by hours in the queue and in response-time figures."""
    if not isinstance(value, str):
        raise LineRefused(f"created_at must be an ISO-8601 string, not {json_type(value)}")
    stripped = value.strip()
    if _BARE_DATE.fullmatch(stripped):
        raise LineRefused(
            f"created_at {value!r} is a date without a time; give a time with a UTC offset, "
            f"e.g. {stripped}T09:30:00Z"
        )
    try:
        moment = datetime.fromisoformat(stripped)
    except ValueError:
        raise LineRefused(f"created_at {value!r} is not an ISO-8601 date and time") from None
    if moment.utcoffset() is None:
        raise LineRefused(
            f"created_at {value!r} has no UTC offset; add one (Z for UTC, or e.g. +02:00) so the time is not "
            "guessed"
        )
    try:
        return post_time_checked(moment)
    except PostTimeRefused as exc:
        raise LineRefused(str(exc)) from None


def text_problems(text: str, *, network: str, kind: str) -> list[str]:
    """Why ``text`` is longer than any post (or direct message) on a network can be, or nothing."""
    limit = DM_TEXT_LIMIT if kind == Mention.Kind.DM else POST_TEXT_LIMIT
    if len(text) <= limit:
        return []
    return [f"text is {len(text):,} characters long; a {network} {kind} has at most {limit:,}"]


def line_loads(text: str) -> Any:
    """One line's JSON: NaN and Infinity (which Python accepts and JSON does not), nesting deeper than
    ``foundation.parsers.MAX_JSON_DEPTH`` and lone surrogates are refused with a ``ValueError``."""
    return json_loads_checked(text, parse_constant=_refuse_constant)


def _refuse_constant(name: str) -> Any:
    raise LineRefused(f"{name} is not a JSON value")


def json_type(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)
