"""Writes for channels: pulling a channel through its connector, and choosing which channels are due."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from django.db import transaction
from django.utils import timezone

from channels.connectors.base import (
    AuthExpired,
    ChannelRef,
    Connector,
    ConnectorError,
    ConnectorUnavailable,
    Page,
    RateLimited,
    RateLimitInfo,
    RejectedItem,
    StreamStatus,
    UsageCapped,
)
from channels.connectors.registry import connector_for
from channels.models import Channel, RateBudget
from foundation.events import event_record

logger = logging.getLogger(__name__)

MAX_PAGES_PER_PULL = 10  # bounds one task's run time; the next pull continues from the stored cursor
MAX_PARTIAL_ERRORS_KEPT = 20  # what the channel page shows of what the network left out; the rest is counted


@dataclass(frozen=True)
class Quarantine:
    """Where refused items go: posts the ingest refuses and items the connector could not parse are kept
    in the quarantine table, in the same transaction as the rest of the page."""

    source: str  # a QuarantinedItem.Source value
    connector_rejected: Sequence[RejectedItem] = ()


class StoredPage(Protocol):
    """What storing a page reports back (the inbox's ``IngestResult``)."""

    @property
    def inserted(self) -> int: ...

    duplicates: int
    rejected: Sequence[Any]


class PageStore(Protocol):
    """Stores a page of posts received on a channel together with the cursor that follows it, in one
    transaction (the inbox's ``mentions_ingest``)."""

    def __call__(
        self,
        *,
        channel: Channel,
        posts: Sequence[Any],
        cursor: Mapping[str, Any] | None = None,
        quarantine: Quarantine | None = None,
    ) -> StoredPage: ...


@dataclass(frozen=True)
class PullResult:
    """What one pull of a channel did."""

    channel_id: int
    # ok, skipped, budget_spent, rate_limited, usage_capped, auth_expired, unavailable, failed, crashed
    outcome: str
    pages: int = 0
    fetched: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    error: str = ""
    retry_after: float | None = None
    # How each stream of the channel fared, by name: {"label", "outcome", "error", "retry_at"}.
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    partial_errors: tuple[str, ...] = ()  # what the network said it left out of the pages it sent
    partial_errors_total: int = 0


def channel_ref(channel: Channel) -> ChannelRef:
    return ChannelRef(
        slug=channel.slug,
        network=channel.network,
        handle=channel.handle,
        external_account_id=channel.external_account_id,
        segment_slug=channel.segment.slug,
        credentials=channel.credentials,
        listening_queries=tuple(channel.listening_queries or ()),
        credentials_guard=ChannelCredentialsGuard(channel_id=channel.pk),
    )


@dataclass(frozen=True)
class ChannelCredentialsGuard:
    """Serialises the token refreshes of one channel with a row lock on the channel.

    Pulls, replies and backfills run in different processes; the lock makes a second refresher wait for
    the first and then read the token the first stored, instead of spending the same refresh token again.
    The new token set is stored before the lock is let go.
    """

    channel_id: int

    def __call__(self, refresh: Callable[[Mapping[str, Any]], Mapping[str, Any] | None]) -> Mapping[str, Any]:
        with transaction.atomic():
            stored = (
                Channel.objects.select_for_update()
                .values_list("credentials", flat=True)
                .get(pk=self.channel_id)
            )
            refreshed = refresh(dict(stored or {}))
            if refreshed is None:
                return dict(stored or {})
            Channel.objects.filter(pk=self.channel_id).update(credentials=dict(refreshed))
            return dict(refreshed)


def channel_pull_into(
    *,
    channel_id: int,
    store: PageStore,
    connector: Connector | None = None,
    max_pages: int = MAX_PAGES_PER_PULL,
) -> PullResult:
    """Fetch pages from the channel's stored cursor and hand each to ``store`` with the cursor that
    follows it; record the outcome on the channel. The inbox stores them (``inbox.pulls.channel_pull``).

    Each page is stored together with the cursor that follows it, so an interrupted pull resumes where the
    last stored page ended. ``ConnectorUnavailable`` is re-raised after it is recorded, for the task to retry;
    any exception outside the connector error family is recorded as outcome "crashed" and re-raised.
    """
    channel = Channel.objects.select_related("segment").get(pk=channel_id)
    if channel.state != Channel.State.ACTIVE:
        return PullResult(channel_id=channel_id, outcome="skipped", error=f"channel is {channel.state}")
    ref = channel_ref(channel)
    try:
        connector = connector or connector_for(channel.network)
        result = _pull_within_budget(channel, connector, ref, max_pages, store)
    except Exception as exc:
        # Whatever went wrong, the channel page says so; the worker's log keeps the traceback.
        _record(channel, PullResult(channel_id=channel_id, outcome="crashed", error=_crash_text(exc)))
        raise
    finally:
        if connector is not None:
            channel_credentials_store_refreshed(channel=channel, connector=connector, ref=ref)
    _record(channel, result)
    if result.outcome == "unavailable":
        raise ConnectorUnavailable(result.error)  # recorded; the task retries with backoff
    return result


def _pull_within_budget(
    channel: Channel, connector: Connector, ref: ChannelRef, max_pages: int, store: PageStore
) -> PullResult:
    """The pull, unless every endpoint it needs has no calls left; endpoints with no calls left are the
    connector's to skip, so the channel's other streams are read."""
    endpoints = tuple(connector.endpoints(ref))
    spent = _budgets_spent_until(channel.network, endpoints)
    if spent and all(endpoint in spent for endpoint in endpoints):
        # The network said no calls are left on any endpoint until the reset: calling would only earn a 429.
        spent_until = min(spent.values())
        wait = (spent_until - timezone.now()).total_seconds()
        return PullResult(
            channel_id=channel.pk,
            outcome="budget_spent",
            error=f"no calls left until {spent_until.isoformat(timespec='seconds')}",
            retry_after=max(1.0, wait),
        )
    return _pull_pages(channel, connector, replace(ref, budget_spent_until=spent), max_pages, store)


def _crash_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


def _pull_pages(
    channel: Channel, connector: Connector, ref: ChannelRef, max_pages: int, store: PageStore
) -> PullResult:
    """Fetch and store up to ``max_pages`` pages; the connector's own errors become the result."""
    channel_id = channel.pk
    cursor = dict(channel.cursor or {})
    totals = {"pages": 0, "fetched": 0, "inserted": 0, "duplicates": 0, "rejected": 0}
    partial_errors: list[str] = []
    last_page: Page | None = None
    result: PullResult
    try:
        for _ in range(max_pages):
            page = connector.fetch(ref, cursor)
            last_page = page
            partial_errors.extend(page.partial_errors)
            ingested = store(
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
        result = _page_result(channel_id, last_page, totals, partial_errors)
    except UsageCapped as exc:
        rate_budgets_record(network=channel.network, limits=exc.limits)
        result = PullResult(
            channel_id=channel_id,
            outcome="usage_capped",
            error=str(exc),
            retry_after=exc.retry_after,
            **totals,
        )
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
        result = PullResult(channel_id=channel_id, outcome="unavailable", error=str(exc), **totals)
    except ConnectorError as exc:
        result = PullResult(channel_id=channel_id, outcome="failed", error=str(exc), **totals)
    return result


def _page_result(
    channel_id: int, page: Page | None, totals: dict[str, int], partial_errors: list[str]
) -> PullResult:
    """The pull's result from its pages: ok while any stream was read; when every stream failed, the
    first failure is the pull's, with the earliest time any stream may be tried again."""
    statuses: tuple[StreamStatus, ...] = page.streams if page is not None else ()
    streams = {
        status.name: {
            "label": status.label,
            "outcome": status.outcome,
            "error": status.error,
            "retry_at": status.retry_at.isoformat(timespec="seconds") if status.retry_at else None,
        }
        for status in statuses
    }
    kept = {
        "streams": streams,
        "partial_errors": tuple(dict.fromkeys(partial_errors))[:MAX_PARTIAL_ERRORS_KEPT],
        "partial_errors_total": len(partial_errors),
    }
    failing = [status for status in statuses if status.is_failing]
    if not statuses or len(failing) < len(statuses):
        return PullResult(channel_id=channel_id, outcome="ok", **totals, **kept)
    first = failing[0]
    retry_ats = [status.retry_at for status in failing if status.retry_at is not None]
    retry_after = None
    if len(retry_ats) == len(failing):
        retry_after = max(1.0, (min(retry_ats) - timezone.now()).total_seconds())
    outcome = "rate_limited" if first.outcome == "budget_spent" else first.outcome
    return PullResult(
        channel_id=channel_id,
        outcome=outcome,
        error=f"{first.label}: {first.error}",
        retry_after=retry_after,
        **totals,
        **kept,
    )


def channel_credentials_store_refreshed(*, channel: Channel, connector: Connector, ref: ChannelRef) -> None:
    """A connector that refreshed the channel's token hands the new set back; the old one is spent."""
    refreshed = getattr(connector, "refreshed_credentials", None)
    credentials = refreshed(ref) if callable(refreshed) else None
    if not credentials:
        return
    with transaction.atomic():
        stored = Channel.objects.select_for_update().values_list("credentials", flat=True).get(pk=channel.pk)
        # A set refreshed later (by a reply or pull that ran meanwhile) is newer: writing ours over it
        # would bring back a refresh token X has already spent.
        if _expires_at(stored) is not None and _expires_at(stored) >= (_expires_at(credentials) or 0):
            channel.credentials = dict(stored)
            return
        Channel.objects.filter(pk=channel.pk).update(credentials=dict(credentials))
    channel.credentials = dict(credentials)


def _expires_at(credentials: Mapping[str, Any] | None) -> float | None:
    value = (credentials or {}).get("expires_at")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


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


def _budgets_spent_until(
    network: str, endpoints: Sequence[tuple[str, str]]
) -> dict[tuple[str, str], datetime]:
    """The endpoints this pull may call that have no calls left, with the time each resets."""
    if not endpoints:
        return {}
    return {
        (endpoint, token_key): reset_at
        for endpoint, token_key, reset_at in RateBudget.objects.for_endpoints(network, endpoints)
        .filter(remaining=0, reset_at__gt=timezone.now())
        .values_list("endpoint", "token_key", "reset_at")
    }


def _usage_capped(result: PullResult | dict[str, Any]) -> bool:
    """Whether a pull result (or a stored one) says a usage cap is reached, for the channel or a stream."""
    stored = asdict(result) if isinstance(result, PullResult) else (result or {})
    streams = stored.get("streams") or {}
    return stored.get("outcome") == "usage_capped" or any(
        isinstance(stream, dict) and stream.get("outcome") == "usage_capped" for stream in streams.values()
    )


def _record(channel: Channel, result: PullResult) -> None:
    now = timezone.now()
    changes: dict[str, object] = {"last_pull_at": now, "last_pull_result": asdict(result)}
    # One audit event when a usage cap is reached, not one per pull while it lasts.
    cap_reached = _usage_capped(result) and not _usage_capped(channel.last_pull_result)
    if result.outcome == "auth_expired":
        changes["state"] = Channel.State.NEEDS_REAUTH
        logger.warning("channel %s needs re-authorisation: %s", channel.slug, result.error)
    if result.retry_after is not None:
        # Honour the network's reset time instead of sleeping in the worker.
        changes["next_pull_at"] = now + timedelta(seconds=result.retry_after)
    with transaction.atomic():
        Channel.objects.filter(pk=channel.pk).update(**changes)
        if "state" in changes:
            event_record(
                actor=None,
                verb="channel.needs_reauth",
                obj=channel,
                before={"state": channel.state},
                after={"state": changes["state"], "reason": result.error},
            )
        if cap_reached:
            capped = {
                stream["label"]: stream["error"]
                for stream in result.streams.values()
                if stream["outcome"] == "usage_capped"
            }
            event_record(
                actor=None,
                verb="channel.usage_capped",
                obj=channel,
                before={},
                after={"reason": result.error or "; ".join(capped.values()), "streams": sorted(capped)},
            )
    channel.last_pull_result = changes["last_pull_result"]


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
