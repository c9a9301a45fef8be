"""Reads of the inbox. Every selector takes the acting user and returns only what that user may see."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Prefetch, QuerySet

from channels.models import Channel
from inbox.models import Mention
from teams.roles import user_is_admin, user_team_ids

INBOX_PAGE_SIZE = 50  # a screenful and a half on a laptop; more pages come by keyset, never OFFSET


def mentions_visible_to(*, user: AbstractBaseUser) -> QuerySet[Mention]:
    """Admins see every mention; everyone else sees the mentions owned by their teams."""
    mentions = Mention.objects.all()
    if user_is_admin(user):
        return mentions
    return mentions.filter(team_id__in=user_team_ids(user))


def mentions_for_inbox(*, user: AbstractBaseUser, limit: int = INBOX_PAGE_SIZE) -> list[Mention]:
    """The newest mentions the user may see, newest first, with channels, segments and authors loaded."""
    return list(
        mentions_visible_to(user=user)
        .select_related("author", "team")
        .prefetch_related(
            Prefetch("channels", queryset=Channel.objects.select_related("segment").order_by("id"))
        )
        .order_by("-created_at", "-id")[:limit]
    )
