"""Presence: who is looking at (or writing a reply to) a mention right now. Kept in the cache, never in the
database: it is worth seconds, and a browser that stops saying so drops out by itself."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.utils import timezone

from foundation.live import event_publish
from inbox.models import Mention
from teams.roles import user_name

PRESENCE_SECONDS = 20  # a browser says it is still looking every 10 s; twice that and it has gone
STATES = ("viewing", "typing", "left")


def _key(mention_id: int) -> str:
    return f"inbox:presence:{mention_id}"


def viewers_of(mention_ids: Iterable[int]) -> dict[int, list[dict]]:
    """Who is looking at (or typing a reply to) each mention now: {id: [{"user", "name", "typing"}]}."""
    keys = {_key(i): i for i in mention_ids}
    if not keys:
        return {}
    now = timezone.now().timestamp()
    out: dict[int, list[dict]] = {}
    for key, entries in cache.get_many(list(keys)).items():
        live = [e for e in (entries or {}).values() if e.get("until", 0) > now]
        if live:
            out[keys[key]] = sorted(live, key=lambda e: e["name"])
    return out


def presence_record(*, mention: Mention, user: Any, state: str) -> list[dict]:
    """Note that ``user`` is viewing, typing a reply to, or has left ``mention`` (any other state counts as
    viewing); tell the other browsers; return who is there now."""
    key = _key(mention.pk)
    entries = dict(cache.get(key) or {})
    if state == "left":
        entries.pop(str(user.pk), None)
    else:
        entries[str(user.pk)] = {
            "user": user.pk,
            "name": user_name(user),
            "typing": state == "typing",
            "until": timezone.now().timestamp() + PRESENCE_SECONDS,
        }
    cache.set(key, entries, PRESENCE_SECONDS * 3)
    # What browsers are told leaves out the expiry, which only this module needs.
    viewers = [
        {"user": v["user"], "name": v["name"], "typing": v["typing"]}
        for v in viewers_of([mention.pk]).get(mention.pk, [])
    ]
    event_publish(
        "presence",
        {"ids": [mention.pk], "teams": [mention.team_id] if mention.team_id else [], "viewers": viewers},
    )
    return viewers


def presence_typing_stop(*, mention: Mention, user: Any) -> None:
    """The user sent their reply: still looking at the mention, no longer writing. Tells the other browsers
    (nothing happens when they were not writing)."""
    entry = (cache.get(_key(mention.pk)) or {}).get(str(user.pk))
    if entry and entry.get("typing"):
        presence_record(mention=mention, user=user, state="viewing")
