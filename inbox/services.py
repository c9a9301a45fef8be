"""Writes to the inbox. Each service owns its transaction."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from channels.connectors.base import Post, PostTimeRefused, avatar_url_checked, post_time_checked
from channels.models import Channel, QuarantinedItem
from channels.services import Quarantine
from foundation.events import events_record_many, events_wake_after_commit
from inbox import bulk_postgresql
from inbox.models import LANGUAGE_MAX_LENGTH, Author, Mention, MentionChannel
from inbox.payloads import payload_json, payload_value, storable_text

logger = logging.getLogger(__name__)

INSERT_CHUNK = 500  # rows per INSERT statement: well under SQLite's bound-parameter limit at 19 columns

MAX_FOLLOWER_COUNT = 2**31 - 1  # the column is a 32-bit integer; no account has more followers than that

_MAX_LENGTHS = {
    "external_id": Mention._meta.get_field("external_id").max_length,
    "conversation_key": Mention._meta.get_field("conversation_key").max_length,
    "in_reply_to": Mention._meta.get_field("in_reply_to").max_length,
    "url": Mention._meta.get_field("url").max_length,
    "canonical_id": Mention._meta.get_field("canonical_id").max_length,
    "author_external_id": Author._meta.get_field("external_id").max_length,
    "handle": Author._meta.get_field("handle").max_length,
    "display_name": Author._meta.get_field("display_name").max_length,
}
_KINDS = frozenset(Mention.Kind.values)


@dataclass(frozen=True)
class RejectedPost:
    """A post the ingest refused, with its position in the batch and the reason."""

    index: int
    external_id: str
    reason: str


class CleanedPost(NamedTuple):
    """A post's values as they can be stored: no NUL characters, cut to the column widths."""

    text: str
    conversation_key: str
    in_reply_to: str
    handle: str
    display_name: str
    follower_count: int
    avatar_url: str


@dataclass(frozen=True)
class IngestResult:
    """What one ingest pass did: new mention ids, posts already stored, posts refused."""

    inserted_ids: tuple[int, ...]
    duplicates: int
    rejected: tuple[RejectedPost, ...]
    edited: int = 0  # stored mentions updated by a newer version of their post

    @property
    def inserted(self) -> int:
        return len(self.inserted_ids)


