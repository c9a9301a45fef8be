"""Connecting a Bluesky account: the handle and an app password are checked by signing in (one session
call) before anything is stored; whether the app password reaches direct messages is found out then too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from atproto_client.models.dot_dict import DotDict
from django.db import transaction
from django.utils import timezone

from channels.connect import channel_connect_account
from channels.connectors.base import AuthExpired, ConnectorError, ConnectorUnavailable, RateLimited
from channels.connectors.bluesky.client import BlueskyClient, Credentials, DirectMessagesRefused
from channels.connectors.bluesky.connector import LIST_CONVOS
from channels.connectors.bluesky.parsing import NETWORK
from channels.models import Channel, Segment


class BlueskyCredentialsRefused(ConnectorError):
    """The handle or app password failed verification; ``field`` is the form field the message belongs to."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class VerifiedAccount:
    """Whom an app password signs in as, the session it opened, and whether it reaches direct messages."""

    did: str
    handle: str
    session: dict[str, str]
    direct_messages: bool


def bluesky_verify(
    *, identifier: str, app_password: str, service: str, clock: Callable[[], datetime] | None = None
) -> VerifiedAccount:
    """Sign in with the app password and ask the chat service for one conversation; no side effects."""
    sessions: list[dict[str, str]] = []
    client = BlueskyClient(
        Credentials(identifier=identifier, app_password=app_password, service=service, session=None),
        token_key="user:connect",  # noqa: S106 (names a budget, not a secret)
        clock=clock or timezone.now,
        on_session=sessions.append,
    )
    try:
        client.sign_in()
    except AuthExpired as exc:
        if "email code" in str(exc):
            message = (
                "That looks like the account's own password, for which Bluesky asks an email code. Create "
                "an app password under Settings → Privacy and security → App passwords and use it here."
            )
        else:
            message = (
                "Bluesky refused this handle and app password. Check the handle, and that the app password "
                "was copied whole and has not been revoked."
            )
        raise BlueskyCredentialsRefused("app_password", message) from None
    except RateLimited:
        raise BlueskyCredentialsRefused(
            "identifier",
            "Bluesky is limiting sign-ins for this account right now. Try again in a few minutes.",
        ) from None
    except ConnectorUnavailable:
        raise BlueskyCredentialsRefused(
            "identifier", f"Could not reach {service}, or it did not answer in time. Try again later."
        ) from None
    except ConnectorError as exc:
        raise BlueskyCredentialsRefused("identifier", f"Could not sign in to {service}: {exc}") from None
    try:
        client.query(LIST_CONVOS, DotDict({"limit": 1}), chat=True)
        direct_messages = True
    except DirectMessagesRefused:
        direct_messages = False
    except ConnectorError:
        direct_messages = False  # the chat service is down or refuses the account: connect without DMs
    if not sessions:
        raise BlueskyCredentialsRefused("identifier", f"{service} signed in without opening a session.")
    session = sessions[-1]
    return VerifiedAccount(
        did=session["did"], handle=session["handle"], session=session, direct_messages=direct_messages
    )


@transaction.atomic
def channel_connect_bluesky(
    *,
    actor: Any,
    identifier: str,
    app_password: str,
    service: str,
    account: VerifiedAccount,
    segment: Segment,
) -> Channel:
    """Store a verified Bluesky account as an active channel (the one it already is, when connected
    before) and return it. A direct-message refusal noted by earlier pulls is cleared."""
    channel = channel_connect_account(
        actor=actor,
        network=NETWORK,
        external_account_id=account.did,
        handle=f"@{account.handle}",
        slug_base=account.handle.replace(".", "-"),  # slugify drops dots
        credentials={
            "identifier": identifier,
            "app_password": app_password,
            "service": service,
            "session": account.session,
            "dms": account.direct_messages,
        },
        segment=segment,
    )
    if isinstance(channel.cursor, dict) and "dms" in channel.cursor:
        cursor = {key: value for key, value in channel.cursor.items() if key != "dms"}
        Channel.objects.filter(pk=channel.pk).update(cursor=cursor)
        channel.cursor = cursor
    return channel
