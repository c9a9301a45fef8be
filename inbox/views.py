"""Inbox pages. Thin: they read through selectors and render."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from inbox.selectors import mentions_for_inbox

REFRESH_SECONDS = 5  # how often the open inbox asks for new mentions


def _inbox_context(request: HttpRequest) -> dict:
    mentions = mentions_for_inbox(user=request.user)
    # The list sends back the highest id it shows, so the refresh can mark and announce only what is new.
    since = _int_or_none(request.GET.get("since"))
    new_count = 0 if since is None else sum(1 for mention in mentions if mention.id > since)
    return {
        "mentions": mentions,
        "newest_id": max((mention.id for mention in mentions), default=since or 0),
        "since": since,
        "new_count": new_count,
        "refresh_seconds": REFRESH_SECONDS,
    }


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The shared inbox: newest mentions of the user's teams, refreshed in place."""
    return render(request, "inbox/index.html", _inbox_context(request))


def mention_list(request: HttpRequest) -> HttpResponse:
    """The list alone, which the page swaps in every few seconds without a reload."""
    if not request.user.is_authenticated:
        # A refresh from a page whose session has ended: send the whole page to the login form, rather
        # than letting htmx swap the login form into the list.
        if request.htmx:
            return HttpResponseClientRedirect(redirect_to_login(reverse("inbox:index")).url)
        return redirect_to_login(request.get_full_path())
    return render(request, "inbox/_mention_list.html", _inbox_context(request))
