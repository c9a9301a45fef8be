"""Which segments a person's behaviour puts them in: a pure function of their counts and the thresholds."""

from __future__ import annotations

from dataclasses import dataclass

# The order badges are shown in (routing.facts.AUTHOR_SEGMENTS lists the same names).
ORDER = ("vip", "influencer", "press", "customer", "prospect", "advocate", "detractor")


@dataclass(frozen=True, slots=True)
class Behaviour:
    """A person's counts over every mention of every handle (seen by nobody in particular: segments are the
    organisation's view of the person)."""

    mentions: int = 0
    positive: int = 0
    negative: int = 0
    support: int = 0  # support questions, complaints and posts naming an order number
    purchase: int = 0  # purchase questions
    press: int = 0  # press questions
    max_followers: int = 0
    verified: bool = False

    def __add__(self, other: Behaviour) -> Behaviour:
        return Behaviour(
            mentions=self.mentions + other.mentions,
            positive=self.positive + other.positive,
            negative=self.negative + other.negative,
            support=self.support + other.support,
            purchase=self.purchase + other.purchase,
            press=self.press + other.press,
            max_followers=max(self.max_followers, other.max_followers),
            verified=self.verified or other.verified,
        )


@dataclass(frozen=True, slots=True)
class Thresholds:
    influencer_followers: int = 10_000
    advocate_positive: int = 3
    detractor_negative: int = 3
    customer_support: int = 1
    prospect_purchase: int = 1
    press_questions: int = 1


def segments_of(behaviour: Behaviour, thresholds: Thresholds, *, is_vip: bool) -> list[str]:
    """The person's segments, in badge order. Advocate and detractor exclude each other: the side with more
    mentions wins, and a tie is neither."""
    found = set()
    if is_vip:
        found.add("vip")
    if behaviour.max_followers >= thresholds.influencer_followers:
        found.add("influencer")
    if behaviour.positive >= thresholds.advocate_positive and behaviour.positive > behaviour.negative:
        found.add("advocate")
    if behaviour.negative >= thresholds.detractor_negative and behaviour.negative > behaviour.positive:
        found.add("detractor")
    if behaviour.support >= thresholds.customer_support:
        found.add("customer")
    elif behaviour.purchase >= thresholds.prospect_purchase:
        found.add("prospect")
    # A verified account that asks a press question is taken for press at the first one.
    if behaviour.press >= thresholds.press_questions or (behaviour.verified and behaviour.press > 0):
        found.add("press")
    return [name for name in ORDER if name in found]
