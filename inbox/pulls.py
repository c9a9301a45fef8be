"""Pulling a channel into the inbox: the channels app's pull engine, storing each page through the ingest."""

from __future__ import annotations

from channels.connectors.base import Connector
from channels.services import MAX_PAGES_PER_PULL, PullResult, channel_pull_into
from inbox.services import mentions_ingest


def channel_pull(
    *, channel_id: int, connector: Connector | None = None, max_pages: int = MAX_PAGES_PER_PULL
) -> PullResult:
    """Fetch pages from the channel's stored cursor and ingest each with the cursor that follows it; the
    outcome is recorded on the channel (see ``channels.services.channel_pull_into``)."""
    return channel_pull_into(
        channel_id=channel_id, store=mentions_ingest, connector=connector, max_pages=max_pages
    )
