"""The radar's detector: is the last minute's traffic unusual for this time of week? Pure: it reads counters
from a store (``crisis.store``) and returns alerts, each explained in words.

Four signals per scope (the organisation, each segment, each brand account), each tested on windows of the
last ``Policy.windows`` minutes:

* **volume**: posts in the window against the baseline for the window's hours. The baseline is learned per
  hour of week: the median of the same hour in the past weeks (at least two), or, until there are two weeks,
  the median of the same hour on the past days (at least three); no baseline, no volume alert. Its spread
  is robust (the median absolute deviation): the variance of a window is Poisson's plus what the hourly
  counts vary beyond Poisson, ``expected + extra * expected**2``. A z-score above ``volume_z`` with at
  least ``volume_min`` posts and ``volume_ratio`` times the usual alerts.
* **negative share** and **crisis share**: negative (crisis-intent) posts in the window against the share
  usual in the same baseline hours (pooled, with a weak prior). Negative share is tested by a binomial
  z-score with some over-dispersion; crisis posts, rare in ordinary traffic, by the Poisson tail
  (-log10 of the chance of so many). Each needs a minimum count and a minimum rise of the share.
* **emerging terms**: words and two-word phrases whose count in the window is far above their share of the
  past week's posts (Poisson tail), with a minimum count, counted organisation-wide.

Sensitivity per signal divides its thresholds; each (scope, signal) is silent for its cooldown after an
alert; nothing alerts on fewer posts than the signal's minimum, so three posts are never a crisis.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from crisis.signals import ALL, CRI, NEG, REACH, TERM_PREFIX, N, key
from crisis.store import ALL_N, Store, Window, scopes_in

VOLUME, NEGATIVE, CRISIS, TERM = "volume", "negative_share", "crisis_share", "emerging_term"
SIGNALS = (VOLUME, NEGATIVE, CRISIS, TERM)
WEEK_HOURS = 7 * 24
BASELINE_WEEKS = 4
BASELINE_DAYS = 6  # the 7th day back is the same hour of week, counted among the weeks
TERM_DAYS = 7


@dataclass(frozen=True)
class Policy:
    """Thresholds of the detector. ``sensitivity`` maps a signal to a factor dividing its thresholds
    (2.0: alerts on half the evidence); ``cooldowns`` maps a signal to its own cooldown in minutes."""

    windows: tuple[int, ...] = (10, 30, 120)
    volume_z: float = 6.0
    volume_min: int = 20
    volume_ratio: float = 2.0
    volume_extra_min: float = 0.04  # traffic varies at least 20% beyond Poisson from one day to the next
    negative_z: float = 5.0
    negative_min: int = 10
    negative_lift: float = 0.20
    crisis_log10_p: float = 7.0
    crisis_min: int = 5
    crisis_lift: float = 0.03
    term_log10_p: float = 12.0
    term_min: int = 5
    term_ratio: float = 10.0
    term_days_min: int = 2  # days of term history before terms may alert
    share_dispersion: float = 1.5  # shares vary more than a binomial's: its variance times this
    share_baseline_min: int = 50  # posts in the baseline hours before shares may alert
    cooldown_minutes: int = 120
    cooldowns: Mapping[str, int] = field(default_factory=dict)
    sensitivity: Mapping[str, float] = field(default_factory=dict)
    top_terms: int = 3

    def threshold(self, signal: str, value: float) -> float:
        return value / self.sensitivity.get(signal, 1.0)

    def cooldown(self, signal: str) -> int:
        return self.cooldowns.get(signal, self.cooldown_minutes)


@dataclass(frozen=True)
class Alert:
    """One signal of one scope out of its usual range, with the figures and the sentence that explain it."""

    minute: int  # the last minute of the window, minutes since the epoch (UTC)
    scope: str
    signal: str
    window_minutes: int
    posts: int  # posts of the scope in the window
    observed: float  # posts (volume, term) or share (negative, crisis)
    expected: float  # the same, usual for this time of week
    score: float  # z-score or -log10 p, whichever the signal uses
    reach: int
    terms: tuple[str, ...]
    text: str

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.minute * 60, tz=UTC)


# --- Statistics ----------------------------------------------------------------------------------------


def poisson_log10_tail(k: int, mean: float) -> float:
    """-log10 P(X >= k) for X ~ Poisson(mean): how surprising k or more events are."""
    if k <= 0:
        return 0.0
    mean = max(mean, 1e-9)
    if mean >= k:
        return 0.0  # at most the expected count: no surprise (the tail is above 0.4)
    # P(X >= k) = pmf(k) * (1 + mean/(k+1) + mean^2/((k+1)(k+2)) + ...), summed until the terms vanish.
    log_pmf = k * math.log(mean) - mean - math.lgamma(k + 1)
    total, term, i = 1.0, 1.0, 1
    while term > 1e-12 and i < 10_000:
        term *= mean / (k + i)
        total += term
        i += 1
    return -(log_pmf + math.log(total)) / math.log(10)


@dataclass(frozen=True)
class Baseline:
    """Posts per hour usual for one scope at one hour, with the over-Poisson spread and the usual shares."""

    per_hour: float | None  # None: not enough history for a volume baseline
    extra: float  # relative variance beyond Poisson (0 for Poisson-like counts)
    posts: int  # posts in the pooled baseline hours (the shares' weight)
    negative: float
    crisis: float


PRIORS = {NEG: 0.25, CRI: 0.02}
PRIOR_POSTS = 20


def baseline_hours(hour: int) -> tuple[list[int], list[int]]:
    """The hours a baseline is learned from: the same hour of week in past weeks and on past days."""
    weeks = [hour - WEEK_HOURS * k for k in range(1, BASELINE_WEEKS + 1)]
    days = [hour - 24 * d for d in range(1, BASELINE_DAYS + 1)]
    return weeks, days


def baseline_of(scope: str, hour: int, store: Store) -> Baseline:
    weeks, days = baseline_hours(hour)
    keys = [key(scope, N), key(scope, NEG), key(scope, CRI)]
    found = store.hours(weeks + days, keys)
    weekly = [found[h] for h in weeks if found[h] is not None]
    daily = [found[h] for h in days if found[h] is not None]
    chosen = weekly if len(weekly) >= 2 else daily if len(daily) >= 3 else []
    per_hour, extra = None, 0.0
    pooled = weekly + daily
    if chosen:
        median = statistics.median(c[keys[0]] for c in chosen)
        per_hour = float(median)
        if median > 0:
            # The spread from every baseline hour (a few weeks' values alone give a MAD of almost nothing),
            # relative to the median, less what Poisson explains.
            relative = [abs(c[keys[0]] / median - 1) for c in pooled]
            sigma = 1.4826 * statistics.median(relative)
            extra = max(0.0, sigma * sigma - 1 / median)
    posts = sum(c[keys[0]] for c in pooled)
    shares = {
        f: (sum(c[key(scope, f)] for c in pooled) + PRIOR_POSTS * PRIORS[f]) / (posts + PRIOR_POSTS)
        for f in (NEG, CRI)
    }
    return Baseline(per_hour, extra, posts, shares[NEG], shares[CRI])


# --- The detector --------------------------------------------------------------------------------------


def _hours_of_window(end: int, length: int) -> dict[int, int]:
    """Minutes of the window (end - length, end] in each hour."""
    first = end - length + 1
    counts = {}
    hour = first // 60
    while hour * 60 <= end:
        counts[hour] = min(end, hour * 60 + 59) - max(first, hour * 60) + 1
        hour += 1
    return counts


@functools.cache
def _keys(scope: str) -> tuple[str, str, str, str]:
    return key(scope, N), key(scope, NEG), key(scope, CRI), key(scope, REACH)


def _when(minute: int) -> str:
    at = datetime.fromtimestamp(minute * 60, tz=UTC)
    return f"{at:%A} {at:%H}:00 UTC"


def _scope_label(scope: str, labels: Mapping[str, str]) -> str:
    if scope in labels:
        return labels[scope]
    if scope == ALL:
        return "all accounts"
    kind, _, name = scope.partition(":")
    return f"@{name}" if kind == "channel" else f"segment {name}" if kind == "segment" else name


class Detector:
    """Runs ``detect`` minute after minute over one store, keeping the baselines of past hours (which
    never change) between ticks. The live consumer makes one per tick; a replay keeps one for weeks."""

    def __init__(self, store: Store, policy: Policy | None = None, labels: Mapping[str, str] | None = None):
        self.store = store
        self.policy = policy or Policy()
        self.labels = dict(labels or {})
        self._baselines: dict[tuple[str, int], Baseline] = {}
        self._term_days: dict[int, tuple[int, int]] = {}  # day -> (known days, posts)
        self._term_counts: dict[tuple[int, str], int] = {}

    def baseline(self, scope: str, hour: int) -> Baseline:
        found = self._baselines.get((scope, hour))
        if found is None:
            found = self._baselines[(scope, hour)] = baseline_of(scope, hour, self.store)
        return found

    def _term_history(self, day: int) -> tuple[int, int]:
        """Days known in the past week before ``day``, and the posts they hold."""
        found = self._term_days.get(day)
        if found is None:
            days = self.store.days(list(range(day - TERM_DAYS, day)), [ALL_N])
            known = [c for c in days.values() if c is not None]
            found = self._term_days[day] = (len(known), sum(c[ALL_N] for c in known))
        return found

    def _term_expected(self, day: int, terms: Sequence[str]) -> dict[str, float]:
        """Each term's share of the past week's posts (with half a post of prior)."""
        missing = [t for t in terms if (day, t) not in self._term_counts]
        if missing:
            days = self.store.days(list(range(day - TERM_DAYS, day)), missing)
            for t in missing:
                self._term_counts[(day, t)] = sum(c[t] for c in days.values() if c is not None)
        _, posts = self._term_history(day)
        return {t: (self._term_counts[(day, t)] + 0.5) / (posts + 1) for t in terms}

    def forget_before(self, hour: int) -> None:
        """Drop cached baselines of windows before ``hour`` (a long replay calls it now and then)."""
        self._baselines = {k: v for k, v in self._baselines.items() if k[1] >= hour}
        day = hour // 24
        self._term_days = {k: v for k, v in self._term_days.items() if k >= day}
        self._term_counts = {k: v for k, v in self._term_counts.items() if k[0] >= day}

    # --- one tick ---

    def detect(self, minute: int) -> list[Alert]:
        """The alerts at the end of ``minute``: the best window of each (scope, signal) that fires and is not
        cooling down. Marks each alert's (scope, signal) as cooling down."""
        policy = self.policy
        best: dict[tuple[str, str], tuple[Alert, Window]] = {}
        for length in policy.windows:
            window = self.store.window(minute, length, hot=policy.term_min)
            for alert in self._window_alerts(minute, length, window):
                name = (alert.scope, alert.signal)
                if name not in best or alert.score > best[name][0].score:
                    best[name] = (alert, window)
        alerts = []
        for (scope, signal), (alert, window) in sorted(best.items()):
            if self.store.cooling(f"{scope}:{signal}", minute):
                continue
            self.store.cool(f"{scope}:{signal}", minute + policy.cooldown(signal))
            terms = alert.terms or self.top_terms(minute, window)
            alerts.append(_explained(alert, terms, self.labels))
        return alerts

    def _window_alerts(self, minute: int, length: int, window: Window) -> list[Alert]:
        alerts = []
        hours = _hours_of_window(minute, length)
        least = min(self.policy.volume_min, self.policy.negative_min, self.policy.crisis_min)
        for scope in scopes_in(window):
            if window.scopes.get(key(scope, N), 0) < least:
                continue  # too few posts for any signal
            baselines = {h: self.baseline(scope, h) for h in hours}
            alerts.extend(self._scope_alerts(minute, length, scope, window, baselines, hours))
        term = self._term_alert(minute, length, window)
        if term is not None:
            alerts.append(term)
        return alerts

    def _scope_alerts(
        self,
        minute: int,
        length: int,
        scope: str,
        window: Window,
        baselines: Mapping[int, Baseline],
        hours: Mapping[int, int],
    ) -> list[Alert]:
        policy = self.policy
        counts = window.scopes
        k_posts, k_negative, k_crisis, k_reach = _keys(scope)
        posts = counts.get(k_posts, 0)
        negatives = counts.get(k_negative, 0)
        crises = counts.get(k_crisis, 0)
        alerts: list[Alert] = []

        def alert(signal: str, observed: float, expected: float, score: float) -> Alert:
            reach = counts.get(k_reach, 0)
            return Alert(minute, scope, signal, length, posts, observed, expected, score, reach, (), "")

        # Volume: the window's expected posts from each of its hours' baselines.
        if posts >= policy.volume_min and all(b.per_hour is not None for b in baselines.values()):
            expected = sum(baselines[h].per_hour * minutes / 60 for h, minutes in hours.items())
            extra = max(policy.volume_extra_min, *(b.extra for b in baselines.values()))
            z = (posts - expected) / math.sqrt(expected + extra * expected * expected + 1.0)
            if z >= policy.threshold(VOLUME, policy.volume_z) and posts >= policy.volume_ratio * expected:
                alerts.append(alert(VOLUME, posts, expected, z))

        if negatives < policy.negative_min and crises < policy.crisis_min:
            return alerts
        weight = sum(b.posts for b in baselines.values())
        if weight < policy.share_baseline_min:
            return alerts
        if negatives >= policy.negative_min:
            usual_negative = sum(b.negative * b.posts for b in baselines.values()) / weight
            if negatives / posts >= usual_negative + policy.negative_lift:
                p = min(max(usual_negative, 0.01), 0.99)
                z = (negatives - posts * p) / math.sqrt(policy.share_dispersion * posts * p * (1 - p))
                if z >= policy.threshold(NEGATIVE, policy.negative_z):
                    alerts.append(alert(NEGATIVE, negatives / posts, usual_negative, z))
        if crises >= policy.crisis_min:
            usual_crisis = sum(b.crisis * b.posts for b in baselines.values()) / weight
            if crises / posts >= usual_crisis + policy.crisis_lift:
                mean = policy.share_dispersion * posts * max(usual_crisis, 0.002)
                score = poisson_log10_tail(crises, mean)
                if score >= policy.threshold(CRISIS, policy.crisis_log10_p):
                    alerts.append(alert(CRISIS, crises / posts, usual_crisis, score))
        return alerts

    def _term_alert(self, minute: int, length: int, window: Window) -> Alert | None:
        policy = self.policy
        day = minute // 1440
        known, _ = self._term_history(day)
        if known < policy.term_days_min:
            return None
        candidates = sorted(window.hot)
        if not candidates:
            return None
        posts = window[ALL_N]
        shares = self._term_expected(day, candidates)
        fired = []
        for k in candidates:
            count, expected = window.terms[k], shares[k] * posts
            if count < policy.term_ratio * expected:
                continue
            score = poisson_log10_tail(count, expected)
            if score >= policy.threshold(TERM, policy.term_log10_p):
                fired.append((score, k, count, expected))
        if not fired:
            return None
        fired.sort(reverse=True)
        score, _, count, expected = fired[0]
        terms = tuple(_term(k) for _, k, _, _ in fired[: policy.top_terms])
        return Alert(
            minute, ALL, TERM, length, count, count, expected, score, window[key(ALL, REACH)], terms, ""
        )

    def top_terms(self, minute: int, window: Window) -> tuple[str, ...]:
        """The terms most over their usual share in a window (a log-likelihood lift), for explanations."""
        candidates = [k for k, v in window.terms.items() if v >= 3]
        if not candidates:
            return ()
        posts = window[ALL_N]
        shares = self._term_expected(minute // 1440, candidates)
        lifted = []
        for k in candidates:
            count, expected = window.terms[k], max(shares[k] * posts, 1e-6)
            if count > 2 * expected:
                lifted.append((count * math.log(count / expected) - (count - expected), k))
        lifted.sort(reverse=True)
        return tuple(_term(k) for _, k in lifted[: self.policy.top_terms])


def _term(counter_key: str) -> str:
    return counter_key[len(TERM_PREFIX) :].rsplit("|", 1)[0]


def _pct(share: float) -> str:
    return f"{100 * share:.0f}%"


def _explained(alert: Alert, terms: tuple[str, ...], labels: Mapping[str, str]) -> Alert:
    """The alert with its sentence, e.g. "negative share of @northwind_help 61% over the last 15 min
    (22 of 36 posts) vs 12% usual for Monday 10:00 UTC; top terms: recall, headlamp melted"."""
    where = _scope_label(alert.scope, labels)
    when = _when(alert.minute)
    last = f"over the last {alert.window_minutes} min"
    if alert.signal == VOLUME:
        head = f"volume of {where}: {alert.posts} posts {last} vs {alert.expected:.0f} usual for {when}"
    elif alert.signal == TERM:
        head = (
            f"emerging term \u201c{terms[0] if terms else alert.scope}\u201d: {alert.posts} posts {last} "
            f"vs {alert.expected:.1f} usual"
        )
    else:
        what = "negative share" if alert.signal == NEGATIVE else "crisis share"
        count = round(alert.observed * alert.posts)
        head = (
            f"{what} of {where} {_pct(alert.observed)} {last} ({count} of {alert.posts} posts) "
            f"vs {_pct(alert.expected)} usual for {when}"
        )
    tail = f"; top terms: {', '.join(terms)}" if terms else ""
    reach = f"; reach {alert.reach:,} followers" if alert.reach else ""
    return Alert(
        alert.minute,
        alert.scope,
        alert.signal,
        alert.window_minutes,
        alert.posts,
        alert.observed,
        alert.expected,
        alert.score,
        alert.reach,
        terms,
        head + reach + tail,
    )
