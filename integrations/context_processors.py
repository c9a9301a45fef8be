"""The bell's count of unread notifications, on every page of a signed-in person."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from integrations.models import NotificationChoice
from integrations.notifications import notifications_unread_count


def notifications(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        # Counted when a page draws the bell (base.html), not for every fragment htmx asks for.
        "notifications_unread": SimpleLazyObject(lambda: notifications_unread_count(user_id=user.pk)),
        # Read only by a page that asks (the inbox, whose live stream shows browser notifications).
        "notification_browser_kinds": lambda: ",".join(
            NotificationChoice.objects.filter(user=user, browser=True).values_list("kind", flat=True)
        ),
    }