def mentions_ingest(
    *,
    channel: Channel,
    posts: Sequence[Post],
    cursor: Mapping[str, Any] | None = None,
    quarantine: Quarantine | None = None,
    route: bool = True,
) -> IngestResult:
    """Store a page of posts received on ``channel`` in one set-based pass, and advance its cursor.

    New posts are routed as they are stored (classified, decided, escalated). ``route=False`` stores them
    unrouted, for the routing sweeper to decide within a minute; the storage benchmark uses it.

    Authors are upserted, mentions inserted with ON CONFLICT DO NOTHING on (network, external id), and
    every post (new or already known) is linked to the receiving channel. The cursor is written in the
    same transaction, so a crash either stores the page and its cursor or neither. A post that is not
    valid is refused with a reason; the rest of the batch is stored. With ``quarantine``, refused posts and
    the connector's unparseable items are kept in the quarantine table with their reasons.

    Edits: a post naming earlier versions in ``raw["edit_of"]`` (X) replaces them (``_edits_apply``); a
    stored post arriving under its own id with a later ``edited_at`` (Mastodon) takes the new text. Either
    way the replaced version joins ``raw["edit_history"]`` and routing and triage state stay as they are.
    """
    from inbox import route as routing

    now = timezone.now()
    valid, rejected = _validate(posts)
    routed: dict[tuple[str, str], routing.RoutedPost] = {}

    def decide(fresh: list[Post]) -> list[tuple | None]:
        if not route:
            return [None] * len(fresh)
        try:
            decided = routing.posts_decide(channel=channel, posts=fresh)
        except Exception:  # the posts are stored unrouted; the routing sweeper retries them
            logger.exception("routing failed for %s posts on channel %s", len(fresh), channel.pk)
            return [None] * len(fresh)
        routed.update(((post.network, post.external_id), r) for post, r in zip(fresh, decided, strict=True))
        return [r.columns for r in decided]

    with transaction.atomic():
        valid, edited, older_versions = _edits_apply(valid, channel=channel, now=now)
        if valid and connection.vendor == "postgresql":
            stored = bulk_postgresql.mentions_store(
                valid,
                raw_json=lambda post: payload_json(post.raw),
                cleaned=_cleaned,
                channel_id=channel.pk,
                team_id=channel.owning_team_id,
                status=Mention.Status.NEW.value,
                priority=Mention.Priority.NORMAL.value,
                now=now,
                route=decide,
            )
            inserted = list(stored.inserted.values())
            edited += len(stored.edited)
            if routed:
                _routing_followup(
                    lambda: routing.posts_followup(
                        routed={
                            mention_id: routed[key]
                            for key, mention_id in stored.inserted.items()
                            if key in routed
                        }
                    )
                )
        elif valid:
            inserted, same_id_edits = _store_generic(valid, channel=channel, now=now)
            edited += len(same_id_edits)
            if route:
                _routing_followup(lambda: routing.mentions_route(mention_ids=inserted))
        else:
            inserted = []
        if inserted:
            _received_record(inserted, channel=channel, now=now)
        if quarantine is not None:
            _quarantine(channel, quarantine, [(posts[r.index], r.reason) for r in rejected])
        if cursor is not None:
            Channel.objects.filter(pk=channel.pk).update(cursor=dict(cursor))
            channel.cursor = dict(cursor)
    inserted_ids = tuple(sorted(inserted))
    return IngestResult(
        inserted_ids=inserted_ids,
        duplicates=len(valid) - len(inserted_ids) + older_versions,
        rejected=tuple(rejected),
        edited=edited,
    )


def _edits_apply(posts: list[Post], *, channel: Channel, now: datetime) -> tuple[list[Post], int, int]:
    """Apply the posts that are edits of stored mentions; return the other posts, how many mentions were
    updated and how many posts were older versions of those.

    A connector names the posts a post is an edit of in ``raw["edit_of"]`` (X gives an edited post a new
    id). The stored mention takes the newest version's id, text, payload and language and keeps each
    earlier version in ``raw["edit_history"]``, oldest first. Pages without edits cost nothing here; a page
    with some costs one query per network.
    """
    editing = [post for post in posts if isinstance(post.raw, Mapping) and post.raw.get("edit_of")]
    if not editing:
        return posts, 0, 0
    stored: dict[tuple[str, str], Mention] = {}
    for network in {post.network for post in editing}:
        ids = {str(i) for post in editing if post.network == network for i in post.raw["edit_of"]}
        ids |= {post.external_id for post in editing if post.network == network}
        stored.update(
            ((network, mention.external_id), mention)
            for mention in Mention.objects.filter(network=network, external_id__in=ids).only(
                "id", "network", "external_id", "text", "raw", "language"
            )
        )
    versions: dict[int, list[Post]] = {}  # stored mention id -> the page's newer versions of it
    originals: dict[int, Mention] = {}
    rest = []
    for post in posts:
        edit_of = post.raw.get("edit_of") if isinstance(post.raw, Mapping) else None
        earlier = [str(i) for i in edit_of] if isinstance(edit_of, list) else []
        original = next((stored[(post.network, i)] for i in earlier if (post.network, i) in stored), None)
        if original is None or (post.network, post.external_id) in stored:
            rest.append(post)  # not an edit of anything stored, or this version is stored already
            continue
        versions.setdefault(original.pk, []).append(post)
        originals[original.pk] = original
    updated = []
    for mention_id, newer in versions.items():
        mention = originals[mention_id]
        newer.sort(key=lambda post: len(post.raw.get("edit_of") or ()))  # the most edited is the newest
        old_raw = mention.raw if isinstance(mention.raw, dict) else {}
        history = list(old_raw.get("edit_history") or [])
        history.append({"external_id": mention.external_id, "text": mention.text})
        history.extend({"external_id": post.external_id, "text": _cleaned(post).text} for post in newer[:-1])
        newest = newer[-1]
        mention.external_id = newest.external_id
        mention.text = _cleaned(newest).text
        mention.raw = {**payload_value(newest.raw), "edit_history": history}
        mention.language = (newest.language or "")[:LANGUAGE_MAX_LENGTH]
        updated.append(mention)
    Mention.objects.bulk_update(updated, ["external_id", "text", "raw", "language"])
    MentionChannel.objects.bulk_create(
        [MentionChannel(mention=mention, channel=channel, received_at=now) for mention in updated],
        ignore_conflicts=True,
    )
    older = sum(len(newer) - 1 for newer in versions.values())
    return rest, len(updated), older


