"""The PostgreSQL path of the ingest: one COPY into a staging table, then set-based statements.

Posts not stored yet are routed before they are copied (``route``), so a mention is written once, with its
decision; a post routing could not decide is stored without one and routed later.

One query finds which posts of the page are stored already. The others go to the server as one COPY
(cheap to parse), and one prepared statement upserts their authors, inserts them (ON CONFLICT DO NOTHING)
and links every post of the page to the receiving channel. A page whose posts are all stored costs that
query and one insert of links that already exist, which keeps re-ingesting far cheaper than ingesting.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from django.contrib.contenttypes.models import ContentType
from django.db import connection

from channels.connectors.base import Post
from inbox.models import LANGUAGE_MAX_LENGTH, Mention

if TYPE_CHECKING:
    from inbox.services import CleanedPost

# The staging table's columns are in COPY order. It lives as long as the database session and is
# emptied at every commit; inside a caller's longer transaction the DELETE empties it.
_CREATE_STAGE = """
CREATE TEMP TABLE IF NOT EXISTS ingest_mention_stage (
    network text, external_id text, kind text, text text, url text, created_at timestamptz,
    conversation_key text, in_reply_to text, raw text, language text, author_external_id text,
    author_handle text, author_display_name text, author_follower_count bigint, author_is_verified boolean,
    author_avatar_url text,
    team_id bigint, priority integer, intent text, intent_confidence float8, sentiment float8,
    sentiment_label text, is_misdirected boolean, labels text, requires_approval boolean, assignee_id integer,
    decision text, routed_at timestamptz, edited_at timestamptz, canonical_id text
) ON COMMIT DELETE ROWS;
DELETE FROM ingest_mention_stage
"""

# %(now)s, %(team_id)s ... are bound parameters; everything else is fixed text. The stage holds only posts
# that were not stored when the page arrived; ON CONFLICT covers a concurrent ingest of the same post.
# Authors are inserted when new and rewritten only when their details changed or they were last seen more
# than LAST_SEEN_GRANULARITY ago: rewriting every known author on every page costs more than the posts.
_STORE = """
WITH page_authors AS (
    SELECT DISTINCT ON (network, author_external_id)
        network, author_external_id, author_handle, author_display_name, author_follower_count,
        author_is_verified, author_avatar_url
    FROM ingest_mention_stage
    ORDER BY network, author_external_id
), new_authors AS (
    INSERT INTO inbox_author
        (network, external_id, handle, display_name, follower_count, is_verified, avatar_url, first_seen_at,
         last_seen_at)
    SELECT network, author_external_id, author_handle, author_display_name, author_follower_count,
        author_is_verified, author_avatar_url, %(now)s, %(now)s
    FROM page_authors
    ON CONFLICT (network, external_id) DO NOTHING
    RETURNING id, network, external_id
), changed_authors AS (
    UPDATE inbox_author a SET
        handle = p.author_handle,
        display_name = p.author_display_name,
        follower_count = p.author_follower_count,
        is_verified = p.author_is_verified,
        avatar_url = COALESCE(NULLIF(p.author_avatar_url, ''), a.avatar_url),
        last_seen_at = %(now)s
    FROM page_authors p
    WHERE a.network = p.network AND a.external_id = p.author_external_id
        AND ((a.handle, a.display_name, a.follower_count, a.is_verified)
             IS DISTINCT FROM (p.author_handle, p.author_display_name, p.author_follower_count,
                               p.author_is_verified)
             OR (p.author_avatar_url <> '' AND p.author_avatar_url IS DISTINCT FROM a.avatar_url)
             OR a.last_seen_at < %(seen_before)s)
    RETURNING a.id
), authors AS (
    SELECT id, network, external_id FROM new_authors
    UNION ALL
    SELECT a.id, a.network, a.external_id
    FROM inbox_author a JOIN page_authors p ON a.network = p.network AND a.external_id = p.author_external_id
), inserted AS (
INSERT INTO inbox_mention
    (network, external_id, kind, text, url, created_at, received_at, author_id, conversation_key,
     in_reply_to, raw, language, status, team_id, priority, intent, intent_confidence, sentiment,
     sentiment_label, is_misdirected, labels, requires_approval, assignee_id, decision, routed_at, edited_at,
     canonical_id)
SELECT s.network, s.external_id, s.kind, s.text, s.url, s.created_at, %(now)s, authors.id,
    COALESCE(parent.conversation_key, s.conversation_key), s.in_reply_to, s.raw::jsonb, s.language,
    %(status)s,
    COALESCE(s.team_id, %(team_id)s), COALESCE(s.priority, %(priority)s), COALESCE(s.intent, ''),
    s.intent_confidence, s.sentiment, COALESCE(s.sentiment_label, ''), COALESCE(s.is_misdirected, false),
    COALESCE(s.labels::jsonb, '[]'::jsonb), COALESCE(s.requires_approval, false), s.assignee_id,
    COALESCE(s.decision::jsonb, '{}'::jsonb), s.routed_at, s.edited_at, s.canonical_id
FROM ingest_mention_stage s
JOIN authors ON authors.network = s.network AND authors.external_id = s.author_external_id
LEFT JOIN inbox_mention parent
    ON s.in_reply_to <> '' AND parent.network = s.network AND parent.external_id = s.in_reply_to
    AND parent.conversation_key <> ''
ORDER BY s.network, s.external_id
-- No conflict target: a post stored under its external id or (another server's copy) its canonical id.
ON CONFLICT DO NOTHING
RETURNING id, network, external_id
), linked AS (
    -- The page's posts already stored and the new ones, linked in the same round trip; a post stored
    -- under another server's id keeps this channel's id for it on the link.
    INSERT INTO inbox_mentionchannel (mention_id, channel_id, received_at, external_id)
    SELECT id, %(channel_id)s, %(now)s, external_id
    FROM (
        SELECT id, '' FROM inserted
        UNION ALL SELECT * FROM unnest(%(known_ids)s::bigint[], %(known_external_ids)s)
    ) AS ids (id, external_id)
    ORDER BY id
    ON CONFLICT (mention_id, channel_id) DO NOTHING
)
SELECT id, network, external_id FROM inserted
"""


# Planning the statement above costs about as much as running it for a page of 100, so it is prepared
# once per database session and executed by name.
_STORE_PARAMETERS = (
    ("now", "timestamptz"),
    ("seen_before", "timestamptz"),
    ("team_id", "bigint"),
    ("status", "text"),
    ("priority", "integer"),
    ("channel_id", "bigint"),
    ("known_ids", "bigint[]"),
    ("known_external_ids", "text[]"),
)
_PREPARE_STORE = (
    "PREPARE socialops_ingest_store ("
    + ", ".join(kind for _, kind in _STORE_PARAMETERS)
    + ") AS "
    + _STORE.replace("%(known_ids)s::bigint[]", "%(known_ids)s")
)
for _position, (_name, _kind) in enumerate(_STORE_PARAMETERS, start=1):
    _PREPARE_STORE = _PREPARE_STORE.replace(f"%({_name})s", f"${_position}")
_EXECUTE_STORE = (
    "EXECUTE socialops_ingest_store (" + ", ".join(f"%({name})s" for name, _ in _STORE_PARAMETERS) + ")"
)


def _prepare_store(cursor: Any) -> None:
    """Prepare the store statement once for each database connection (a reconnect starts afresh)."""
    raw_connection = connection.connection
    if getattr(connection, "_socialops_store_prepared_on", None) is raw_connection:
        return
    cursor.execute("SELECT 1 FROM pg_prepared_statements WHERE name = 'socialops_ingest_store'")
    if cursor.fetchone() is None:
        cursor.execute(_PREPARE_STORE)
    connection._socialops_store_prepared_on = raw_connection


LAST_SEEN_GRANULARITY = timedelta(hours=1)  # an author's last_seen_at is kept to the hour, not the second

_EXISTING = (
    "SELECT external_id, '', id, edited_at FROM inbox_mention WHERE network = %s AND external_id = ANY(%s)"
)
# For pages whose posts have canonical ids: a post may be stored under another server's external id.
_EXISTING_OR_CANONICAL = (
    "SELECT external_id, canonical_id, id, edited_at FROM inbox_mention WHERE network = %s"
    " AND (external_id = ANY(%s) OR (canonical_id <> '' AND canonical_id = ANY(%s)))"
)

# A reply's parent stored under another server's id, found by the id this server gave it (kept on its
# receipt). "external_id <> ''" spelled out: without it the planner cannot use the partial index.
_RECEIVED_PARENTS = """
SELECT r.external_id, m.conversation_key
FROM inbox_mentionchannel r JOIN inbox_mention m ON m.id = r.mention_id
WHERE r.external_id <> '' AND r.external_id = ANY(%s) AND m.network = %s AND m.conversation_key <> ''
"""

# An author's edit of a post that keeps its id (Mastodon's): the text becomes the edited one and the version
# it replaces joins raw["edit_history"], as X's edits (a new id per version) do in inbox.services. The
# condition is checked again here, so of two ingests racing with versions of one post the later edit wins.
_EDIT = """
UPDATE inbox_mention m SET
    raw = v.raw::jsonb || jsonb_build_object('edit_history', COALESCE(m.raw -> 'edit_history', '[]'::jsonb)
        || jsonb_build_array(jsonb_build_object(
            'external_id', m.external_id, 'text', m.text, 'edited_at', m.edited_at,
            'replaced_at', %(now)s::timestamptz))),
    text = v.text, url = v.url, language = v.language, edited_at = v.edited_at
FROM unnest(%(ids)s::bigint[], %(texts)s::text[], %(raws)s::text[], %(urls)s::text[], %(languages)s::text[],
            %(edited)s::timestamptz[]) AS v (id, text, raw, url, language, edited_at)
WHERE m.id = v.id AND (m.edited_at IS NULL OR m.edited_at < v.edited_at)
RETURNING m.id
"""


_LINK = """
INSERT INTO inbox_mentionchannel (mention_id, channel_id, received_at, external_id)
SELECT mention_id, %(channel_id)s, %(now)s, external_id
FROM unnest(%(known_ids)s::bigint[], %(known_external_ids)s::text[]) AS known (mention_id, external_id)
ORDER BY mention_id
ON CONFLICT (mention_id, channel_id) DO NOTHING
"""


def _field(value: str) -> str:
    """A text value in COPY's text format; most values need no escaping, and checking is cheap."""
    if "\\" in value:
        value = value.replace("\\", "\\\\")
    if "\t" in value or "\n" in value or "\r" in value:
        value = value.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return value


class Stored(NamedTuple):
    """What ``mentions_store`` wrote: the new mentions' ids by (network, external id), and the ids of
    stored mentions whose text an author's edit replaced."""

    inserted: dict[tuple[str, str], int]
    edited: list[int]


def mentions_store(
    posts: Sequence[Post],
    *,
    raw_json: Callable[[Post], str],
    cleaned: Callable[[Post], CleanedPost],
    channel_id: int,
    team_id: int | None,
    status: str,
    priority: int,
    now: datetime,
    route: Callable[[list[Post]], list[tuple | None]] | None = None,
) -> Stored:
    """Store ``posts`` (valid, one per external id) and link them to the channel; a stored post that comes
    with a later edit time than the stored version replaces its text (the earlier version kept).

    ``route(fresh_posts)`` gives each post not stored yet its routing columns (``DecisionColumns`` order),
    or None to store it unrouted.

    ``cleaned(post)`` gives the values cleaned for storage: text, conversation key, in-reply-to, author
    handle, author display name and follower count; ``raw_json(post)`` the payload as JSON text.
    Both are called only for posts not stored yet. Must run inside the caller's transaction.
    """
    with connection.cursor() as cursor:
        # A page lost with a crash of the database server is lost together with its cursor, and pulled
        # again: so this transaction need not wait for its WAL to reach the disk.
        stored = _stored(cursor, posts, first_statement="SET LOCAL synchronous_commit TO OFF; ")
        known = {key: mention_id for key, (mention_id, _, _) in stored.items()}
        edited = _edits_apply(cursor, posts, stored, raw_json=raw_json, cleaned=cleaned, now=now)
        links = sorted((mention_id, receipt_id) for mention_id, _, receipt_id in stored.values())
        link_parameters = {
            "known_ids": [mention_id for mention_id, _ in links],
            "known_external_ids": [receipt_id for _, receipt_id in links],
        }
        fresh = [post for post in posts if (post.network, post.external_id) not in known]
        if not fresh:
            cursor.execute(_LINK, {"channel_id": channel_id, "now": now, **link_parameters})
            return Stored(inserted={}, edited=edited)
        fresh = _received_parents_joined(cursor, fresh)
        decided = route(fresh) if route is not None else [None] * len(fresh)
        cursor.execute(_CREATE_STAGE)
        cursor.cursor.copy_expert(
            "COPY ingest_mention_stage FROM STDIN", _copy_buffer(fresh, raw_json, cleaned, decided, now)
        )
        _prepare_store(cursor)
        cursor.execute(
            _EXECUTE_STORE,
            {
                "now": now,
                "seen_before": now - LAST_SEEN_GRANULARITY,
                "team_id": team_id,
                "status": status,
                "priority": priority,
                "channel_id": channel_id,
                **link_parameters,
            },
        )
        inserted: dict[tuple[str, str], int] = {}
        for mention_id, network, external_id in cursor.fetchall():
            inserted[(network, external_id)] = mention_id
            known[(network, external_id)] = mention_id
        lost_race = [post for post in fresh if (post.network, post.external_id) not in known]
        if lost_race:
            # A concurrent ingest stored these posts (or their authors) after this one looked: the insert
            # skipped them, and a new statement sees what the other one committed.
            again = mentions_store(
                lost_race,
                raw_json=raw_json,
                cleaned=cleaned,
                channel_id=channel_id,
                team_id=team_id,
                status=status,
                priority=priority,
                now=now,
                route=route,
            )
            inserted.update(again.inserted)
            edited += again.edited
    return Stored(inserted=inserted, edited=edited)


def _stored(
    cursor: Any, posts: Sequence[Post], first_statement: str = ""
) -> dict[tuple[str, str], tuple[int, datetime | None, str]]:
    """The posts of the page already stored, by (network, external id): their mention id, the edit time of
    the stored version, and the post's external id when the mention is stored under another one (found by
    its canonical id), else ""."""
    stored: dict[tuple[str, str], tuple[int, datetime | None, str]] = {}
    for network in {post.network for post in posts}:
        page = [post for post in posts if post.network == network]
        external_ids = [post.external_id for post in page]
        canonical_ids = [post.canonical_id for post in page if post.canonical_id]
        if canonical_ids:
            cursor.execute(first_statement + _EXISTING_OR_CANONICAL, [network, external_ids, canonical_ids])
        else:
            cursor.execute(first_statement + _EXISTING, [network, external_ids])
        first_statement = ""
        by_external: dict[str, tuple[int, datetime | None]] = {}
        by_canonical: dict[str, tuple[int, datetime | None]] = {}
        for external_id, canonical_id, mention_id, edited_at in cursor.fetchall():
            by_external[external_id] = (mention_id, edited_at)
            if canonical_id:
                by_canonical[canonical_id] = (mention_id, edited_at)
        for post in page:
            if post.external_id in by_external:
                stored[(network, post.external_id)] = (*by_external[post.external_id], "")
            elif post.canonical_id in by_canonical:
                stored[(network, post.external_id)] = (*by_canonical[post.canonical_id], post.external_id)
    return stored


def _received_parents_joined(cursor: Any, fresh: list[Post]) -> list[Post]:
    """Replies whose parent is stored under another server's id take that parent's conversation key. Only
    posts with canonical ids (Mastodon's) can have such a parent, so other pages cost nothing here."""
    replies = [post for post in fresh if post.canonical_id and post.in_reply_to]
    if not replies:
        return fresh
    keys: dict[tuple[str, str], str] = {}
    for network in {post.network for post in replies}:
        cursor.execute(_RECEIVED_PARENTS, [[p.in_reply_to for p in replies if p.network == network], network])
        keys.update(((network, external_id), key) for external_id, key in cursor.fetchall())
    return [
        replace(post, conversation_key=keys[(post.network, post.in_reply_to)])
        if (post.network, post.in_reply_to) in keys
        else post
        for post in fresh
    ]


def edits_due(
    posts: Sequence[Post], stored: Mapping[tuple[str, str], tuple[int, datetime | None, str]]
) -> dict[int, Post]:
    """The page's posts that are edits of stored mentions (by mention id): stored under the same id, edited
    later than the stored version. Shared by this path and ``inbox.services``' portable one."""
    due: dict[int, Post] = {}
    for post in posts:
        known = stored.get((post.network, post.external_id))
        if (
            known is not None
            and post.edited_at is not None
            and (known[1] is None or known[1] < post.edited_at)
        ):
            due[known[0]] = post
    return due


def _edits_apply(
    cursor: Any,
    posts: Sequence[Post],
    stored: dict[tuple[str, str], tuple[int, datetime | None, str]],
    *,
    raw_json: Callable[[Post], str],
    cleaned: Callable[[Post], CleanedPost],
    now: datetime,
) -> list[int]:
    """Replace the text of stored mentions whose post arrived edited later than the stored version; one
    statement for the page, none when nothing was edited (the common case)."""
    edits = edits_due(posts, stored)
    if not edits:
        return []
    ids = sorted(edits)
    versions = [(edits[mention_id], cleaned(edits[mention_id])) for mention_id in ids]
    cursor.execute(
        _EDIT,
        {
            "now": now,
            "ids": ids,
            "texts": [clean.text for _, clean in versions],
            "raws": [raw_json(post) for post, _ in versions],
            "urls": [post.url for post, _ in versions],
            "languages": [(post.language or "")[:LANGUAGE_MAX_LENGTH] for post, _ in versions],
            "edited": [post.edited_at for post, _ in versions],
        },
    )
    return sorted(row[0] for row in cursor.fetchall())


_UNROUTED = "\t".join(["\\N"] * 12)


def _routing_fields(columns: tuple | None, now: datetime) -> str:
    """The routing columns of the stage in COPY's text format (NULL when the post was not routed)."""
    if columns is None:
        return _UNROUTED
    (
        team,
        priority,
        intent,
        confidence,
        sentiment,
        label,
        misdirected,
        labels,
        approval,
        assignee,
        record,
    ) = columns
    return "\t".join(
        (
            "\\N" if team is None else str(team),
            str(priority),
            _field(intent),
            repr(float(confidence)),
            repr(float(sentiment)),
            label,
            "t" if misdirected else "f",
            _field(json.dumps(labels)),
            "t" if approval else "f",
            "\\N" if assignee is None else str(assignee),
            _field(json.dumps(record)),
            now.isoformat(),
        )
    )


def _copy_buffer(
    posts: Sequence[Post],
    raw_json: Callable[[Post], str],
    cleaned: Callable[[Post], CleanedPost],
    decided: Sequence[tuple | None],
    now: datetime,
) -> io.StringIO:
    buffer = io.StringIO()
    write = buffer.write
    for post, columns in zip(posts, decided, strict=True):
        text, conversation_key, in_reply_to, handle, display_name, followers, avatar_url = cleaned(post)
        author = post.author
        write(
            "\t".join(
                (
                    post.network,  # network and kind were validated against fixed choices
                    _field(post.external_id),
                    post.kind,
                    _field(text),
                    _field(post.url),
                    post.created_at.isoformat(),
                    _field(conversation_key),
                    _field(in_reply_to),
                    _field(raw_json(post)),
                    _field((post.language or "")[:LANGUAGE_MAX_LENGTH]),
                    _field(author.external_id),
                    _field(handle),
                    _field(display_name),
                    str(followers),
                    "t" if author.is_verified else "f",
                    _field(avatar_url),
                    _routing_fields(columns, now),
                    "\\N" if post.edited_at is None else post.edited_at.isoformat(),
                    _field(post.canonical_id),
                )
            )
        )
        write("\n")
    buffer.seek(0)
    return buffer


def mentions_received_record(mention_ids: Sequence[int], *, channel_id: int, now: datetime) -> None:
    """``mention.received`` domain events for new mentions, written from the mention rows in one
    INSERT ... SELECT (the shape ``foundation.events.events_record_many`` gives them elsewhere)."""
    mention_type = ContentType.objects.get_for_model(Mention).pk
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO inbox_auditevent (verb, object_type_id, object_id, object_repr, before, after,"
            " created_at, mention_id, team_ids)"
            " SELECT 'mention.received', %s, m.id::text, left(m.network || ':' || m.external_id, 200), '{}',"
            " jsonb_build_object('channel_id', %s::bigint, 'team_id', m.team_id), %s, m.id,"
            " CASE WHEN m.team_id IS NULL THEN '[]'::jsonb ELSE jsonb_build_array(m.team_id) END"
            " FROM inbox_mention m WHERE m.id = ANY(%s) ORDER BY m.id",
            [mention_type, channel_id, now, list(mention_ids)],
        )
