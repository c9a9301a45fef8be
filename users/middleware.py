"""Times are shown in the signed-in person's own time zone (chosen on /me/), else the installation's."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from users.selectors import preferences_for_request


def time_zone_of(request: HttpRequest) -> zoneinfo.ZoneInfo | None:
    chosen = preferences_for_request(request)
    if chosen is None or not chosen.time_zone:
        return None
    try:
        return zoneinfo.ZoneInfo(chosen.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):  # a zone the system's database no longer has
        return None


class TimeZoneMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        zone = time_zone_of(request)
        if zone is None:
            timezone.deactivate()
        else:
            timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