def _received_record(mention_ids: Sequence[int], *, channel: Channel, now: datetime) -> None:
    """One ``mention.received`` domain event per new mention, in the ingest's transaction and in one
    statement: the consumers (webhooks, rollups) learn of every stored post exactly once."""
    if connection.vendor == "postgresql":
        bulk_postgresql.mentions_received_record(mention_ids, channel_id=channel.pk, now=now)
    else:
        mentions = list(Mention.objects.filter(pk__in=mention_ids).only("id", "team_id", "network"))
        events_record_many(
            actor=None,
            verb="mention.received",
            objects=mentions,
            before=[{} for _ in mentions],
            after=[{"channel_id": channel.pk, "team_id": m.team_id} for m in mentions],
        )
    events_wake_after_commit()


def _routing_followup(work: Callable[[], object]) -> None:
    """Routing's writes after the posts are stored, in a savepoint: if they fail, the page is still stored
    (the routing sweeper finishes the job) and the error is logged."""
    try:
        with transaction.atomic():
            work()
    except Exception:
        logger.exception("routing's follow-up failed; the routing sweeper will retry")


def _quarantine(channel: Channel, quarantine: Quarantine, refused: Sequence[tuple[Post, str]]) -> None:
    items = [
        QuarantinedItem(
            channel=channel,
            source=quarantine.source,
            network=channel.network,
            external_id=str(item.raw.get("id", ""))[:200] if isinstance(item.raw, Mapping) else "",
            error=item.error,
            raw=payload_value(item.raw) if isinstance(item.raw, Mapping) else {"item": str(item.raw)},
        )
        for item in quarantine.connector_rejected
    ]
    items += [
        QuarantinedItem(
            channel=channel,
            source=quarantine.source,
            network=post.network,
            external_id=str(post.external_id)[:200],
            error=reason,
            raw=payload_value(post.raw),
        )
        for post, reason in refused
    ]
    QuarantinedItem.objects.bulk_create(items)


def _cleaned(post: Post) -> CleanedPost:
    author = post.author
    return CleanedPost(
        text=storable_text(post.text),
        conversation_key=storable_text(post.conversation_key)[: _MAX_LENGTHS["conversation_key"]],
        in_reply_to=storable_text(post.in_reply_to)[: _MAX_LENGTHS["in_reply_to"]],
        handle=storable_text(author.handle)[: _MAX_LENGTHS["handle"]],
        display_name=storable_text(author.display_name)[: _MAX_LENGTHS["display_name"]],
        follower_count=min(max(0, int(author.follower_count)), MAX_FOLLOWER_COUNT),
        # Checked again here: a connector, an import or the API may hand over any string.
        avatar_url=avatar_url_checked(author.avatar_url),
    )


