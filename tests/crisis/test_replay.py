"""The evaluation replay: events read from a CrisisLexT26-shaped folder, placed at their real weekday and
time, and an injected burst found by the detector the live system runs, over quiet background."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from crisis import replay
from crisis.replay import (
    ACCOUNTS,
    EPOCH_MONDAY_MINUTE,
    SNOWFLAKE_EPOCH_MS,
    WEEK_MINUTES,
    Event,
    Pooled,
    Pools,
    episodes,
    event_place,
    events_read,
    onset_index,
)


def snowflake(ms: int, sequence: int = 0) -> int:
    return ((ms - SNOWFLAKE_EPOCH_MS) << 22) | sequence


def test_events_are_read_with_times_from_their_snowflake_ids(tmp_path) -> None:
    folder = tmp_path / "2014_Some_flood"
    folder.mkdir()
    t0 = int(datetime(2014, 3, 5, 14, 30, tzinfo=UTC).timestamp() * 1000)  # a Wednesday
    rows = [
        (snowflake(t0 + 60_000, 1), "River rising fast near the bridge", "Related and informative"),
        (snowflake(t0, 2), "Flood warning for the valley", "Related - but not informative"),
        (snowflake(t0 + 5_000), "My cat is cute", "Not related"),
    ]
    lines = [" Tweet ID, Tweet Text, Information Source, Information Type, Informativeness"]
    lines += [f'"{i}","{text}",Eyewitness,Caution and advice,{label}' for i, text, label in rows]
    (folder / "2014_Some_flood-tweets_labeled.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")

    [event] = events_read(tmp_path)

    assert event.name == "2014_Some_flood"
    assert event.times_ms == (t0, t0 + 60_000)  # related only, oldest first, to the millisecond
    assert event.texts[0] == "Flood warning for the valley"


def test_an_event_keeps_its_weekday_time_and_spacing_and_its_first_week_only() -> None:
    t0 = int(datetime(2013, 4, 15, 19, 0, 30, tzinfo=UTC).timestamp() * 1000)  # a Monday, 19:00:30
    times = (t0, t0 + 90_000, t0 + 6 * 86_400_000, t0 + 8 * 86_400_000)
    event = Event("e", times, ("a", "b", "c", "d"))
    week = EPOCH_MONDAY_MINUTE + 3 * WEEK_MINUTES

    placed = event_place(event, [(False, True)] * 4, week)

    assert placed.first_minute == pytest.approx(week + 19 * 60 + 0.5)
    assert sorted(placed.by_minute) == [week + 19 * 60, week + 19 * 60 + 2, week + 6 * 1440 + 19 * 60]
    assert placed.posts == 3  # the post 8 days later is past the event's week


def test_the_onset_is_the_first_burst_not_a_lone_precursor() -> None:
    lone = [0]
    burst = [3_600_000 * 20 + i * 60_000 for i in range(6)]

    assert onset_index(lone + burst) == 1
    assert onset_index([0, 10 * 3_600_000]) == 1  # no burst: the last one


def small_pools() -> Pools:
    rng = random.Random(5)
    words = ["order", "parcel", "jacket", "boots", "refund", "size", "thanks", "store", "tent", "stove"]
    by_account = {
        account.slug: [
            Pooled(
                " ".join(rng.sample(words, 4)) + f" n{i % 40}", rng.random() < 0.15, rng.random() < 0.03, 500
            )
            for i in range(400)
        ]
        for account in ACCOUNTS
    }
    return Pools(by_account, [500])


def test_an_injected_burst_is_found_within_minutes_and_quiet_traffic_is_left_alone() -> None:
    pools = small_pools()
    start = EPOCH_MONDAY_MINUTE + 2 * WEEK_MINUTES
    first = start + 2 * 1440 + 14 * 60  # Wednesday 14:00 of the evaluation week
    burst = {
        first + m: [
            (f"Explosion at the plant, smoke everywhere, evacuate now ({m}, {k})", True, True) for k in (1, 2)
        ]
        for m in range(20)
    }
    injected = replay.Injected("burst", first, first, burst, 40)

    with_event = replay.run(
        pools=pools, seed=3, posts_per_hour=60, warmup_weeks=2, injected=injected, tick_from=first - 120
    )
    background = replay.run(pools=pools, seed=3, posts_per_hour=60, warmup_weeks=2, tick_from=first - 120)

    found = [a for a in with_event.alerts if a.minute >= first]
    assert found and found[0].minute - first <= 6
    assert episodes(background.alerts) == []


def test_the_evaluation_counts_detections_delays_and_false_alarms() -> None:
    t0 = int(datetime(2013, 6, 5, 10, 0, tzinfo=UTC).timestamp() * 1000)  # a Wednesday
    texts = tuple(f"Gas explosion downtown, stay away from Main Street ({i})" for i in range(30))
    event = Event("2013_Gas_explosion", tuple(t0 + i * 40_000 for i in range(30)), texts)

    def classify(texts, accounts):
        return [("explosion" in t, "explosion" in t) for t in texts]

    figures = replay.evaluate(
        events=[event],
        pools=small_pools(),
        classify=classify,
        seeds=(3,),
        background_seeds=(3,),
        posts_per_hour=60,
        warmup_weeks=2,
    )
    summary = figures.summary(1)

    [row] = figures.events
    assert row["detected"] and row["posts_in_week"] == 30
    assert 0 < row["delay_min"] <= 10 and row["delay_min"] == summary["crisis.median_delay_min"]
    assert summary["crisis.events_detected"] == 1
    assert summary["crisis.background_weeks"] == 2  # the event seed's background, once
    assert summary["crisis.false_alarms_per_week"] == 0
