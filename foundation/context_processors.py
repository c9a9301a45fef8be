"""Template context for every page from the ground floor: whether the cache server is reachable."""

from __future__ import annotations

from django.http import HttpRequest

from foundation.cache import cache_available


def degraded(request: HttpRequest) -> dict[str, object]:
    """``cache_down``: the cache (Redis) failed lately, so presence and live updates are paused (the banner
    in base.html). No I/O: it reads what the last cache call found."""
    return {"cache_down": not cache_available()}
