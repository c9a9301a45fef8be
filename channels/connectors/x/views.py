"""The pages where an admin connects an X account through OAuth 2.0 (authorization code with PKCE): the
admin chooses the segment, is sent to X, and comes back to the callback with a code. Re-authorising a
channel goes through X the same way.

Admins only, as every channel page (``channels.views.admin_required``). The templates live beside this file.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods

from channels.connect import ChannelConnectError
from channels.connectors.base import ConnectorError
from channels.connectors.x.connect import channel_connect_x
from channels.connectors.x.forms import XConnectForm
from channels.connectors.x.oauth import x_authorization_finish, x_authorization_start
from channels.models import Channel, Segment
from channels.views import admin_required, render_beside

logger = logging.getLogger(__name__)

HERE = Path(__file__).parent

# What x_authorization_start asked us to keep until X sends the admin back, with the admin's choices. One
# flow at a time per session: starting another replaces it, and the callback uses it up.
X_FLOW_SESSION_KEY = "channels.x_authorization"


@admin_required
@require_http_methods(["GET", "POST"])
def x_connect(request: HttpRequest) -> HttpResponse:
    """Choose the segment and listening queries, then go to X to authorise the account."""
    if not settings.X_CLIENT_ID:
        return _x_not_configured(request)
    if request.method == "POST":
        form = XConnectForm(request.POST)
        if form.is_valid():
            return _x_authorization_redirect(
                request,
                choices={
                    "segment": form.cleaned_data["segment"].slug,
                    "listening_queries": form.cleaned_data["listening_queries"],
                },
            )
    else:
        form = XConnectForm(initial={"segment": request.GET.get("segment")})
    return render_beside(request, HERE / "connect.html", {"form": form})


def reauthorise(request: HttpRequest, channel: Channel) -> HttpResponse:
    """Renew a channel's tokens: through X's authorisation again (called by ``channels.views.reauthorise``,
    which has checked the admin and the POST)."""
    if not settings.X_CLIENT_ID:
        return _x_not_configured(request)
    return _x_authorization_redirect(request, choices={"reauthorise": channel.slug})


@admin_required
@require_GET
def x_callback(request: HttpRequest) -> HttpResponse:
    """Where X sends the admin back: trade the code for tokens and store the channel."""
    flow = request.session.pop(X_FLOW_SESSION_KEY, None)
    if not isinstance(flow, Mapping) or not isinstance(flow.get("kept"), Mapping):
        return _x_failed(
            request,
            "This X authorisation was not started from this browser session, or it has already been used.",
        )
    try:
        connected = x_authorization_finish(
            redirect_uri=_x_redirect_uri(request),
            state_kept=flow["kept"],
            authorization_response_url=request.build_absolute_uri(),
        )
    except ConnectorError as exc:
        return _x_failed(request, str(exc))
    segment_slug = flow.get("segment")
    try:
        channel = channel_connect_x(
            actor=request.user,
            account_id=connected["account_id"],
            username=connected["username"],
            credentials=connected["credentials"],
            segment=Segment.objects.filter(slug=segment_slug).first() if segment_slug else None,
            listening_queries=flow.get("listening_queries"),
            reauthorise_slug=flow.get("reauthorise"),
        )
    except ChannelConnectError as exc:
        return _x_failed(request, str(exc))
    if flow.get("reauthorise"):
        messages.success(request, f"Re-authorised {channel.handle} on X. Its pulls start again.")
    else:
        messages.success(request, f"Connected {channel.handle} on X to {channel.segment.name}.")
    return redirect("channels:index")


def _x_redirect_uri(request: HttpRequest) -> str:
    # The same address at the start and at the callback: X refuses a code sent with another one.
    return request.build_absolute_uri(reverse("channels:x_callback"))


def _x_authorization_redirect(request: HttpRequest, *, choices: Mapping[str, Any]) -> HttpResponse:
    try:
        url, kept = x_authorization_start(redirect_uri=_x_redirect_uri(request))
    except ConnectorError as exc:
        return _x_failed(request, str(exc))
    request.session[X_FLOW_SESSION_KEY] = {**choices, "kept": kept}
    return redirect(url)


def _x_failed(request: HttpRequest, reason: str) -> HttpResponse:
    logger.warning("X authorisation by %s failed: %s", request.user.get_username(), reason)
    return render_beside(request, HERE / "failed.html", {"reason": reason}, status=400)


def _x_not_configured(request: HttpRequest) -> HttpResponse:
    return render_beside(request, HERE / "not_configured.html", {"callback_url": _x_redirect_uri(request)})
