"""What people may see of the radar: incidents are for team leads and admins."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet

from crisis.models import Incident
from teams.roles import user_is_admin, user_led_team_ids

INCIDENT_PAGE_SIZE = 50


def user_sees_incidents(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Admins and the leads of any team: an incident concerns the whole brand, as crisis mode does."""
    return user.is_authenticated and (user_is_admin(user) or bool(user_led_team_ids(user)))


def incidents_for(
    *, user: AbstractBaseUser | AnonymousUser, search: str = "", status: str = ""
) -> QuerySet[Incident]:
    """The incidents ``user`` may see, newest first, those whose summary or terms contain ``search``, of
    ``status`` if given. Anyone but a lead or an admin is refused."""
    if not user_sees_incidents(user):
        raise PermissionDenied
    incidents = Incident.objects.all()
    if status in Incident.Status.values:
        incidents = incidents.filter(status=status)
    search = search.strip()
    if search:
        incidents = incidents.filter(Q(summary__icontains=search) | Q(terms__icontains=search))
    return incidents.order_by("-opened_at", "-id")
