"""Bluesky's reply rules: how long a post may be, and the facets that make its mentions and links live.

Length. A post's text may hold 300 graphemes (``app.bsky.feed.post``: ``maxGraphemes`` 300, ``maxLength``
3000 bytes). Links are counted as written: Bluesky has no link shortener, so a long address costs its full
length. A reply needs no ``@author`` in front of it (``reply.root`` and ``reply.parent`` carry the thread), so
nothing is added to what the agent wrote. Direct messages (``chat.bsky.convo.defs#messageInput``) hold
1000 graphemes.

Facets. Text alone renders as plain text: a mention is a ``app.bsky.richtext.facet#mention`` with the DID it
names, a link a ``#link`` with its address, each over a byte slice of the UTF-8 encoded text (not a
character slice: "café @ann.bsky.social" starts the mention at byte 6, not 5).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from atproto_client.utils.facet_detection import detect_facets, detect_mentions

from channels.connectors.base import ReplyRules
from channels.connectors.text import grapheme_count

POST_MAX_GRAPHEMES = 300
POST_MAX_BYTES = 3000
MESSAGE_MAX_GRAPHEMES = 1000

REPLY_RULES = ReplyRules(limit=POST_MAX_GRAPHEMES, direct_limit=MESSAGE_MAX_GRAPHEMES, length=grapheme_count)

MENTION = "app.bsky.richtext.facet#mention"
LINK = "app.bsky.richtext.facet#link"
TAG = "app.bsky.richtext.facet#tag"


def facets(text: str, *, resolve_handle: Callable[[str], str | None]) -> list[dict[str, Any]]:
    """The facets of ``text`` as the lexicon spells them (JSON), sorted by where they start.

    ``resolve_handle`` turns a handle into its DID, or None when it names nobody; a mention of nobody stays
    plain text, as Bluesky's own apps leave it.
    """
    found: list[dict[str, Any]] = []
    for facet in detect_facets(text):
        feature = facet.features[0]
        if feature.py_type == LINK:
            found.append(
                _facet(facet.index.byte_start, facet.index.byte_end, {"$type": LINK, "uri": feature.uri})
            )
        elif feature.py_type == TAG:
            found.append(
                _facet(facet.index.byte_start, facet.index.byte_end, {"$type": TAG, "tag": feature.tag})
            )
    dids: dict[str, str | None] = {}
    for mention in detect_mentions(text):
        handle = mention.handle.lower()
        if handle not in dids:
            dids[handle] = resolve_handle(handle)
        did = dids[handle]
        if did:
            found.append(_facet(mention.byte_start, mention.byte_end, {"$type": MENTION, "did": did}))
    return sorted(found, key=lambda facet: facet["index"]["byteStart"])


def _facet(start: int, end: int, feature: dict[str, Any]) -> dict[str, Any]:
    return {
        "$type": "app.bsky.richtext.facet",
        "index": {"byteStart": start, "byteEnd": end},
        "features": [feature],
    }
