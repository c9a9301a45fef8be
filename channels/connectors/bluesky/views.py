"""The page where an admin connects (or renews) a Bluesky account with its handle and an app password.

Admins only, as every channel page (``channels.views.admin_required``). The template lives beside this file,
so the whole network stays in its folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from channels.connect import ChannelConnectError
from channels.connectors.bluesky.connect import (
    BlueskyCredentialsRefused,
    bluesky_verify,
    channel_connect_bluesky,
)
from channels.connectors.bluesky.forms import BlueskyConnectForm
from channels.connectors.bluesky.parsing import NETWORK
from channels.models import Channel
from channels.views import admin_required, render_beside

TEMPLATE = Path(__file__).with_name("connect.html")


@admin_required
@require_http_methods(["GET", "POST"])
def bluesky_connect(request: HttpRequest) -> HttpResponse:
    """Connect (or renew) a Bluesky account; the app password is verified by signing in first."""
    if request.method == "POST":
        form = BlueskyConnectForm(request.POST)
        if form.is_valid():
            channel = _connect(form, actor=request.user)
            if channel is not None:
                dms = (
                    "with direct messages"
                    if channel.credentials.get("dms")
                    else "without direct messages (the app password does not allow them)"
                )
                messages.success(
                    request, f"Connected {channel.handle} on Bluesky to {channel.segment.name}, {dms}."
                )
                return redirect("channels:index")
    else:
        form = BlueskyConnectForm(initial=_initial(request))
    return render_beside(request, TEMPLATE, {"form": form})


def _initial(request: HttpRequest) -> dict[str, Any]:
    """Prefilled from ``?channel=`` (renewing a channel's app password) or ``?segment=``."""
    channel = Channel.objects.filter(network=NETWORK, slug=request.GET.get("channel") or "").first()
    if channel is None:
        return {"segment": request.GET.get("segment")}
    return {
        "identifier": channel.credentials.get("identifier", ""),
        "service": channel.credentials.get("service", ""),
        "segment": channel.segment.slug,
    }


def _connect(form: BlueskyConnectForm, *, actor: Any) -> Channel | None:
    """Verify the form's app password and store the channel; None, with the form's errors set, on failure."""
    data = form.cleaned_data
    try:
        account = bluesky_verify(
            identifier=data["identifier"], app_password=data["app_password"], service=data["service"]
        )
        return channel_connect_bluesky(
            actor=actor,
            identifier=data["identifier"],
            app_password=data["app_password"],
            service=data["service"],
            account=account,
            segment=data["segment"],
        )
    except BlueskyCredentialsRefused as exc:
        form.add_error(exc.field, exc.message)
    except ChannelConnectError as exc:
        form.add_error("identifier", str(exc))
    return None
