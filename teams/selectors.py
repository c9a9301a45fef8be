"""Reads about teams themselves: which teams a user may open."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from teams.models import Team
from teams.roles import user_is_admin, user_team_ids


def teams_for(*, user: Any) -> QuerySet[Team]:
    """The teams whose page the user may open: admins all, everyone else their own."""
    teams = Team.objects.order_by("name")
    return teams if user_is_admin(user) else teams.filter(pk__in=user_team_ids(user))
