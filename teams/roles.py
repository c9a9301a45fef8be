"""Site-wide roles. Admins are members of the "Admins" group (or superusers).

Both answers are remembered on the user object, which lives for one request: a page asks them many times
(the selectors, the header, the forms) and pays one query each.
"""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q

from foundation.access import SYSTEM, Actor
from teams.models import Membership

ADMINS_GROUP = "Admins"
LEAD_ROLE = Membership.Role.LEAD


def user_is_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_socialops_is_admin", None)
    if cached is None:
        cached = user.groups.filter(name=ADMINS_GROUP).exists()
        user._socialops_is_admin = cached
    return cached


def user_leads_team(user: AbstractBaseUser | AnonymousUser, team_id: int | None) -> bool:
    """Whether the user may manage the team: its leads, and admins."""
    if user_is_admin(user):
        return True
    if team_id is None or not user.is_authenticated:
        return False
    return team_id in user_led_team_ids(user)  # remembered on the user object, as actor_of reads it


@dataclass(frozen=True)
class TeamLeaders:
    """Who answers for a team as its lead: its leads, or when it has none, the admins standing in."""

    users: tuple[AbstractBaseUser, ...]
    admins_stand_in: bool


def team_leaders(*, team_id: int) -> TeamLeaders:
    """The people a team's escalations, SLA breaches and reply approvals go to: its leads; a team without a
    lead falls back to the admins (the Admins group and superusers), so nothing is raised to nobody."""
    people = get_user_model().objects.filter(is_active=True).order_by("username")
    leads = tuple(people.filter(memberships__team_id=team_id, memberships__role=LEAD_ROLE).distinct())
    if leads:
        return TeamLeaders(users=leads, admins_stand_in=False)
    admins = people.filter(Q(is_superuser=True) | Q(groups__name=ADMINS_GROUP)).distinct()
    return TeamLeaders(users=tuple(admins), admins_stand_in=True)


def user_team_ids(user: AbstractBaseUser | AnonymousUser) -> list[int]:
    if not user.is_authenticated:
        return []
    cached = getattr(user, "_socialops_team_ids", None)
    if cached is None:
        cached = list(user.memberships.values_list("team_id", flat=True))
        user._socialops_team_ids = cached
    return list(cached)


def user_led_team_ids(user: AbstractBaseUser | AnonymousUser) -> list[int]:
    """The teams the user is a lead of (not every team for admins: callers decide what admins get)."""
    if not user.is_authenticated:
        return []
    cached = getattr(user, "_socialops_led_team_ids", None)
    if cached is None:
        cached = list(user.memberships.filter(role=LEAD_ROLE).values_list("team_id", flat=True))
        user._socialops_led_team_ids = cached
    return list(cached)


def user_name(user: AbstractBaseUser | None) -> str:
    """How a person is named in pages and messages: full name, else username; "nobody" for no one."""
    if user is None:
        return "nobody"
    return user.get_full_name() or user.get_username()


def actor_of(user: AbstractBaseUser | AnonymousUser | None) -> Actor:
    """The ``foundation.access.Actor`` for a user, for the access policy: who they are, whether they are an
    admin, the teams they are in and lead (each fact remembered on the user object, as above). No user (a
    task, the ingest) is the system."""
    if user is None:
        return SYSTEM
    if not user.is_authenticated:
        return Actor(user_id=None, is_admin=False)
    return Actor(
        user_id=user.pk,
        is_admin=user_is_admin(user),
        team_ids=frozenset(user_team_ids(user)),
        led_team_ids=frozenset(user_led_team_ids(user)),
    )
