"""Reads about channels."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from channels.connectors.base import ConnectorError
from channels.connectors.registry import connector_for
from channels.models import Channel, RateBudget
from channels.services import channel_ref


def channel_budget_summary(channel: Channel) -> str:
    """The calls left on each endpoint this channel's pulls use, as the network last reported them."""
    try:
        endpoints = connector_for(channel.network).endpoints(channel_ref(channel))
    except ConnectorError as exc:
        return f"unknown ({exc})"
    if not endpoints:
        return "no limit"
    query = Q()
    for endpoint, token_key in endpoints:
        query |= Q(endpoint=endpoint, token_key=token_key)
    now = timezone.now()
    parts = []
    for budget in RateBudget.objects.filter(query, network=channel.network).order_by("endpoint"):
        left = budget.limit if budget.reset_at and budget.reset_at <= now else budget.remaining
        parts.append(f"{budget.endpoint}: {left if left is not None else '?'}/{budget.limit or '?'}")
    return "; ".join(parts) or "not reported yet"
