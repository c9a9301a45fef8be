"""X's reply rules: how long a post or a direct message may be, counted as X counts it.

X weighs each code point as twitter-text v3 does: Latin, Greek, Cyrillic, Hebrew, Arabic, Indic scripts and
common punctuation weigh 1, everything else (CJK, Hangul syllables, emoji, ...) weighs 2. An emoji, however
many code points make it up (a flag, a skin tone, a ZWJ family), weighs 2. Every link weighs 23, the length
of the t.co address that replaces it, including a bare ``example.com`` that X links without a scheme. A
reply needs no ``@author`` in front of it (``in_reply_to_tweet_id`` threads it), so nothing is added to what
the agent wrote.
"""

from __future__ import annotations

from channels.connectors.base import ReplyRules
from channels.connectors.text import EMOJI, LINK_LENGTH, links

POST_LIMIT = 280
DIRECT_MESSAGE_LIMIT = 10_000

# twitter-text v3: code points in these ranges weigh 1, all others 2 (its scale of 100 and default weight of
# 200, divided by 100). The first covers scripts up to Georgian; the others are spaces, dashes, quotes and
# primes of General Punctuation.
_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
_HEAVY_WEIGHT = 2
_EMOJI_WEIGHT = 2


def _char_weight(char: str) -> int:
    code_point = ord(char)
    for start, end in _LIGHT_RANGES:
        if start <= code_point <= end:
            return 1
    return _HEAVY_WEIGHT


def _plain_weight(text: str) -> int:
    """Weight of text without links: each emoji as one, every other code point by its range."""
    total, position = 0, 0
    for match in EMOJI.finditer(text):
        total += sum(map(_char_weight, text[position : match.start()])) + _EMOJI_WEIGHT
        position = match.end()
    return total + sum(map(_char_weight, text[position:]))


def weighted_length(text: str) -> int:
    """How long NFC-normalised ``text`` is as X counts it."""
    total, position = 0, 0
    for start, end in links(text, bare=True):
        total += _plain_weight(text[position:start]) + LINK_LENGTH
        position = end
    return total + _plain_weight(text[position:])


REPLY_RULES = ReplyRules(
    limit=POST_LIMIT, direct_limit=DIRECT_MESSAGE_LIMIT, length=weighted_length, counting="weighted"
)
