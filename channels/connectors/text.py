"""Counting a reply the way a network counts it: the pieces every network's reply rules are built from.

The composer and ``reply_create`` refuse a reply the network would refuse, so the count has to be the
network's own, not ``len()``. Each connector declares its ``ReplyRules`` (``capabilities.reply_rules``: its
limits, its length function and the composer's name for that counting) in its folder, built from what is
here: links found as X and Mastodon find them (:func:`links`, with or without a scheme), emoji sequences
(:data:`EMOJI`) and user-perceived characters (:func:`grapheme_count`, UAX #29). Text is normalised to NFC
first, as the networks do: a decomposed "é" is one character, not two.

A network nobody registered gets :data:`FALLBACK_LIMIT` graphemes, the strictest limit we know rather than
none.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator, Mapping
from typing import Any

from channels.connectors.base import ReplyRules
from channels.connectors.registry import capabilities_for

FALLBACK_LIMIT = 280  # a network nobody registered gets the strictest limit we know rather than none

LINK_LENGTH = 23  # what X and Mastodon charge for any link: X's t.co length, which Mastodon copied

# --- Emoji ---------------------------------------------------------------------------------------------

# Pictographs: an approximation of Unicode's Extended_Pictographic property (Python's ``re`` has no \p{}).
# Where it errs, it errs on code points above U+10FF, which weigh 2 on X whether they are counted as an
# emoji or as a plain character, so a stray pictograph changes a count only when it carries a variation
# selector or joiner.
_PICTOGRAPH_RANGES = (
    (0x00A9, 0x00A9),
    (0x00AE, 0x00AE),
    (0x203C, 0x203C),
    (0x2049, 0x2049),
    (0x2122, 0x2122),
    (0x2139, 0x2139),
    (0x2194, 0x2199),
    (0x21A9, 0x21AA),
    (0x231A, 0x231B),
    (0x2328, 0x2328),
    (0x2388, 0x2388),
    (0x23CF, 0x23CF),
    (0x23E9, 0x23F3),
    (0x23F8, 0x23FA),
    (0x24C2, 0x24C2),
    (0x25AA, 0x25AB),
    (0x25B6, 0x25B6),
    (0x25C0, 0x25C0),
    (0x25FB, 0x25FE),
    (0x2600, 0x27BF),
    (0x2934, 0x2935),
    (0x2B05, 0x2B07),
    (0x2B1B, 0x2B1C),
    (0x2B50, 0x2B50),
    (0x2B55, 0x2B55),
    (0x3030, 0x3030),
    (0x303D, 0x303D),
    (0x3297, 0x3297),
    (0x3299, 0x3299),
    (0x1F000, 0x1FAFF),
    (0x1FC00, 0x1FFFD),
)
_PICTOGRAPH_STARTS = [start for start, _ in _PICTOGRAPH_RANGES]

_ZWJ = "\u200d"
_EMOJI_STYLE = "\ufe0f"  # variation selector 16: "draw the previous character as an emoji"
_KEYCAP = "\u20e3"
_REGIONAL_INDICATORS = (0x1F1E6, 0x1F1FF)  # two of them make a country flag
_SKIN_TONES = (0x1F3FB, 0x1F3FF)
_TAGS = (0xE0020, 0xE007F)  # spell a subdivision after a black flag (England, Scotland, Wales)


def _char_class(ranges: tuple[tuple[int, int], ...]) -> str:
    return "".join(f"{re.escape(chr(start))}-{re.escape(chr(end))}" for start, end in ranges)


# © and ® are text by default; only with the emoji selector do they become an emoji (and weigh 2, not 1).
_TEXT_DEFAULT_PICTOGRAPHS = tuple(r for r in _PICTOGRAPH_RANGES if r[1] <= 0x10FF)
_EMOJI_DEFAULT_PICTOGRAPHS = tuple(r for r in _PICTOGRAPH_RANGES if r[0] > 0x10FF)
_EMOJI_ELEMENT = (
    f"[{_char_class(_EMOJI_DEFAULT_PICTOGRAPHS)}]"
    f"(?:{_EMOJI_STYLE}|[{_char_class((_SKIN_TONES,))}])?"
    f"|[{_char_class(_TEXT_DEFAULT_PICTOGRAPHS)}]{_EMOJI_STYLE}"
)
EMOJI = re.compile(
    f"[{_char_class((_REGIONAL_INDICATORS,))}]{{2}}"  # a flag
    f"|\U0001f3f4[{_char_class(((_TAGS[0], _TAGS[1] - 1),))}]+{chr(_TAGS[1])}"  # a subdivision flag
    f"|[0-9#*]{_EMOJI_STYLE}?{_KEYCAP}"  # a keycap
    f"|(?:{_EMOJI_ELEMENT})(?:{_ZWJ}(?:{_EMOJI_ELEMENT}))*"  # a pictograph, toned, or several joined
)


def _is_pictograph(code_point: int) -> bool:
    index = bisect_right(_PICTOGRAPH_STARTS, code_point) - 1
    return index >= 0 and code_point <= _PICTOGRAPH_RANGES[index][1]


# --- Links ---------------------------------------------------------------------------------------------

# Generic top-level domains X links without a scheme. Country codes (any two letters) are taken as they come.
# A bare address on a TLD missing here is counted as text, which may undercount it; agents paste links with
# https://, which is always counted right.
_GENERIC_TLD_NAMES = """
    academy agency app art asia audio biz blog business cafe camp capital care cat center chat city cloud
    club codes com community company consulting coop credit dev design digital directory edu email energy
    events expert express finance fit foundation fun gallery games gives global gmbh gov group guide guru
    health help holdings host house inc info institute int international jobs life link live ltd
    management market marketing media mil mobi money museum name net network news ngo one online org page
    partners photo photography pics pizza place plus press pro productions properties pub recipes rocks
    run sale school science services shop shopping site social software solutions space store studio style
    support systems team tech technology tel today tools top travel video vip watch website wiki work
    works world xyz zone