def _store_generic(posts: Sequence[Post], *, channel: Channel, now: datetime) -> tuple[list[int], list[int]]:
    """The portable path (SQLite, the embedded default): the same statements without COPY. Returns the
    new mentions' ids and the ids of those an edit that kept the post's id changed."""
    stored = _stored_generic(posts)
    edited = _same_id_edits_apply(posts, stored=stored, now=now)
    author_ids = _authors_upsert(posts, now=now)
    fresh = [post for post in posts if (post.network, post.external_id) not in stored]
    inserted = _mentions_insert(fresh, author_ids=author_ids, team_id=channel.owning_team_id, now=now)
    links = {mention_id: receipt_id for mention_id, _, receipt_id in _stored_generic(posts).values()}
    MentionChannel.objects.bulk_create(
        [
            MentionChannel(
                mention_id=mention_id, channel_id=channel.pk, received_at=now, external_id=receipt_id
            )
            for mention_id, receipt_id in sorted(links.items())
        ],
        ignore_conflicts=True,
    )
    return inserted, edited


def _stored_generic(posts: Sequence[Post]) -> dict[tuple[str, str], tuple[int, datetime | None, str]]:
    """``bulk_postgresql._stored`` through the ORM: the stored posts of the page by (network, external id),
    with their mention id, stored edit time, and their own external id when stored under another one."""
    stored: dict[tuple[str, str], tuple[int, datetime | None, str]] = {}
    for network in {post.network for post in posts}:
        page = [post for post in posts if post.network == network]
        for start in range(0, len(page), INSERT_CHUNK):
            chunk = page[start : start + INSERT_CHUNK]
            found = Q(external_id__in=[post.external_id for post in chunk])
            canonical_ids = [post.canonical_id for post in chunk if post.canonical_id]
            if canonical_ids:
                found |= Q(canonical_id__in=canonical_ids)
            rows = Mention.objects.filter(found, network=network).values_list(
                "external_id", "canonical_id", "id", "edited_at"
            )
            by_external, by_canonical = {}, {}
            for external_id, canonical_id, mention_id, edited_at in rows:
                by_external[external_id] = (mention_id, edited_at)
                if canonical_id:
                    by_canonical[canonical_id] = (mention_id, edited_at)
            for post in chunk:
                if post.external_id in by_external:
                    stored[(network, post.external_id)] = (*by_external[post.external_id], "")
                elif post.canonical_id in by_canonical:
                    stored[(network, post.external_id)] = (*by_canonical[post.canonical_id], post.external_id)
    return stored


def _same_id_edits_apply(
    posts: Sequence[Post],
    *,
    stored: Mapping[tuple[str, str], tuple[int, datetime | None, str]],
    now: datetime,
) -> list[int]:
    """``bulk_postgresql``'s edit statement, portably: stored posts that arrive under their id (or another
    server's copy of it) edited later than the stored version (Mastodon's edits) take the new text, the old
    one kept in ``raw["edit_history"]`` as ``_edits_apply`` keeps X's."""
    candidates = bulk_postgresql.edits_due(posts, stored)
    if not candidates:
        return []
    changed = []
    for mention in Mention.objects.filter(id__in=candidates).only(
        "id", "external_id", "text", "edited_at", "raw", "url", "language"
    ):
        post = candidates[mention.pk]
        if mention.edited_at is not None and mention.edited_at >= post.edited_at:
            continue
        old_raw = mention.raw if isinstance(mention.raw, dict) else {}
        history = old_raw.get("edit_history")
        version = {
            "external_id": mention.external_id,
            "text": mention.text,
            "edited_at": mention.edited_at.isoformat() if mention.edited_at else None,
            "replaced_at": now.isoformat(),
        }
        mention.raw = {
            **payload_value(post.raw),
            "edit_history": [*(history if isinstance(history, list) else []), version],
        }
        mention.text = _cleaned(post).text
        mention.url = post.url
        mention.language = (post.language or "")[:LANGUAGE_MAX_LENGTH]
        mention.edited_at = post.edited_at
        changed.append(mention)
    Mention.objects.bulk_update(changed, ["text", "raw", "url", "language", "edited_at"])
    return [mention.pk for mention in changed]


