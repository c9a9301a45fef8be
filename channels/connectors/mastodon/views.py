"""The page where an admin connects (or renews) a Mastodon account with an access token, checked against
the instance before anything is stored.

Admins only, as every channel page (``channels.views.admin_required``). The template lives beside this file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from channels.connect import ChannelConnectError
from channels.connectors.mastodon.connect import (
    MastodonCredentialsRefused,
    channel_connect_mastodon,
    mastodon_verify_credentials,
)
from channels.connectors.mastodon.forms import MastodonConnectForm
from channels.connectors.mastodon.parsing import NETWORK
from channels.models import Channel
from channels.views import admin_required, render_beside

TEMPLATE = Path(__file__).with_name("connect.html")


@admin_required
@require_http_methods(["GET", "POST"])
def mastodon_connect(request: HttpRequest) -> HttpResponse:
    """Connect (or renew) a Mastodon account with an access token, verified against its instance."""
    if request.method == "POST":
        form = MastodonConnectForm(request.POST)
        if form.is_valid():
            channel = _mastodon_channel_connect(form, actor=request.user)
            if channel is not None:
                messages.success(
                    request, f"Connected {channel.handle} on Mastodon to {channel.segment.name}."
                )
                return redirect("channels:index")
    else:
        form = MastodonConnectForm(initial=_mastodon_initial(request))
    return render_beside(request, TEMPLATE, {"form": form})


def _mastodon_initial(request: HttpRequest) -> dict[str, Any]:
    """Prefilled from ``?channel=`` (renewing a channel's token) or ``?segment=``."""
    channel = Channel.objects.filter(network=NETWORK, slug=request.GET.get("channel") or "").first()
    if channel is None:
        return {"segment": request.GET.get("segment")}
    return {
        "instance_url": channel.credentials.get("instance_url", ""),
        "segment": channel.segment.slug,
        "listening_queries": "\n".join(channel.listening_queries or ()),
    }


def _mastodon_channel_connect(form: MastodonConnectForm, *, actor: Any) -> Channel | None:
    """Verify the form's token and store the channel; None, with the form's errors set, when that failed."""
    data = form.cleaned_data
    try:
        account_id, acct = mastodon_verify_credentials(
            instance_url=data["instance_url"], access_token=data["access_token"]
        )
        return channel_connect_mastodon(
            actor=actor,
            instance_url=data["instance_url"],
            access_token=data["access_token"],
            account_id=account_id,
            acct=acct,
            segment=data["segment"],
            listening_queries=data["listening_queries"],
        )
    except MastodonCredentialsRefused as exc:
        form.add_error(exc.field, exc.message)
    except ChannelConnectError as exc:
        form.add_error("instance_url", str(exc))
    return None