"""
_GENERIC_TLDS = frozenset(_GENERIC_TLD_NAMES.split())
# X does not link a bare two-part address on a country code ("file.py", "node.js") unless it has a path,
# except on these, where short addresses are common.
_SHORT_DOMAIN_TLDS = frozenset({"co", "tv"})
# A path may end in these; other trailing punctuation belongs to the sentence ("see example.com/faq.").
_PATH_END = frozenset("=_#/+-")

_LINK = re.compile(
    # Not inside a word, an address, a path, a cashtag or a hashtag. Starting only there also keeps the
    # search linear: "a.a.a.a..." is one candidate, not one per label.
    r"(?<![\w@$#./\-\uff20\uff03])"
    r"(?P<scheme>https?://)?"
    r"(?P<host>(?:[^\W_](?:[\w-]*[^\W_])?\.)+(?P<tld>[^\W\d_]{2,24}))(?![\w-])"
    r"(?::\d{1,5})?"
    r"(?P<path>[/?#]\S*)?",
    re.IGNORECASE,
)


def links(text: str, *, bare: bool) -> Iterator[tuple[int, int]]:
    """(start, end) of each link in ``text``; with ``bare``, also addresses written without a scheme."""
    for match in _LINK.finditer(text):
        found_path = match["path"] or ""
        path = _trim_path(found_path)
        if match["scheme"] or (bare and _is_bare_link(match, path)):
            yield match.start(), match.end() - (len(found_path) - len(path))


def _is_bare_link(match: re.Match[str], path: str) -> bool:
    host, tld = match["host"], match["tld"].lower()
    if not host.isascii():
        return False  # X links an internationalised domain only with its scheme
    if tld in _GENERIC_TLDS:
        return True
    if len(tld) != 2:
        return False
    return bool(path) or tld in _SHORT_DOMAIN_TLDS or host.count(".") > 1


def _trim_path(path: str) -> str:
    while path:
        last = path[-1]
        if last.isalnum() or last in _PATH_END:
            break
        if last == ")" and path.count("(") >= path.count(")"):
            break  # a balanced parenthesis is part of the address (Wikipedia's style of link)
        path = path[:-1]
    return path


# --- Grapheme clusters ----------------------------------------------------------------------------------


def _grapheme_class(char: str) -> str:
    """The grapheme-break class of a code point (UAX #29), as far as counting needs it."""
    code_point = ord(char)
    if char == "\r":
        return "CR"
    if char == "\n":
        return "LF"
    if char == _ZWJ:
        return "ZWJ"
    if _REGIONAL_INDICATORS[0] <= code_point <= _REGIONAL_INDICATORS[1]:
        return "RI"
    if _SKIN_TONES[0] <= code_point <= _SKIN_TONES[1] or _TAGS[0] <= code_point <= _TAGS[1]:
        return "Extend"
    if code_point == 0x200C or 0xFF9E <= code_point <= 0xFF9F:
        return "Extend"
    if 0xAC00 <= code_point <= 0xD7A3:
        return "LV" if (code_point - 0xAC00) % 28 == 0 else "LVT"
    if 0x1100 <= code_point <= 0x115F or 0xA960 <= code_point <= 0xA97C:
        return "L"
    if 0x1160 <= code_point <= 0x11A7 or 0xD7B0 <= code_point <= 0xD7C6:
        return "V"
    if 0x11A8 <= code_point <= 0x11FF or 0xD7CB <= code_point <= 0xD7FB:
        return "T"
    category = unicodedata.category(char)
    if category in ("Mn", "Me", "Mc"):
        return "Extend"  # Mc is SpacingMark, which joins the same way
    if category in ("Cc", "Cf", "Zl", "Zp"):
        return "Control"
    if _is_pictograph(code_point):
        return "Pictograph"
    return "Other"


_HANGUL_JOINS = {
    "L": frozenset({"L", "V", "LV", "LVT"}),
    "LV": frozenset({"V", "T"}),
    "V": frozenset({"V", "T"}),
    "LVT": frozenset({"T"}),
    "T": frozenset({"T"}),
}


def _grapheme_clusters(text: str) -> int:
    """How many user-perceived characters ``text`` has: a base and its marks, a flag, a joined emoji
    sequence, a Hangul syllable in jamo, and CR LF each count once."""
    count = 0
    previous = ""
    odd_indicators = False  # the run of regional indicators before this point has odd length
    in_pictograph = False  # after a pictograph and any marks on it, where a joiner joins the next one
    joined_pictograph = False  # a joiner directly after such a pictograph
    for char in text:
        kind = _grapheme_class(char)
        if not previous:
            joins = False
        elif previous == "CR" and kind == "LF":
            joins = True
        elif previous in ("CR", "LF", "Control") or kind in ("CR", "LF", "Control"):
            joins = False
        elif (
            kind in _HANGUL_JOINS.get(previous, ())
            or kind in ("Extend", "ZWJ")
            or (kind == "Pictograph" and joined_pictograph)
        ):
            joins = True
        else:
            joins = kind == "RI" and previous == "RI" and odd_indicators
        count += not joins
        joined_pictograph = kind == "ZWJ" and in_pictograph
        in_pictograph = kind == "Pictograph" or (in_pictograph and kind == "Extend")
        odd_indicators = kind == "RI" and not (previous == "RI" and odd_indicators)
        previous = kind
    return count


# --- The interface -------------------------------------------------------------------------------------


def grapheme_count(text: str) -> int:
    """How many user-perceived characters (extended grapheme clusters, UAX #29) ``text`` has."""
    return _grapheme_clusters(text)


# A network nobody registered: the strictest limit we know, counted in user-perceived characters.
FALLBACK_RULES = ReplyRules(limit=FALLBACK_LIMIT, direct_limit=FALLBACK_LIMIT, length=grapheme_count)


def declared_reply_rules(network: str) -> ReplyRules | None:
    """The reply rules the network's connector declares, or None for a network nobody registered."""
    capabilities = capabilities_for(network)
    return capabilities.reply_rules if capabilities is not None else None


def reply_rules(network: str) -> ReplyRules:
    """The reply rules of ``network``: its connector's, or :data:`FALLBACK_RULES`."""
    return declared_reply_rules(network) or FALLBACK_RULES


def reply_limit(network: str, *, is_direct: bool = False) -> int:
    """The most a reply (or a direct message) on ``network`` may weigh, in that network's count."""
    rules = reply_rules(network)
    return rules.direct_limit if is_direct else rules.limit


def reply_length(network: str, text: str) -> int:
    """How long ``text`` is as ``network`` counts it, to compare with :func:`reply_limit`."""
    return reply_rules(network).length(unicodedata.normalize("NFC", text))


def reply_prefix_length(
    network: str, text: str, *, author_handle: str, credentials: Mapping[str, Any]
) -> int:
    """How much what the network's connector puts in front of a public reply ``text`` to ``author_handle``
    adds to its count (Mastodon names the author when the reply does not); 0 for nothing."""
    rules = reply_rules(network)
    if rules.reply_prefix_length is None:
        return 0
    return rules.reply_prefix_length(unicodedata.normalize("NFC", text), author_handle, credentials)


# --- Recognising a post we published -------------------------------------------------------------------

_LINK_MARK = "\x00link\x00"
_SPACE = re.compile(r"\s+")


def _comparable(text: str) -> str:
    """Text as two networks' renderings of one post agree on it: NFC, every link (which X turns into a
    t.co address and Mastodon may shorten on display) one mark, runs of white space one space, no case."""
    text = unicodedata.normalize("NFC", text)
    spans = list(links(text, bare=True))
    for start, end in reversed(spans):
        text = text[:start] + _LINK_MARK + text[end:]
    return _SPACE.sub(" ", text).strip().casefold()


def published_as(sent: str, published: str) -> bool:
    """Whether ``published`` (plain text, as the network returns the post) is the post we sent as ``sent``:
    our words, with whatever the network or connector put in front (addresses) or after."""
    ours = _comparable(sent)
    return bool(ours) and ours in _comparable(published)
