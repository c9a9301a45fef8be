"""Connecting a Mastodon account: the access token the admin pasted is checked against the instance's
verify_credentials before anything is stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonNetworkError,
    MastodonNotFoundError,
    MastodonRatelimitError,
    MastodonServerError,
    MastodonUnauthorizedError,
)

from channels.connect import EXTERNAL_ACCOUNT_ID_MAX_LENGTH, ChannelConnectError, channel_connect_account
from channels.connectors.base import ConnectorError
from channels.connectors.mastodon.client import mastodon_client
from channels.connectors.mastodon.parsing import NETWORK
from channels.models import Channel, Segment


class MastodonCredentialsRefused(ConnectorError):
    """The instance or the token failed verification; ``field`` is the form field the message belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def mastodon_verify_credentials(*, instance_url: str, access_token: str) -> tuple[str, str]:
    """The id and ``acct`` of the account the token belongs to, from the instance's verify_credentials.

    ``mastodon_client`` throws on a rate limit rather than sleeping, skips the version lookup and has a
    timeout, so a page waits at most that long for a slow instance.
    """
    host = urlsplit(instance_url).netloc
    api = mastodon_client(instance_url=instance_url, access_token=access_token)
    try:
        account = api.account_verify_credentials()
    except MastodonUnauthorizedError:
        raise MastodonCredentialsRefused(
            "access_token",
            f"{host} refused this access token. Check that it was copied whole and has not been revoked.",
        ) from None
    except MastodonRatelimitError:
        raise MastodonCredentialsRefused(
            "instance_url", f"{host} is limiting requests right now. Try again in a few minutes."
        ) from None
    except MastodonNetworkError:
        raise MastodonCredentialsRefused(
            "instance_url", f"Could not reach {host}, or it did not answer in time. Check the address."
        ) from None
    except MastodonServerError as exc:
        raise MastodonCredentialsRefused(
            "instance_url", f"{host} failed to answer ({_status(exc)}). Try again later."
        ) from None
    except MastodonNotFoundError:
        raise MastodonCredentialsRefused(
            "instance_url", f"{host} does not look like a Mastodon server: it has no account API."
        ) from None
    except MastodonAPIError as exc:
        if _status(exc) == 403:
            raise MastodonCredentialsRefused(
                "access_token",
                f"{host} accepted the token but refused to read the account with it: give the application "
                "the read and write scopes.",
            ) from None
        raise MastodonCredentialsRefused(
            "instance_url", f"{host} did not answer like a Mastodon server ({_status(exc) or 'no JSON'})."
        ) from None
    except MastodonError:
        raise MastodonCredentialsRefused("instance_url", f"Could not verify the token with {host}.") from None
    account_id = str(account.get("id") or "") if isinstance(account, Mapping) else ""
    acct = str(account.get("acct") or "") if isinstance(account, Mapping) else ""
    if not account_id or not acct:
        raise MastodonCredentialsRefused(
            "instance_url", f"{host} answered without the account's id and address."
        )
    return account_id, acct


def _status(exc: MastodonAPIError) -> int | None:
    """The HTTP status Mastodon.py puts second in an API error's arguments."""
    status = exc.args[1] if len(exc.args) > 1 else None
    return status if isinstance(status, int) else None


@transaction.atomic
def channel_connect_mastodon(
    *,
    actor: Any,
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
    return channel_connect_account(
        actor=actor,
        network=NETWORK,
        external_account_id=external_account_id,
        handle=f"@{username}@{host}",
        slug_base=f"{username}-{host.replace('.', '-').replace(':', '-')}",  # slugify drops dots
        credentials={"instance_url": instance_url, "access_token": access_token},
        segment=segment,
        listening_queries=listening_queries,
    )
