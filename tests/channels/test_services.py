"""Pulling a channel: pages stored with their cursor, errors recorded on the channel, due channels claimed
once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.utils import timezone

from channels.connectors.base import (
    AuthExpired,
    AuthorData,
    ChannelRef,
    ConnectorError,
    ConnectorUnavailable,
    Page,
    Post,
    RateLimited,
    RateLimitInfo,
    RejectedItem,
)
from channels.models import Channel, QuarantinedItem, RateBudget
from channels.services import channels_claim_due
from foundation.models import DomainEvent
from inbox.models import Mention
from inbox.pulls import channel_pull
from tests.factories import ChannelFactory


class ScriptedNetwork:
    """A stand-in for a network: serves the pages it is given, then raises the error it is given."""

    network = "simulated"

    def __init__(
        self,
        pages: list[Page],
        then: Exception | None = None,
        *,
        endpoints: tuple[tuple[str, str], ...] = (),
        refreshed: dict[str, Any] | None = None,
    ) -> None:
        self.pages = list(pages)
        self.then = then
        self.cursors_seen: list[dict[str, Any]] = []
        self._endpoints = endpoints
        self._refreshed = refreshed

    def endpoints(self, channel: ChannelRef) -> tuple[tuple[str, str], ...]:
        return self._endpoints

    def refreshed_credentials(self, channel: ChannelRef) -> dict[str, Any] | None:
        return self._refreshed

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


MENTIONS = ("GET /2/users/:id/mentions", "user:42")


@pytest.mark.django_db
def test_rate_budgets_from_each_page_are_kept_per_endpoint_and_token() -> None:
    channel = ChannelFactory()
    reset = datetime(2026, 11, 23, 12, 15, tzinfo=UTC)
    limited = replace(
        page(1, 2, has_more=False),
        rate_limits=(RateLimitInfo(MENTIONS[0], MENTIONS[1], limit=450, remaining=449, reset_at=reset),),
    )

    channel_pull(channel_id=channel.pk, connector=ScriptedNetwork([limited]))

    assert list(
        RateBudget.objects.values_list("endpoint", "token_key", "limit", "remaining", "reset_at")
    ) == [(MENTIONS[0], MENTIONS[1], 450, 449, reset)]


@pytest.mark.django_db
def test_a_pull_whose_budget_is_spent_is_skipped_until_the_reset() -> None:
    channel = ChannelFactory()
    reset = timezone.now() + timedelta(minutes=10)
    RateBudget.objects.create(
        network="simulated",
        endpoint=MENTIONS[0],
        token_key=MENTIONS[1],
        limit=450,
        remaining=0,
        reset_at=reset,
    )
    network = ScriptedNetwork([page(1, 2, has_more=False)], endpoints=(MENTIONS,))

    result = channel_pull(channel_id=channel.pk, connector=network)

    channel.refresh_from_db()
    assert result.outcome == "budget_spent"
    assert network.cursors_seen == []  # no call was made
    assert Mention.objects.count() == 0
    assert abs((channel.next_pull_at - reset).total_seconds()) < 2


@pytest.mark.django_db
def test_a_budget_whose_reset_has_passed_does_not_hold_the_pull_back() -> None:
    channel = ChannelFactory()
    RateBudget.objects.create(
        network="simulated",
        endpoint=MENTIONS[0],
        token_key=MENTIONS[1],
        limit=450,
        remaining=0,
        reset_at=timezone.now() - timedelta(seconds=1),
    )

    result = channel_pull(
        channel_id=channel.pk, connector=ScriptedNetwork([page(1, 2, has_more=False)], endpoints=(MENTIONS,))
    )

    assert (result.outcome, result.inserted) == ("ok", 2)


@pytest.mark.django_db
def test_items_that_cannot_be_stored_are_quarantined_and_the_rest_of_the_page_is_kept() -> None:
    channel = ChannelFactory()
    good = page(1, 3, has_more=False)
    bad_post = replace(good.posts[0], external_id="p-bad", kind="retweet")
    mixed = replace(
        good,
        posts=(*good.posts, bad_post),
        rejected=(RejectedItem(raw={"id": "999", "text": None}, error="missing text"),),
    )

    result = channel_pull(channel_id=channel.pk, connector=ScriptedNetwork([mixed]))

    assert (result.inserted, result.rejected) == (3, 2)
    assert sorted(Mention.objects.values_list("external_id", flat=True)) == ["p-1", "p-2", "p-3"]
    quarantined = {item.external_id: item for item in QuarantinedItem.objects.all()}
    assert sorted(quarantined) == ["999", "p-bad"]
    assert quarantined["999"].error == "missing text"
    assert quarantined["999"].raw == {"id": "999", "text": None}
    assert quarantined["p-bad"].error.startswith("unknown kind 'retweet'")
    assert {item.source for item in quarantined.values()} == {"pull"}
    assert channel.quarantined_items.count() == 2


@pytest.mark.django_db
def test_credentials_a_connector_refreshed_are_stored_encrypted() -> None:
    channel = ChannelFactory(credentials={"access_token": "old", "refresh_token": "r1"})
    network = ScriptedNetwork(
        [page(1, 1, has_more=False)], refreshed={"access_token": "new", "refresh_token": "r2"}
    )

    channel_pull(channel_id=channel.pk, connector=network)

    assert Channel.objects.get(pk=channel.pk).credentials == {"access_token": "new", "refresh_token": "r2"}


@pytest.mark.django_db
def test_credentials_refreshed_before_a_failure_are_still_stored() -> None:
    channel = ChannelFactory(credentials={"access_token": "old", "refresh_token": "r1"})
    network = ScriptedNetwork([], then=AuthExpired("revoked"), refreshed={"access_token": "new"})

    channel_pull(channel_id=channel.pk, connector=network)

    assert Channel.objects.get(pk=channel.pk).credentials == {"access_token": "new"}


@pytest.mark.django_db
def test_the_admin_channel_list_shows_last_pull_budget_and_next_pull(admin_client) -> None:
    channel = ChannelFactory(network="x", external_account_id="42", handle="@northwind_x")
    reset = timezone.now() + timedelta(minutes=5)
    RateBudget.objects.create(
        network="x",
        endpoint="GET /2/users/:id/mentions",
        token_key="user:42",
        limit=450,
        remaining=17,
        reset_at=reset,
    )
    Channel.objects.filter(pk=channel.pk).update(
        last_pull_result={"outcome": "ok", "inserted": 12}, next_pull_at=reset
    )

    html = admin_client.get("/django-admin/channels/channel/").content.decode()

    assert "@northwind_x" in html
    assert "ok: 12 new" in html
    assert "GET /2/users/:id/mentions: 17/450" in html


@pytest.mark.django_db
def test_marking_a_channel_for_reauthorisation_is_in_the_audit_log_as_the_system() -> None:
    channel = ChannelFactory()

    channel_pull(channel_id=channel.pk, connector=ScriptedNetwork([], then=AuthExpired("401 token revoked")))
    channel_pull(channel_id=channel.pk, connector=ScriptedNetwork([page(1, 1, has_more=False)]))

    events = list(DomainEvent.objects.values_list("actor", "verb", "object_id", "before", "after"))
    assert events == [
        (
            None,
            "channel.needs_reauth",
            str(channel.pk),
            {"state": "active"},
            {"state": "needs_reauth", "reason": "401 token revoked"},
        )
    ]


@pytest.mark.django_db
def test_a_pull_that_fails_otherwise_leaves_the_channel_active_and_writes_no_audit_event() -> None:
    channel = ChannelFactory()

    channel_pull(channel_id=channel.pk, connector=ScriptedNetwork([], then=ConnectorError("400 bad query")))

    assert Channel.objects.get().state == Channel.State.ACTIVE
    assert DomainEvent.objects.count() == 0
