"""Reads about channels."""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from channels.connectors.base import ConnectorError
from channels.connectors.registry import connector_for
from channels.models import Channel, RateBudget
from channels.services import channel_ref


def channel_budget_summaries(channels: Iterable[Channel]) -> dict[int, str]:
    """For each channel, the calls left on each endpoint its pulls use, as the network last reported them.

    One query for all the channels' budgets, however many channels there are.
    """
    endpoints: dict[int, tuple[tuple[str, str], ...]] = {}
    summaries: dict[int, str] = {}
    by_network: dict[str, set[tuple[str, str]]] = {}
    channels = list(channels)
    for channel in channels:
        try:
            endpoints[channel.pk] = connector_for(channel.network).endpoints(channel_ref(channel))
        except ConnectorError as exc:
            summaries[channel.pk] = f"unknown ({exc})"
            continue
        by_network.setdefault(channel.network, set()).update(endpoints[channel.pk])
    budgets: dict[tuple[str, str, str], RateBudget] = {}
    for network, pairs in by_network.items():
        for budget in RateBudget.objects.for_endpoints(network, pairs):
            budgets[(network, budget.endpoint, budget.token_key)] = budget
    now = timezone.now()
    for channel in channels:
        if channel.pk in summaries:
            continue
        if not endpoints[channel.pk]:
            summaries[channel.pk] = "no limit"
            continue
        parts = []
        for endpoint, token_key in sorted(endpoints[channel.pk]):
            budget = budgets.get((channel.network, endpoint, token_key))
            if budget is None:
                continue
            left = budget.limit if budget.reset_at and budget.reset_at <= now else budget.remaining
            parts.append(f"{budget.endpoint}: {left if left is not None else '?'}/{budget.limit or '?'}")
        summaries[channel.pk] = "; ".join(parts) or "not reported yet"
    return summaries


def channel_budget_summary(channel: Channel) -> str:
    """The budget summary of one channel (see :func:`channel_budget_summaries`)."""
    return channel_budget_summaries([channel])[channel.pk]
