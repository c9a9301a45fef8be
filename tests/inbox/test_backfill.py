"""backfill: a channel's history through its connector into the inbox, on the backfill's own cursor, never
the channel's; it stops at the --days window, when the connector has nothing more, or at --max-pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from channels.connectors import registry
from channels.connectors.base import (
    AuthExpired,
    AuthorData,
    ChannelRef,
    Connector,
    ConnectorUnavailable,
    Page,
    Post,
    RateLimited,
    RateLimitInfo,
    RejectedItem,
)
from channels.connectors.simulated import POSTS_PER_PULL_CREDENTIAL
from channels.models import Channel, QuarantinedItem, RateBudget
from inbox.management.commands.backfill import resume_at
from inbox.models import Mention, MentionChannel
from tests.factories import ChannelFactory

TEST_NETWORK = "backfill-test"  # registered for one test at a time by the ``network`` fixture
# Inside every backfill window the tests use (--days 1 and up), whatever day the suite runs on.
POSTED = timezone.now() - timedelta(hours=6)


def post(external_id: str, created_at: datetime = POSTED) -> Post:
    return Post(
        network=TEST_NETWORK,
        external_id=external_id,
        kind="mention",
        text=f"post {external_id}",
        created_at=created_at,
        author=AuthorData(external_id="a-1", handle="someone"),
    )


class ScriptedNetwork:
    """Serves the pages it is given, then raises ``then`` (or, without it, has nothing more)."""

    network = TEST_NETWORK

    def __init__(
        self, pages: list[Page], then: Exception | None = None, refreshed: dict[str, Any] | None = None
    ) -> None:
        self.pages = list(pages)
        self.then = then
        self.refreshed = refreshed
        self.cursors_seen: list[dict[str, Any]] = []

    def fetch(self, channel: ChannelRef, cursor: Mapping[str, Any]) -> Page:
        self.cursors_seen.append(dict(cursor))
        if self.pages:
            return self.pages.pop(0)
        if self.then is not None:
            raise self.then
        return Page(posts=(), cursor=dict(cursor), has_more=False)

    def endpoints(self, channel: ChannelRef) -> tuple[tuple[str, str], ...]:
        return ()

    def refreshed_credentials(self, channel: ChannelRef) -> dict[str, Any] | None:
        return self.refreshed


class HistoryNetwork:
    """Walks back in time, as a history endpoint does: page k holds posts from 24k+12, 24k+20 and 24k+28
    hours ago, and there is always an older page."""

    network = TEST_NETWORK

    def __init__(self) -> None:
        self.cursors_seen: list[dict[str, Any]] = []

    def fetch(self, channel: ChannelRef, cursor: Mapping[str, Any]) -> Page:
        self.cursors_seen.append(dict(cursor))
        k = cursor.get("page", 0)
        now = timezone.now()
        posts = tuple(post(f"h{k}-{i}", now - timedelta(hours=24 * k + 12 + 8 * i)) for i in range(3))
        return Page(posts=posts, cursor={"page": k + 1}, has_more=True)

    def endpoints(self, channel: ChannelRef) -> tuple[tuple[str, str], ...]:
        return ()


@pytest.fixture
def network(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Connector], Connector]]:
    """Registers a connector under TEST_NETWORK for this test; the registry is put back afterwards."""
    registry.registered_networks()  # load the built-in connectors first, so the restored registry has them
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))

    def install(connector: Connector) -> Connector:
        registry.register(TEST_NETWORK)(lambda: connector)
        return connector

    yield install


def backfill(slug: str, **options: Any) -> str:
    out = StringIO()
    call_command("backfill", channel=slug, no_progress=True, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def backfill_failing(slug: str, **options: Any) -> tuple[str, CommandError]:
    out = StringIO()
    with pytest.raises(CommandError) as failure:
        call_command("backfill", channel=slug, no_progress=True, stdout=out, stderr=StringIO(), **options)
    return out.getvalue(), failure.value


def stored_ids() -> list[str]:
    return sorted(Mention.objects.values_list("external_id", flat=True))


@pytest.fixture
def simulated_channel(db: None) -> Channel:
    return ChannelFactory(
        slug="northwind-help",
        network="simulated",
        credentials={POSTS_PER_PULL_CREDENTIAL: 5},
        cursor={"seq": 42},
    )


@pytest.fixture
def test_channel(db: None) -> Channel:
    return ChannelFactory(slug="northwind-test", network=TEST_NETWORK, cursor={"live": "c-9"})


def test_a_simulated_backfill_stops_at_max_pages_and_leaves_the_live_cursor_alone(
    simulated_channel: Channel,
) -> None:
    out = backfill("northwind-help", days=7, max_pages=3)

    assert out == (
        "pages 3, fetched 15, inserted 15, duplicates 0, rejected 0\nstopped: reached --max-pages (3)\n"
    )
    assert stored_ids() == sorted(f"sim-northwind-help-{n}" for n in range(1, 16))
    assert MentionChannel.objects.filter(channel=simulated_channel).count() == 15
    simulated_channel.refresh_from_db()
    assert simulated_channel.cursor == {"seq": 42}


def test_running_a_backfill_again_stores_nothing_new(simulated_channel: Channel) -> None:
    backfill("northwind-help", days=7, max_pages=2)

    out = backfill("northwind-help", days=7, max_pages=2)

    assert out.splitlines()[0] == "pages 2, fetched 10, inserted 0, duplicates 10, rejected 0"
    assert Mention.objects.count() == 10


def test_posts_older_than_the_window_are_not_stored_and_end_the_backfill(
    network: Callable[[Connector], Connector], test_channel: Channel
) -> None:
    history = network(HistoryNetwork())

    out = backfill("northwind-test", days=3, max_pages=50)

    lines = out.splitlines()
    assert lines[:2] == [
        "pages 4, fetched 12, inserted 8, duplicates 0, rejected 0",
        "older than 3 days, not stored: 4",
    ]
    assert lines[2].startswith("stopped: reached the start of the window (")
    assert lines[2].endswith("): the last page held only older posts")
    # Page 2 straddles the window (60, 68 and 76 hours old); page 3 is all older; nothing after it is asked.
    assert stored_ids() == ["h0-0", "h0-1", "h0-2", "h1-0", "h1-1", "h1-2", "h2-0", "h2-1"]
    assert history.cursors_seen == [{}, {"page": 1}, {"page": 2}, {"page": 3}]
    test_channel.refresh_from_db()
    assert test_channel.cursor == {"live": "c-9"}


def test_a_rate_limit_stops_the_backfill_keeping_the_pages_stored(
    network: Callable[[Connector], Connector], test_channel: Channel
) -> None:
    reset = timezone.now() + timedelta(seconds=90)
    limit = RateLimitInfo(endpoint="GET /mentions", token_key="user:1", limit=75, remaining=0, reset_at=reset)
    scripted = network(
        ScriptedNetwork(
            [Page(posts=(post("p-1"), post("p-2")), cursor={"after": "p-2"}, has_more=True)],
            then=RateLimited(90, limits=(limit,)),
        )
    )

    out, error = backfill_failing("northwind-test", days=7)

    assert out == "pages 1, fetched 2, inserted 2, duplicates 0, rejected 0\n"
    assert str(error).startswith("rate limited; run again after ")
    assert str(error).endswith(" (90 s); pages stored before it: 1")
    assert stored_ids() == ["p-1", "p-2"]
    assert scripted.cursors_seen == [{}, {"after": "p-2"}]
    # The live pulls learn the budget is spent, so they skip it rather than earn another 429.
    assert list(RateBudget.objects.values_list("network", "endpoint", "remaining")) == [
        (TEST_NETWORK, "GET /mentions", 0)
    ]
    test_channel.refresh_from_db()
    assert test_channel.cursor == {"live": "c-9"}


def test_run_again_after_is_rounded_up_to_the_minute_so_it_is_never_early() -> None:
    with timezone.override(UTC):
        assert resume_at(datetime(2026, 11, 20, 9, 30, 10, tzinfo=UTC), 90) == datetime(
            2026, 11, 20, 9, 32, tzinfo=UTC
        )
        assert resume_at(datetime(2026, 11, 20, 9, 30, 0, tzinfo=UTC), 60) == datetime(
            2026, 11, 20, 9, 31, tzinfo=UTC
        )


@pytest.mark.parametrize(
    ("raised", "message"),
    [
        (
            AuthExpired("401 Unauthorized"),
            "the network refused channel northwind-test's token (401 Unauthorized); re-authorise the channel "
            "in the admin pages and run the backfill again",
        ),
        (
            ConnectorUnavailable("503 Service Unavailable"),
            "backfill-test is unavailable: 503 Service Unavailable; try again later",
        ),
    ],
)
def test_connector_failures_stop_with_a_message_after_the_summary(
    network: Callable[[Connector], Connector], test_channel: Channel, raised: Exception, message: str
) -> None:
    network(
        ScriptedNetwork([Page(posts=(post("p-1"),), cursor={"after": "p-1"}, has_more=True)], then=raised)
    )

    out, error = backfill_failing("northwind-test", days=7)

    assert str(error) == message
    assert out == "pages 1, fetched 1, inserted 1, duplicates 0, rejected 0\n"
    assert stored_ids() == ["p-1"]


def test_items_the_connector_could_not_parse_are_quarantined_as_pull_items(
    network: Callable[[Connector], Connector], test_channel: Channel
) -> None:
    broken = RejectedItem(raw={"id": "991", "text": "who wrote me?"}, error="item has no author_id")
    scripted = network(
        ScriptedNetwork(
            [Page(posts=(post("p-1"),), cursor={"after": "p-1"}, has_more=False, rejected=(broken,))]
        )
    )

    out = backfill("northwind-test", days=7)

    assert out == (
        "pages 2, fetched 2, inserted 1, duplicates 0, rejected 1\nstopped: the connector has nothing more\n"
    )
    assert list(
        QuarantinedItem.objects.values_list(
            "channel_id", "source", "external_id", "error", "raw", "line_number"
        )
    ) == [
        (
            test_channel.pk,
            "pull",
            "991",
            "item has no author_id",
            {"id": "991", "text": "who wrote me?"},
            None,
        )
    ]
    assert scripted.cursors_seen == [{}, {"after": "p-1"}]
    assert stored_ids() == ["p-1"]


def test_a_simulated_backlog_is_walked_to_its_end(db: None) -> None:
    channel = ChannelFactory(slug="northwind-shop", credentials={POSTS_PER_PULL_CREDENTIAL: 5, "backlog": 12})

    out = backfill("northwind-shop", days=7)

    # 5 + 5 + 2 posts, the last page saying nothing more is waiting; one more pull finds nothing.
    assert out == (
        "pages 4, fetched 12, inserted 12, duplicates 0, rejected 0\n"
        "stopped: the connector has nothing more\n"
    )
    assert stored_ids() == sorted(f"sim-northwind-shop-{n}" for n in range(1, 13))
    channel.refresh_from_db()
    assert channel.cursor == {}


def test_a_page_that_hands_back_the_cursor_it_was_given_ends_the_backfill(
    network: Callable[[Connector], Connector], test_channel: Channel
) -> None:
    same = Page(posts=(post("p-1"),), cursor={"since_id": "7"}, has_more=False)
    scripted = network(ScriptedNetwork([same, same, same]))

    out = backfill("northwind-test", days=7)

    assert out == (
        "pages 2, fetched 2, inserted 1, duplicates 1, rejected 0\n"
        "stopped: the connector has nothing more: it handed back the same cursor\n"
    )
    assert scripted.cursors_seen == [{}, {"since_id": "7"}]
    assert stored_ids() == ["p-1"]


def test_a_token_the_connector_refreshed_is_kept_even_when_the_backfill_fails(
    network: Callable[[Connector], Connector], test_channel: Channel
) -> None:
    refreshed = {"access_token": "new-access", "refresh_token": "new-refresh"}
    network(ScriptedNetwork([], then=RateLimited(30), refreshed=refreshed))

    backfill_failing("northwind-test", days=7)

    test_channel.refresh_from_db()
    assert test_channel.credentials == refreshed


def test_a_channel_that_needs_re_authorising_is_refused_before_any_call(
    network: Callable[[Connector], Connector], db: None
) -> None:
    ChannelFactory(slug="northwind-test", network=TEST_NETWORK, state=Channel.State.NEEDS_REAUTH)
    scripted = network(ScriptedNetwork([Page(posts=(post("p-1"),), cursor={}, has_more=False)]))

    _, error = backfill_failing("northwind-test", days=7)

    assert str(error) == (
        "channel northwind-test needs re-authorisation; connect the account again in the admin pages, "
        "then run the backfill"
    )
    assert scripted.cursors_seen == []
    assert Mention.objects.count() == 0


def test_an_unknown_channel_is_named_with_the_known_ones(simulated_channel: Channel) -> None:
    _, error = backfill_failing("northwind-hlep", days=7)

    assert str(error) == "no channel with slug 'northwind-hlep'; known channels: northwind-help"
    assert Mention.objects.count() == 0


def test_the_progress_bar_counts_pages_on_stderr(simulated_channel: Channel) -> None:
    err = StringIO()

    call_command("backfill", channel="northwind-help", days=1, max_pages=2, stdout=StringIO(), stderr=err)

    assert "backfill northwind-help: 2 pages [" in err.getvalue()


class RewindingNetwork(ScriptedNetwork):
    """A network with a history endpoint: the backfill must walk it, not the live fetch."""

    def __init__(self, history_pages: list[Page]) -> None:
        super().__init__([])
        self.history_pages = list(history_pages)
        self.history_calls: list[tuple[dict[str, Any], datetime]] = []

    def fetch_history(self, channel: ChannelRef, cursor: Mapping[str, Any], *, since: datetime) -> Page:
        self.history_calls.append((dict(cursor), since))
        return self.history_pages.pop(0)


def test_a_connector_with_a_history_endpoint_is_walked_back_to_its_end(
    network: Callable[[Connector], Connector], test_channel: Channel
) -> None:
    now = timezone.now()
    rewinding = network(
        RewindingNetwork(
            [
                Page(posts=(post("new-1", now), post("new-2", now)), cursor={"max_id": "n2"}, has_more=True),
                Page(
                    posts=(post("old-1", now - timedelta(days=1)),), cursor={"max_id": "o1"}, has_more=False
                ),
            ]
        )
    )

    out = backfill("northwind-test", days=2)

    assert stored_ids() == ["new-1", "new-2", "old-1"]
    assert [cursor for cursor, _ in rewinding.history_calls] == [{}, {"max_id": "n2"}]
    assert {round((now - since).total_seconds() / 3600) for _, since in rewinding.history_calls} == {48}
    assert rewinding.cursors_seen == []  # the live fetch is never called
    assert out.splitlines()[-1] == "stopped: reached the end of the history the network keeps for this window"
