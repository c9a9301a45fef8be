"""The normalised keys that find one person behind several handles, and how much each kind of match says.

Pure functions over what an author carries (network, handle, display name, profile text, direct messages):
the suggestion service stores the keys and looks matches up by (kind, value) in an index.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

NAME = "name"
HANDLE = "handle"
EMAIL = "email"
NAMED_HANDLE = "named_handle"

# How likely two handles are one person when they share a key of this kind, on its own. A display name is
# shared by strangers ("Alex Smith"); the same handle on two networks usually is one person; an e-mail address
# given in a direct message or a profile naming the other handle nearly always is.
CONFIDENCE: dict[str, float] = {NAME: 0.5, HANDLE: 0.6, NAMED_HANDLE: 0.85, EMAIL: 0.9}
REASONS: dict[str, str] = {
    NAME: "same display name",
    HANDLE: "same handle on another network",
    NAMED_HANDLE: "profile names the other handle",
    EMAIL: "same e-mail address in a direct message",
}
NAME_MIN_LETTERS = 6  # "Jo" or "Sam" names too many people to say anything
HANDLE_MIN_LENGTH = 4
KEY_MAX_LENGTH = 254  # AuthorKey.value

_EMAIL = re.compile(r"[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}", re.IGNORECASE)
# A handle named in a profile: @name, @name@server (Mastodon), a profile link on X, Bluesky or Mastodon.
_NAMED = re.compile(
    r"(?:https?://)?(?:www\.)?(?:x|twitter)\.com/(?P<x>\w{1,15})"
    r"|(?:https?://)?bsky\.app/profile/(?P<bsky>[\w.-]+)"
    r"|(?:https?://)?[\w.-]+\.[a-z]{2,}/@(?P<masto>\w+)"
    r"|(?<![\w@])@(?P<at>[\w.-]+(?:@[\w.-]+)?)",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class AuthorFacts:
    """What one author carries that keys come from. ``profile``: bio and profile link when the network sent
    them; ``direct_messages``: the texts of the author's direct messages to us."""

    author_id: int
    network: str
    handle: str
    display_name: str = ""
    profile: str = ""
    direct_messages: Sequence[str] = ()


def name_key(display_name: str) -> str:
    """A display name as compared: accents and case folded, letters and digits only, one space between
    words; empty when too short to tell people apart."""
    folded = unicodedata.normalize("NFKD", display_name).casefold()
    words = re.findall(r"[^\W_]+", "".join(c for c in folded if not unicodedata.combining(c)))
    if sum(len(w) for w in words) < NAME_MIN_LETTERS or len(words) < 2:
        return ""
    return " ".join(words)[:KEY_MAX_LENGTH]


def handle_key(handle: str) -> str:
    """The part of a handle a person keeps across networks: ``@Ann_Lee`` on X, ``ann_lee@mastodon.social``
    and ``ann-lee.bsky.social`` all give ``annlee``. A custom Bluesky domain (``annlee.com``) gives its
    first label. Empty when too short to mean anything."""
    bare = handle.strip().lstrip("@").casefold()
    bare = bare.split("@", 1)[0]  # Mastodon's user@server
    bare = bare.split(".", 1)[0]  # Bluesky's name.bsky.social, or a domain's first label
    key = re.sub(r"[^a-z0-9]", "", bare)
    return key[:KEY_MAX_LENGTH] if len(key) >= HANDLE_MIN_LENGTH else ""


def emails_in(texts: Iterable[str]) -> set[str]:
    return {match.group(0).casefold()[:KEY_MAX_LENGTH] for text in texts for match in _EMAIL.finditer(text)}


def named_handles(profile: str) -> set[str]:
    """The handle keys of the accounts a profile text names (an @handle, a profile link)."""
    found = set()
    for match in _NAMED.finditer(profile):
        name = next(group for group in match.groups() if group)
        key = handle_key(name)
        if key:
            found.add(key)
    return found


def author_keys(facts: AuthorFacts) -> set[tuple[str, str]]:
    """Every (kind, value) key of one author."""
    keys: set[tuple[str, str]] = set()
    if name := name_key(facts.display_name):
        keys.add((NAME, name))
    own = handle_key(facts.handle)
    if own:
        keys.add((HANDLE, own))
    keys |= {(EMAIL, email) for email in emails_in(facts.direct_messages)}
    keys |= {(NAMED_HANDLE, key) for key in named_handles(facts.profile) if key != own}
    return keys


def confidence_of(kinds: Iterable[str]) -> float:
    """Independent reasons add up: one minus the chance that every one of them is a coincidence."""
    doubt = 1.0
    for kind in set(kinds):
        doubt *= 1.0 - CONFIDENCE[kind]
    return round(1.0 - doubt, 4)
