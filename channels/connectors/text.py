"""How long a reply is, counted the way each network counts it, and each network's limit."""

from __future__ import annotations

REPLY_LIMITS = {"x": 280, "mastodon": 500, "simulated": 280}
DIRECT_LIMITS = {"x": 10_000, "mastodon": 500, "simulated": 10_000}


def reply_limit(network: str, *, is_direct: bool = False) -> int:
    return (DIRECT_LIMITS if is_direct else REPLY_LIMITS).get(network, 280)


def reply_length(network: str, text: str) -> int:
    return len(text)
