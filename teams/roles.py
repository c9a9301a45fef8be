"""Site-wide roles. Admins are members of the "Admins" group (or superusers).

Both answers are remembered on the user object, which lives for one request: a page asks them many times
(the selectors, the header, the forms) and pays one query each.
"""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

ADMINS_GROUP = "Admins"


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
    return user.memberships.filter(team_id=team_id, role="lead").exists()


def user_team_ids(user: AbstractBaseUser | AnonymousUser) -> list[int]:
    if not user.is_authenticated:
        return []
    cached = getattr(user, "_socialops_team_ids", None)
    if cached is None:
        cached = list(user.memberships.values_list("team_id", flat=True))
        user._socialops_team_ids = cached
    return list(cached)


def user_name(user: AbstractBaseUser | None) -> str:
    """How a person is named in pages and messages: full name, else username; "nobody" for no one."""
    if user is None:
        return "nobody"
    return user.get_full_name() or user.get_username()
