"""Pulling a channel: pages stored with their cursor, errors recorded on the channel, due channels claimed
once."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from channels.connectors.base import (
    AuthExpired,
    AuthorData,
    ChannelRef,
    ConnectorUnavailable,
    Page,
    Post,
    RateLimited,
)
from channels.models import Channel
from channels.services import channel_pull, channels_claim_due
from inbox.models import Mention
from tests.factories import ChannelFactory


class ScriptedNetwork:
    """A stand-in for a network: serves the pages it is given, then raises the error it is given."""

    network = "simulated"

    def __init__(self, pages: list[Page], then: Exception | None = None) -> None:
        self.pages = list(pages)
        self.then = then
        self.cursors_seen: list[dict[str, Any]] = []

    def fetch(self, channel: ChannelRef, cursor: Mapping[str, Any]) -> Page:
        self.cursors_seen.append(dict(cursor))
        if self.pages:
            return self.pages.pop(0)
        assert self.then is not None
        raise self.then


def page(first: int, last: int, *, has_more: bool) -> Page:
    posts = tuple(
        Post(
            network="simulated",
            external_id=f"p-{n}",
            kind="mention",
            text=f"post {n}",
            created_at=datetime(2026, 11, 1, tzinfo=UTC) + timedelta(minutes=n),
            author=AuthorData(external_id="a-1", handle="someone"),
        )
        for n in range(first, last + 1)
    )
    return Page(posts=posts, cursor={"since": f"p-{last}"}, has_more=has_more)


@pytest.mark.django_db
def test_pull_follows_pages_from_the_stored_cursor_and_stores_the_last_cursor() -> None:
    channel = ChannelFactory(cursor={"since": "p-0"})
    network = ScriptedNetwork([page(1, 3, has_more=True), page(4, 5, has_more=False)])

    result = channel_pull(channel_id=channel.pk, connector=network)

    channel.refresh_from_db()
    assert (result.outcome, result.pages, result.inserted, result.duplicates) == ("ok", 2, 5, 0)
    assert network.cursors_seen == [{"since": "p-0"}, {"since": "p-3"}]
    assert channel.cursor == {"since": "p-5"}
    assert channel.last_pull_result["inserted"] == 5
    assert channel.last_pull_at is not None
    assert Mention.objects.count() == 5


@pytest.mark.django_db
def test_a_failure_on_a_later_page_keeps_the_pages_already_stored_and_their_cursor() -> None:
    channel = ChannelFactory()
    network = ScriptedNetwork([page(1, 3, has_more=True)], then=ConnectorUnavailable("502 Bad Gateway"))

    with pytest.raises(ConnectorUnavailable):
        channel_pull(channel_id=channel.pk, connector=network)

    channel.refresh_from_db()
    assert channel.cursor == {"since": "p-3"}
    assert Mention.objects.count() == 3
    assert channel.last_pull_result["outcome"] == "unavailable"
    assert channel.last_pull_result["error"] == "502 Bad Gateway"

    # The next pull starts after the stored page: nothing lost, nothing doubled.
    retry = ScriptedNetwork([page(3, 6, has_more=False)])
    result = channel_pull(channel_id=channel.pk, connector=retry)

    assert retry.cursors_seen == [{"since": "p-3"}]
    assert (result.inserted, result.duplicates) == (3, 1)
    assert Mention.objects.count() == 6


@pytest.mark.django_db
def test_an_expired_token_marks_the_channel_for_reauthorisation_and_stops_its_pulls() -> None:
    channel = ChannelFactory()
    network = ScriptedNetwork([], then=AuthExpired("401 token revoked"))

    result = channel_pull(channel_id=channel.pk, connector=network)

    channel.refresh_from_db()
    assert result.outcome == "auth_expired"
    assert channel.state == Channel.State.NEEDS_REAUTH
    assert channels_claim_due() == []
    skipped = channel_pull(channel_id=channel.pk, connector=ScriptedNetwork([page(1, 1, has_more=False)]))
    assert skipped.outcome == "skipped"
    assert Mention.objects.count() == 0


@pytest.mark.django_db
def test_a_rate_limit_reschedules_the_channel_at_the_reset_time() -> None:
    channel = ChannelFactory()
    before = timezone.now()

    result = channel_pull(channel_id=channel.pk, connector=ScriptedNetwork([], then=RateLimited(900)))

    channel.refresh_from_db()
    assert (result.outcome, result.retry_after) == ("rate_limited", 900)
    assert before + timedelta(seconds=900) <= channel.next_pull_at <= timezone.now() + timedelta(seconds=900)
    assert channel.state == Channel.State.ACTIVE


@pytest.mark.django_db
def test_due_channels_are_claimed_once_per_cadence() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    never_pulled = ChannelFactory(poll_interval_seconds=30)
    due = ChannelFactory(poll_interval_seconds=60, next_pull_at=now - timedelta(seconds=1))
    ChannelFactory(next_pull_at=now + timedelta(seconds=5))
    ChannelFactory(state=Channel.State.PAUSED)

    claimed = channels_claim_due(now=now)

    assert sorted(claimed) == sorted([never_pulled.pk, due.pk])
    assert channels_claim_due(now=now) == []
    never_pulled.refresh_from_db()
    due.refresh_from_db()
    assert never_pulled.next_pull_at == now + timedelta(seconds=30)
    assert due.next_pull_at == now + timedelta(seconds=60)


@pytest.mark.django_db
def test_a_channel_without_its_own_cadence_follows_its_segment() -> None:
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    channel = ChannelFactory(poll_interval_seconds=None)

    channels_claim_due(now=now)

    channel.refresh_from_db()
    assert channel.next_pull_at == now + timedelta(seconds=channel.segment.default_poll_seconds)
