"""One mention for one post seen through accounts on several Mastodon servers.

Mastodon ids are per server, so the same post arrives under a different external id on each; its status
``uri`` is the same everywhere. Mentions keep it as ``canonical_id`` (unique per network when set), and a
receipt keeps the post's id on its channel's server when that is not the mention's own, for replies and for
finding the parent of a reply that arrives through that server.

Mastodon mentions already stored get the uri from their payload; where one post is already stored twice,
the oldest mention gets it and the others stay as they are. On SQLite, adding NOT NULL columns remakes the
tables, which drops the text-search triggers of migration 0009: they are made again after.
"""

from collections.abc import Mapping
from importlib import import_module

from django.db import migrations, models

text_search = import_module("inbox.migrations.0009_sqlite_text_search")

CANONICAL_ID_MAX = 500
BATCH = 1000


def _status_uri(raw):
    status = raw.get("status") if isinstance(raw, Mapping) else None
    uri = status.get("uri") if isinstance(status, Mapping) else None
    return uri if isinstance(uri, str) and 0 < len(uri) <= CANONICAL_ID_MAX else ""


def canonical_ids_fill(apps, schema_editor):
    Mention = apps.get_model("inbox", "Mention")
    seen, changed = set(), []
    for mention in (
        Mention.objects.filter(network="mastodon").only("id", "raw").order_by("id").iterator(BATCH)
    ):
        uri = _status_uri(mention.raw)
        if uri and uri not in seen:
            seen.add(uri)
            mention.canonical_id = uri
            changed.append(mention)
        if len(changed) >= BATCH:
            Mention.objects.bulk_update(changed, ["canonical_id"])
            changed = []
    Mention.objects.bulk_update(changed, ["canonical_id"])


class Migration(migrations.Migration):
    dependencies = [
        ("inbox", "0012_mention_edits"),
    ]

    operations = [
        migrations.RunPython(migrations.RunPython.noop, text_search.text_search_create),
        migrations.AddField(
            model_name="mention",
            name="canonical_id",
            field=models.CharField(
                blank=True,
                db_default="",
                default="",
                help_text="The post's id on every server (Mastodon's status uri) when external ids differ by server.",
                max_length=500,
            ),
        ),
        migrations.AddField(
            model_name="mentionchannel",
            name="external_id",
            field=models.CharField(
                blank=True,
                db_default="",
                default="",
                help_text="The post's id as this channel received it, if not the mention's (another server's id).",
                max_length=64,
            ),
        ),
        migrations.RunPython(canonical_ids_fill, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="mention",
            constraint=models.UniqueConstraint(
                condition=models.Q(("canonical_id", ""), _negated=True),
                fields=("network", "canonical_id"),
                name="mention_network_canonical_unique",
            ),
        ),
        migrations.AddIndex(
            model_name="mentionchannel",
            index=models.Index(
                condition=models.Q(("external_id", ""), _negated=True),
                fields=["external_id"],
                name="mentionchannel_external_idx",
            ),
        ),
        migrations.RunPython(text_search.text_search_create, migrations.RunPython.noop),
    ]
