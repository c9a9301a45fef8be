"""The radar's evaluation: real crisis events replayed at their real times into weeks of a brand's ordinary
traffic, through the detector the live system runs (``crisis.detector.Detector`` over the same counters,
kept in a ``MemoryStore`` so that weeks take seconds).

**Events.** A folder laid out like CrisisLexT26 (``<event>/<event>-tweets_labeled.csv``). An event's tweets
labelled "Related ..." (informative or not) are its posts; their times come from the X ids, which are
snowflakes: ``(id >> 22) + 1288834974657`` is the post's time in ms. The first related tweet is placed in
the evaluation week at the same weekday and time of day (UTC) as it really happened, and every later one
keeps its real distance from it; what falls more than a week after the first is dropped (the event's
first week runs into the next background week). The posts arrive on the brand's
accounts in the same proportions as ordinary traffic.

**Background.** A brand ("Northwind", the simulated network's) with six accounts: five from the simulated
network's posts (customer relations, promotion, reputation, events, crisis management: their own mix of
support questions, complaints, praise, crisis talk, misdirected posts and spam) and a listening query,
whose posts are real tweets (SemEval/TweetEval training set, general chatter with real sentiment). Arrivals
are Poisson per minute with a rate that follows a daily curve (night at a fifth of the day's peak, a
morning rise, a lunch and an evening high) and a weekly one (weekends at three quarters), times a level
drawn per day (log-normal, 20%) and per hour (10%): real traffic varies more than Poisson, and a detector
tuned on smooth traffic would promise too few false alarms. On top, repost cascades: twice a day on
average an ordinary post is reposted 2 or more times (Pareto, alpha 1.5, at most 100) over the next
half hour or so. ``posts_per_hour`` is the average.

Each run learns for ``warmup_weeks`` weeks (counters only) and then runs the detector every minute of the
evaluation weeks. Posts are classified by the shipped classifier (``routing.classifier.IntentClassifier``):
negative is its sentiment label, crisis is its "crisis_signal" intent, as the ingest stores them.

**Figures.** An event is detected when an alert comes after its first related tweet within the event's week
and is not one the same background raises without the event (same seed, scope and signal, within
``BACKGROUND_MATCH_MINUTES``); its delay runs from that tweet to the end of the alerting minute. Because
many events' first related tweet is a lone precursor hours before anything else, the delay from the onset
is reported too (the first related
tweet followed by at least ``ONSET_POSTS - 1`` more within ``ONSET_MINUTES``). False alarms: alerts on
background alone, alerts within ``EPISODE_MINUTES`` of the previous one counted once, per week, over
several seeds and weeks (the event runs' seeds among them, whose background-only run is needed anyway).
"""

from __future__ import annotations

import csv
import math
import random
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from crisis.detector import Alert, Detector, Policy
from crisis.signals import REACH, SEP, counts_add, post_signal
from crisis.store import MemoryStore

SNOWFLAKE_EPOCH_MS = 1288834974657
WEEK_MINUTES = 7 * 24 * 60
# 2024-01-01 was a Monday: the replay's weeks start there (any Monday would do; the clock is not "now").
EPOCH_MONDAY_MINUTE = int(datetime(2024, 1, 1, tzinfo=UTC).timestamp()) // 60
ONSET_POSTS, ONSET_MINUTES = 5, 30
EPISODE_MINUTES = 120
BACKGROUND_MATCH_MINUTES = (
    30  # an event run's alert this close to the same alert without the event is not its
)
TICKS_BEFORE_EVENT = 6 * 60  # an event's run runs the detector from this long before its first tweet

# Relative rate by hour of day (UTC) and by weekday (Monday first); both averaged to 1 below.
DAILY = (0.25, 0.18, 0.14, 0.12, 0.12, 0.16, 0.3, 0.55, 0.85, 1.1, 1.25, 1.3,
         1.3, 1.25, 1.2, 1.2, 1.15, 1.1, 1.1, 1.15, 1.1, 0.9, 0.65, 0.4)  # fmt: skip
WEEKLY = (1.1, 1.1, 1.05, 1.05, 1.0, 0.75, 0.75)
DAY_LEVEL_SD, HOUR_LEVEL_SD = 0.2, 0.1
# Repost cascades: an ordinary post reposted (retweeted, quoted) a Pareto-distributed number of times, at
# least CASCADE_MIN, over the following minutes. Reposts add reach only (``crisis.signals.reposts_dropped``).
CASCADES_PER_DAY = 2.0
CASCADE_MIN, CASCADE_ALPHA, CASCADE_MAX, CASCADE_MEAN_MINUTES = 2, 1.5, 100, 20.0


