"""Writes for channels: pulling a channel through its connector, and choosing which channels are due."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.utils import timezone

from channels.connectors.base import (
    AuthExpired,
    ChannelRef,
    Connector,
    ConnectorError,
    ConnectorUnavailable,
    RateLimited,
    RateLimitInfo,
)
from channels.connectors.registry import connector_for
from channels.models import Channel, RateBudget
from inbox.audit import audit_record
from inbox.services import Quarantine, mentions_ingest

logger = logging.getLogger(__name__)

MAX_PAGES_PER_PULL = 10  # bounds one task's run time; the next pull continues from the stored cursor


@dataclass(frozen=True)
class PullResult:
    """What one pull of a channel did."""

    channel_id: int
    outcome: str  # ok, skipped, budget_spent, rate_limited, auth_expired, unavailable, failed
    pages: int = 0
    fetched: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    error: str = ""
    retry_after: float | None = None


def channel_ref(channel: Channel) -> ChannelRef:
    return ChannelRef(
        slug=channel.slug,
        network=channel.network,
        handle=channel.handle,
        external_account_id=channel.external_account_id,
        segment_slug=channel.segment.slug,
        credentials=channel.credentials,
        listening_queries=tuple(channel.listening_queries or ()),
    )


def channel_pull(
    *, channel_id: int, connector: Connector | None = None, max_pages: int = MAX_PAGES_PER_PULL
) -> PullResult:
    """Fetch pages from the channel's stored cursor and ingest each; record the outcome on the channel.

    Each page is stored together with the cursor that follows it, so an interrupted pull resumes where the
    last stored page ended. ``ConnectorUnavailable`` is re-raised after it is recorded, for the task to retry.
    """
    channel = Channel.objects.select_related("segment").get(pk=channel_id)
    if channel.state != Channel.State.ACTIVE:
        return PullResult(channel_id=channel_id, outcome="skipped", error=f"channel is {channel.state}")
    connector = connector or connector_for(channel.network)
    ref = channel_ref(channel)
    spent_until = _budget_spent_until(channel.network, connector.endpoints(ref))
    if spent_until is not None:
        # The network said no calls are left until the reset: calling now would only earn a 429.
        wait = (spent_until - timezone.now()).total_seconds()
        result = PullResult(
            channel_id=channel_id,
            outcome="budget_spent",
            error=f"no calls left until {spent_until.isoformat(timespec='seconds')}",
            retry_after=max(1.0, wait),
        )
        _record(channel, result)
        return result
    cursor = dict(channel.cursor or {})
    totals = {"pages": 0, "fetched": 0, "inserted": 0, "duplicates": 0, "rejected": 0}
    result: PullResult
    try:
        for _ in range(max_pages):
            page = connector.fetch(ref, cursor)
            ingested = mentions_ingest(
                channel=channel,
                posts=page.posts,
                cursor=page.cursor,
                quarantine=Quarantine(source="pull", connector_rejected=page.rejected),
            )
            rate_budgets_record(network=channel.network, limits=page.rate_limits)
            cursor = dict(page.cursor)
            totals["pages"] += 1
            totals["fetched"] += len(page.posts) + len(page.rejected)
            totals["inserted"] += ingested.inserted
            totals["duplicates"] += ingested.duplicates
            totals["rejected"] += len(ingested.rejected) + len(page.rejected)
            if not page.has_more:
                break
        result = PullResult(channel_id=channel_id, outcome="ok", **totals)
    except RateLimited as exc:
        rate_budgets_record(network=channel.network, limits=exc.limits)
        result = PullResult(
            channel_id=channel_id,
            outcome="rate_limited",
            error=str(exc),
            retry_after=exc.retry_after,
            **totals,
        )
    except AuthExpired as exc:
        result = PullResult(channel_id=channel_id, outcome="auth_expired", error=str(exc), **totals)
    except ConnectorUnavailable as exc:
        _record(channel, PullResult(channel_id=channel_id, outcome="unavailable", error=str(exc), **totals))
        raise
    except ConnectorError as exc:
        result = PullResult(channel_id=channel_id, outcome="failed", error=str(exc), **totals)
    finally:
        channel_credentials_store_refreshed(channel=channel, connector=connector, ref=ref)
    _record(channel, result)
    return result


def channel_credentials_store_refreshed(*, channel: Channel, connector: Connector, ref: ChannelRef) -> None:
    """A connector that refreshed the channel's token hands the new set back; the old one is spent."""
    refreshed = getattr(connector, "refreshed_credentials", None)
    credentials = refreshed(ref) if callable(refreshed) else None
    if credentials:
        Channel.objects.filter(pk=channel.pk).update(credentials=dict(credentials))
        channel.credentials = dict(credentials)


def rate_budgets_record(*, network: str, limits: Sequence[RateLimitInfo]) -> None:
    """Keep what the network last said about each endpoint's budget for each token."""
    rows = {
        (info.endpoint, info.token_key): RateBudget(
            network=network,
            endpoint=info.endpoint,
            token_key=info.token_key,
            limit=info.limit,
            remaining=info.remaining,
            reset_at=info.reset_at,
        )
        for info in limits
    }
    if rows:
        RateBudget.objects.bulk_create(
            list(rows.values()),
            update_conflicts=True,
            unique_fields=["network", "endpoint", "token_key"],
            update_fields=["limit", "remaining", "reset_at", "updated_at"],
        )


def _budget_spent_until(network: str, endpoints: Sequence[tuple[str, str]]) -> datetime | None:
    """The latest reset time among the endpoints this pull needs that have no calls left, if any."""
    if not endpoints:
        return None
    resets = (
        RateBudget.objects.for_endpoints(network, endpoints)
        .filter(remaining=0, reset_at__gt=timezone.now())
        .values_list("reset_at", flat=True)
    )
    return max(resets, default=None)


def _record(channel: Channel, result: PullResult) -> None:
    now = timezone.now()
    changes: dict[str, object] = {"last_pull_at": now, "last_pull_result": asdict(result)}
    if result.outcome == "auth_expired":
        changes["state"] = Channel.State.NEEDS_REAUTH
        logger.warning("channel %s needs re-authorisation: %s", channel.slug, result.error)
    if result.retry_after is not None:
        # Honour the network's reset time instead of sleeping in the worker.
        changes["next_pull_at"] = now + timedelta(seconds=result.retry_after)
    with transaction.atomic():
        Channel.objects.filter(pk=channel.pk).update(**changes)
        if "state" in changes:
            audit_record(
                actor=None,
                verb="channel.needs_reauth",
                obj=channel,
                before={"state": channel.state},
                after={"state": changes["state"], "reason": result.error},
            )


def channels_claim_due(*, now: datetime | None = None) -> list[int]:
    """Ids of active channels whose next pull is due, each moved on by its own cadence.

    Rows are claimed under a lock (skipping rows another scheduler holds), so a channel is handed out
    once per cadence even with two schedulers running.
    """
    now = now or timezone.now()
    with transaction.atomic():
        due = list(
            Channel.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("segment")
            .filter(state=Channel.State.ACTIVE)
            .exclude(next_pull_at__gt=now)
            .order_by("next_pull_at", "id")
        )
        for channel in due:
            channel.next_pull_at = now + timedelta(seconds=channel.poll_seconds)
        Channel.objects.bulk_update(due, ["next_pull_at"])
    return [channel.pk for channel in due]
