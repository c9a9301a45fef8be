"""A realistic routing workload: an organisation's rule set and the posts its accounts receive.

``bench_rules(count, seed)`` writes the rules a large deployment accumulates: keyword, phrase and hashtag
rules about a product catalogue, campaigns, competitors, events and crisis words, mixed with intent,
sentiment, reach, channel, segment, kind and time-window conditions; about 5% use a regular expression.
``bench_posts(count, seed)`` takes posts from the simulated network (the same generator the live demo uses)
on seven brand accounts and attaches a classification made from the simulation's ground truth, so the
engine can be measured without the classifier.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from routing.facts import Classification, Facts
from routing.rules import RoutingContext

# The simulated network's posts are all written on this day (its clock is fixed for the benchmark).
POSTS_AT = datetime(2026, 6, 14, 15, 30, tzinfo=UTC)

# channel slug -> (segment, handle)
CHANNELS: dict[str, tuple[str, str]] = {
    "northwind-care": ("customer-relations", "@northwind_help"),
    "northwind-support-eu": ("customer-relations", "@northwind_eu"),
    "northwind-alerts": ("crisis-management", "@northwind_alerts"),
    "northwind-news": ("reputation-management", "@northwind_news"),
    "trailfest": ("event-coverage", "@trailfest"),
    "northwind-deals": ("product-promotion", "@northwind_deals"),
    "open-trails": ("issue-advocacy", "@opentrails"),
}
SEGMENT_TEAMS: dict[str, str] = {
    "customer-relations": "care",
    "crisis-management": "crisis",
    "reputation-management": "comms",
    "event-coverage": "events",
    "product-promotion": "sales",
    "issue-advocacy": "advocacy",
}
# A deployment with a thousand rules runs many more accounts than the seven the posts come from: regional
# ones, on each network. Rules name them too.
REGIONAL_CHANNELS: dict[str, str] = {
    f"northwind-{region}-{purpose}": segment
    for region in ("us", "uk", "de", "fr", "es", "jp", "au", "nordics")
    for purpose, segment in (
        ("care", "customer-relations"),
        ("deals", "product-promotion"),
        ("news", "reputation-management"),
    )
}
TEAMS = frozenset({*SEGMENT_TEAMS.values(), "legal", "social-leads", "product-quality", "vip-desk"})
USERS = ("priya", "tomas", "ingrid", "kofi", "mei", "sam", "lars", "aisha", "jonah", "beatriz")


def bench_context(threshold: float = 0.6) -> RoutingContext:
    return RoutingContext(
        teams=TEAMS,
        segments=dict(SEGMENT_TEAMS),
        users=frozenset(USERS),
        channels=frozenset(CHANNELS) | frozenset(REGIONAL_CHANNELS),
        misdirect_threshold=threshold,
    )


# --- Vocabulary -------------------------------------------------------------------------------------------
# The simulated brand's own words, then the much larger catalogue a real rule set also names.

SIM_PRODUCTS = (
    "Ridgeline 40 pack", "Summit Shell jacket", "Tundra 2 tent", "Fjord trail runners", "Basecamp stove",
    "Glacier down parka", "Cirrus sleeping bag", "TrailLite headlamp", "Alder trekking poles",
    "Kestrel water filter", "Harbor rain boots", "Drift 12 kayak", "Switchback hiking boots", "Larch fleece",
    "Nimbus 3 tent", "Scree gaiters",
)  # fmt: skip
_LINE_NAMES = (
    "Aspen", "Birch", "Cobalt", "Dune", "Ember", "Falcon", "Granite", "Heron", "Ibex", "Juniper", "Kodiak",
    "Lynx", "Moraine", "Nordic", "Osprey", "Pika", "Quartz", "Raven", "Sierra", "Talus", "Umber", "Vista",
    "Willow", "Yukon", "Zephyr", "Arête", "Bluff", "Cairn", "Delta", "Esker",
)  # fmt: skip
_PRODUCT_TYPES = ("pack", "jacket", "tent", "stove", "boots", "fleece", "bag", "headlamp", "poles", "vest")
COMPETITORS = tuple(
    f"{a}{b}"
    for a in ("Peak", "Alpen", "Timber", "Crest", "Summit", "Ridge", "Glacier", "Terra")
    for b in ("works", "line", "craft", "gear", "co")
)
CAMPAIGN_TAGS = (
    "#Trailfest", "#NorthwindOutside", "#GearUp", "#OpenTrails", "#LeaveNoTrace", "#BuyItForLife",
    *(f"#{w}{y}" for w in ("SummerSale", "WinterReady", "TrailTuesday", "RepairNotReplace", "PackItOut",
                         "NorthwindCrew", "GoFurther", "SpringTrails") for y in ("2025", "2026", "")),
)  # fmt: skip
EVENT_NAMES = (
    "Trailfest",
    "Trailfest Night Run",
    "Trailfest family day",
    "gear swap",
    "Northwind Ultra",
    "Fjord Paddle Days",
    "Summit Week",
    "Alpine Film Night",
    "Repair Cafe",
    "Winter Camp",
)
CRISIS_WORDS = (
    "recall",
    "recalled",
    "leaked",
    "gas leak",
    "data breach",
    "breach",
    "hacked",
    "melted",
    "overheats",
    "injured",
    "hurt",
    "collapsed",
    "snapped",
    "unsafe",
    "dangerous",
    "fire",
    "lawsuit",
    "boycott",
    "website down",
    "checkout failing",
    "exposed",
    "sick",
)
SUPPORT_WORDS = (
    "refund",
    "warranty",
    "return",
    "exchange",
    "tracking",
    "order",
    "password",
    "manual",
    "repair",
    "size",
    "shipping",
    "delivery",
    "invoice",
    "replacement",
    "damaged",
    "missing",
)
PRESS_WORDS = ("journalist", "reporter", "press", "interview", "statement", "media inquiries", "deadline")
CASHTAGS = ("$MOONPEAK", "$TRAILX", "$GAINZ", "$BTC", "$ETH", "$NWND", "$DOGE", "$PUMP")
REGEXES = (
    r"\bNW-\d{7}\b",
    r"\b(?:EU|UK)\s?\d{2}\b",
    r"https?://\S+\.example\b",
    r"[$€£]\d{2,4}\b",
    r"\b\d+ (?:days|weeks)\b",
    r"\b[A-Z]{4,}\d{2} code\b",
    r"\b\d{3}-\d{4}\b",
    r"!!+",
)


def _catalogue(rng: random.Random) -> list[str]:
    products = [p.lower() for p in SIM_PRODUCTS]
    for line in _LINE_NAMES:
        for kind in rng.sample(_PRODUCT_TYPES, 4):
            products.append(f"{line} {rng.choice(('', '2 ', '40 ', 'Pro ', 'Lite '))}{kind}".lower())
    return products


def _product_terms(rng: random.Random, product: str) -> list[str]:
    words = product.split()
    terms = [product]
    if len(words) > 2:
        terms.append(" ".join(words[:2]))
    if rng.random() < 0.5:
        terms.append(words[0])
    return terms


def bench_rules(count: int = 1000, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` enabled rules of the shapes a large organisation writes, in a seeded order."""
    rng = random.Random(seed)
    products = _catalogue(rng)
    segments = list(SEGMENT_TEAMS)
    teams = sorted(TEAMS)
    channels = [*CHANNELS, *REGIONAL_CHANNELS]

    def actions(*first: dict) -> list[dict]:
        out = list(first)
        extra = [
            lambda: {"add_labels": [rng.choice(("vip", "product", "campaign", "follow-up", "qa", "legal"))]},
            lambda: {"set_priority": rng.choice(("low", "normal", "high", "urgent"))},
            lambda: {"assign_to": rng.choice(USERS)},
            lambda: {"notify_email": f"{rng.choice(teams)}@northwind.example"},
            lambda: {"notify_webhook": f"https://hooks.northwind.example/{rng.randrange(100)}"},
            lambda: {"require_approval": True},
            lambda: {"escalate": {"team": rng.choice(teams), "reason": "needs a specialist"}},
        ]
        for make in rng.sample(extra, rng.choice((0, 1, 1, 2))):
            out.append(make())
        if rng.random() < 0.03:
            out.append({"stop": True})
        return out

    def maybe_window() -> dict:
        start = POSTS_AT + timedelta(days=rng.randint(-20, 5))
        return {"time_window": {"start": start.isoformat(), "end": (start + timedelta(days=3)).isoformat()}}

    def product_rule() -> tuple[dict, list]:
        product = rng.choice(products)
        text = {"keywords": _product_terms(rng, product)} if rng.random() < 0.7 else {"phrase": product}
        extra = rng.choice(
            (
                {"intent": {"in": ["complaint", "support_question"], "min_confidence": 0.5}},
                {"sentiment": {"max": -0.4}},
                {"intent": {"in": ["purchase_question"]}},
                {"not": {"kind": ["dm"]}},
                {"followers": {"min": 5000}},
            )
        )
        when = {"all": [text, extra]} if rng.random() < 0.8 else text
        return when, actions(
            {"add_labels": [f"product:{product.split()[0]}"]},
            rng.choice(({"route_to_segment": "customer-relations"}, {"route_to_team": "product-quality"})),
        )

    def campaign_rule() -> tuple[dict, list]:
        tags = rng.sample(CAMPAIGN_TAGS, rng.randint(1, 3))
        when: dict = {"hashtag": tags}
        if rng.random() < 0.5:
            when = {"all": [when, {"kind": rng.sample(["mention", "reply", "keyword"], 2)}]}
        return when, actions({"add_labels": ["campaign"]}, {"route_to_segment": "product-promotion"})

    def competitor_rule() -> tuple[dict, list]:
        names = rng.sample(COMPETITORS, rng.randint(1, 4))
        when: dict = {"keywords": names}
        if rng.random() < 0.5:
            when = {"all": [when, {"any": [{"verified": True}, {"followers": {"min": 20000}}]}]}
        return when, actions({"add_labels": ["competitor"]}, {"notify_email": "intel@northwind.example"})

    def event_rule() -> tuple[dict, list]:
        event = rng.choice(EVENT_NAMES)
        when = {
            "all": [
                {"any": [{"phrase": event}, {"hashtag": ["#" + event.replace(" ", "")]}]},
                maybe_window(),
            ]
        }
        return when, actions({"route_to_segment": "event-coverage"}, {"add_labels": ["event"]})

    def crisis_rule() -> tuple[dict, list]:
        words = rng.sample(CRISIS_WORDS, rng.randint(2, 5))
        reach = rng.choice(
            (
                {"followers": {"min": rng.choice((1000, 10000, 50000))}},
                {"verified": True},
                {"author_tag": ["influencer", "vip"]},
                {"sentiment": {"max": -0.5}},
                {"crisis_mode": True},
            )
        )
        when = {"all": [{"keywords": words}, reach]} if rng.random() < 0.7 else {"keywords": words}
        return when, actions(
            {"escalate": {"team": "crisis", "reason": "possible safety or security incident"}},
            {"set_priority": "urgent"},
        )

    def support_rule() -> tuple[dict, list]:
        words = rng.sample(SUPPORT_WORDS, rng.randint(1, 3))
        when = {
            "all": [
                {"keywords": words},
                {"segment": rng.sample(segments, 2)},
                {"intent": {"in": ["support_question", "complaint"], "min_confidence": 0.7}},
            ]
        }
        return when, actions({"route_to_segment": "customer-relations"})

    def press_rule() -> tuple[dict, list]:
        when = {
            "all": [{"keywords": rng.sample(PRESS_WORDS, 2)}, {"not": {"channel": [rng.choice(channels)]}}]
        }
        return when, actions({"route_to_team": "comms"}, {"require_approval": True})

    def spam_rule() -> tuple[dict, list]:
        when = {
            "any": [{"cashtag": rng.sample(CASHTAGS, 2)}, {"keywords": ["airdrop", "presale", "giveaway"]}]
        }
        return when, [{"add_labels": ["spam"]}, {"set_priority": "low"}]

    def language_rule() -> tuple[dict, list]:
        product = rng.choice(products)
        when = {"all": [{"keywords": _product_terms(rng, product)}, {"not": {"language": ["en"]}}]}
        return when, actions({"add_labels": ["translate"]})

    def channel_rule() -> tuple[dict, list]:
        when = {
            "all": [
                {"channel": [rng.choice(channels)]},
                {"intent": {"in": [rng.choice(("crisis_signal", "press_question"))], "min_confidence": 0.8}},
                {"followers": {"min": rng.choice((500, 5000))}},
            ]
        }
        return when, actions({"assign_to": rng.choice(USERS)})

    def regex_rule() -> tuple[dict, list]:
        pattern = rng.choice(REGEXES)
        # Admins pair a pattern with the words it goes with ("order" and an order number), or an account.
        gate = rng.choice(
            (
                {"keywords": rng.sample(SUPPORT_WORDS, 2)},
                {"keywords": rng.sample(SUPPORT_WORDS, 2)},
                {"keywords": rng.sample(CRISIS_WORDS, 3)},
                {"all": [{"intent": {"in": ["spam"]}}, {"channel": [rng.choice(channels)]}]},
                {"channel": [rng.choice(channels)]},
                {"kind": ["dm"]},
            )
        )
        when = {"all": [{"regex": pattern}, gate]} if rng.random() < 0.9 else {"regex": pattern}
        return when, actions({"add_labels": ["pattern"]})

    shapes = (
        (product_rule, 34),
        (campaign_rule, 9),
        (competitor_rule, 12),
        (event_rule, 7),
        (crisis_rule, 8),
        (support_rule, 6),
        (press_rule, 4),
        (spam_rule, 2),
        (language_rule, 6),
        (channel_rule, 7),
        (regex_rule, 5),
    )
    makers = [maker for maker, weight in shapes for _ in range(weight)]
    rules = []
    for rule_id in range(1, count + 1):
        maker = rng.choice(makers)
        when, then = maker()
        name = f"{maker.__name__.removesuffix('_rule').replace('_', ' ').capitalize()} {rule_id}"
        rules.append({"id": rule_id, "name": name, "enabled": True, "when": when, "then": then})
    return rules


