"""Template context every page needs: the user's site-wide role and teams, for the header."""

from __future__ import annotations

from django.http import HttpRequest

from teams.roles import user_is_admin


def roles(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Callables, so pages that never show the header cost no query.
    return {
        "is_admin": lambda: user_is_admin(user),
        "team_names": lambda: [m.team.name for m in user.memberships.select_related("team")],
    }
