"""Segments from behaviour and thresholds (pure)."""

from __future__ import annotations

from people.segments import Behaviour, Thresholds, segments_of

T = Thresholds(influencer_followers=1000, advocate_positive=2, detractor_negative=2)


def test_each_segment_at_its_threshold() -> None:
    assert segments_of(Behaviour(max_followers=1000), T, is_vip=False) == ["influencer"]
    assert segments_of(Behaviour(max_followers=999), T, is_vip=False) == []
    assert segments_of(Behaviour(positive=2), T, is_vip=False) == ["advocate"]
    assert segments_of(Behaviour(negative=2, positive=1), T, is_vip=False) == ["detractor"]
    assert segments_of(Behaviour(press=1), T, is_vip=True) == ["vip", "press"]


def test_advocate_and_detractor_tie_is_neither() -> None:
    assert segments_of(Behaviour(positive=3, negative=3), T, is_vip=False) == []


def test_support_history_makes_a_customer_not_a_prospect() -> None:
    assert segments_of(Behaviour(support=1, purchase=4), T, is_vip=False) == ["customer"]
    assert segments_of(Behaviour(purchase=1), T, is_vip=False) == ["prospect"]


def test_a_verified_account_is_press_at_its_first_press_question() -> None:
    strict = Thresholds(press_questions=3)

    assert segments_of(Behaviour(press=1, verified=True), strict, is_vip=False) == ["press"]
    assert segments_of(Behaviour(press=2), strict, is_vip=False) == []
    assert segments_of(Behaviour(verified=True), strict, is_vip=False) == []
