"""Storing an X account that OAuth 2.0 authorised (``oauth``) as a channel, or renewing its tokens."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from channels.connect import ChannelConnectError, channel_connect_account, channel_reauthorise_account
from channels.connectors.x.parsing import NETWORK
from channels.models import Channel, Segment


@transaction.atomic
def channel_connect_x(
    *,
    actor: Any,
    account_id: str,
    username: str,
    credentials: Mapping[str, Any],
    segment: Segment | None = None,
    listening_queries: Sequence[str] | None = None,
    reauthorise_slug: str | None = None,
) -> Channel:
    """Store an X account authorised through OAuth 2.0 as an active channel and return it.

    With ``reauthorise_slug`` only that channel's credentials are renewed, and only if X signed the admin
    in as the same account: fresh tokens of another account must not be filed under this channel's handle.
    """
    if reauthorise_slug is not None:
        return channel_reauthorise_account(
            actor=actor,
            slug=reauthorise_slug,
            network=NETWORK,
            external_account_id=account_id,
            handle=f"@{username}",
            credentials=credentials,
        )
    if segment is None:
        raise ChannelConnectError("Choose the segment the X account serves.")
    return channel_connect_account(
        actor=actor,
        network=NETWORK,
        external_account_id=account_id,
        handle=f"@{username}",
        slug_base=username,
        credentials=credentials,
        segment=segment,
        listening_queries=listening_queries or (),
    )
