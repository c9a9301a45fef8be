"""Channel tokens are encrypted at rest and never stored in plain text."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.db import connection

from channels.crypto import CredentialsUnreadable
from channels.models import Channel
from tests.factories import ChannelFactory

TOKEN = "AAAA-very-secret-access-token-1234"


def stored_value(channel: Channel) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM channels_channel WHERE id = %s", [channel.pk])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_credentials_round_trip_and_are_not_stored_in_plain_text() -> None:
    channel = ChannelFactory(credentials={"access_token": TOKEN, "expires_at": 1790000000})

    stored = stored_value(channel)

    assert TOKEN not in stored
    assert "access_token" not in stored
    assert Channel.objects.get(pk=channel.pk).credentials == {"access_token": TOKEN, "expires_at": 1790000000}


@pytest.mark.django_db
def test_empty_credentials_store_nothing() -> None:
    channel = ChannelFactory(credentials={})

    assert stored_value(channel) == ""
    assert Channel.objects.get(pk=channel.pk).credentials == {}


@pytest.mark.django_db
def test_a_rotated_key_still_reads_old_tokens_and_a_lost_key_says_so(settings) -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.SOCIALOPS_ENCRYPTION_KEYS = [old_key]
    channel = ChannelFactory(credentials={"access_token": TOKEN})

    settings.SOCIALOPS_ENCRYPTION_KEYS = [new_key, old_key]
    assert Channel.objects.get(pk=channel.pk).credentials == {"access_token": TOKEN}

    settings.SOCIALOPS_ENCRYPTION_KEYS = [new_key]
    with pytest.raises(CredentialsUnreadable, match="Re-authorise the channel"):
        Channel.objects.get(pk=channel.pk)
