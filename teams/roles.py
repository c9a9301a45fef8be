"""Site-wide roles. Admins are members of the "Admins" group (or superusers)."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

ADMINS_GROUP = "Admins"


def user_is_admin(user: AbstractBaseUser | AnonymousUser) -> bool:
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return user.groups.filter(name=ADMINS_GROUP).exists()


def user_team_ids(user: AbstractBaseUser | AnonymousUser) -> list[int]:
    if not user.is_authenticated:
        return []
    return list(user.memberships.values_list("team_id", flat=True))
