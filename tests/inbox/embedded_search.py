"""Inbox searches on the embedded default (SQLite), for tests/inbox/test_search.py, which runs this file in a
process of its own with DATABASE_URL unset and SOCIALOPS_DATA_DIR in a temporary directory.

Reads JSON on stdin: {"before": {external id: text}, "after": {...}, "edits": {external id: new text},
"deletes": [external id], "handles": {external id: author handle}, "queries": [q, ...]}. Migrates a new
database, undoes the text-search migration's statements, ingests "before" (the index's fill must find them),
makes the index again as the migration does, ingests "after" (the insert trigger) twice (the second time
all duplicates), applies the edits and the deletions (the other two triggers), then writes as JSON, to the
file named by its argument: {"stored": [mentions stored by each ingest], "index": FTS5's integrity check,
"found": {q: [external ids]}, "status": {q: [inbox page, API]}}.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "socialops.settings")
django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import DatabaseError, connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from channels.connectors.base import AuthorData, Post  # noqa: E402
from channels.models import Channel, Network, Segment  # noqa: E402
from inbox.models import Mention  # noqa: E402
from inbox.selectors import InboxFilters, mentions_for_inbox  # noqa: E402
from inbox.services import mentions_ingest  # noqa: E402

_text_search = importlib.import_module("inbox.migrations.0009_sqlite_text_search")


def ingest(channel: Channel, texts: dict[str, str], handles: dict[str, str]) -> int:
    now = timezone.now()
    posts = [
        Post(
            network=Network.SIMULATED,
            external_id=external_id,
            kind=Mention.Kind.MENTION,
            text=text,
            created_at=now,
            author=AuthorData(external_id=handles[external_id], handle=handles[external_id]),
        )
        for external_id, text in texts.items()
    ]
    return mentions_ingest(channel=channel, posts=posts, route=False).inserted


def index_check() -> str:
    """FTS5's own check, comparing the index with the mentions' text (rank 1: with the content table too)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO inbox_mention_fts (inbox_mention_fts, rank) VALUES ('integrity-check', 1)"
            )
    except DatabaseError as exc:
        return str(exc)
    return "consistent"


def main() -> None:
    spec = json.load(sys.stdin)
    call_command("migrate", verbosity=0)
    # Without the index, as before its migration: its statements undone (migrating back to 0008 would take
    # the later columns away too, which today's ingest writes).
    with connection.schema_editor() as editor:
        _text_search.text_search_drop(None, editor)
    channel = Channel.objects.create(
        slug="care",
        network=Network.SIMULATED,
        handle="@care",
        external_account_id="care",
        segment=Segment.objects.get(slug="customer-relations"),
    )
    stored = [ingest(channel, spec["before"], spec["handles"])]
    with connection.schema_editor() as editor:
        _text_search.text_search_create(None, editor)  # what the migration does: the fill, then triggers
    stored.append(ingest(channel, spec["after"], spec["handles"]))
    stored.append(ingest(channel, spec["after"], spec["handles"]))  # the same page again: all duplicates
    for external_id, text in spec["edits"].items():
        Mention.objects.filter(external_id=external_id).update(text=text)
    Mention.objects.filter(external_id__in=spec["deletes"]).delete()

    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "unused-password")
    client = Client(SERVER_NAME="localhost")
    client.force_login(admin)
    found, status = {}, {}
    for q in spec["queries"]:
        page = mentions_for_inbox(user=admin, filters=InboxFilters(queue="all", q=q), limit=200)
        found[q] = sorted(m.external_id for m in page.mentions)
        status[q] = [
            client.get("/inbox/", {"queue": "all", "q": q}).status_code,
            client.get("/api/v1/mentions/", {"q": q}).status_code,
        ]
    with open(sys.argv[1], "w") as out:
        json.dump({"stored": stored, "index": index_check(), "found": found, "status": status}, out)


if __name__ == "__main__":
    main()
