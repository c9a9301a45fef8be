"""A person's notifications: the list under the bell, marking them read, and how each kind reaches them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations.notifications import (
    notification_choices,
    notification_choices_save,
    notifications_for,
    notifications_mark_read,
    notifications_unread_count,
)


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    """The person's newest notifications (``?unread=1``: the unread ones only). Everyone sees their own."""
    unread_only = request.GET.get("unread") == "1"
    return render(
        request,
        "integrations/notifications.html",
        {
            "notifications": notifications_for(user=request.user, unread_only=unread_only),
            "unread_only": unread_only,
            "unread": notifications_unread_count(user_id=request.user.pk),
        },
    )


@login_required
@require_POST
def notifications_read(request: HttpRequest) -> HttpResponse:
    """Mark read the notifications named in ``id`` (the person's own; others' are ignored), or with
    ``all=1`` every one. Then back to the list, or to ``next`` when it is one of our pages."""
    if request.POST.get("all") == "1":
        notifications_mark_read(user=request.user)
    else:
        ids = [int(raw) for raw in request.POST.getlist("id") if raw.isdigit()]
        if not ids:
            messages.error(request, "Choose the notifications to mark read.")
            return redirect("notifications:index")
        notifications_mark_read(user=request.user, ids=ids)
    target = request.POST.get("next", "")
    if target.startswith("/") and not target.startswith("//"):
        return redirect(target)
    return redirect("notifications:index")


@login_required
@require_http_methods(["GET", "POST"])
def notification_settings(request: HttpRequest) -> HttpResponse:
    """Which kinds reach the person in the browser and by e-mail (the bell shows them all)."""
    if request.method == "POST":
        notification_choices_save(
            user=request.user, browser=request.POST.getlist("browser"), email=request.POST.getlist("email")
        )
        messages.success(request, "Notification choices saved.")
        return redirect("notifications:settings")
    return render(
        request,
        "integrations/notification_settings.html",
        {"choices": notification_choices(user=request.user), "has_email": bool(request.user.email)},
    )
