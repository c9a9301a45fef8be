import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

import foundation.models


def content_types_move(apps, schema_editor):
    """The audit trail's content type follows its model, so nothing that points at it is left dangling."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    db = schema_editor.connection.alias
    for old, new in (("auditevent", "domainevent"), ("liveevent", "liveevent")):
        if not ContentType.objects.using(db).filter(app_label="foundation", model=new).exists():
            ContentType.objects.using(db).filter(app_label="inbox", model=old).update(
                app_label="foundation", model=new
            )


class Migration(migrations.Migration):
    """The ground floor takes over the audit trail's table as the domain events (with what the outbox
    needs: the writing transaction, the mention and the teams) and the live-event table; no data moves."""

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("inbox", "0016_network_without_choices"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="DomainEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("verb", models.CharField(max_length=60)),
                        ("object_id", models.CharField(max_length=64)),
                        ("object_repr", models.CharField(max_length=200)),
                        ("before", models.JSONField(blank=True, default=dict)),
                        ("after", models.JSONField(blank=True, default=dict)),
                        (
                            "created_at",
                            models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                        ),
                        (
                            "actor",
                            models.ForeignKey(
                                blank=True,
                                db_index=False,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "object_type",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="contenttypes.contenttype",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "inbox_auditevent",
                        "ordering": ["-created_at", "-id"],
                        "indexes": [
                            models.Index(fields=["object_type", "object_id"], name="audit_object_idx"),
                            models.Index(fields=["actor", "-created_at", "-id"], name="audit_actor_idx"),
                            models.Index(fields=["verb", "-created_at", "-id"], name="audit_verb_idx"),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="LiveEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("kind", models.CharField(max_length=60)),
                        ("payload", models.JSONField(default=dict)),
                        (
                            "created_at",
                            models.DateTimeField(db_index=True, default=django.utils.timezone.now),
                        ),
                    ],
                    options={"db_table": "inbox_liveevent"},
                ),
            ],
            database_operations=[],
        ),
        migrations.AddField(
            model_name="domainevent",
            name="mention_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="domainevent",
            name="team_ids",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name="domainevent",
            name="xid",
            field=models.BigIntegerField(blank=True, db_default=foundation.models.TransactionId(), null=True),
        ),
        migrations.AddIndex(
            model_name="domainevent",
            index=models.Index(fields=["xid", "id"], name="event_outbox_idx"),
        ),
        migrations.CreateModel(
            name="ConsumerPosition",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, unique=True)),
                ("xid", models.BigIntegerField(default=0)),
                ("event_id", models.BigIntegerField(default=0)),
                ("updated_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.RunPython(content_types_move, migrations.RunPython.noop),
    ]
