"""The detector on counters built by hand: seasonality, shares, terms, minimums, cooldown, sensitivity."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable

import pytest
from scipy.stats import poisson

from crisis.detector import CRISIS, NEGATIVE, TERM, VOLUME, Detector, Policy, poisson_log10_tail
from crisis.signals import ALL, CRI, NEG, REACH, N, key
from crisis.store import MemoryStore

MONDAY = 1_704_067_200 // 60  # 2024-01-01 00:00 UTC, a Monday, in minutes
WEEK = 7 * 24 * 60
HELP = "channel:help"


def minute_counts(
    posts: int, *, negative: int = 0, crisis: int = 0, terms: dict[str, int] | None = None
) -> Counter:
    counts: Counter = Counter()
    for scope in (ALL, HELP):
        counts[key(scope, N)] += posts
        counts[key(scope, NEG)] += negative
        counts[key(scope, CRI)] += crisis
        counts[key(scope, REACH)] += 100 * posts
    for term, count in (terms or {}).items():
        counts[key(f"term:{term}", N)] += count
    return counts


def usual(minute: int) -> int:
    """Posts per minute: 2 at night, 6 by day, and a Monday-morning rush of 20 from 9:00 to 10:00."""
    offset = minute - MONDAY
    hour, weekday = (offset // 60) % 24, (offset // 1440) % 7
    if weekday == 0 and hour == 9:
        return 20
    return 6 if 8 <= hour < 20 else 2


def history(
    weeks: int = 3, per_minute: Callable[[int], int] = usual, store: MemoryStore | None = None
) -> MemoryStore:
    """``weeks`` weeks of ordinary traffic from MONDAY: a tenth negative, crisis talk once an hour."""
    store = store or MemoryStore()
    for minute in range(MONDAY, MONDAY + weeks * WEEK):
        posts = per_minute(minute)
        store.add(
            {
                minute: minute_counts(
                    posts,
                    negative=posts // 10 + (minute % 3 == 0),
                    crisis=minute % 60 == 0,
                    terms={"order": 1, "thanks": minute % 2},
                )
            }
        )
    return store


def feed(store: MemoryStore, start: int, minutes: int, counts: Counter) -> None:
    for minute in range(start, start + minutes):
        store.add({minute: counts})


def alerts_over(detector: Detector, start: int, minutes: int) -> list:
    return [alert for minute in range(start, start + minutes) for alert in detector.detect(minute)]


@pytest.fixture(scope="module")
def weeks() -> MemoryStore:
    return history()


def fresh(weeks: MemoryStore) -> MemoryStore:
    """A copy of the history to add the test's own minutes to."""
    store = MemoryStore()
    store.minutes = dict(weeks.minutes)
    store.hour_counts = {h: Counter(c) for h, c in weeks.hour_counts.items()}
    store.day_counts = {d: Counter(c) for d, c in weeks.day_counts.items()}
    return store


def test_the_monday_morning_rush_is_not_a_spike_but_the_same_traffic_at_night_is(weeks: MemoryStore) -> None:
    monday_nine = MONDAY + 3 * WEEK + 9 * 60
    store = fresh(weeks)
    feed(store, monday_nine - 30, 30, minute_counts(6))
    feed(store, monday_nine, 40, minute_counts(20, negative=2))
    assert [a for a in alerts_over(Detector(store), monday_nine, 40) if a.signal == VOLUME] == []

    tuesday_three = MONDAY + 3 * WEEK + 1440 + 3 * 60
    store = fresh(weeks)
    feed(store, tuesday_three - 30, 30, minute_counts(2))
    feed(store, tuesday_three, 40, minute_counts(20, negative=2))
    spikes = [a for a in alerts_over(Detector(store), tuesday_three, 40) if a.signal == VOLUME]
    assert spikes and spikes[0].minute - tuesday_three <= 5
    assert spikes[0].observed > 3 * spikes[0].expected
    assert "Tuesday 03:00 UTC" in spikes[0].text and "posts over the last" in spikes[0].text


def test_a_negative_share_rise_alerts_and_says_why(weeks: MemoryStore) -> None:
    start = MONDAY + 3 * WEEK + 2 * 1440 + 14 * 60  # Wednesday 14:00
    store = fresh(weeks)
    feed(store, start - 60, 60, minute_counts(6, negative=1))
    feed(store, start, 30, minute_counts(6, negative=4, terms={"headlamp melted": 2, "headlamp": 2}))

    found = [
        a
        for a in alerts_over(Detector(store, labels={HELP: "@northwind_help"}), start, 30)
        if a.signal == NEGATIVE and a.scope == HELP
    ]

    assert found, "a channel whose posts turn two-thirds negative is raised"
    alert = found[0]
    assert alert.observed >= alert.expected + 0.2 and alert.expected < 0.2
    assert alert.text.startswith("negative share of @northwind_help ")
    assert "usual for Wednesday 14:00 UTC" in alert.text
    assert "headlamp melted" in alert.terms and "top terms:" in alert.text