def _validate(posts: Sequence[Post]) -> tuple[list[Post], list[RejectedPost]]:
    """Keep the first copy of each post (by external id, or by canonical id for copies from different
    servers); refuse posts that cannot be stored as they are."""
    valid: list[Post] = []
    rejected: list[RejectedPost] = []
    seen: set[tuple[str, str]] = set()
    seen_canonical: set[tuple[str, str]] = set()
    for index, post in enumerate(posts):
        reason = _problem(post)
        if reason:
            rejected.append(RejectedPost(index=index, external_id=str(post.external_id)[:80], reason=reason))
            continue
        if not isinstance(post.canonical_id, str) or len(post.canonical_id) > _MAX_LENGTHS["canonical_id"]:
            # Cut short, two posts could share one; without it, the post is stored under its external id.
            post = dataclasses.replace(post, canonical_id="")
        key = (post.network, post.external_id)
        canonical = (post.network, post.canonical_id)
        if key in seen or canonical in seen_canonical:
            continue
        seen.add(key)
        if post.canonical_id:
            seen_canonical.add(canonical)
        valid.append(post)
    return valid, rejected


def _problem(post: Post) -> str:
    if not post.external_id:
        return "the post has no external id"
    if len(post.external_id) > _MAX_LENGTHS["external_id"]:
        return f"external id is longer than {_MAX_LENGTHS['external_id']} characters"
    if post.kind not in _KINDS:
        return f"unknown kind {post.kind!r} (expected one of {', '.join(sorted(_KINDS))})"
    if not isinstance(post.created_at, datetime) or timezone.is_naive(post.created_at):
        return "created_at must be a timezone-aware datetime"
    if post.edited_at is not None and (
        not isinstance(post.edited_at, datetime) or timezone.is_naive(post.edited_at)
    ):
        return "edited_at must be a timezone-aware datetime or None"
    try:
        # Connectors and the import format check this already; here too for any way in that forgets, since
        # one stored post from year 9999 breaks every page that lists its team's mentions.
        post_time_checked(post.created_at)
    except PostTimeRefused as exc:
        return str(exc)
    if not post.author.external_id:
        return "the author has no external id"
    if len(post.author.external_id) > _MAX_LENGTHS["author_external_id"]:
        return f"author id is longer than {_MAX_LENGTHS['author_external_id']} characters"
    if not post.author.handle:
        return "the author has no handle"
    if len(post.url) > _MAX_LENGTHS["url"]:
        return f"url is longer than {_MAX_LENGTHS['url']} characters"
    return ""


def _authors_upsert(posts: Iterable[Post], *, now: datetime) -> dict[tuple[str, str], int]:
    """Insert new authors and refresh known ones in one statement; returns ids by (network, external id)."""
    latest: dict[tuple[str, str], Post] = {}
    for post in posts:
        latest[(post.network, post.author.external_id)] = post
    if not latest:
        return {}
    rows = []
    # Sorted so two concurrent ingests lock author rows in the same order and cannot deadlock.
    for (network, external_id), post in sorted(latest.items()):
        cleaned = _cleaned(post)
        rows.append(
            Author(
                network=network,
                external_id=external_id,
                handle=cleaned.handle,
                display_name=cleaned.display_name,
                follower_count=cleaned.follower_count,
                is_verified=bool(post.author.is_verified),
                avatar_url=cleaned.avatar_url,
                first_seen_at=now,
                last_seen_at=now,
            )
        )
    Author.objects.bulk_create(
        rows,
        batch_size=INSERT_CHUNK,
        update_conflicts=True,
        unique_fields=["network", "external_id"],
        update_fields=["handle", "display_name", "follower_count", "is_verified", "last_seen_at"],
    )
    ids: dict[tuple[str, str], int] = {}
    for network in {key[0] for key in latest}:
        external_ids = [key[1] for key in latest if key[0] == network]
        for external_id, author_id in Author.objects.filter(
            network=network, external_id__in=external_ids
        ).values_list("external_id", "id"):
            ids[(network, external_id)] = author_id
    # A post without an image (an import, a view that leaves it out) keeps the one stored: only a new
    # address replaces it, as in the PostgreSQL path (bulk_postgresql._STORE).
    # (From the posts, not the rows: bulk_create reads db_default columns such as avatar_url back into them.)
    pictured = [
        Author(pk=ids[key], avatar_url=avatar_url)
        for key, avatar_url in sorted((key, _cleaned(post).avatar_url) for key, post in latest.items())
        if avatar_url
    ]
    Author.objects.bulk_update(pictured, ["avatar_url"], batch_size=INSERT_CHUNK)
    return ids


