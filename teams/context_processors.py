"""Template context every page needs: the user's site-wide role and teams, for the header."""

from __future__ import annotations

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from teams.models import Membership
from teams.roles import user_is_admin


def roles(request: HttpRequest) -> dict[str, object]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    # Lazy, and computed once, from one query: pages that never show them cost nothing, the header one query.
    memberships = SimpleLazyObject(lambda: list(user.memberships.select_related("team")))
    return {
        "is_admin": SimpleLazyObject(lambda: user_is_admin(user)),
        "team_names": SimpleLazyObject(lambda: [membership.team.name for membership in memberships]),
        "is_away": SimpleLazyObject(lambda: any(membership.is_away for membership in memberships)),
        "leads_a_team": SimpleLazyObject(lambda: any(m.role == Membership.Role.LEAD for m in memberships)),
    }
