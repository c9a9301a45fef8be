"""Pages where an admin connects brand accounts, changes their settings and sees how every channel is doing.

X accounts connect through OAuth 2.0 (authorization code with PKCE): the admin is sent to X and comes back
to the callback with a code. Mastodon accounts connect with an access token the admin pastes, checked
against the instance before anything is stored. Simulated accounts (for demos) need nothing but a handle.
A channel's page changes its segment, owning team, listening queries, poll cadence and, on X, the app bearer
token for search; it pauses and resumes pulling. Tokens are never shown. To anyone but an admin these pages
do not exist (404).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import wraps
from importlib import import_module
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from channels.connect import (
    BEARER_TOKEN_CREDENTIAL,
    ChannelConnectError,
    channel_connect_mastodon,
    channel_connect_simulated,
    channel_connect_x,
    channel_pause,
    channel_resume,
    channel_settings_update,
)
from channels.connectors.base import ConnectorError
from channels.connectors.mastodon import MastodonCredentialsRefused, mastodon_verify_credentials
from channels.connectors.registry import capabilities_for, registered_networks
from channels.connectors.x import x_authorization_finish, x_authorization_start
from channels.forms import ChannelSettingsForm, MastodonConnectForm, SimulatedConnectForm, XConnectForm
from channels.models import Channel, Network, Segment
from channels.selectors import channel_budget_summaries
from teams.roles import user_is_admin

logger = logging.getLogger(__name__)

# What x_authorization_start asked us to keep until X sends the admin back, with the admin's choices. One
# flow at a time per session: starting another replaces it, and the callback uses it up.
X_FLOW_SESSION_KEY = "channels.x_authorization"


def admin_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous visitors are sent to log in; signed-in non-admins get a 404, so the pages stay unknown."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not user_is_admin(request.user):
            raise Http404
        return view(request, *args, **kwargs)

    return guarded


# --- Channel list ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ChannelRow:
    channel: Channel
    last_pull: str
    budget_left: str


@admin_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """Every channel with its state, last pull and next pull, and the ways to connect more."""
    channels = list(Channel.objects.select_related("segment"))
    budgets = channel_budget_summaries(channels)
    rows = [
        _ChannelRow(channel=channel, last_pull=channel.last_pull_summary, budget_left=budgets[channel.pk])
        for channel in channels
    ]
    return render(
        request, "channels/index.html", {"rows": rows, "network_connect_links": _network_connect_links()}
    )


def _connect_url_name(network: str) -> str:
    """The connect page of a network whose folder has its own connect flow, or ""."""
    capabilities = capabilities_for(network)
    if capabilities is None or not capabilities.connect_urls:
        return ""
    return import_module(capabilities.connect_urls).CONNECT_URL_NAME


def _network_status(channel: Channel) -> tuple[tuple[str, str], ...]:
    """What the network's connector says about the connection, for the channel page."""
    capabilities = capabilities_for(channel.network)
    if capabilities is None or capabilities.status is None:
        return ()
    return capabilities.status(channel.credentials, channel.cursor or {})


def _network_connect_links() -> list[tuple[str, str]]:
    """(label, address) of the connect page of every network that brings its own connect flow."""
    links = []
    for network in registered_networks():
        url_name = _connect_url_name(network)
        if url_name:
            links.append((f"Connect a {Network(network).label} account", reverse(url_name)))
    return links


# --- X ---------------------------------------------------------------------------------------------------


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
    return render(request, "channels/x_connect.html", {"form": form})


@admin_required
@require_POST
def reauthorise(request: HttpRequest, slug: str) -> HttpResponse:
    """Renew a channel's credentials: through X's authorisation again, or with a new Mastodon token."""
    channel = get_object_or_404(Channel, slug=slug)
    connect_url_name = _connect_url_name(channel.network)
    if connect_url_name:
        return redirect(f"{reverse(connect_url_name)}?{urlencode({'channel': channel.slug})}")
    if channel.network == Network.MASTODON:
        return redirect(f"{reverse('channels:mastodon_connect')}?{urlencode({'channel': channel.slug})}")
    if channel.network != Network.X:
        raise Http404("only X and Mastodon channels have credentials to renew")
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
    return render(request, "channels/x_failed.html", {"reason": reason}, status=400)


def _x_not_configured(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "channels/x_not_configured.html",
        {"callback_url": _x_redirect_uri(request)},
    )