_INSERT_FIELDS = (
    "network",
    "external_id",
    "kind",
    "text",
    "url",
    "created_at",
    "received_at",
    "author",
    "conversation_key",
    "in_reply_to",
    "raw",
    "language",
    "edited_at",
    "status",
    "team",
    "priority",
    "intent",
    "sentiment_label",
    "is_misdirected",
    "canonical_id",
)


def _mentions_insert(
    posts: Sequence[Post], *, author_ids: Mapping[tuple[str, str], int], team_id: int | None, now: datetime
) -> list[int]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING id: exactly the rows this call created."""
    if not posts:
        return []
    fields = [Mention._meta.get_field(name) for name in _INSERT_FIELDS]
    adapt_datetime = connection.ops.adapt_datetimefield_value
    received_at = adapt_datetime(now)
    table = connection.ops.quote_name(Mention._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    returning = connection.ops.quote_name("id")
    # A reply joins the conversation of the post it answers, when that post is stored.
    parent_keys: dict[tuple[str, str], str] = {}
    for network in {post.network for post in posts if post.in_reply_to}:
        parents = [post.in_reply_to for post in posts if post.network == network and post.in_reply_to]
        for external_id, key in (
            Mention.objects.filter(network=network, external_id__in=parents)
            .exclude(conversation_key="")
            .values_list("external_id", "conversation_key")
        ):
            parent_keys[(network, external_id)] = key
        # A parent stored under another server's id: found by the id this server gave it, on its receipt.
        # Only posts with canonical ids (Mastodon's) can have such a parent.
        missing = [
            post.in_reply_to
            for post in posts
            if post.network == network
            and post.in_reply_to
            and post.canonical_id
            and (network, post.in_reply_to) not in parent_keys
        ]
        for external_id, key in (
            MentionChannel.objects.filter(external_id__in=missing, mention__network=network)
            .exclude(external_id="")  # lets the partial index serve the lookup
            .exclude(mention__conversation_key="")
            .values_list("external_id", "mention__conversation_key")
        ):
            parent_keys.setdefault((network, external_id), key)
    inserted: list[int] = []
    for start in range(0, len(posts), INSERT_CHUNK):
        chunk = posts[start : start + INSERT_CHUNK]
        params: list[Any] = []
        for post in chunk:
            cleaned = _cleaned(post)
            # Values already in database form, in _INSERT_FIELDS order: the generic per-field conversion
            # costs more than the insert itself at page sizes of hundreds.
            params.extend(
                (
                    post.network,
                    post.external_id,
                    post.kind,
                    cleaned.text,
                    post.url,
                    adapt_datetime(post.created_at),
                    received_at,
                    author_ids[(post.network, post.author.external_id)],
                    parent_keys.get((post.network, post.in_reply_to), cleaned.conversation_key),
                    cleaned.in_reply_to,
                    payload_json(post.raw),
                    (post.language or "")[:LANGUAGE_MAX_LENGTH],
                    adapt_datetime(post.edited_at) if post.edited_at is not None else None,
                    Mention.Status.NEW.value,
                    team_id,
                    Mention.Priority.NORMAL.value,
                    "",
                    "",
                    False,
                    post.canonical_id,
                )
            )
        # Only quoted model metadata and placeholders are formatted in; every value is a bound parameter.
        values_sql = ", ".join([placeholder] * len(chunk))
        # No conflict target: a post is stored under its external id, or another server's copy under its
        # canonical id.
        sql = f"INSERT INTO {table} ({columns}) VALUES {values_sql} ON CONFLICT DO NOTHING "  # noqa: S608
        sql += f"RETURNING {returning}"
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            inserted.extend(row[0] for row in cursor.fetchall())
    return inserted
