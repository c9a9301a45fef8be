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


def user_team_ids(user: AbstractBaseUser | AnonymousUser) -> list[int]:
    if not user.is_authenticated:
        return []
    cached = getattr(user, "_socialops_team_ids", None)
    if cached is None:
        cached = list(user.memberships.values_list("team_id", flat=True))
        user._socialops_team_ids = cached
    return list(cached)