def snowflake_ms(tweet_id: int) -> int:
    return (tweet_id >> 22) + SNOWFLAKE_EPOCH_MS


@dataclass(frozen=True)
class Event:
    name: str
    times_ms: tuple[int, ...]  # the related tweets' times, ascending
    texts: tuple[str, ...]


def events_read(folder: Path) -> list[Event]:
    """Every event folder's related tweets, with their times from the snowflake ids."""
    events = []
    for path in sorted(Path(folder).glob("*/*tweets_labeled.csv")):
        rows = []
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = [h.strip().lower() for h in next(reader)]
            id_at, text_at, label_at = (
                header.index("tweet id"),
                header.index("tweet text"),
                header.index("informativeness"),
            )
            for row in reader:
                if len(row) <= max(id_at, text_at, label_at) or not row[label_at].strip().startswith(
                    "Related"
                ):
                    continue
                tweet_id = row[id_at].strip().strip('"')
                if tweet_id.isdigit():
                    rows.append((snowflake_ms(int(tweet_id)), row[text_at]))
        if rows:
            rows.sort()
            events.append(Event(path.parent.name, tuple(t for t, _ in rows), tuple(x for _, x in rows)))
    return events


def onset_index(times_ms: Sequence[int], posts: int = ONSET_POSTS, minutes: int = ONSET_MINUTES) -> int:
    """The first related tweet followed by ``posts - 1`` more within ``minutes`` (the last one if none)."""
    for i in range(len(times_ms) - posts + 1):
        if times_ms[i + posts - 1] - times_ms[i] <= minutes * 60_000:
            return i
    return len(times_ms) - 1


# --- The brand and its background traffic -----------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    slug: str
    segment: str
    weight: float


ACCOUNTS = (
    Account("northwind_help", "customer-relations", 0.40),
    Account("northwind_shop", "product-promotion", 0.18),
    Account("northwind_news", "reputation-management", 0.08),
    Account("northwind_live", "event-coverage", 0.06),
    Account("northwind_alerts", "crisis-management", 0.05),
    Account("listening_northwind", "reputation-management", 0.23),  # a listening query: real tweets
)
LISTENING = "listening_northwind"


@dataclass(frozen=True)
class Pooled:
    """A post of a pool: its text's signal parts, computed once."""

    text: str
    negative: bool
    crisis: bool
    reach: int


Classify = Callable[[Sequence[str], Sequence[Account]], list[tuple[bool, bool]]]


@dataclass
class Pools:
    """Texts for each account, classified once; the event posts' texts too."""

    by_account: dict[str, list[Pooled]]
    reaches: list[int]
    signals: dict[tuple[str, str, int], tuple[dict[str, int], dict[str, int], str]] = field(
        default_factory=dict
    )

    def counts(self, account: Account, item: Pooled) -> tuple[dict[str, int], dict[str, int], str]:
        """The post's counters (``crisis.signals.counts_add``) as a new text and as a repost (reach only),
        and its text key; computed once per text, account and reach."""
        found = self.signals.get((account.slug, item.text, item.reach))
        if found is None:
            signal = post_signal(
                minute=0,
                text=item.text,
                channel=account.slug,
                segment=account.segment,
                negative=item.negative,
                crisis=item.crisis,
                reach=item.reach,
            )
            counts: Counter = Counter()
            counts_add(counts, signal)
            repost = {k: v for k, v in counts.items() if k.endswith(SEP + REACH)}
            found = self.signals[(account.slug, item.text, item.reach)] = (
                dict(counts),
                repost,
                signal.text_key,
            )
        return found

    def post(self, counts: Counter, account: Account, item: Pooled, minute: int, store: MemoryStore) -> None:
        """One post into a minute's counters, its terms left out if it is a repost (as the live consumer)."""
        fresh, repost, text = self.counts(account, item)
        _add(counts, fresh if store.first_seen([text], minute)[0] else repost)


def shipped_classify(texts: Sequence[str], accounts: Sequence[Account]) -> list[tuple[bool, bool]]:
    """(negative, crisis) per text, from the shipped classifier as the ingest runs it."""
    from routing.classifier import IntentClassifier
    from routing.facts import Facts

    classifier = IntentClassifier()
    out: list[tuple[bool, bool]] = []
    for start in range(0, len(texts), 500):
        facts = [
            Facts(text=t, network="x", channel=a.slug, segment=a.segment)
            for t, a in zip(texts[start : start + 500], accounts[start : start + 500], strict=True)
        ]
        out.extend(
            (c.sentiment_label == "negative", c.intent == "crisis_signal")
            for c in classifier.classify_many(facts)
        )
    return out


