"""The quarantine of a channel: items a pull or an import could not store, read again ("retry") or thrown
away ("discard") by an admin from the channel's page; both audited.

A retry reads the kept payload through the network connector's ``reparse`` and hands the post to the same
store a pull hands its pages to (the inbox's ingest, which registers itself here: ``page_store_register``,
since the inbox is a floor above). The ingest keeps one mention per network and id, so a retried item is
stored at most once however often it is retried; an item that still does not parse, or that the ingest
still refuses, stays with the new reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import transaction

from channels.connectors.registry import capabilities_for, network_label
from channels.models import Channel, QuarantinedItem
from channels.services import PageStore, channel_ref
from foundation.events import event_record

RAW_PREVIEW_CHARACTERS = 300  # what the channel page shows of a payload before "show all"
ITEMS_SHOWN = 50  # the newest items the channel page lists; the count says how many there are in all

INGESTED, ALREADY_STORED, STILL_REFUSED, NOT_RETRYABLE = (
    "ingested",
    "already_stored",
    "still_refused",
    "not_retryable",
)

_page_store: PageStore | None = None


def page_store_register(store: PageStore | None) -> None:
    """Make ``store`` where retried posts go: the inbox's ingest, registered from its ``AppConfig.ready``."""
    global _page_store
    _page_store = store


def _store() -> PageStore:
    if _page_store is None:
        raise ImproperlyConfigured("no page store is registered: the inbox app registers its ingest")
    return _page_store


@dataclass(frozen=True)
class QuarantineRetry:
    """What retrying one quarantined item did."""

    outcome: str  # INGESTED, ALREADY_STORED, STILL_REFUSED or NOT_RETRYABLE
    error: str = ""
    mention_ids: tuple[int, ...] = ()


def item_is_retryable(item: QuarantinedItem) -> bool:
    """Whether the item's network can read one kept payload again (its connector's ``reparse``)."""
    capabilities = capabilities_for(item.network)
    return capabilities is not None and capabilities.reparse is not None


def quarantined_item_retry(*, actor: Any, channel: Channel, item_id: int) -> QuarantineRetry | None:
    """Read a quarantined item of ``channel`` again and ingest it if it now parses; None if it is gone.

    The item's row is locked for the retry, so two retries at once ingest it once: the second finds it
    gone (ingested) or still refused. A stored post removes the item; a refused one keeps it with the reason
    of this attempt.
    """
    with transaction.atomic():
        item = QuarantinedItem.objects.select_for_update().filter(pk=item_id, channel=channel).first()
        if item is None:
            return None
        capabilities = capabilities_for(item.network)
        reparse = capabilities.reparse if capabilities is not None else None
        if reparse is None:
            return QuarantineRetry(
                outcome=NOT_RETRYABLE,
                error=f"{network_label(item.network)} items cannot be read again one at a time",
            )
        before = {"error": item.error}
        try:
            post = reparse(item.raw if isinstance(item.raw, dict) else {}, channel_ref(channel))
        except ValueError as exc:
            return _still_refused(actor, item, before, str(exc) or type(exc).__name__)
        if post.network != item.network:
            return _still_refused(actor, item, before, f"the payload reads as a {post.network} post")
        stored = _store()(channel=channel, posts=[post])
        if stored.rejected:
            return _still_refused(actor, item, before, str(stored.rejected[0].reason))
        inserted = tuple(getattr(stored, "inserted_ids", ()))
        outcome = INGESTED if stored.inserted else ALREADY_STORED
        event_record(
            actor=actor,
            verb="quarantine.retried",
            obj=item,
            before=before,
            after={"outcome": outcome, "external_id": post.external_id, "mention_ids": list(inserted)},
        )
        item.delete()
    return QuarantineRetry(outcome=outcome, mention_ids=inserted)


def _still_refused(actor: Any, item: QuarantinedItem, before: dict, error: str) -> QuarantineRetry:
    item.error = error
    item.save(update_fields=["error"])
    event_record(
        actor=actor,
        verb="quarantine.retried",
        obj=item,
        before=before,
        after={"outcome": STILL_REFUSED, "error": error},
    )
    return QuarantineRetry(outcome=STILL_REFUSED, error=error)


def quarantined_item_discard(*, actor: Any, channel: Channel, item_id: int) -> bool:
    """Throw a quarantined item of ``channel`` away, keeping what it was in the audit trail; False if it
    was gone already."""
    with transaction.atomic():
        item = QuarantinedItem.objects.select_for_update().filter(pk=item_id, channel=channel).first()
        if item is None:
            return False
        event_record(
            actor=actor,
            verb="quarantine.discarded",
            obj=item,
            before={
                "source": item.source,
                "network": item.network,
                "external_id": item.external_id,
                "error": item.error,
                "raw": item.raw,
            },
        )
        item.delete()
    return True
