"""Where the radar's counters live: per minute (the windows the detector looks at), per hour (the scopes'
baselines, hour of week) and per day (the terms' baselines). Two stores with one interface:

* ``RedisStore``, the live one: three hashes per period (``crisis:m:<minute>``, ``crisis:h:<hour>``,
  ``crisis:d:<day>``), fields ``<scope>|<field>`` (``crisis.signals.key``), written with HINCRBY in one
  pipeline per batch of posts and expiring on their own;
* ``MemoryStore``, the same in a process: the evaluation replay and the benchmarks, which run the same
  detector (``crisis.detector.detect``) over weeks of traffic in seconds.

Hours and days hold the scopes' counters (``all``, segments, channels); days hold the terms' too, and
minutes hold everything.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from crisis.signals import ALL, REPOST_MINUTES, SEP, TERM_PREFIX, N, key

MINUTE_KEEP = 3 * 60  # minutes of counters kept: the longest window and some slack
HOUR_KEEP = 5 * 7 * 24  # hours of counters kept: four weeks of baseline and the current one
DAY_KEEP = 9  # days of term counters kept: a week of baseline
ALL_N = key(ALL, N)


def _is_term(counter_key: str) -> bool:
    return counter_key.startswith(TERM_PREFIX)


@dataclass
class Window:
    """The counters of a window of minutes: the scopes' (``all``, segments, channels), the terms', and the
    terms counted at least ``hot`` times (the only ones the detector looks at further)."""

    scopes: Counter
    terms: Counter
    hot: set[str]

    def __getitem__(self, counter_key: str) -> int:
        return (self.terms if _is_term(counter_key) else self.scopes).get(counter_key, 0)


def _split(counts: Mapping[str, int]) -> tuple[dict[str, int], dict[str, int]]:
    scopes, terms = {}, {}
    for counter_key, value in counts.items():
        (terms if _is_term(counter_key) else scopes)[counter_key] = value
    return scopes, terms


class Store(Protocol):
    def add(self, by_minute: Mapping[int, Counter]) -> None: ...

    def window(self, end: int, length: int, *, hot: int) -> Window: ...

    def hours(self, hours: Sequence[int], keys: Sequence[str]) -> dict[int, dict[str, int] | None]: ...

    def days(self, days: Sequence[int], keys: Sequence[str]) -> dict[int, dict[str, int] | None]: ...

    def cooling(self, name: str, minute: int) -> bool: ...

    def cool(self, name: str, until: int) -> None: ...

    def tick_claim(self, minute: int) -> bool: ...

    def first_seen(self, keys: Sequence[str], minute: int) -> list[bool]: ...


class MemoryStore:
    """The counters in a dict per period. ``window`` keeps running sums when asked minute after minute,
    so a replay's tick costs the two minutes that enter and leave the window, not the whole window."""

    def __init__(self) -> None:
        self.minutes: dict[int, tuple[dict[str, int], dict[str, int]]] = {}
        self.hour_counts: dict[int, Counter] = {}
        self.day_counts: dict[int, Counter] = {}
        self._running: dict[int, tuple[int, Window]] = {}
        self._cool: dict[str, int] = {}
        self._hot: dict[int, int] = {}
        self._ticked: set[int] = set()
        self._seen: dict[str, int] = {}

    def add(self, by_minute: Mapping[int, Counter]) -> None:
        for minute, counts in by_minute.items():
            scopes, terms = _split(counts)
            self.hour_counts.setdefault(minute // 60, Counter()).update(scopes)
            self.day_counts.setdefault(minute // 1440, Counter()).update(counts)
            if minute in self.minutes:
                old_scopes, old_terms = self.minutes[minute]
                scopes = dict(Counter(old_scopes) + Counter(scopes))
                terms = dict(Counter(old_terms) + Counter(terms))
            self.minutes[minute] = (scopes, terms)
            for length, (end, _) in list(self._running.items()):
                if end - length < minute <= end:  # a late post inside a running window: start it again
                    del self._running[length]

    def forget_before(self, minute: int) -> None:
        """Drop minute counters older than ``minute`` (a replay calls it as time moves on)."""
        for old in [m for m in self.minutes if m < minute]:
            del self.minutes[old]

    def window(self, end: int, length: int, *, hot: int) -> Window:
        running = self._running.get(length)
        if running is not None and running[0] == end - 1 and hot == self._hot.get(length):
            window = running[1]
            entering = self.minutes.get(end)
            if entering:
                window.scopes.update(entering[0])
                terms = window.terms
                for term, value in entering[1].items():
                    count = terms[term] = terms.get(term, 0) + value
                    if count >= hot:
                        window.hot.add(term)
            leaving = self.minutes.get(end - length)
            if leaving:
                scopes = window.scopes
                for counter_key, value in leaving[0].items():
                    scopes[counter_key] -= value
                    if scopes[counter_key] <= 0:
                        del scopes[counter_key]
                terms = window.terms
                for term, value in leaving[1].items():
                    count = terms[term] - value
                    if count <= 0:
                        del terms[term]
                    else:
                        terms[term] = count
                    if count < hot:
                        window.hot.discard(term)
        else:
            scopes: Counter = Counter()
            terms: Counter = Counter()
            for minute in range(end - length + 1, end + 1):
                found = self.minutes.get(minute)
                if found:
                    scopes.update(found[0])
                    terms.update(found[1])
            window = Window(scopes, terms, {t for t, v in terms.items() if v >= hot})
            self._hot[length] = hot
        self._running[length] = (end, window)
        return window

    def hours(self, hours: Sequence[int], keys: Sequence[str]) -> dict[int, dict[str, int] | None]:
        found: dict[int, dict[str, int] | None] = {}
        for hour in hours:
            counts = self.hour_counts.get(hour)
            found[hour] = None if counts is None else {k: counts.get(k, 0) for k in keys}
        return found

    def days(self, days: Sequence[int], keys: Sequence[str]) -> dict[int, dict[str, int] | None]:
        found: dict[int, dict[str, int] | None] = {}
        for day in days:
            counts = self.day_counts.get(day)
            found[day] = None if counts is None else {k: counts.get(k, 0) for k in keys}
        return found

    def cooling(self, name: str, minute: int) -> bool:
        return self._cool.get(name, -1) > minute

    def cool(self, name: str, until: int) -> None:
        self._cool[name] = until

    def first_seen(self, keys: Sequence[str], minute: int) -> list[bool]:
        """Whether each text is new, that is not seen within ``REPOST_MINUTES`` (and mark it seen)."""
        seen, found = self._seen, []
        for text in keys:
            last = seen.get(text)
            found.append(last is None or minute - last >= REPOST_MINUTES)
            if last is None or minute - last >= REPOST_MINUTES:
                seen[text] = minute
        if len(seen) > 200_000:
            self._seen = {k: m for k, m in seen.items() if minute - m < REPOST_MINUTES}
        return found

    def tick_claim(self, minute: int) -> bool:
        if minute in self._ticked:
            return False
        self._ticked.add(minute)
        return True


class RedisStore:
    """The counters in Redis hashes; every write of a batch is one pipeline (one round trip). A store reads
    each minute once: make one per tick (``crisis.services.radar_tick`` does)."""

    PREFIX = "crisis"

    def __init__(self, client: Any) -> None:
        self.client = client

    def _name(self, period: str, number: int) -> str:
        return f"{self.PREFIX}:{period}:{number}"

    # Adds many fields of one hash in one command, sent as one JSON argument (HINCRBY takes one field, and a
    # command per field, or an argument per field, costs more to pack than the counting costs).
    _HINCRBY_MANY = """
for field, value in pairs(cjson.decode(ARGV[1])) do redis.call('HINCRBY', KEYS[1], field, value) end
redis.call('EXPIRE', KEYS[1], ARGV[2])
"""

    def add(self, by_minute: Mapping[int, Counter]) -> None:
        script = getattr(self, "_script", None)
        if script is None:
            script = self._script = self.client.register_script(self._HINCRBY_MANY)
        pipe = self.client.pipeline(transaction=False)
        hours: dict[int, Counter] = {}
        days: dict[int, Counter] = {}

        def send(name: str, counts: Mapping[str, int], keep: int) -> None:
            script(keys=[name], args=[json.dumps(counts, separators=(",", ":")), keep], client=pipe)

        for minute, counts in by_minute.items():
            send(self._name("m", minute), counts, MINUTE_KEEP * 60)
            hours.setdefault(minute // 60, Counter()).update(_split(counts)[0])
            days.setdefault(minute // 1440, Counter()).update(counts)
        for number, counts in hours.items():
            send(self._name("h", number), counts, HOUR_KEEP * 3600)
        for number, counts in days.items():
            send(self._name("d", number), counts, DAY_KEEP * 86400)
        pipe.execute()

    def window(self, end: int, length: int, *, hot: int) -> Window:
        """The window's minutes, each read once per store: one tick's windows share their minutes."""
        minutes = self.__dict__.setdefault("_minutes", {})
        wanted = [m for m in range(end - length + 1, end + 1) if m not in minutes]
        if wanted:
            pipe = self.client.pipeline(transaction=False)
            for minute in wanted:
                pipe.hgetall(self._name("m", minute))
            for minute, counts in zip(wanted, pipe.execute(), strict=True):
                minutes[minute] = _split({_text(k): int(v) for k, v in counts.items()})
        scopes: Counter = Counter()
        terms: Counter = Counter()
        for minute in range(end - length + 1, end + 1):
            scopes.update(minutes[minute][0])
            terms.update(minutes[minute][1])
        return Window(scopes, terms, {t for t, v in terms.items() if v >= hot})

    def _periods(
        self, period: str, numbers: Sequence[int], keys: Sequence[str]
    ) -> dict[int, dict[str, int] | None]:
        keys = list(keys)
        pipe = self.client.pipeline(transaction=False)
        for number in numbers:
            pipe.exists(self._name(period, number))
            pipe.hmget(self._name(period, number), keys or [ALL_N])
        replies = pipe.execute()
        found: dict[int, dict[str, int] | None] = {}
        for i, number in enumerate(numbers):
            exists, values = replies[2 * i], replies[2 * i + 1]
            found[number] = {k: int(v or 0) for k, v in zip(keys, values, strict=False)} if exists else None
        return found

    def hours(self, hours: Sequence[int], keys: Sequence[str]) -> dict[int, dict[str, int] | None]:
        return self._periods("h", hours, keys)

    def days(self, days: Sequence[int], keys: Sequence[str]) -> dict[int, dict[str, int] | None]:
        return self._periods("d", days, keys)

    def cooling(self, name: str, minute: int) -> bool:
        until = self.client.get(f"{self.PREFIX}:cool:{name}")
        return until is not None and int(until) > minute

    def cool(self, name: str, until: int) -> None:
        ttl = until * 60 - int(time.time()) + 3600  # outlives the cooldown a little, then goes
        self.client.set(f"{self.PREFIX}:cool:{name}", until, ex=max(60, ttl))

    def first_seen(self, keys: Sequence[str], minute: int) -> list[bool]:
        """Whether each text is new (not seen within ``REPOST_MINUTES``): one SET NX each, one round trip."""
        if not keys:
            return []
        pipe = self.client.pipeline(transaction=False)
        for text in keys:
            pipe.set(f"{self.PREFIX}:seen:{text}", minute, nx=True, ex=REPOST_MINUTES * 60)
        return [
            bool(new) for new in pipe.execute()
        ]  # a text twice in a batch: the second SET finds the first

    def tick_claim(self, minute: int) -> bool:
        """Whether this caller is the one to run the detector for ``minute`` (one per minute, any worker)."""
        return bool(self.client.set(f"{self.PREFIX}:tick:{minute}", 1, nx=True, ex=3600))


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value


def scopes_in(window: Window) -> list[str]:
    """The scopes (not terms) that have posts in a window."""
    return sorted(k[: -len(SEP + N)] for k in window.scopes if k.endswith(SEP + N))


class CacheStore:
    """The counters in Django's cache, one dict per period: the embedded default, which has no Redis.
    Read, added to and written back: safe because one consumer writes at a time (``events_consume`` holds
    its position row's lock while it handles a batch)."""

    PREFIX = "crisis"

    def __init__(self, cache: Any) -> None:
        self.cache = cache

    def _name(self, period: str, number: int) -> str:
        return f"{self.PREFIX}:{period}:{number}"

    def _bump(self, period: str, number: int, counts: Mapping[str, int], keep: int) -> None:
        name = self._name(period, number)
        stored = self.cache.get(name) or {}
        for counter_key, value in counts.items():
            stored[counter_key] = stored.get(counter_key, 0) + value
        self.cache.set(name, stored, timeout=keep)

    def add(self, by_minute: Mapping[int, Counter]) -> None:
        hours: dict[int, Counter] = {}
        days: dict[int, Counter] = {}
        for minute, counts in by_minute.items():
            self._bump("m", minute, counts, MINUTE_KEEP * 60)
            hours.setdefault(minute // 60, Counter()).update(_split(counts)[0])
            days.setdefault(minute // 1440, Counter()).update(counts)
        for number, counts in hours.items():
            self._bump("h", number, counts, HOUR_KEEP * 3600)
        for number, counts in days.items():
            self._bump("d", number, counts, DAY_KEEP * 86400)

    def window(self, end: int, length: int, *, hot: int) -> Window:
        names = [self._name("m", m) for m in range(end - length + 1, end + 1)]
        scopes: Counter = Counter()
        terms: Counter = Counter()
        for counts in self.cache.get_many(names).values():
            found = _split(counts)
            scopes.update(found[0])
            terms.update(found[1])
        return Window(scopes, terms, {t for t, v in terms.items() if v >= hot})

    def _periods(
        self, period: str, numbers: Sequence[int], keys: Sequence[str]
    ) -> dict[int, dict[str, int] | None]:
        stored = self.cache.get_many([self._name(period, n) for n in numbers])
        found: dict[int, dict[str, int] | None] = {}
        for number in numbers:
            counts = stored.get(self._name(period, number))
            found[number] = None if counts is None else {k: counts.get(k, 0) for k in keys}
        return found

    def hours(self, hours: Sequence[int], keys: Sequence[str]) -> dict[int, dict[str, int] | None]:
        return self._periods("h", hours, keys)

    def days(self, days: Sequence[int], keys: Sequence[str]) -> dict[int, dict[str, int] | None]:
        return self._periods("d", days, keys)

    def cooling(self, name: str, minute: int) -> bool:
        until = self.cache.get(f"{self.PREFIX}:cool:{name}")
        return until is not None and int(until) > minute

    def cool(self, name: str, until: int) -> None:
        self.cache.set(
            f"{self.PREFIX}:cool:{name}", until, timeout=max(60, until * 60 - int(time.time()) + 3600)
        )

    def first_seen(self, keys: Sequence[str], minute: int) -> list[bool]:
        return [
            bool(self.cache.add(f"{self.PREFIX}:seen:{text}", minute, timeout=REPOST_MINUTES * 60))
            for text in keys
        ]

    def tick_claim(self, minute: int) -> bool:
        return bool(self.cache.add(f"{self.PREFIX}:tick:{minute}", 1, timeout=3600))