def pools_build(
    *,
    listening_texts: Sequence[str],
    classify: Classify = shipped_classify,
    per_account: int = 3000,
    seed: int = 7,
) -> Pools:
    """Background pools: the simulated network's posts for each brand account, real tweets for listening."""
    from channels.connectors.base import ChannelRef
    from channels.connectors.simulated import SimulatedConnector

    rng = random.Random(seed)
    texts: list[str] = []
    owners: list[Account] = []
    reaches: list[int] = []
    for account in ACCOUNTS:
        if account.slug == LISTENING:
            chosen = rng.sample(list(listening_texts), min(per_account, len(listening_texts)))
            texts.extend(chosen)
            owners.extend([account] * len(chosen))
            reaches.extend([0] * len(chosen))
            continue
        ref = ChannelRef(
            slug=account.slug,
            network="simulated",
            handle=f"@{account.slug}",
            external_account_id=account.slug,
            segment_slug=account.segment,
        )
        page = SimulatedConnector(seed=seed, page_size=per_account).fetch(ref, {})
        for post in page.posts:
            texts.append(post.text)
            owners.append(account)
            reaches.append(int(getattr(post.author, "follower_count", 0) or 0))
    known = [r for r in reaches if r]
    reaches = [r or (rng.choice(known) if known else 0) for r in reaches]
    labels = classify(texts, owners)
    by_account: dict[str, list[Pooled]] = {a.slug: [] for a in ACCOUNTS}
    for text, account, reach, (negative, crisis) in zip(texts, owners, reaches, labels, strict=True):
        by_account[account.slug].append(Pooled(text, negative, crisis, reach))
    return Pools(by_account, known or [0])


