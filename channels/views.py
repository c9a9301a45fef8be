"""Pages where an admin connects brand accounts, changes their settings and sees how every channel is doing.

Each network's connect pages live in its folder (``channels/connectors/<network>/urls.py``, mounted at
``/channels/connect/<network>/``); simulated accounts (for demos) need nothing but a handle and are added
here. A channel's page changes its segment, owning team, listening queries, poll cadence and, where the
network's searches take one (X), the app bearer token for search; it pauses and resumes pulling. Tokens are
never shown. To anyone but an admin these pages do not exist (404).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache, wraps
from importlib import import_module
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template import engines
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from channels.connect import (
    BEARER_TOKEN_CREDENTIAL,
    ChannelConnectError,
    channel_connect_simulated,
    channel_pause,
    channel_resume,
    channel_settings_update,
)
from channels.connectors.registry import capabilities_for, registered_networks
from channels.forms import ChannelSettingsForm, SimulatedConnectForm
from channels.models import Channel, Network, QuarantinedItem
from channels.quarantine import (
    ALREADY_STORED,
    INGESTED,
    ITEMS_SHOWN,
    NOT_RETRYABLE,
    RAW_PREVIEW_CHARACTERS,
    item_is_retryable,
    quarantined_item_discard,
    quarantined_item_retry,
)
from channels.selectors import channel_budget_summaries
from teams.roles import user_is_admin

logger = logging.getLogger(__name__)


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


def _connect_urls(network: str) -> ModuleType | None:
    """The module of a network's connect flow (its ``urls``), or None for a network without one."""
    capabilities = capabilities_for(network)
    if capabilities is None or not capabilities.connect_urls:
        return None
    return import_module(capabilities.connect_urls)


def _renew_link(channel: Channel) -> tuple[str, str]:
    """(address, text) of the link that renews a channel's credentials on its connect page; ("", "") where
    renewing is not a form filled in again (X re-authorises through X, by the "Re-authorise" button)."""
    module = _connect_urls(channel.network)
    if module is None:
        return "", ""
    text = getattr(module, "RENEW_LINK_TEXT", "Renew the credentials")
    return (reverse(module.CONNECT_URL_NAME), text) if text else ("", "")


def render_beside(
    request: HttpRequest, template: Path, context: Mapping[str, Any], *, status: int = 200
) -> HttpResponse:
    """Render a page whose template lives in a network's folder, beside its views, not in ``templates/``."""
    return HttpResponse(_template(template).render(dict(context), request), status=status)


@lru_cache(maxsize=32)
def _template(template: Path) -> Any:
    return engines["django"].from_string(template.read_text())


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
        module = _connect_urls(network)
        if module is not None:
            label = getattr(module, "CONNECT_LINK_TEXT", f"Connect a {Network(network).label} account")
            links.append((label, reverse(module.CONNECT_URL_NAME)))
    return links


@admin_required
@require_POST
def reauthorise(request: HttpRequest, slug: str) -> HttpResponse:
    """Renew a channel's credentials: through the network's own re-authorisation where it has one (X's
    OAuth), else on its connect page filled in again."""
    channel = get_object_or_404(Channel, slug=slug)
    module = _connect_urls(channel.network)
    if module is None:
        raise Http404("this channel has no credentials to renew")
    network_reauthorise = getattr(module, "reauthorise", None)
    if network_reauthorise is not None:
        return network_reauthorise(request, channel)
    return redirect(f"{reverse(module.CONNECT_URL_NAME)}?{urlencode({'channel': channel.slug})}")


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
    """A channel's segment, owning team, listening queries, cadence and (where searches take one) app bearer
    token."""
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
    capabilities = capabilities_for(channel.network)
    renew_url, renew_text = _renew_link(channel)
    return render(
        request,
        "channels/settings.html",
        {
            "channel": channel,
            "form": form,
            "has_credentials": bool(channel.credentials),
            "has_bearer_token": bool(channel.credentials.get(BEARER_TOKEN_CREDENTIAL)),
            "has_app_bearer_token": bool(settings.X_BEARER_TOKEN),
            "search_app_token": capabilities is not None and capabilities.search_app_token,
            "network_status": _network_status(channel),
            "renew_url": renew_url,
            "renew_text": renew_text,
            "quarantine": _quarantine_rows(channel),
            "quarantine_total": channel.quarantined_items.count(),
        },
    )


@dataclass(frozen=True)
class _QuarantineRow:
    item: QuarantinedItem
    preview: str  # the payload's start; the template escapes it, as every network text
    whole: str  # the whole payload when the preview is cut short, else ""
    retryable: bool


def _quarantine_rows(channel: Channel) -> list[_QuarantineRow]:
    """The channel's newest quarantined items with their payloads as indented JSON."""
    rows = []
    for item in channel.quarantined_items.order_by("-created_at", "-id")[:ITEMS_SHOWN]:
        text = json.dumps(item.raw, indent=2, ensure_ascii=False, sort_keys=True, default=str)
        cut = len(text) > RAW_PREVIEW_CHARACTERS
        rows.append(
            _QuarantineRow(
                item=item,
                preview=f"{text[:RAW_PREVIEW_CHARACTERS]}…" if cut else text,
                whole=text if cut else "",
                retryable=item_is_retryable(item),
            )
        )
    return rows


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


# --- The channel's quarantine ----------------------------------------------------------------------------


@admin_required
@require_POST
def quarantine_retry(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """Read a quarantined item again and ingest it if it now parses; if not, it stays with the new reason."""
    channel = get_object_or_404(Channel.objects.select_related("segment"), slug=slug)
    retried = quarantined_item_retry(actor=request.user, channel=channel, item_id=item_id)
    if retried is None:
        messages.info(request, "That item is no longer in the quarantine.")
    elif retried.outcome == INGESTED:
        messages.success(request, "The item now reads as a post: it is in the inbox.")
    elif retried.outcome == ALREADY_STORED:
        messages.success(request, "The item now reads as a post, which the inbox had already: it is removed.")
    elif retried.outcome == NOT_RETRYABLE:
        messages.error(request, f"Not retried: {retried.error}.")
    else:
        messages.error(request, f"Still refused, kept in the quarantine: {retried.error}")
    return redirect(f"{reverse('channels:settings', args=[channel.slug])}#quarantine")


@admin_required
@require_POST
def quarantine_discard(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """Throw a quarantined item away (the audit log keeps what it was)."""
    channel = get_object_or_404(Channel, slug=slug)
    if quarantined_item_discard(actor=request.user, channel=channel, item_id=item_id):
        messages.success(request, "Discarded the item; the audit log keeps what it was.")
    else:
        messages.info(request, "That item is no longer in the quarantine.")
    return redirect(f"{reverse('channels:settings', args=[channel.slug])}#quarantine")