# --- Posts --------------------------------------------------------------------------------------------------

_TONE_SENTIMENT = {
    "angry": (-0.95, -0.5),
    "shouting": (-0.95, -0.6),
    "sarcastic": (-0.6, 0.1),
    "terse": (-0.3, 0.1),
    "neutral": (-0.2, 0.3),
    "polite": (0.1, 0.7),
    "emoji": (-0.4, 0.8),
    "enthusiastic": (0.6, 0.98),
    "multilingual": (-0.3, 0.5),
}


def bench_posts(count: int, seed: int = 11, *, classified: bool = True) -> list[Facts]:
    """``count`` posts from the simulated network over the seven accounts, interleaved as they arrive."""
    from channels.connectors.base import ChannelRef
    from channels.connectors.simulated import SimulatedConnector

    rng = random.Random(seed)
    connector = SimulatedConnector(seed=seed, clock=lambda: POSTS_AT, page_size=count // len(CHANNELS) + 1)
    per_channel = []
    for slug, (segment, handle) in CHANNELS.items():
        ref = ChannelRef(
            slug=slug, network="simulated", handle=handle, external_account_id=slug, segment_slug=segment
        )
        per_channel.append((slug, segment, connector.fetch(ref, {}).posts))
    facts: list[Facts] = []
    for i in range(count):
        slug, segment, posts = per_channel[i % len(per_channel)]
        post = posts[i // len(per_channel)]
        truth = post.raw["simulation"]
        classification = None
        if classified:
            intent = truth["intent"] if rng.random() < 0.9 else rng.choice(("other", "praise", "complaint"))
            low, high = _TONE_SENTIMENT.get(truth["tone"], (-0.5, 0.5))
            sentiment = round(rng.uniform(low, high), 3)
            words = [w.strip(".,!?:\"'").lower() for w in post.text.split() if len(w) > 4]
            classification = Classification(
                intent=intent,
                confidence=round(rng.uniform(0.35, 0.99), 3),
                sentiment=sentiment,
                sentiment_label="negative"
                if sentiment <= -0.05
                else "positive"
                if sentiment >= 0.05
                else "neutral",
                terms=tuple(words[:3]),
            )
        followers = post.author.follower_count
        tags = frozenset(
            t
            for t, p in (
                ("influencer", 1.0 if followers > 20000 else 0.0),
                ("vip", 0.02),
                ("detractor", 0.03),
            )
            if rng.random() < p
        )
        facts.append(
            Facts(
                text=post.text,
                network=post.network,
                kind=post.kind,
                channel=slug,
                segment=segment,
                team=SEGMENT_TEAMS[segment],
                language=post.raw.get("lang", ""),
                author_handle=post.author.handle,
                author_followers=followers,
                author_verified=post.author.is_verified,
                author_tags=tags,
                created_at=post.created_at - timedelta(days=rng.randint(0, 10)),
                crisis_mode=rng.random() < 0.05,
                classification=classification,
            )
        )
    return facts
