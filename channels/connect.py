"""Writes an admin makes to channels: connecting brand accounts, renewing their credentials, changing what
they listen for and how often, pausing and resuming them. Each change writes an audit event (never a token).

Each network's connect flow (in its folder under ``channels/connectors/``) finds out whose account a token
belongs to; these services store the result. One account on one network is one channel: connecting it
again updates that channel instead of adding a second.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from channels.connectors.registry import capabilities_for
from channels.models import Channel, Network, Segment
from foundation.events import event_record
from teams.models import Team

SLUG_MAX_LENGTH = Channel._meta.get_field("slug").max_length
EXTERNAL_ACCOUNT_ID_MAX_LENGTH = Channel._meta.get_field("external_account_id").max_length
# An app-only token for a network's searches (capabilities.search_app_token: X, whose connector falls back to
# the X_BEARER_TOKEN setting without it).
BEARER_TOKEN_CREDENTIAL = "bearer_token"  # noqa: S105 (the credential's name, not a secret)
KEPT_CREDENTIALS = (BEARER_TOKEN_CREDENTIAL,)


class ChannelConnectError(Exception):
    """The account cannot be stored as asked; the message is meant for the admin who asked."""


@transaction.atomic
def channel_connect_account(
    *,
    actor: Any,
    network: str,
    external_account_id: str,
    handle: str,
    slug_base: str,
    credentials: Mapping[str, Any],
    segment: Segment,
    listening_queries: Sequence[str] = (),
) -> Channel:
    """Store an account whose credentials the caller has verified as an active channel and return it; the
    same account connected again updates its channel. For a network's own connect flow (its folder under
    ``channels/connectors/``), which knows how to verify them."""
    if len(external_account_id) > EXTERNAL_ACCOUNT_ID_MAX_LENGTH:
        raise ChannelConnectError(
            f"The account id is too long to be stored (at most {EXTERNAL_ACCOUNT_ID_MAX_LENGTH} characters)."
        )
    return _connect(
        actor=actor,
        network=network,
        external_account_id=external_account_id,
        handle=handle,
        slug_base=slug_base,
        credentials=credentials,
        segment=segment,
        listening_queries=listening_queries,
    )


@transaction.atomic
def channel_reauthorise_account(
    *,
    actor: Any,
    slug: str,
    network: str,
    external_account_id: str,
    handle: str,
    credentials: Mapping[str, Any],
) -> Channel:
    """Renew the credentials of the channel ``slug`` on ``network`` with ones the caller has verified, and
    only if they are the same account's: fresh tokens of another account must not be filed under this
    channel's handle. For a network's own connect flow (X's re-authorisation through OAuth)."""
    return _reauthorise(
        actor=actor,
        slug=slug,
        network=network,
        external_account_id=external_account_id,
        handle=handle,
        credentials=credentials,
    )


@transaction.atomic
def channel_connect_simulated(
    *,
    actor: Any,
    handle: str,
    segment: Segment,
    listening_queries: Sequence[str] = (),
    poll_interval_seconds: int | None = None,
) -> Channel:
    """Add a brand account on the simulated network (for demos and trials) as an active channel.

    The account is its handle, as in the demo set-up: a handle that is already a simulated channel is
    refused rather than connected twice.
    """
    name = handle.strip().lstrip("@")
    slug_base = name.replace("_", "-")
    external_account_id = f"sim-{slugify(slug_base)}"[:EXTERNAL_ACCOUNT_ID_MAX_LENGTH]
    existing = Channel.objects.filter(
        network=Network.SIMULATED, external_account_id=external_account_id
    ).first()
    if existing is not None:
        raise ChannelConnectError(
            f"{existing.handle} is already a simulated channel; change its settings on its page instead."
        )
    channel = Channel.objects.create(
        slug=_free_slug(slug_base),
        network=Network.SIMULATED,
        external_account_id=external_account_id,
        handle=f"@{name}",
        segment=segment,
        credentials={},
        listening_queries=list(listening_queries),
        poll_interval_seconds=poll_interval_seconds,
        state=Channel.State.ACTIVE,
    )
    event_record(actor=actor, verb="channel.connected", obj=channel, after=_audited(channel))
    return channel


@transaction.atomic
def channel_settings_update(
    *,
    actor: Any,
    channel: Channel,
    segment: Segment,
    team_override: Team | None,
    listening_queries: Sequence[str],
    poll_interval_seconds: int | None,
    bearer_token: str = "",
    forget_bearer_token: bool = False,
) -> list[str]:
    """Change a channel's segment, owning team, listening queries, poll cadence and (where the network's
    searches take one, as X's do) the app bearer token its searches use; return the names of the settings
    that changed, audited in one event.

    A blank ``bearer_token`` keeps the stored one. A shorter cadence brings the next pull forward to it.
    """
    locked = Channel.objects.select_for_update(of=("self",)).select_related("segment").get(pk=channel.pk)
    before = _settings(locked)
    locked.segment = segment
    locked.team_override = team_override
    locked.listening_queries = list(listening_queries)
    locked.poll_interval_seconds = poll_interval_seconds
    after = _settings(locked)
    changed = [name for name in after if after[name] != before[name]]
    update_fields = list(changed)
    had_bearer_token = bool(locked.credentials.get(BEARER_TOKEN_CREDENTIAL))
    capabilities = capabilities_for(locked.network)
    takes_app_token = capabilities is not None and capabilities.search_app_token
    if takes_app_token and (bearer_token or (forget_bearer_token and had_bearer_token)):
        credentials = dict(locked.credentials)
        if bearer_token:
            credentials[BEARER_TOKEN_CREDENTIAL] = bearer_token
        else:
            credentials.pop(BEARER_TOKEN_CREDENTIAL)
        locked.credentials = credentials
        before[BEARER_TOKEN_CREDENTIAL] = "stored" if had_bearer_token else "none"
        after[BEARER_TOKEN_CREDENTIAL] = (
            ("replaced" if had_bearer_token else "stored") if bearer_token else "none"
        )
        changed.append(BEARER_TOKEN_CREDENTIAL)
        update_fields.append("credentials")
    if not changed:
        return []
    if "poll_interval_seconds" in changed:
        soonest = timezone.now() + timedelta(seconds=locked.poll_seconds)
        if locked.next_pull_at is None or locked.next_pull_at > soonest:
            locked.next_pull_at = soonest
            update_fields.append("next_pull_at")
    locked.save(update_fields=update_fields)
    event_record(
        actor=actor,
        verb="channel.updated",
        obj=locked,
        before={name: before[name] for name in changed},
        after={name: after[name] for name in changed},
    )
    return changed


@transaction.atomic
def channel_pause(*, actor: Any, channel: Channel) -> bool:
    """Stop pulling an active channel until it is resumed; False when it was not active."""
    return _state_change(
        actor=actor,
        channel=channel,
        verb="channel.paused",
        old=Channel.State.ACTIVE,
        new=Channel.State.PAUSED,
    )


@transaction.atomic
def channel_resume(*, actor: Any, channel: Channel) -> bool:
    """Pull a paused channel again from where it stopped; False when it was not paused."""
    return _state_change(
        actor=actor,
        channel=channel,
        verb="channel.resumed",
        old=Channel.State.PAUSED,
        new=Channel.State.ACTIVE,
    )


def _state_change(*, actor: Any, channel: Channel, verb: str, old: str, new: str) -> bool:
    # Conditional, so a pull that marks the channel for re-authorisation meanwhile is not overwritten.
    if not Channel.objects.filter(pk=channel.pk, state=old).update(state=new):
        return False
    channel.state = new
    event_record(actor=actor, verb=verb, obj=channel, before={"state": old}, after={"state": new})
    return True


def _settings(channel: Channel) -> dict[str, Any]:
    """What an admin may change about a channel, as the audit log records it."""
    return {
        "segment": channel.segment.slug,
        "team_override": channel.team_override_id,
        "listening_queries": list(channel.listening_queries or ()),
        "poll_interval_seconds": channel.poll_interval_seconds,
    }


def _audited(channel: Channel) -> dict[str, Any]:
    """A connected channel as the audit log records it: never its credentials."""
    return {
        "network": channel.network,
        "handle": channel.handle,
        "segment": channel.segment.slug,
        "listening_queries": list(channel.listening_queries or ()),
        "state": channel.state,
    }


def _kept_credentials(channel: Channel) -> dict[str, Any]:
    """Credentials the admin set apart from the account's grant, which a new grant must not drop."""
    return {key: value for key, value in channel.credentials.items() if key in KEPT_CREDENTIALS}


def _connect(
    *,
    actor: Any,
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
        channel = Channel.objects.create(
            slug=_free_slug(slug_base),
            network=network,
            external_account_id=external_account_id,
            handle=handle,
            segment=segment,
            credentials=dict(credentials),
            listening_queries=list(listening_queries),
            state=Channel.State.ACTIVE,
        )
        event_record(actor=actor, verb="channel.connected", obj=channel, after=_audited(channel))
        return channel
    before = _audited(channel)
    channel.handle = handle
    channel.segment = segment
    channel.credentials = {**_kept_credentials(channel), **credentials}
    channel.listening_queries = list(listening_queries)
    channel.state = Channel.State.ACTIVE
    channel.save(update_fields=["handle", "segment", "credentials", "listening_queries", "state"])
    event_record(
        actor=actor,
        verb="channel.reconnected",
        obj=channel,
        before=before,
        after={**_audited(channel), "credentials": "renewed"},
    )
    return channel


def _reauthorise(
    *,
    actor: Any,
    slug: str,
    network: str,
    external_account_id: str,
    handle: str,
    credentials: Mapping[str, Any],
) -> Channel:
    channel = Channel.objects.select_for_update().filter(slug=slug, network=network).first()
    if channel is None:
        raise ChannelConnectError(f"There is no {network} channel {slug!r} to re-authorise any more.")
    if channel.external_account_id != external_account_id:
        raise ChannelConnectError(
            f"You signed in as {handle}, but this channel is {channel.handle}. Sign in to {channel.handle} "
            "and re-authorise again; nothing was changed."
        )
    before = {"handle": channel.handle, "state": channel.state}
    channel.handle = handle  # the account may have been renamed since it was connected
    channel.credentials = {**_kept_credentials(channel), **credentials}
    channel.state = Channel.State.ACTIVE
    channel.save(update_fields=["handle", "credentials", "state"])
    event_record(
        actor=actor,
        verb="channel.reauthorised",
        obj=channel,
        before=before,
        after={"handle": channel.handle, "state": channel.state, "credentials": "renewed"},
    )
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
