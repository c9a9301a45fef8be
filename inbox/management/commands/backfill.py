"""Pull a channel's recent history through its connector into the inbox, without touching its live cursor.

The backfill walks its own cursor, starting from an empty one, and follows the pages the connector hands
out until a page holds only posts older than the window, the connector has nothing more (nothing waiting,
and the page brought nothing or handed back the cursor it was given), or ``--max-pages`` is reached. Every
page goes through the same ingest (and routing) as a pull, with ``cursor=None``, so the channel's stored
cursor, and with it where the next live pull starts, never moves. Posts already stored are counted as
duplicates, so a backfill can be run again.

How far back it reaches depends on the connector, because each starts an empty cursor "from now":

- simulated: the channel's stream from its first post, ``posts_per_pull`` posts a page, up to its
  ``backlog`` when its credentials set one. Its posts are all recent, so ``--max-pages`` is what bounds a
  channel without a backlog. Without ``posts_per_pull`` pages trickle 0-4 posts and the first empty one
  ends the backfill;
- connectors with ``fetch_history`` (X, Mastodon): their mentions walked back from the newest, page by page,
  to the start of the window or the end of what the network keeps (X: the 800 most recent mentions).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from tqdm import tqdm

from channels.command_args import channel_from_slug, positive_int
from channels.connectors.base import (
    AuthExpired,
    ChannelRef,
    Connector,
    ConnectorError,
    ConnectorUnavailable,
    Page,
    Post,
    RateLimited,
)
from channels.connectors.registry import connector_for
from channels.models import Channel, QuarantinedItem
from channels.services import (
    Quarantine,
    channel_credentials_store_refreshed,
    channel_ref,
    rate_budgets_record,
)
from inbox.services import mentions_ingest

DEFAULT_MAX_PAGES = 1000  # 100,000 posts at X's page size: a generous night's backfill, never an endless one


@dataclass
class BackfillTotals:
    """What the backfill did so far; printed whether it finished or stopped on an error."""

    pages: int = 0
    fetched: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    older: int = 0  # posts the connector returned from before the window, not stored

    def line(self) -> str:
        return (
            f"pages {self.pages}, fetched {self.fetched}, inserted {self.inserted}, "
            f"duplicates {self.duplicates}, rejected {self.rejected}"
        )


class Command(BaseCommand):
    help = (
        "Pull a channel's recent history through its connector into the inbox, through the same ingest and "
        "routing as a pull, with a progress bar. Walks its own cursor from the start and never moves the "
        "channel's live cursor. Stops when a page holds only posts older than --days, when the connector "
        "has nothing more, or after --max-pages. On X and Mastodon the mentions are walked back from the "
        "newest to the start of the window (X keeps the 800 most recent); a simulated channel gives "
        "posts_per_pull posts a page (up to its backlog, if set). Safe to run again: stored posts count "
        "as duplicates. Exits with status 1 when rate limited (it says when to run again), when the "
        "channel needs re-authorising, or when the network is unavailable."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--channel",
            required=True,
            metavar="SLUG",
            help="Slug of the channel (brand account) to backfill.",
        )
        parser.add_argument(
            "--days",
            required=True,
            type=positive_int,
            metavar="N",
            help="How far back to go: posts older than N days are not stored, and a page of only such "
            "posts ends the backfill.",
        )
        parser.add_argument(
            "--max-pages",
            type=positive_int,
            default=DEFAULT_MAX_PAGES,
            metavar="M",
            help=f"Fetch at most M pages (default {DEFAULT_MAX_PAGES}).",
        )
        parser.add_argument(
            "--no-progress", action="store_true", help="Do not draw the progress bar on standard error."
        )

    def handle(self, *args: object, **options: Any) -> None:
        channel = channel_from_slug(options["channel"])
        if channel.needs_reauth:
            raise CommandError(
                f"channel {channel.slug} needs re-authorisation; connect the account again in the admin "
                "pages, then run the backfill"
            )
        try:
            connector = connector_for(channel.network)
        except ConnectorError as exc:
            raise CommandError(str(exc)) from None
        now = timezone.now()
        since = now - timedelta(days=options["days"])
        max_pages: int = options["max_pages"]
        ref = channel_ref(channel)
        totals = BackfillTotals()
        failure: CommandError | None = None
        stopped = ""
        try:
            with tqdm(
                unit=" pages",
                desc=f"backfill {channel.slug}",
                # The stream the command was given (call_command(stderr=...)) or the real one: tqdm redraws
                # with carriage returns, which Django's OutputWrapper would break by adding newlines.
                file=options.get("stderr") or sys.stderr,
                disable=options["no_progress"],
            ) as bar:
                stopped = _walk(
                    channel, connector, ref, since=since, max_pages=max_pages, totals=totals, bar=bar
                )
        except RateLimited as exc:
            # Recorded so the live pulls skip this budget until it resets instead of earning another 429.
            rate_budgets_record(network=channel.network, limits=exc.limits)
            wait = math.ceil(exc.retry_after)
            failure = CommandError(
                f"rate limited; run again after {resume_at(timezone.now(), wait):%H:%M} ({wait} s); "
                f"pages stored before it: {totals.pages}"
            )
        except AuthExpired as exc:
            failure = CommandError(
                f"the network refused channel {channel.slug}'s token ({exc}); re-authorise the channel in "
                "the admin pages and run the backfill again"
            )
        except ConnectorUnavailable as exc:
            failure = CommandError(f"{channel.network} is unavailable: {exc}; try again later")
        except ConnectorError as exc:
            failure = CommandError(f"the {channel.network} connector failed: {exc}")
        finally:
            # X rotates refresh tokens: a token set refreshed during the backfill must be kept, whatever
            # happened, or the channel's next pull finds its refresh token spent.
            channel_credentials_store_refreshed(channel=channel, connector=connector, ref=ref)
        self.stdout.write(totals.line())
        if totals.older:
            self.stdout.write(f"older than {options['days']} days, not stored: {totals.older}")
        if failure is not None:
            raise failure
        self.stdout.write(f"stopped: {stopped}")


def _walk(
    channel: Channel,
    connector: Connector,
    ref: ChannelRef,
    *,
    since: datetime,
    max_pages: int,
    totals: BackfillTotals,
    bar: tqdm,
) -> str:
    """Fetch and store pages from an empty cursor; return why it stopped. Connector errors propagate."""
    cursor: dict[str, Any] = {}  # the backfill's own: the channel's live cursor is neither read nor written
    # A connector that can walk back in time (X's and Mastodon's timelines) offers fetch_history; the
    # others are walked forward from the start of their stream with fetch.
    history = getattr(connector, "fetch_history", None)
    for _ in range(max_pages):
        page = history(ref, cursor, since=since) if callable(history) else connector.fetch(ref, cursor)
        in_window = [post for post in page.posts if not _is_before(post, since)]
        ingested = mentions_ingest(
            channel=channel,
            posts=in_window,
            cursor=None,
            quarantine=Quarantine(source=QuarantinedItem.Source.PULL, connector_rejected=page.rejected),
        )
        rate_budgets_record(network=channel.network, limits=page.rate_limits)
        totals.pages += 1
        totals.fetched += len(page.posts) + len(page.rejected)
        totals.inserted += ingested.inserted
        totals.duplicates += ingested.duplicates
        totals.rejected += len(ingested.rejected) + len(page.rejected)
        totals.older += len(page.posts) - len(in_window)
        bar.update(1)
        bar.set_postfix(
            {"fetched": totals.fetched, "inserted": totals.inserted, "duplicates": totals.duplicates}
        )
        if callable(history) and not page.has_more:
            return "reached the end of the history the network keeps for this window"
        reason = _stop_reason(page, in_window, previous_cursor=cursor, since=since)
        if reason:
            return reason
        cursor = dict(page.cursor)
    return f"reached --max-pages ({max_pages})"


def _stop_reason(
    page: Page, in_window: list[Post], *, previous_cursor: Mapping[str, Any], since: datetime
) -> str:
    """Why the page just stored ends the backfill, or "" to go on.

    ``has_more`` alone cannot end it: a connector says False whenever nothing more is waiting *right now*,
    which for a simulated channel with ``posts_per_pull`` is after every page of an endless stream. With
    nothing waiting, the connector's "no more" is a page that brought nothing, or one that handed back the
    cursor it was given (asking again would return the same page).
    """
    if page.posts and not in_window:
        start = timezone.localtime(since)
        return (
            f"reached the start of the window ({start:%Y-%m-%d %H:%M}): the last page held only older posts"
        )
    if page.has_more:
        return ""
    if not page.posts and not page.rejected:
        return "the connector has nothing more"
    if dict(page.cursor) == dict(previous_cursor):
        return "the connector has nothing more: it handed back the same cursor"
    return ""


def _is_before(post: Post, since: datetime) -> bool:
    created_at = post.created_at
    # A post without a usable time is not judged here: the ingest refuses it and it is quarantined.
    return isinstance(created_at, datetime) and not timezone.is_naive(created_at) and created_at < since


def resume_at(now: datetime, wait_seconds: float) -> datetime:
    """When a rate-limited run can start again, in the local time zone, rounded up to the whole minute so
    that "after HH:MM" is never early."""
    moment = timezone.localtime(now + timedelta(seconds=wait_seconds))
    if moment.second or moment.microsecond:
        moment = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return moment
