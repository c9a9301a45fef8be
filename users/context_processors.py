"""Template context every page needs from the signed-in person's preferences: theme and density for the
<html> element (base.html), and the reply signature for the composer. Read here, on the top floor, so the
inbox's templates use them without the inbox importing users."""

from __future__ import annotations

from django.http import HttpRequest

from users.selectors import preferences_for_request


def preferences(request: HttpRequest) -> dict[str, object]:
    chosen = preferences_for_request(request)
    if chosen is None:
        return {}
    return {"ui_theme": chosen.theme, "ui_density": chosen.density, "reply_signature": chosen.signature}