# --- Mastodon --------------------------------------------------------------------------------------------


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
    return render(request, "channels/mastodon_connect.html", {"form": form})


def _mastodon_initial(request: HttpRequest) -> dict[str, Any]:
    """Prefilled from ``?channel=`` (renewing a channel's token) or ``?segment=``."""
    channel = Channel.objects.filter(network=Network.MASTODON, slug=request.GET.get("channel") or "").first()
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


# --- Simulated -------------------------------------------------------------------------------------------


@admin_required
@require_http_methods(["GET", "POST"])
def simulated_connect(request: HttpRequest) -> HttpResponse:
    """Add a brand account on the simulated network, which makes up realistic posts for demos."""
    if request.method == "POST":
        form = SimulatedConnectForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                channel = channel_connect_simulated(
                    actor=request.user,
                    handle=data["handle"],
                    segment=data["segment"],
                    listening_queries=data["listening_queries"],
                    poll_interval_seconds=data["poll_interval_seconds"],
                )
            except ChannelConnectError as exc:
                form.add_error("handle", str(exc))
            else:
                messages.success(
                    request, f"Added {channel.handle} on the simulated network to {channel.segment.name}."
                )
                return redirect("channels:index")
    else:
        form = SimulatedConnectForm(initial={"segment": request.GET.get("segment")})
    return render(request, "channels/simulated_connect.html", {"form": form})


# --- One channel's settings ------------------------------------------------------------------------------


@admin_required
@require_http_methods(["GET", "POST"])
def channel_settings(request: HttpRequest, slug: str) -> HttpResponse:
    """A channel's segment, owning team, listening queries, cadence and (on X) app bearer token."""
    channel = get_object_or_404(Channel.objects.select_related("segment", "team_override"), slug=slug)
    if request.method == "POST":
        form = ChannelSettingsForm(request.POST, channel=channel)
        if form.is_valid():
            data = form.cleaned_data
            changed = channel_settings_update(
                actor=request.user,
                channel=channel,
                segment=data["segment"],
                team_override=data["team_override"],
                listening_queries=data.get("listening_queries", channel.listening_queries or []),
                poll_interval_seconds=data["poll_interval_seconds"],
                bearer_token=data.get("bearer_token") or "",
                forget_bearer_token=bool(data.get("forget_bearer_token")),
            )
            if changed:
                messages.success(request, f"Saved the settings of {channel.handle}.")
            else:
                messages.info(request, f"Nothing to save: the settings of {channel.handle} are as they were.")
            return redirect("channels:settings", slug=channel.slug)
    else:
        form = ChannelSettingsForm(
            channel=channel,
            initial={
                "segment": channel.segment.slug,
                "team_override": channel.team_override.slug if channel.team_override else None,
                "listening_queries": "\n".join(channel.listening_queries or ()),
                "poll_interval_seconds": channel.poll_interval_seconds,
            },
        )
    return render(
        request,
        "channels/settings.html",
        {
            "channel": channel,
            "form": form,
            "has_credentials": bool(channel.credentials),
            "has_bearer_token": bool(channel.credentials.get(BEARER_TOKEN_CREDENTIAL)),
            "has_app_bearer_token": bool(settings.X_BEARER_TOKEN),
            "network_status": _network_status(channel),
            "renew_url": reverse(url_name) if (url_name := _connect_url_name(channel.network)) else "",
        },
    )


@admin_required
@require_POST
def pause(request: HttpRequest, slug: str) -> HttpResponse:
    """Stop pulling a channel until it is resumed; its mentions stay in the inbox."""
    channel = get_object_or_404(Channel, slug=slug)
    if channel_pause(actor=request.user, channel=channel):
        messages.success(request, f"Paused {channel.handle}: nothing is pulled until you resume it.")
    else:
        messages.info(request, f"{channel.handle} was not pulling ({channel.get_state_display().lower()}).")
    return redirect("channels:settings", slug=channel.slug)


@admin_required
@require_POST
def resume(request: HttpRequest, slug: str) -> HttpResponse:
    """Pull a paused channel again, from where it stopped."""
    channel = get_object_or_404(Channel, slug=slug)
    if channel_resume(actor=request.user, channel=channel):
        messages.success(request, f"Resumed {channel.handle}: it is pulled again from where it stopped.")
    else:
        messages.info(request, f"{channel.handle} was not paused ({channel.get_state_display().lower()}).")
    return redirect("channels:settings", slug=channel.slug)
