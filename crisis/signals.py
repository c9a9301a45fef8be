"""What one post adds to the radar's counters: pure, O(1) per post (a few counters, plus one per term).

A post counts in every scope it belongs to: the whole organisation (``all``), its segment, the brand account
(channel) that received it, and, for emerging terms, each of its words and two-word phrases. Per scope and
minute the counters are: posts (``n``), negative posts (``neg``), crisis-intent posts (``cri``) and reach
(``reach``, the authors' followers). Terms only count posts (``n``): their shares are taken against ``all``.

Scope keys are short strings (``channel:<slug>``, ``segment:<slug>``, ``term:<text>``) so they can be Redis
hash fields as they are.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

ALL = "all"
N, NEG, CRI, REACH = "n", "neg", "cri", "reach"
FIELDS = (N, NEG, CRI, REACH)
SEP = "|"  # between a scope and its field in a counter key: "channel:help|neg"

TERM_PREFIX = "term:"
MAX_TERMS_PER_POST = 40  # a very long post counts its first words only: O(1) per post
MIN_WORD_LENGTH = 3
REPOST_MINUTES = 60  # a text seen again within this long is a repost: its terms are not counted again

# Words too common to say anything, in the languages the data carries most (English, Spanish, Italian).
STOPWORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "are",
        "but",
        "not",
        "you",
        "your",
        "yours",
        "with",
        "this",
        "that",
        "these",
        "those",
        "from",
        "have",
        "has",
        "had",
        "was",
        "were",
        "will",
        "would",
        "can",
        "could",
        "should",
        "all",
        "any",
        "our",
        "out",
        "get",
        "got",
        "just",
        "now",
        "its",
        "it's",
        "his",
        "her",
        "him",
        "she",
        "they",
        "them",
        "their",
        "there",
        "here",
        "what",
        "when",
        "where",
        "who",
        "why",
        "how",
        "about",
        "into",
        "over",
        "than",
        "then",
        "too",
        "very",
        "also",
        "more",
        "most",
        "some",
        "such",
        "only",
        "own",
        "same",
        "been",
        "being",
        "did",
        "does",
        "doing",
        "done",
        "don't",
        "i'm",
        "you're",
        "we're",
        "they're",
        "i've",
        "can't",
        "won't",
        "isn't",
        "aren't",
        "wasn't",
        "amp",
        "http",
        "https",
        "www",
        "com",
        "via",
        "one",
        "two",
        "new",
        "like",
        "love",
        "good",
        "great",
        "day",
        "today",
        "know",
        "see",
        "want",
        "need",
        "back",
        "still",
        "de",
        "la",
        "el",
        "en",
        "los",
        "las",
        "del",
        "por",
        "con",
        "para",
        "una",
        "que",
        "se",
        "su",
        "al",
        "lo",
        "es",
        "un",
        "le",
        "ha",
        "di",
        "il",
        "che",
        "per",
        "non",
        "sono",
        "della",
        "rt",
        "ya",
        "yes",
        "no",
        "ok",
        "oh",
        "lol",
    ]
)

_APOSTROPHES = "'\u2019-"
_WORD = re.compile(r"[#@]?[^\W\d_][\w'\u2019-]*", re.UNICODE)
_URL = re.compile(r"https?://\S+|www\.\S+")


def key(scope: str, field: str) -> str:
    return f"{scope}{SEP}{field}"


def split_key(counter_key: str) -> tuple[str, str]:
    scope, _, field = counter_key.rpartition(SEP)
    return scope, field


def terms_of(text: str) -> tuple[str, ...]:
    """The post's words (hashtags kept, @handles, links and stopwords dropped) and two-word phrases of
    neighbouring kept words, each once, lower case."""
    words = [
        "" if word[0] == "@" or len(word) < MIN_WORD_LENGTH or word in STOPWORDS else word
        for word in (w.strip(_APOSTROPHES) for w in _WORD.findall(_URL.sub(" ", text.lower())))
        if word
    ]  # "" is a gap where a word was dropped: no phrase across it
    found: dict[str, None] = {}
    for i, word in enumerate(words):
        if not word:
            continue
        found[word] = None
        if (
            i + 1 < len(words)
            and words[i + 1]
            and not word.startswith("#")
            and not words[i + 1].startswith("#")
        ):
            found[f"{word} {words[i + 1]}"] = None
        if len(found) >= MAX_TERMS_PER_POST:
            break
    return tuple(found)


@dataclass(frozen=True, slots=True)
class PostSignal:
    """What the radar needs to know about one post."""

    minute: int  # minutes since the epoch (UTC) when it arrived
    scopes: tuple[str, ...]  # besides ALL: "segment:<slug>", "channel:<slug>", ...
    negative: bool
    crisis: bool
    reach: int
    terms: tuple[str, ...] = ()
    text_key: str = ""  # the text without repost prefix, links and case, hashed: reposts share it
    repost: bool = False  # its text was seen within REPOST_MINUTES: it adds reach, not a voice


_REPOST = re.compile(r"^\s*(rt\s+)?(@\w+:?\s*)*", re.IGNORECASE)


def text_key(text: str) -> str:
    """The same for a post and its reposts ("RT @someone: ..."), whatever their links or case."""
    core = _URL.sub(" ", _REPOST.sub("", text.lower()))
    return hashlib.blake2b(" ".join(core.split()).encode(), digest_size=8).hexdigest()


def reposts_dropped(signals: Sequence[PostSignal], first_seen: Sequence[bool]) -> list[PostSignal]:
    """The signals with reposts marked: a text seen within ``REPOST_MINUTES`` is one voice amplified, not
    another one. A repost adds its author's followers to the reach and nothing else, so a retweet cascade
    of an ordinary post (or of one complaint) is no volume spike, no share rise and no emerging term."""
    return [
        s if new else replace(s, terms=(), repost=True) for s, new in zip(signals, first_seen, strict=True)
    ]


def post_signal(
    *,
    minute: int,
    text: str,
    channel: str = "",
    segment: str = "",
    negative: bool,
    crisis: bool,
    reach: int = 0,
) -> PostSignal:
    scopes = tuple(
        s for s in (f"segment:{segment}" if segment else "", f"channel:{channel}" if channel else "") if s
    )
    return PostSignal(
        minute=minute,
        scopes=scopes,
        negative=negative,
        crisis=crisis,
        reach=max(0, reach),
        terms=terms_of(text),
        text_key=text_key(text),
    )


def counts_add(counts: Counter, signal: PostSignal) -> None:
    """Add one post's counters to ``counts`` (keys from ``key``)."""
    if signal.repost:
        if signal.reach:
            for scope in (ALL, *signal.scopes):
                counts[key(scope, REACH)] += signal.reach
        return
    for scope in (ALL, *signal.scopes):
        counts[key(scope, N)] += 1
        if signal.negative:
            counts[key(scope, NEG)] += 1
        if signal.crisis:
            counts[key(scope, CRI)] += 1
        if signal.reach:
            counts[key(scope, REACH)] += signal.reach
    for term in signal.terms:
        counts[key(TERM_PREFIX + term, N)] += 1


def counts_by_minute(signals: Iterable[PostSignal]) -> dict[int, Counter]:
    """A batch's counters, one Counter per minute: what a store adds in one round trip."""
    by_minute: dict[int, Counter] = {}
    for signal in signals:
        counts = by_minute.get(signal.minute)
        if counts is None:
            counts = by_minute[signal.minute] = Counter()
        counts_add(counts, signal)
    return by_minute
