"""Inbox pages. Thin: they read through selectors and render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from inbox.selectors import mentions_for_inbox
from teams.roles import user_is_admin

REFRESH_SECONDS = 5  # how often the open inbox asks for new mentions


def _inbox_context(request: HttpRequest) -> dict:
    mentions = mentions_for_inbox(user=request.user)
    return {
        "mentions": mentions,
        "refresh_seconds": REFRESH_SECONDS,
        "is_admin": user_is_admin(request.user),
        "team_names": [m.team.name for m in request.user.memberships.select_related("team")],
    }


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The shared inbox: newest mentions of the user's teams, refreshed in place."""
    return render(request, "inbox/index.html", _inbox_context(request))


@login_required
def mention_list(request: HttpRequest) -> HttpResponse:
    """The list alone, which the page swaps in every few seconds without a reload."""
    return render(request, "inbox/_mention_list.html", _inbox_context(request))