def test_crisis_talk_alerts_on_its_share(weeks: MemoryStore) -> None:
    start = MONDAY + 3 * WEEK + 3 * 1440 + 11 * 60
    store = fresh(weeks)
    feed(store, start - 30, 30, minute_counts(6))
    feed(store, start, 20, minute_counts(6, crisis=2))

    found = [a for a in alerts_over(Detector(store), start, 20) if a.signal == CRISIS]

    assert found and found[0].minute - start < 10
    assert "crisis share of all accounts" in found[0].text


def test_three_posts_are_never_a_crisis(weeks: MemoryStore) -> None:
    start = MONDAY + 3 * WEEK + 3 * 60  # Monday 03:00, 2 posts a minute usually
    store = fresh(weeks)
    feed(store, start - 30, 30, minute_counts(0))
    store.add({start: minute_counts(3, negative=3, crisis=3, terms={"explosion": 3})})

    assert alerts_over(Detector(store), start, 30) == []


def test_an_emerging_phrase_alerts_and_a_common_word_at_its_usual_rate_does_not(weeks: MemoryStore) -> None:
    start = MONDAY + 3 * WEEK + 4 * 1440 + 15 * 60
    store = fresh(weeks)
    feed(store, start - 30, 30, minute_counts(6, terms={"order": 1}))
    feed(store, start, 20, minute_counts(6, terms={"order": 1, "site down": 1}))

    found = [a for a in alerts_over(Detector(store), start, 20) if a.signal == TERM]

    assert found and found[0].terms[0] == "site down"
    assert "order" not in found[0].terms
    assert found[0].text.startswith("emerging term \u201csite down\u201d")


def test_no_history_no_alert_on_volume() -> None:
    store = MemoryStore()
    feed(store, MONDAY, 60, minute_counts(50))

    assert [a for a in alerts_over(Detector(store), MONDAY, 60) if a.signal == VOLUME] == []


def test_a_cooling_signal_stays_silent_until_its_cooldown_ends(weeks: MemoryStore) -> None:
    start = MONDAY + 3 * WEEK + 5 * 1440 + 2 * 60  # Saturday 02:00
    store = fresh(weeks)
    feed(store, start - 30, 30, minute_counts(2))
    feed(store, start, 200, minute_counts(20))
    detector = Detector(store, Policy(cooldown_minutes=60))

    volume = [a for a in alerts_over(detector, start, 200) if a.signal == VOLUME and a.scope == ALL]

    assert len(volume) >= 2
    assert all(b.minute - a.minute >= 60 for a, b in itertools.pairwise(volume))


def test_sensitivity_raises_weaker_evidence(weeks: MemoryStore) -> None:
    start = MONDAY + 3 * WEEK + 2 * 1440 + 22 * 60 + 30  # Wednesday 22:30, 2 posts a minute usually
    store = fresh(weeks)
    feed(store, start - 30, 30, minute_counts(2))
    feed(store, start, 10, minute_counts(5))

    def volume_alerts(policy: Policy) -> list:
        store._cool.clear()
        store._running.clear()
        return [a for a in Detector(store, policy).detect(start + 9) if a.signal == VOLUME]

    assert volume_alerts(Policy()) == []
    assert volume_alerts(Policy(sensitivity={VOLUME: 3.0}))


@pytest.mark.parametrize(("k", "mean"), [(5, 0.5), (8, 0.02), (30, 10.0), (12, 11.0)])
def test_the_poisson_tail_is_the_poisson_tail(k: int, mean: float) -> None:
    assert (
        poisson_log10_tail(k, mean) == pytest.approx(-math.log10(poisson.sf(k - 1, mean)), rel=1e-6, abs=1e-9)
        or mean >= k
    )


def test_the_running_window_equals_a_window_summed_afresh(weeks: MemoryStore) -> None:
    store = fresh(weeks)
    end = MONDAY + 3 * WEEK - 1
    for minute in range(end - 200, end):
        store.window(minute, 30, hot=2)
    running = store.window(end, 30, hot=2)
    store._running.clear()
    afresh = store.window(end, 30, hot=2)

    assert running.scopes == afresh.scopes and running.terms == afresh.terms and running.hot == afresh.hot


@pytest.mark.parametrize(("end", "length"), [(119, 10), (125, 10), (179, 120), (600, 30), (659, 60)])
def test_a_window_is_split_into_its_hours(end: int, length: int) -> None:
    from crisis.detector import _hours_of_window

    assert _hours_of_window(end, length) == dict(Counter(m // 60 for m in range(end - length + 1, end + 1)))