def background_minutes(
    *, rng: random.Random, start: int, weeks: int, posts_per_hour: float
) -> Iterable[tuple[int, list[int]]]:
    """(minute, [account index per post]) for each minute of ``weeks`` weeks from ``start`` (a Monday)."""
    daily = [d * 24 / sum(DAILY) for d in DAILY]
    weekly = [w * 7 / sum(WEEKLY) for w in WEEKLY]
    cum = []
    total = 0.0
    for account in ACCOUNTS:
        total += account.weight
        cum.append(total)
    day_level = 1.0
    hour_level = 1.0
    for minute in range(start, start + weeks * WEEK_MINUTES):
        offset = minute - start
        if offset % 1440 == 0:
            day_level = math.exp(rng.gauss(0, DAY_LEVEL_SD) - DAY_LEVEL_SD**2 / 2)
        if offset % 60 == 0:
            hour_level = math.exp(rng.gauss(0, HOUR_LEVEL_SD) - HOUR_LEVEL_SD**2 / 2)
        rate = (
            posts_per_hour
            / 60
            * daily[(offset // 60) % 24]
            * weekly[(offset // 1440) % 7]
            * day_level
            * hour_level
        )
        count = _poisson(rng, rate)
        if count:
            yield minute, [_pick(cum, rng.random() * total) for _ in range(count)]


def _pick(cum: Sequence[float], x: float) -> int:
    for i, c in enumerate(cum):
        if x < c:
            return i
    return len(cum) - 1


def _poisson(rng: random.Random, mean: float) -> int:
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


# --- One run --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Injected:
    """An event's posts placed in the evaluation week."""

    name: str
    first_minute: float  # the first related tweet's time, in minutes since the epoch (fractional)
    onset_minute: float
    by_minute: dict[int, list[tuple[str, bool, bool]]]  # minute -> (text, negative, crisis)
    posts: int


def event_place(event: Event, labels: Sequence[tuple[bool, bool]], week_start: int) -> Injected:
    """The event's first week of related tweets, from its first one's weekday and time of day in the week
    that starts at ``week_start`` (so the event's week runs into the next one)."""
    first = event.times_ms[0]
    real = datetime.fromtimestamp(first / 1000, tz=UTC)
    into_week = (
        real.weekday() * 1440 + real.hour * 60 + real.minute + (real.second + real.microsecond / 1e6) / 60
    )
    first_minute = week_start + into_week
    by_minute: dict[int, list[tuple[str, bool, bool]]] = {}
    posts = 0
    for t, text, (negative, crisis) in zip(event.times_ms, event.texts, labels, strict=True):
        at = first_minute + (t - first) / 60_000
        if at >= first_minute + WEEK_MINUTES:
            break
        by_minute.setdefault(int(at), []).append((text, negative, crisis))
        posts += 1
    onset = first_minute + (event.times_ms[onset_index(event.times_ms)] - first) / 60_000
    return Injected(event.name, first_minute, onset, by_minute, posts)


@dataclass(frozen=True)
class Run:
    seed: int
    alerts: tuple[Alert, ...]
    eval_start: int
    eval_weeks: int


def run(
    *,
    pools: Pools,
    seed: int,
    posts_per_hour: float,
    warmup_weeks: int = 3,
    eval_weeks: int = 1,
    injected: Injected | None = None,
    policy: Policy | None = None,
    on_minute: Callable[[int, int], None] | None = None,
    tick_from: int | None = None,
    cascades_per_day: float = CASCADES_PER_DAY,
) -> Run:
    """Background (and an event, if given) through the counters and the detector, minute by minute; the
    detector runs every minute of the evaluation weeks (from ``tick_from``, if later)."""
    rng = random.Random(seed)
    store = MemoryStore()
    detector = Detector(store, policy)
    eval_start = EPOCH_MONDAY_MINUTE + warmup_weeks * WEEK_MINUTES
    alerts: list[Alert] = []
    event_rng = random.Random(seed * 7919 + 1)
    cum, total = [], 0.0
    for account in ACCOUNTS:
        total += account.weight
        cum.append(total)
    reaches = pools.reaches
    minutes = background_minutes(
        rng=rng, start=EPOCH_MONDAY_MINUTE, weeks=warmup_weeks + eval_weeks, posts_per_hour=posts_per_hour
    )
    pending = next(minutes, None)
    ticks_start = max(eval_start, tick_from or 0)
    cascade_rng = random.Random(seed * 104_729 + 3)  # its own stream: the rest of the traffic is the same
    reposts: dict[int, list[tuple[Account, Pooled]]] = {}
    for minute in range(EPOCH_MONDAY_MINUTE, eval_start + eval_weeks * WEEK_MINUTES):
        counts: Counter = Counter()
        posted = 0
        if pending is not None and pending[0] == minute:
            for index in pending[1]:
                account = ACCOUNTS[index]
                pool = pools.by_account[account.slug]
                pools.post(counts, account, pool[rng.randrange(len(pool))], minute, store)
            posted += len(pending[1])
            pending = next(minutes, None)
        if cascade_rng.random() < cascades_per_day / 1440:
            _cascade(cascade_rng, pools, cum, total, minute, reposts)
        for account, item in reposts.pop(minute, ()):
            pools.post(counts, account, item, minute, store)
            posted += 1
        if injected is not None and minute in injected.by_minute:
            for text, negative, crisis in injected.by_minute[minute]:
                account = ACCOUNTS[_pick(cum, event_rng.random() * total)]
                item = Pooled(text, negative, crisis, reaches[event_rng.randrange(len(reaches))])
                pools.post(counts, account, item, minute, store)
                posted += 1
        if counts:
            store.add({minute: counts})
        if minute >= ticks_start:
            alerts.extend(detector.detect(minute))
            if minute % 1440 == 0:
                store.forget_before(minute - 240)
                detector.forget_before(minute // 60 - 2)
        elif minute % 1440 == 0:
            store.forget_before(minute - 240)
        if on_minute is not None:
            on_minute(minute, posted)
    return Run(seed, tuple(alerts), eval_start, eval_weeks)


def _cascade(
    rng: random.Random,
    pools: Pools,
    cum: Sequence[float],
    total: float,
    minute: int,
    reposts: dict[int, list[tuple[Account, Pooled]]],
) -> None:
    """A post of the pools reposted ``CASCADE_MIN`` or more times (Pareto) over the next minutes."""
    account = ACCOUNTS[_pick(cum, rng.random() * total)]
    pool = pools.by_account[account.slug]
    item = pool[rng.randrange(len(pool))]
    size = min(CASCADE_MAX, int(CASCADE_MIN / (1 - rng.random()) ** (1 / CASCADE_ALPHA)))
    for _ in range(size):
        reposts.setdefault(minute + 1 + int(rng.expovariate(1 / CASCADE_MEAN_MINUTES)), []).append(
            (account, item)
        )


def _add(counts: Counter, more: dict[str, int]) -> None:
    get = counts.get
    for counter_key, value in more.items():
        counts[counter_key] = get(counter_key, 0) + value


def episodes(alerts: Sequence[Alert], gap: int = EPISODE_MINUTES) -> list[Alert]:
    """The first alert of each burst of alerts (later ones within ``gap`` minutes belong to it)."""
    first: list[Alert] = []
    last = None
    for alert in sorted(alerts, key=lambda a: a.minute):
        if last is None or alert.minute - last > gap:
            first.append(alert)
        last = alert.minute
    return first


# --- The whole evaluation --------------------------------------------------------------------------------


@dataclass
class Figures:
    events: list[dict] = field(default_factory=list)
    background: list[dict] = field(default_factory=list)

    def summary(self, total_events: int) -> dict:
        by_event: dict[str, list[dict]] = {}
        for row in self.events:
            by_event.setdefault(row["event"], []).append(row)
        detected = [name for name, rows in by_event.items() if all(r["detected"] for r in rows)]
        delays = [r["delay_min"] for r in self.events if r["detected"]]
        onsets = [r["delay_from_onset_min"] for r in self.events if r["detected"]]
        weeks = sum(r["weeks"] for r in self.background)
        false_alarms = sum(r["false_alarms"] for r in self.background)
        return {
            "crisis.events_detected": len(detected),
            "crisis.events": total_events,
            "crisis.median_delay_min": round(statistics.median(delays), 1) if delays else None,
            "crisis.median_delay_from_onset_min": round(statistics.median(onsets), 1) if onsets else None,
            "crisis.false_alarms_per_week": round(false_alarms / weeks, 2) if weeks else None,
            "crisis.background_weeks": weeks,
        }


def evaluate(
    *,
    events: Sequence[Event],
    pools: Pools,
    classify: Classify = shipped_classify,
    seeds: Sequence[int] = (1,),
    background_seeds: Sequence[int] = (11, 12, 13),
    background_weeks: int = 2,
    posts_per_hour: float = 150.0,
    warmup_weeks: int = 3,
    policy: Policy | None = None,
    progress: Callable[[str], None] | None = None,
) -> Figures:
    figures = Figures()
    say = progress or (lambda line: None)
    weeks = max(2, background_weeks)  # an event's week runs into the next background week
    base: dict[int, tuple[Alert, ...]] = {}
    for seed in dict.fromkeys([*seeds, *background_seeds]):
        result = run(
            pools=pools,
            seed=seed,
            posts_per_hour=posts_per_hour,
            warmup_weeks=warmup_weeks,
            eval_weeks=weeks,
            policy=policy,
        )
        base[seed] = result.alerts
        found = episodes(result.alerts)
        figures.background.append(
            {"seed": seed, "weeks": weeks, "false_alarms": len(found), "alerts": [a.text for a in found]}
        )
        say(
            f"background seed {seed}: {len(found)} false alarm(s) in {weeks} week(s)"
            + "".join(f"\n    {a.at:%a %H:%M} {a.text}" for a in found)
        )
    for event in events:
        account = ACCOUNTS[0]
        labels = classify(list(event.texts), [account] * len(event.texts))
        for seed in seeds:
            eval_start = EPOCH_MONDAY_MINUTE + warmup_weeks * WEEK_MINUTES
            injected = event_place(event, labels, eval_start)
            result = run(
                pools=pools,
                seed=seed,
                posts_per_hour=posts_per_hour,
                warmup_weeks=warmup_weeks,
                eval_weeks=2,
                injected=injected,
                policy=policy,
                tick_from=int(injected.first_minute) - TICKS_BEFORE_EVENT,
            )
            end = injected.first_minute + WEEK_MINUTES
            # An alert the same background raises without the event (same seed) is not the event's.
            after = [
                a
                for a in result.alerts
                if injected.first_minute <= a.minute + 1 <= end and not _in_background(a, base[seed])
            ]
            row = {
                "event": event.name,
                "seed": seed,
                "posts_in_week": injected.posts,
                "crisis_posts": sum(c for ms in injected.by_minute.values() for _, _, c in ms),
                "detected": bool(after),
            }
            if after:
                first = after[0]
                row["delay_min"] = round(first.minute + 1 - injected.first_minute, 1)
                row["delay_from_onset_min"] = round(max(0.0, first.minute + 1 - injected.onset_minute), 1)
                row["alert"] = first.text
                row["signal"] = first.signal
            figures.events.append(row)
            say(_event_line(row))
    return figures


def _in_background(alert: Alert, background: Sequence[Alert], slack: int = BACKGROUND_MATCH_MINUTES) -> bool:
    return any(
        b.scope == alert.scope and b.signal == alert.signal and abs(b.minute - alert.minute) <= slack
        for b in background
    )


def _event_line(row: dict) -> str:
    if not row["detected"]:
        return f"{row['event']} (seed {row['seed']}): not detected ({row['posts_in_week']} posts in the week)"
    return (
        f"{row['event']} (seed {row['seed']}): {row['delay_min']} min after the first related tweet, "
        f"{row['delay_from_onset_min']} after the onset; {row['signal']}: {row['alert']}"
    )
