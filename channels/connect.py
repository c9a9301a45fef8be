"""Writes for connecting brand accounts: a channel created, or brought back to life, with fresh credentials.

The views find out whose account a token belongs to (X's OAuth flow, Mastodon's verify_credentials); these
services store the result. One account on one network is one channel: connecting it again updates that
channel instead of adding a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.utils.text import slugify

from channels.models import Channel, Network, Segment

SLUG_MAX_LENGTH = Channel._meta.get_field("slug").max_length
EXTERNAL_ACCOUNT_ID_MAX_LENGTH = Channel._meta.get_field("external_account_id").max_length


class ChannelConnectError(Exception):
    """The account cannot be stored as asked; the message is meant for the admin who asked."""


@transaction.atomic
def channel_connect_x(
    *,
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
        return _reauthorise(
            slug=reauthorise_slug,
            network=Network.X,
            external_account_id=account_id,
            handle=f"@{username}",
            credentials=credentials,
        )
    if segment is None:
        raise ChannelConnectError("Choose the segment the X account serves.")
    return _connect(
        network=Network.X,
        external_account_id=account_id,
        handle=f"@{username}",
        slug_base=username,
        credentials=credentials,
        segment=segment,
        listening_queries=listening_queries or (),
    )


@transaction.atomic
def channel_connect_mastodon(
    *,
    instance_url: str,
    access_token: str,
    account_id: str,
    acct: str,
    segment: Segment,
    listening_queries: Sequence[str] = (),
) -> Channel:
    """Store a Mastodon account, whose token the caller has verified against its instance, as an active
    channel and return it.

    Account ids are per instance, so the channel's account id is ``host:id`` (as the connector's ids are).
    """
    host = urlsplit(instance_url).netloc.lower()
    if not host:
        raise ChannelConnectError(f"{instance_url!r} is not an instance address.")
    external_account_id = f"{host}:{account_id}"
    if len(external_account_id) > EXTERNAL_ACCOUNT_ID_MAX_LENGTH:
        raise ChannelConnectError(
            f"The instance address is too long to be stored (at most {EXTERNAL_ACCOUNT_ID_MAX_LENGTH} "
            "characters for the address and the account id together)."
        )
    username = acct.split("@", 1)[0]
    return _connect(
        network=Network.MASTODON,
        external_account_id=external_account_id,
        handle=f"@{username}@{host}",
        slug_base=f"{username}-{host.replace('.', '-').replace(':', '-')}",  # slugify drops dots
        credentials={"instance_url": instance_url, "access_token": access_token},
        segment=segment,
        listening_queries=listening_queries,
    )


def _connect(
    *,
    network: str,
    external_account_id: str,
    handle: str,
    slug_base: str,
    credentials: Mapping[str, Any],
    segment: Segment,
    listening_queries: Sequence[str],
) -> Channel:
    channel = (
        Channel.objects.select_for_update()
        .filter(network=network, external_account_id=external_account_id)
        .first()
    )
    if channel is None:
        return Channel.objects.create(
            slug=_free_slug(slug_base),
            network=network,
            external_account_id=external_account_id,
            handle=handle,
            segment=segment,
            credentials=dict(credentials),
            listening_queries=list(listening_queries),
            state=Channel.State.ACTIVE,
        )
    channel.handle = handle
    channel.segment = segment
    channel.credentials = dict(credentials)
    channel.listening_queries = list(listening_queries)
    channel.state = Channel.State.ACTIVE
    channel.save(update_fields=["handle", "segment", "credentials", "listening_queries", "state"])
    return channel


def _reauthorise(
    *, slug: str, network: str, external_account_id: str, handle: str, credentials: Mapping[str, Any]
) -> Channel:
    channel = Channel.objects.select_for_update().filter(slug=slug, network=network).first()
    if channel is None:
        raise ChannelConnectError(f"There is no {network} channel {slug!r} to re-authorise any more.")
    if channel.external_account_id != external_account_id:
        raise ChannelConnectError(
            f"You signed in as {handle}, but this channel is {channel.handle}. Sign in to {channel.handle} "
            "and re-authorise again; nothing was changed."
        )
    channel.handle = handle  # the account may have been renamed since it was connected
    channel.credentials = dict(credentials)
    channel.state = Channel.State.ACTIVE
    channel.save(update_fields=["handle", "credentials", "state"])
    return channel


def _free_slug(base: str) -> str:
    """A slug made from ``base`` that no channel has yet: ``base``, then ``base-2``, ``base-3``..."""
    stem = slugify(base)[:SLUG_MAX_LENGTH].strip("-") or "channel"
    candidate = stem
    number = 1
    while Channel.objects.filter(slug=candidate).exists():
        number += 1
        suffix = f"-{number}"
        candidate = f"{stem[: SLUG_MAX_LENGTH - len(suffix)]}{suffix}"
    return candidate
